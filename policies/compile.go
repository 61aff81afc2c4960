package policies

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
	"unsafe"

	"github.com/casbin/govaluate"
	"github.com/sfconnector/sfconnector/policies/condition"
	"github.com/sfconnector/sfconnector/sysflow"
)

// cnode is a compiled condition: macros inlined, lists expanded, != turned
// into not =, comparisons between literals folded to constants. Leaves
// index the set's leaf table.
type cnode struct {
	op   cop
	val  bool // cConst
	leaf int32
	kids []*cnode
	// slot, in evaluation plans only (plan.go), is the node's memo slot
	// plus one; 0: not memoised.
	slot int32
	// pslot, in evaluation plans only, is the node's slot in the
	// per-process memo plus one (procmemo.go); 0: not a process subtree
	// of its own.
	pslot int32
}

type cop uint8

const (
	cConst cop = iota
	cLeaf
	cAnd
	cOr
	cNot
)

var (
	trueNode  = &cnode{op: cConst, val: true}
	falseNode = &cnode{op: cConst, val: false}
)

func constNode(b bool) *cnode {
	if b {
		return trueNode
	}
	return falseNode
}

// junction builds an and (isAnd) or an or, flattening nested ones and
// folding constants.
func junction(isAnd bool, kids []*cnode) *cnode {
	op := cOr
	if isAnd {
		op = cAnd
	}
	var out []*cnode
	for _, k := range kids {
		switch {
		case k.op == cConst && k.val == isAnd:
			continue // neutral element
		case k.op == cConst:
			return k // absorbing element
		case k.op == op:
			out = append(out, k.kids...)
		default:
			out = append(out, k)
		}
	}
	switch len(out) {
	case 0:
		return constNode(isAnd)
	case 1:
		return out[0]
	}
	return &cnode{op: op, kids: out}
}

func notNode(x *cnode) *cnode {
	switch x.op {
	case cConst:
		return constNode(!x.val)
	case cNot:
		return x.kids[0]
	}
	return &cnode{op: cNot, kids: []*cnode{x}}
}

// leaf is one comparison, shared by every rule that makes it.
type leaf struct {
	key    string // canonical text; equal keys are the same comparison
	fields []*sysflow.Field
	eval   func(p *Evaluator) bool
	// The record kinds on which the leaf can be true, and false.
	canTrue, canFalse kindMask
	// opflags, for an sf.opflags bit test, holds the bits it tests per
	// record kind.
	opflags *[32]int32
	// proc: every field the leaf reads depends on the process memo's key
	// alone (procmemo.go).
	proc bool
}

// opnd is a resolved operand: a field, or a literal string.
type opnd struct {
	field *sysflow.Field
	lit   string
}

func (o opnd) String() string {
	if o.field != nil {
		return o.field.Name
	}
	return quoteLit(o.lit)
}

func quoteLit(s string) string {
	return "'" + strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), "'", `\'`) + "'"
}

// cctx says where the condition being compiled comes from.
type cctx struct {
	item string                           // label for diagnostics
	pos  func(off int) (Position, string) // offset -> file position and source line
	soft bool                             // an unused macro: unresolved names are warnings
	rule string                           // the rule using it, for macro labels
	at   func() (Position, string)        // fixed position (exceptions), when pos is nil
	// scope is the file whose view of the definitions applies (file-scoped
	// mode), or -1: the last definition of every name.
	scope int
}

// lookupList returns the list a name denotes in scope.
func (l *loader) lookupList(name string, scope int) *listDef {
	if scope < 0 {
		return l.lists[name]
	}
	return scoped(l.listHist[name], scope, func(d *listDef) int { return d.file })
}

// lookupMacro returns the macro a name denotes in scope.
func (l *loader) lookupMacro(name string, scope int) *macroDef {
	if scope < 0 {
		return l.macros[name]
	}
	return scoped(l.macroHist[name], scope, func(d *macroDef) int { return d.file })
}

// scoped picks the last definition from a file up to scope, or else the
// first one after it.
func scoped[D any](defs []D, scope int, file func(D) int) D {
	var zero D
	for i := len(defs) - 1; i >= 0; i-- {
		if file(defs[i]) <= scope {
			return defs[i]
		}
	}
	if len(defs) > 0 {
		return defs[0]
	}
	return zero
}

func (c *cctx) where(off int) (Position, string) {
	if c.pos != nil {
		return c.pos(off)
	}
	return c.at()
}

// falcoClasses are the first segments of Falco field names: a word starting
// with one of them followed by a dot is taken for a field name, so that a
// misspelt field on the right of a comparison is reported.
var falcoClasses = set("sf", "proc", "thread", "fd", "fdlist", "evt", "syscall", "user", "group",
	"container", "k8s", "ka", "k8saudit", "span", "mesos", "jevt", "pod")

func looksLikeField(w string) bool {
	dot := strings.IndexByte(w, '.')
	if dot <= 0 || dot == len(w)-1 || !falcoClasses[w[:dot]] {
		return false
	}
	for i := 0; i < len(w); i++ {
		c := w[i]
		if !(c == '.' || c == '_' || c == '[' || c == ']' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// report adds a diagnostic at an offset of the condition being compiled.
func (l *loader) report(ctx *cctx, sev Severity, off int, format string, args ...any) {
	if ctx.soft && sev == SeverityError {
		sev = SeverityWarning
	}
	pos, src := ctx.where(off)
	l.diags.add(sev, pos, ctx.item, src, format, args...)
}

// fieldAt resolves an operand in field position (left of an operator). An
// unknown name is a warning and reads as a literal string, as in the
// reference.
func (l *loader) fieldAt(ctx *cctx, o condition.Operand) opnd {
	if o.Quoted {
		return opnd{lit: o.Text}
	}
	if f, ok := l.opts.Fields.LookupField(o.Text); ok {
		return opnd{field: f}
	}
	l.unknownField(ctx, o.At, o.Text)
	return opnd{lit: o.Text}
}

func (l *loader) unknownField(ctx *cctx, off int, name string) {
	hint := ""
	if c := l.opts.Fields.ClosestField(name); c != "" {
		hint = fmt.Sprintf(" (did you mean %s?)", c)
	}
	sev := SeverityWarning
	l.report(ctx, sev, off, "unknown field %s%s; read as the literal string %q", name, hint, name)
}

// valueAt resolves an operand in value position (right of a binary
// operator): a field when the name is one, else a literal.
func (l *loader) valueAt(ctx *cctx, o condition.Operand, op condition.Op) opnd {
	if o.Quoted {
		return opnd{lit: o.Text}
	}
	if f, ok := l.opts.Fields.LookupField(o.Text); ok {
		return opnd{field: f}
	}
	if looksLikeField(o.Text) {
		l.unknownField(ctx, o.At, o.Text)
	} else if l.lookupList(o.Text, ctx.scope) != nil {
		l.report(ctx, SeverityWarning, o.At, "%s is a list, but '%s' compares with its name as a literal string; use 'in (%s)' or 'pmatch (%s)'", o.Text, op, o.Text, o.Text)
	}
	return opnd{lit: o.Text}
}

// items expands the operands of a set operator: list names are replaced by
// their items, recursively; anything else is a literal.
func (l *loader) items(ctx *cctx, ops []condition.Operand) []string {
	var out []string
	for _, o := range ops {
		if !o.Quoted {
			if ld := l.lookupList(o.Text, ctx.scope); ld != nil {
				out = append(out, l.expandList(ld, ctx.scope)...)
				continue
			}
		}
		out = append(out, o.Text)
	}
	return out
}

func (l *loader) expandList(ld *listDef, scope int) []string {
	if ld.state == nil {
		ld.state, ld.expanded = map[int]int8{}, map[int][]string{}
	}
	switch ld.state[scope] {
	case 2:
		return ld.expanded[scope]
	case 1:
		l.diags.add(SeverityError, ld.pos, fmt.Sprintf("list %q", ld.name), "", "list %q contains itself", ld.name)
		return nil
	}
	ld.state[scope] = 1
	var out []string
	for _, it := range ld.items {
		if !it.quoted {
			if sub := l.lookupList(it.text, scope); sub != nil {
				out = append(out, l.expandList(sub, scope)...)
				continue
			}
		}
		out = append(out, it.text)
	}
	ld.expanded[scope], ld.state[scope] = out, 2
	return out
}

// compileExpr compiles a parsed condition.
func (l *loader) compileExpr(e condition.Expr, ctx *cctx) *cnode {
	switch e := e.(type) {
	case *condition.And:
		kids := make([]*cnode, len(e.Terms))
		for i, t := range e.Terms {
			kids[i] = l.compileExpr(t, ctx)
		}
		return junction(true, kids)
	case *condition.Or:
		kids := make([]*cnode, len(e.Terms))
		for i, t := range e.Terms {
			kids[i] = l.compileExpr(t, ctx)
		}
		return junction(false, kids)
	case *condition.Not:
		return notNode(l.compileExpr(e.X, ctx))
	case *condition.Bool:
		return constNode(e.Value)
	case *condition.Ref:
		return l.ref(e, ctx)
	case *condition.Compare:
		return l.compare(e, ctx)
	}
	panic(fmt.Sprintf("policies: unexpected condition node %T", e))
}

func (l *loader) ref(e *condition.Ref, ctx *cctx) *cnode {
	if m := l.lookupMacro(e.Name, ctx.scope); m != nil {
		return l.compileMacro(m, ctx)
	}
	switch {
	case l.lookupList(e.Name, ctx.scope) != nil:
		l.report(ctx, SeverityError, e.At, "%s is a list, not a macro: it cannot stand alone as a condition", e.Name)
	case l.isField(e.Name):
		l.report(ctx, SeverityError, e.At, "field %s stands alone; compare it (%s = true, %s exists)", e.Name, e.Name, e.Name)
	default:
		hint := ""
		if c := closest(e.Name, l.macroNames()); c != "" {
			hint = fmt.Sprintf(" (did you mean %s?)", c)
		}
		l.report(ctx, SeverityError, e.At, "unknown macro %s%s", e.Name, hint)
	}
	return falseNode
}

func (l *loader) isField(name string) bool {
	_, ok := l.opts.Fields.LookupField(name)
	return ok
}

func (l *loader) macroNames() []string {
	names := make([]string, 0, len(l.macros))
	for n := range l.macros {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// compileMacro compiles a macro once; every use shares the result, and its
// diagnostics are reported once, naming the first rule that uses it.
func (l *loader) compileMacro(m *macroDef, user *cctx) *cnode {
	if m.state == nil {
		m.state, m.node = map[int]int8{}, map[int]*cnode{}
	}
	switch m.state[user.scope] {
	case 2:
		return m.node[user.scope]
	case 1:
		l.diags.add(SeverityError, m.pos, fmt.Sprintf("macro %q", m.name), "", "macro %q uses itself", m.name)
		return falseNode
	}
	m.state[user.scope] = 1
	label := fmt.Sprintf("macro %q", m.name)
	if user.rule != "" {
		label = fmt.Sprintf("macro %q (used by %s)", m.name, user.rule)
	}
	ctx := &cctx{item: label, pos: m.cond.pos, soft: user.soft, rule: user.rule, scope: user.scope}
	// In file-scoped mode one macro compiles once per scope; report its
	// problems once.
	before := len(l.diags.all)
	node := l.parseAndCompile(m.cond.String(), ctx)
	if len(m.node) > 0 {
		l.diags.all = l.diags.all[:before]
	}
	m.node[user.scope] = node
	m.state[user.scope] = 2
	return node
}

func (l *loader) parseAndCompile(text string, ctx *cctx) *cnode {
	e, err := condition.Parse(text)
	if err != nil {
		var se *condition.SyntaxError
		if errors.As(err, &se) {
			pos, src := ctx.where(se.Offset)
			msg := "syntax error: " + se.Msg
			if se.Near != "" {
				msg += fmt.Sprintf(" near %q", se.Near)
			} else {
				msg += " at the end of the condition"
			}
			l.diags.add(SeverityError, pos, ctx.item, src, "%s", msg)
		} else {
			pos, src := ctx.where(0)
			l.diags.add(SeverityError, pos, ctx.item, src, "%v", err)
		}
		return falseNode
	}
	return l.compileExpr(e, ctx)
}

func (l *loader) compare(c *condition.Compare, ctx *cctx) *cnode {
	lhs := l.fieldAt(ctx, c.Left)
	switch {
	case c.Op == condition.OpExists:
		return l.build(ctx, c.At, c.Op, lhs, nil)
	case c.Op.IsSet():
		vals := l.items(ctx, c.Right)
		rhs := make([]opnd, len(vals))
		for i, v := range vals {
			rhs[i] = opnd{lit: v}
		}
		return l.build(ctx, c.At, c.Op, lhs, rhs)
	}
	rhs := l.valueAt(ctx, c.Right[0], c.Op)
	return l.build(ctx, c.At, c.Op, lhs, []opnd{rhs})
}

// build makes the node for lhs op rhs.
func (l *loader) build(ctx *cctx, off int, op condition.Op, lhs opnd, rhs []opnd) *cnode {
	if op == condition.OpNeq {
		// != is exactly not = (on a list field: no element equals).
		return notNode(l.build(ctx, off, condition.OpEq, lhs, rhs))
	}
	fields := 0
	if lhs.field != nil {
		fields++
	}
	for _, r := range rhs {
		if r.field != nil {
			fields++
		}
	}
	var b strings.Builder
	b.WriteString(lhs.String())
	b.WriteByte(' ')
	b.WriteString(op.String())
	switch {
	case op.IsSet():
		b.WriteString(" (")
		for i, r := range rhs {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(r.String())
		}
		b.WriteByte(')')
	case len(rhs) == 1:
		b.WriteByte(' ')
		b.WriteString(rhs[0].String())
	}
	key := b.String()
	if i, ok := l.leafIndex[key]; ok {
		return &cnode{op: cLeaf, leaf: i}
	}
	eval, err := l.makeEval(op, lhs, rhs)
	if err != nil {
		l.report(ctx, SeverityError, off, "%v", err)
		return falseNode
	}
	if eval == nil { // the comparison can never hold
		l.report(ctx, SeverityWarning, off, "%s can never be true: %s", key, l.neverReason)
		return falseNode
	}
	if fields == 0 {
		// Literals only: the value is known now.
		return constNode(eval(l.scratch(&sysflow.Event{})))
	}
	lf := &leaf{key: key, eval: eval, opflags: l.opflagsMasks}
	if lhs.field != nil {
		lf.fields = append(lf.fields, lhs.field)
	}
	for _, r := range rhs {
		if r.field != nil {
			lf.fields = append(lf.fields, r.field)
		}
	}
	lf.setProc()
	l.kindsOf(lf)
	i := int32(len(l.leaves))
	l.leaves = append(l.leaves, lf)
	l.leafIndex[key] = i
	return &cnode{op: cLeaf, leaf: i}
}

// scratch returns an evaluator positioned on ev, for compile-time
// evaluation of leaves.
func (l *loader) scratch(ev *sysflow.Event) *Evaluator {
	if l.probe == nil {
		l.probe = &Evaluator{}
	}
	l.probe.set = &Set{} // no leaves: only direct evaluation
	l.probe.begin(ev)
	return l.probe
}

// strTest is a test on one string value.
type strTest func(string) bool

// stringTest builds the test of op against the literal values.
func stringTest(op condition.Op, vals []string) (strTest, error) {
	switch op {
	case condition.OpEq, condition.OpIn, condition.OpIntersects:
		switch len(vals) {
		case 0:
			return func(string) bool { return false }, nil
		case 1:
			v := vals[0]
			return func(s string) bool { return s == v }, nil
		}
		if len(vals) <= 8 {
			vs := vals
			return func(s string) bool {
				for _, v := range vs {
					if s == v {
						return true
					}
				}
				return false
			}, nil
		}
		m := make(map[string]struct{}, len(vals))
		for _, v := range vals {
			m[v] = struct{}{}
		}
		return func(s string) bool { _, ok := m[s]; return ok }, nil
	case condition.OpPMatch, condition.OpContains:
		vs := vals
		if len(vs) == 1 {
			v := vs[0]
			return func(s string) bool { return strings.Contains(s, v) }, nil
		}
		return newMultiContains(vs).contains, nil
	case condition.OpIContains:
		v := strings.ToLower(vals[0])
		return func(s string) bool { return containsFold(s, v) }, nil
	case condition.OpStartsWith:
		v := vals[0]
		return func(s string) bool { return strings.HasPrefix(s, v) }, nil
	case condition.OpEndsWith:
		v := vals[0]
		return func(s string) bool { return strings.HasSuffix(s, v) }, nil
	case condition.OpGlob:
		g, err := compileGlob(vals[0])
		if err != nil {
			return nil, err
		}
		return g.match, nil
	case condition.OpRegex:
		re, err := regexp.Compile(`^(?:` + vals[0] + `)$`)
		if err != nil {
			return nil, fmt.Errorf("bad regular expression %q: %w", vals[0], err)
		}
		return re.MatchString, nil
	}
	return nil, fmt.Errorf("operator %s cannot compare strings", op)
}

// containsFold reports whether s contains lower (already lower case),
// ignoring ASCII case, without allocating.
func containsFold(s, lower string) bool {
	n := len(lower)
	if n == 0 {
		return true
	}
	for i := 0; i+n <= len(s); i++ {
		j := 0
		for ; j < n; j++ {
			c := s[i+j]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != lower[j] {
				break
			}
		}
		if j == n {
			return true
		}
	}
	return false
}

// canonicalInt parses s as an integer written the way an int field prints
// (decimal, no sign for positives, no leading zeros).
func canonicalInt(s string) (int64, bool) {
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || strconv.FormatInt(v, 10) != s {
		return 0, false
	}
	return v, true
}

// makeEval builds the evaluation of a comparison. A nil function with a nil
// error means the comparison can never hold (l.neverReason says why).
func (l *loader) makeEval(op condition.Op, lhs opnd, rhs []opnd) (func(*Evaluator) bool, error) {
	l.neverReason, l.opflagsMasks = "", nil
	rhsField := false
	for _, r := range rhs {
		if r.field != nil {
			rhsField = true
		}
	}
	if op == condition.OpExists {
		return existsEval(lhs), nil
	}
	if op.IsOrdering() {
		return l.orderingEval(op, lhs, rhs)
	}
	if rhsField && (op == condition.OpGlob || op == condition.OpRegex) {
		return nil, fmt.Errorf("the pattern of '%s' must be a literal, not a field", op)
	}
	if lhs.field == nil || rhsField {
		return genericEval(op, lhs, rhs)
	}
	vals := make([]string, len(rhs))
	for i, r := range rhs {
		vals[i] = r.lit
	}
	f := lhs.field
	switch f.Kind {
	case sysflow.FieldInt:
		if op == condition.OpEq || op == condition.OpIn || op == condition.OpIntersects {
			var ints []int64
			for _, v := range vals {
				if n, ok := canonicalInt(v); ok {
					ints = append(ints, n)
				}
			}
			if len(ints) == 0 {
				l.neverReason = fmt.Sprintf("%s is an integer field and no value is an integer", f.Name)
				return nil, nil
			}
			get := f.Int
			if len(ints) == 1 {
				n := ints[0]
				return func(p *Evaluator) bool { return get(p.ev) == n }, nil
			}
			return func(p *Evaluator) bool {
				v := get(p.ev)
				for _, n := range ints {
					if v == n {
						return true
					}
				}
				return false
			}, nil
		}
		t, err := stringTest(op, vals)
		if err != nil {
			return nil, err
		}
		get := f.Int
		return func(p *Evaluator) bool {
			p.buf = strconv.AppendInt(p.buf[:0], get(p.ev), 10)
			return t(unsafe.String(unsafe.SliceData(p.buf), len(p.buf)))
		}, nil
	case sysflow.FieldBool:
		t, err := stringTest(op, vals)
		if err != nil {
			return nil, err
		}
		whenTrue, whenFalse := t("true"), t("false")
		if !whenTrue && !whenFalse {
			l.neverReason = fmt.Sprintf("%s is a boolean field (true or false)", f.Name)
			return nil, nil
		}
		get := f.Bool
		return func(p *Evaluator) bool {
			if get(p.ev) {
				return whenTrue
			}
			return whenFalse
		}, nil
	case sysflow.FieldList:
		if f.Name == "sf.opflags" && (op == condition.OpEq || op == condition.OpIn || op == condition.OpIntersects) {
			// Each op flag bit has one name per record kind, so "any name
			// in the set" is a bit test.
			var masks [32]int32
			for _, k := range eventKinds {
				for bit := 0; bit < 31; bit++ {
					for _, name := range sysflow.OpFlagNames(nil, 1<<bit, k) {
						if slices.Contains(vals, name) {
							masks[k] |= 1 << bit
						}
					}
				}
			}
			l.opflagsMasks = &masks
			return func(p *Evaluator) bool { return p.ev.OpFlags&masks[p.ev.Kind&31] != 0 }, nil
		}
		t, err := stringTest(op, vals)
		if err != nil {
			return nil, err
		}
		slot := l.listSlot(f)
		return func(p *Evaluator) bool {
			for _, s := range p.listValue(slot, f) {
				if t(s) {
					return true
				}
			}
			return false
		}, nil
	}
	t, err := stringTest(op, vals)
	if err != nil {
		return nil, err
	}
	get := f.Str
	if app := appenders[f.Name]; app != nil {
		// A composed value (exe + " " + args, a dotted IP): build it in the
		// evaluator's buffer instead of a new string per record.
		return func(p *Evaluator) bool {
			p.buf = app(p.buf[:0], p.ev)
			return t(unsafe.String(unsafe.SliceData(p.buf), len(p.buf)))
		}, nil
	}
	if strCached[f.Name] {
		slot := l.strSlot(f)
		return func(p *Evaluator) bool { return t(p.strValue(slot, get)) }, nil
	}
	return func(p *Evaluator) bool { return t(get(p.ev)) }, nil
}

// strCached are the string fields whose value is computed, not read: the
// file path's parts are split from the collector's path on every call.
// Their value is kept for the event, as a list field's is.
var strCached = set("sf.file.path", "sf.file.name", "sf.file.directory", "sf.file.symlink",
	"sf.file.newpath", "sf.file.newname", "sf.file.newdirectory", "sf.file.newsymlink")

// strSlot gives a computed string field a slot in the evaluators'
// per-event cache.
func (l *loader) strSlot(f *sysflow.Field) int {
	if l.strSlots == nil {
		l.strSlots = map[string]int{}
	}
	if i, ok := l.strSlots[f.Name]; ok {
		return i
	}
	i := len(l.strSlots)
	l.strSlots[f.Name] = i
	return i
}

// strValue returns the string field's value for the current event,
// computed once per event.
func (p *Evaluator) strValue(slot int, get func(*sysflow.Event) string) string {
	for slot >= len(p.strs) {
		p.strs = append(p.strs, strCache{})
	}
	c := &p.strs[slot]
	if c.gen != p.gen || c.ev != p.ev {
		c.val = get(p.ev)
		c.gen, c.ev = p.gen, p.ev
	}
	return c.val
}

type strCache struct {
	gen uint32
	ev  *sysflow.Event
	val string
}

// appenders write composed field values into a buffer, where the field's
// accessor would allocate a new string on every call. Each must give
// exactly the accessor's value (TestAppendersMatchAccessors checks it on
// every trace event).
var appenders = map[string]func([]byte, *sysflow.Event) []byte{
	"sf.proc.cmdline": func(b []byte, e *sysflow.Event) []byte {
		if e.Proc == nil {
			return b
		}
		b = append(append(b, e.Proc.Exe...), ' ')
		return append(b, sysflow.ProcArgs(e.Proc)...)
	},
	"sf.pproc.cmdline": func(b []byte, e *sysflow.Event) []byte {
		if e.Parent == nil {
			return b
		}
		b = append(b, e.Parent.Exe...)
		if args := sysflow.ProcArgs(e.Parent); args != "" {
			b = append(append(b, ' '), args...)
		}
		return b
	},
	"sf.file.type": func(b []byte, e *sysflow.Event) []byte {
		if e.File == nil || e.File.Restype <= 0 {
			return b
		}
		return utf8.AppendRune(b, rune(e.File.Restype))
	},
}

func existsEval(lhs opnd) func(*Evaluator) bool {
	if lhs.field == nil {
		v := lhs.lit != ""
		return func(*Evaluator) bool { return v }
	}
	f := lhs.field
	switch f.Kind {
	case sysflow.FieldInt:
		return func(p *Evaluator) bool { return f.Int(p.ev) != 0 }
	case sysflow.FieldBool:
		return func(p *Evaluator) bool { return f.Bool(p.ev) }
	case sysflow.FieldList:
		return func(p *Evaluator) bool {
			xs := f.List(p.ev, p.list[:0])
			n := len(xs)
			p.list = xs[:0]
			return n > 0
		}
	}
	return func(p *Evaluator) bool { return f.Str(p.ev) != "" }
}

// listSlot gives a list field a slot in the evaluators' per-event cache:
// the ancestry, for one, is walked once per event however many
// comparisons read it.
func (l *loader) listSlot(f *sysflow.Field) int {
	if l.listSlots == nil {
		l.listSlots = map[string]int{}
	}
	if i, ok := l.listSlots[f.Name]; ok {
		return i
	}
	i := len(l.listSlots)
	l.listSlots[f.Name] = i
	return i
}

// listValue returns the list field's elements for the current event,
// computed once per event into a buffer the evaluator keeps.
func (p *Evaluator) listValue(slot int, f *sysflow.Field) []string {
	for slot >= len(p.lists) {
		p.lists = append(p.lists, listCache{})
	}
	c := &p.lists[slot]
	if c.gen != p.gen || c.ev != p.ev {
		c.vals = f.List(p.ev, c.vals[:0])
		c.gen, c.ev = p.gen, p.ev
	}
	return c.vals
}

type listCache struct {
	gen  uint32
	ev   *sysflow.Event
	vals []string
}

// multiContains tests a string for any of several substrings in one pass:
// candidates are tried only where the string has the first two bytes of
// one (paths share their first byte, '/', so one byte selects little).
type multiContains struct {
	first  [256]bool
	single [256]bool           // a one-byte needle: its byte alone is a match
	pairs  [256]*[256][]string // by first and second byte
	empty  bool
}

func newMultiContains(needles []string) *multiContains {
	m := &multiContains{}
	for _, n := range needles {
		switch len(n) {
		case 0:
			m.empty = true
			continue
		case 1:
			m.single[n[0]] = true
			m.first[n[0]] = true
			continue
		}
		m.first[n[0]] = true
		if m.pairs[n[0]] == nil {
			m.pairs[n[0]] = new([256][]string)
		}
		m.pairs[n[0]][n[1]] = append(m.pairs[n[0]][n[1]], n)
	}
	return m
}

func (m *multiContains) contains(s string) bool {
	if m.empty {
		return true
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !m.first[c] {
			continue
		}
		if m.single[c] {
			return true
		}
		if i+1 >= len(s) {
			return false
		}
		for _, n := range m.pairs[c][s[i+1]] {
			if len(n) <= len(s)-i && s[i+2:i+len(n)] == n[2:] {
				return true
			}
		}
	}
	return false
}

// values appends the operand's values as strings (a list field gives its
// elements). Used by the rare comparisons with a field on the right.
func (p *Evaluator) values(o opnd, dst []string) []string {
	if o.field == nil {
		return append(dst, o.lit)
	}
	f := o.field
	switch f.Kind {
	case sysflow.FieldList:
		return f.List(p.ev, dst)
	case sysflow.FieldInt:
		return append(dst, strconv.FormatInt(f.Int(p.ev), 10))
	case sysflow.FieldBool:
		if f.Bool(p.ev) {
			return append(dst, "true")
		}
		return append(dst, "false")
	}
	return append(dst, f.Str(p.ev))
}

// genericEval compares any operands: true when op holds for any pair of a
// left value and a right value.
func genericEval(op condition.Op, lhs opnd, rhs []opnd) (func(*Evaluator) bool, error) {
	if _, err := stringTest(op, []string{"x"}); err != nil && op != condition.OpGlob && op != condition.OpRegex {
		return nil, err
	}
	if lhs.field != nil && lhs.field.Kind == sysflow.FieldStr && len(rhs) == 1 && rhs[0].field != nil && rhs[0].field.Kind == sysflow.FieldStr && op == condition.OpEq {
		a, b := lhs.field.Str, rhs[0].field.Str
		return func(p *Evaluator) bool { return a(p.ev) == b(p.ev) }, nil
	}
	allLit := true
	for _, r := range rhs {
		if r.field != nil {
			allLit = false
		}
	}
	var fixed strTest
	if allLit {
		vals := make([]string, len(rhs))
		for i, r := range rhs {
			vals[i] = r.lit
		}
		t, err := stringTest(op, vals)
		if err != nil {
			return nil, err
		}
		fixed = t
	}
	return func(p *Evaluator) bool {
		left := p.values(lhs, p.list[:0])
		p.list = left[:0] // keep the grown buffer; left stays valid until the next use
		if fixed != nil {
			for _, s := range left {
				if fixed(s) {
					return true
				}
			}
			return false
		}
		right := p.list2[:0]
		for _, r := range rhs {
			right = p.values(r, right)
		}
		p.list2 = right[:0]
		for _, s := range left {
			for _, v := range right {
				if compareStrings(op, s, v) {
					return true
				}
			}
		}
		return false
	}, nil
}

// compareStrings applies a string operator to two values known only at
// evaluation time (a field on the right).
func compareStrings(op condition.Op, s, v string) bool {
	switch op {
	case condition.OpEq, condition.OpIn, condition.OpIntersects:
		return s == v
	case condition.OpContains, condition.OpPMatch:
		return strings.Contains(s, v)
	case condition.OpIContains:
		return containsFold(s, strings.ToLower(v))
	case condition.OpStartsWith:
		return strings.HasPrefix(s, v)
	case condition.OpEndsWith:
		return strings.HasSuffix(s, v)
	}
	return false
}

// orderingEval compares integers: the operands' values parsed as integers;
// a value that is not one makes the comparison false.
func (l *loader) orderingEval(op condition.Op, lhs opnd, rhs []opnd) (func(*Evaluator) bool, error) {
	var cmp func(a, b int64) bool
	switch op {
	case condition.OpLt:
		cmp = func(a, b int64) bool { return a < b }
	case condition.OpLe:
		cmp = func(a, b int64) bool { return a <= b }
	case condition.OpGt:
		cmp = func(a, b int64) bool { return a > b }
	default:
		cmp = func(a, b int64) bool { return a >= b }
	}
	r := rhs[0]
	if r.field == nil {
		n, err := strconv.ParseInt(strings.TrimSpace(r.lit), 10, 64)
		if err != nil {
			l.neverReason = fmt.Sprintf("'%s' compares integers and %q is not one", op, r.lit)
			return nil, nil
		}
		if f := lhs.field; f != nil && f.Kind == sysflow.FieldInt {
			get := f.Int
			switch op { // the common cases without the indirect call
			case condition.OpLt:
				return func(p *Evaluator) bool { return get(p.ev) < n }, nil
			case condition.OpLe:
				return func(p *Evaluator) bool { return get(p.ev) <= n }, nil
			case condition.OpGt:
				return func(p *Evaluator) bool { return get(p.ev) > n }, nil
			}
			return func(p *Evaluator) bool { return get(p.ev) >= n }, nil
		}
	}
	if lhs.field != nil && lhs.field.Kind == sysflow.FieldInt && r.field != nil && r.field.Kind == sysflow.FieldInt {
		a, b := lhs.field.Int, r.field.Int
		return func(p *Evaluator) bool { return cmp(a(p.ev), b(p.ev)) }, nil
	}
	return func(p *Evaluator) bool {
		left := p.values(lhs, p.list[:0])
		right := p.values(r, p.list2[:0])
		hit := false
	outer:
		for _, s := range left {
			a, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				continue
			}
			for _, t := range right {
				b, err := strconv.ParseInt(t, 10, 64)
				if err == nil && cmp(a, b) {
					hit = true
					break outer
				}
			}
		}
		p.list, p.list2 = left[:0], right[:0]
		return hit
	}, nil
}

// closest returns the candidate nearest to name by edit distance, or ""
// when none is close.
func closest(name string, cands []string) string {
	limit := len(name)/3 + 1
	if limit < 2 {
		limit = 2
	}
	best, bestD := "", limit+1
	for _, c := range cands {
		if d := levenshtein(name, c); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

func levenshtein(a, b string) int {
	row := make([]int, len(b)+1)
	for j := range row {
		row[j] = j
	}
	for i := 1; i <= len(a); i++ {
		prev := row[0]
		row[0] = i
		for j := 1; j <= len(b); j++ {
			cur := row[j]
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			row[j] = min(prev+cost, row[j]+1, row[j-1]+1)
			prev = cur
		}
	}
	return row[len(b)]
}

// gvText renders a compiled condition as a govaluate expression: each leaf
// is a parameter p<index> that the Evaluator answers.
func gvText(n *cnode, b *strings.Builder) {
	switch n.op {
	case cConst:
		if n.val {
			b.WriteString("true")
		} else {
			b.WriteString("false")
		}
	case cLeaf:
		b.WriteByte('p')
		b.WriteString(strconv.Itoa(int(n.leaf)))
	case cNot:
		b.WriteString("!(")
		gvText(n.kids[0], b)
		b.WriteByte(')')
	case cAnd, cOr:
		sep := " && "
		if n.op == cOr {
			sep = " || "
		}
		b.WriteByte('(')
		for i, k := range n.kids {
			if i > 0 {
				b.WriteString(sep)
			}
			gvText(k, b)
		}
		b.WriteByte(')')
	}
}

func compileGovaluate(n *cnode) (*govaluate.EvaluableExpression, string, error) {
	var b strings.Builder
	gvText(n, &b)
	text := b.String()
	e, err := govaluate.NewEvaluableExpression(text)
	if err != nil {
		return nil, text, err
	}
	// Every parameter is a bool and the operators are && || !, so the
	// per-node type checks could never fail: skip them (a tenth of the
	// evaluation time).
	e.ChecksTypes = false
	return e, text, nil
}
