package policies

import (
	"fmt"
	"strings"
	"sync"

	"github.com/casbin/govaluate"
	"github.com/sfconnector/sfconnector/policies/condition"
	"github.com/sfconnector/sfconnector/sysflow"
)

// Rule is a compiled rule or drop filter. Its exported fields are read-only.
type Rule struct {
	Name      string
	Desc      string
	Priority  sysflow.Priority
	Tags      []string // shared with every Match of the rule: never modify
	Prefilter []string
	Actions   []string
	Output    string // as written, with %field references
	Filter    bool   // a drop filter (- filter: / - drop:)
	Pos       Position
	Condition string              // as written; appended parts joined by a space
	Sigma     *SigmaInfo          // a Sigma rule's metadata, nil for Falco-style rules
	Meta      []sysflow.MetaField // what alerts carry of Sigma (id, status, references, ...); shared, never modify

	index    int
	root     *cnode
	expr     *govaluate.EvaluableExpression
	exprText string
	kinds    kindMask
	output   []outputPart
}

// Expression returns the govaluate expression the rule was compiled to: its
// comparisons appear as parameters p0, p1, ... (see Set.Leaf).
func (r *Rule) Expression() string { return r.exprText }

// Kinds returns the record kinds the rule is evaluated on: its prefilter,
// narrowed to the kinds its condition can match at all.
func (r *Rule) Kinds() []sysflow.RecordKind { return r.kinds.kinds() }

// Index is the rule's position in Set.Rules (or Set.Filters).
func (r *Rule) Index() int { return r.index }

// Set is a compiled policy set: rules, drop filters and the index of both by
// record kind. It is immutable and safe for concurrent use; a reload builds
// a new Set.
type Set struct {
	rules      []*Rule
	filters    []*Rule
	leaves     []*leaf
	byKind     [32][]*Rule
	dropByKind [32][]*Rule
	files      []string
	diags      []Diagnostic
	pool       sync.Pool
	// What the evaluator tries per record kind, in rule order (plan.go),
	// and the number of memo slots of shared subtrees it needs.
	checks     [32][]check
	dropChecks [32][]check
	slots      int
	pslots     int // process subtrees of the plan (procmemo.go)

	govaluateOnly bool
	noSubtreeMemo bool // plan without memo slots, for the tests
}

// Rules returns the enabled rules in definition order.
func (s *Set) Rules() []*Rule { return s.rules }

// Filters returns the enabled drop filters in definition order.
func (s *Set) Filters() []*Rule { return s.filters }

// Files returns the policy files the set was loaded from, in load order.
func (s *Set) Files() []string { return s.files }

// Diagnostics returns the warnings reported when the set was loaded.
func (s *Set) Diagnostics() []Diagnostic { return s.diags }

// Leaf returns the text of comparison i (parameter p<i> of the rule
// expressions), with canonical field names.
func (s *Set) Leaf(i int) string { return s.leaves[i].key }

// RulesFor returns the enabled rules evaluated on records of kind k.
func (s *Set) RulesFor(k sysflow.RecordKind) []*Rule { return s.byKind[k&31] }

// Evaluator evaluates a Set on one event at a time. It holds the scratch
// space that keeps evaluation free of allocations, so it is not safe for
// concurrent use: give each goroutine its own (Set.NewEvaluator), or use
// Set.Match and Set.Drop, which take one from a pool.
//
// It is the govaluate.Parameters of the rule expressions: parameter p<i>
// is comparison i evaluated on the current event, through the field's
// accessor. Results are remembered for the event, so a comparison that
// several rules share (open_write, container, ...) is computed once.
// The values of plan subtrees that read only process, ancestry, container,
// pod and header fields are remembered across events, per process
// snapshot (procmemo.go): the entities an event points to must not be
// modified in place while an evaluator may still hold them (call Forget
// after doing so).
type Evaluator struct {
	set   *Set
	ev    *sysflow.Event
	list  []string
	list2 []string
	buf   []byte
	memo  []uint32 // per leaf: gen<<1 | result, valid when the gen matches
	nodes []uint32 // per shared plan subtree (cnode.slot-1), the same way
	gen   uint32
	lists []listCache // list field values of the current event, by slot
	strs  []strCache  // computed string field values of the current event, by slot
	procs []procEntry // the per-process memo, direct mapped (procmemo.go)
	cur   *procEntry  // the current event's entry, once looked up
	epoch uint32      // bumped by Forget: older entries are empty
}

// NewEvaluator returns an evaluator for the set.
func (s *Set) NewEvaluator() *Evaluator {
	e := &Evaluator{set: s, memo: make([]uint32, len(s.leaves)), nodes: make([]uint32, s.slots), list: make([]string, 0, 16), list2: make([]string, 0, 16), buf: make([]byte, 0, 256)}
	if s.pslots > 0 {
		e.procs = make([]procEntry, procWays)
		words := (2*s.pslots + 63) / 64
		bits := make([]uint64, procWays*words)
		for i := range e.procs {
			e.procs[i].bits = bits[i*words : (i+1)*words : (i+1)*words]
		}
	}
	return e
}

func (s *Set) getEvaluator() *Evaluator {
	if e, ok := s.pool.Get().(*Evaluator); ok {
		// One event per call: a caller may change an entity in place
		// between calls, so nothing is remembered across them.
		e.Forget()
		return e
	}
	return s.NewEvaluator()
}

// Match appends to dst every rule that matches ev, in rule order, and
// returns it. Drop filters are not applied (see Drop).
func (s *Set) Match(ev *sysflow.Event, dst []sysflow.Match) []sysflow.Match {
	e := s.getEvaluator()
	dst = e.Match(ev, dst)
	s.pool.Put(e)
	return dst
}

// Drop reports whether a drop filter matches ev.
func (s *Set) Drop(ev *sysflow.Event) bool {
	e := s.getEvaluator()
	d := e.Drop(ev)
	s.pool.Put(e)
	return d
}

// Get answers the govaluate parameter p<i>: comparison i on the current
// event. The name is parsed, not looked up: it was generated with the index.
func (e *Evaluator) Get(name string) (interface{}, error) {
	i := 0
	for j := 1; j < len(name); j++ {
		i = i*10 + int(name[j]-'0')
	}
	if i >= len(e.memo) {
		return nil, fmt.Errorf("policies: no comparison %q", name)
	}
	return e.leaf(i), nil
}

// leaf evaluates comparison i on the current event, once per event.
func (e *Evaluator) leaf(i int) bool {
	if m := e.memo[i]; m>>1 == e.gen {
		return m&1 == 1
	}
	v := e.set.leaves[i].eval(e)
	m := e.gen << 1
	if v {
		m |= 1
	}
	e.memo[i] = m
	return v
}

// node evaluates a compiled condition directly over the memoised
// comparisons. A plan node with a slot (a subtree several rules share) is
// evaluated once per event, like a comparison.
func (e *Evaluator) node(n *cnode) bool {
	if n.pslot != 0 {
		return e.procNode(n)
	}
	if n.slot != 0 {
		if m := e.nodes[n.slot-1]; m>>1 == e.gen {
			return m&1 == 1
		}
		v := e.walk(n)
		m := e.gen << 1
		if v {
			m |= 1
		}
		e.nodes[n.slot-1] = m
		return v
	}
	return e.walk(n)
}

func (e *Evaluator) walk(n *cnode) bool {
	switch n.op {
	case cLeaf:
		return e.leaf(int(n.leaf))
	case cAnd:
		for _, k := range n.kids {
			if !e.node(k) {
				return false
			}
		}
		return true
	case cOr:
		for _, k := range n.kids {
			if e.node(k) {
				return true
			}
		}
		return false
	case cNot:
		return !e.node(n.kids[0])
	}
	return n.val
}

// begin positions the evaluator on ev with a fresh memo generation.
func (e *Evaluator) begin(ev *sysflow.Event) {
	e.ev = ev
	e.cur = nil
	e.gen++
	if e.gen >= 1<<31 { // the generation would overflow the memo encoding
		clear(e.memo)
		clear(e.nodes)
		e.gen = 1
	}
}

// holds reports whether r matches the current event. The rule's govaluate
// expression decides; unless the set was loaded with GovaluateOnly, the
// same compiled tree is first walked directly over the memoised
// comparisons, and a record it rejects skips govaluate, whose generic
// evaluation (interfaces, a pooled wrapper per call) costs several times
// more. Both read the same comparisons through the same tree, so they
// agree (TestPrecheckAgreesWithGovaluate checks it on every trace).
func (e *Evaluator) holds(c *check) bool {
	if !e.set.govaluateOnly && !e.node(c.root) {
		return false
	}
	v, err := c.rule.expr.Eval(e)
	return err == nil && v == true
}

// try reports whether the check's rule matches the current event: its
// op flags test first (one AND, no call), then holds.
func (e *Evaluator) try(c *check) bool {
	if c.need != 0 && e.ev.OpFlags&c.need == 0 {
		return false
	}
	return e.holds(c)
}

// Match appends to dst every rule matching ev, in rule order.
func (e *Evaluator) Match(ev *sysflow.Event, dst []sysflow.Match) []sysflow.Match {
	e.begin(ev)
	checks := e.set.checks[ev.Kind&31]
	for i := range checks {
		if r := checks[i].rule; e.try(&checks[i]) {
			dst = append(dst, sysflow.Match{Rule: r.Name, Desc: r.Desc, Priority: r.Priority, Tags: r.Tags, Output: r.render(ev), Meta: r.Meta})
		}
	}
	e.ev = nil
	return dst
}

// MatchRules calls fn with each rule matching ev, in rule order, without
// building Match values.
func (e *Evaluator) MatchRules(ev *sysflow.Event, fn func(*Rule)) {
	e.begin(ev)
	checks := e.set.checks[ev.Kind&31]
	for i := range checks {
		if e.try(&checks[i]) {
			fn(checks[i].rule)
		}
	}
	e.ev = nil
}

// Drop reports whether a drop filter matches ev.
func (e *Evaluator) Drop(ev *sysflow.Event) bool {
	filters := e.set.dropChecks[ev.Kind&31]
	if len(filters) == 0 {
		return false
	}
	e.begin(ev)
	defer func() { e.ev = nil }()
	for i := range filters {
		if e.try(&filters[i]) {
			return true
		}
	}
	return false
}

// compile turns the merged definitions into a Set.
func (l *loader) compile() *Set {
	l.leafIndex = map[string]int32{}
	s := &Set{files: l.files, govaluateOnly: l.opts.GovaluateOnly, noSubtreeMemo: l.opts.noSubtreeMemo}
	for _, r := range l.order {
		rule := l.compileRule(r)
		if rule == nil || !r.enabled {
			continue
		}
		if r.filter {
			rule.index = len(s.filters)
			s.filters = append(s.filters, rule)
		} else {
			rule.index = len(s.rules)
			s.rules = append(s.rules, rule)
		}
	}
	// Macros no rule uses are still checked, with what would be errors in
	// a rule reported as warnings.
	for _, name := range l.macroNames() {
		if m := l.macros[name]; len(m.state) == 0 {
			l.compileMacro(m, &cctx{soft: true, scope: l.scopeOf(m.file)})
		}
	}
	s.leaves = l.leaves
	for _, r := range s.rules {
		for _, k := range eventKinds {
			if r.kinds.has(k) {
				s.byKind[k] = append(s.byKind[k], r)
			}
		}
	}
	for _, r := range s.filters {
		for _, k := range eventKinds {
			if r.kinds.has(k) {
				s.dropByKind[k] = append(s.dropByKind[k], r)
			}
		}
	}
	s.buildPlan(!l.opts.NoMemo)
	return s
}

func (l *loader) compileRule(r *ruleDef) *Rule {
	if r.sigma != nil {
		return l.compileSigma(r)
	}
	ctx := &cctx{item: r.label(), pos: r.cond.pos, rule: r.label(), scope: l.scopeOf(r.file)}
	before := len(l.diags.all)
	root := l.parseAndCompile(r.cond.String(), ctx)
	for _, x := range r.exceptions {
		root = junction(true, []*cnode{root, notNode(l.exception(r, x))})
	}
	mask := allKinds
	if len(r.prefilter) > 0 {
		mask = 0
		for _, name := range r.prefilter {
			k, ok := prefilterKind(strings.TrimSpace(name))
			if !ok {
				l.fail(r.prefPos, r.label(), "", "unknown record type %q in prefilter (known: %s)", name, prefilterNames())
				continue
			}
			mask |= 1 << k
		}
	}
	canTrue, _ := l.masks(root)
	rule := &Rule{
		Name: r.name, Desc: r.desc, Priority: r.priority, Tags: dedup(r.tags), Prefilter: r.prefilter,
		Actions: r.actions, Output: r.output, Filter: r.filter, Pos: r.pos, Condition: r.cond.String(),
		kinds: mask & canTrue,
	}
	if rule.kinds == 0 && r.enabled && !l.hasErrorSince(before) {
		why := "its condition is always false"
		if canTrue != 0 {
			why = fmt.Sprintf("its condition can only match %s records, which its prefilter excludes", kindList(canTrue))
		}
		l.warn(r.pos, r.label(), r.src, "%s can never match: %s", kindWord(r.filter), why)
	}
	expr, text, err := compileGovaluate(root)
	if err != nil {
		l.fail(r.pos, r.label(), r.src, "internal error compiling the condition: %v", err)
		return nil
	}
	rule.expr, rule.exprText = expr, text
	rule.root = root
	rule.output = l.parseOutput(r)
	return rule
}

func (l *loader) hasErrorSince(n int) bool {
	for _, d := range l.diags.all[n:] {
		if d.Severity == SeverityError {
			return true
		}
	}
	return false
}

func kindList(m kindMask) string {
	var names []string
	for _, k := range m.kinds() {
		names = append(names, k.TypeName())
	}
	return strings.Join(names, ", ")
}

func dedup(tags []string) []string {
	seen := make(map[string]bool, len(tags))
	out := tags[:0:0]
	for _, t := range tags {
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	return out
}

// exception compiles one of Falco's exceptions into the node that, when
// true, exempts the record: any value row whose comparisons all hold.
func (l *loader) exception(r *ruleDef, x exceptionDef) *cnode {
	label := fmt.Sprintf("%s, exception %q", r.label(), x.name)
	fields := make([]opnd, len(x.fields))
	ops := make([]condition.Op, len(x.fields))
	for i, fr := range x.fields {
		ctx := &cctx{item: label, at: func() (Position, string) { return fr.pos, fr.src }, scope: l.scopeOf(r.file)}
		if f, ok := l.opts.Fields.LookupField(fr.name); ok {
			fields[i] = opnd{field: f}
		} else {
			l.unknownField(ctx, 0, fr.name)
			fields[i] = opnd{lit: fr.name}
		}
		op, ok := condition.LookupOp(strings.TrimSpace(x.comps[i]))
		if !ok {
			l.fail(x.pos, label, x.src, "unknown comparison %q in comps", x.comps[i])
			return falseNode
		}
		ops[i] = op
	}
	var rows []*cnode
	for _, row := range x.values {
		terms := make([]*cnode, 0, len(row))
		for i, v := range row {
			ctx := &cctx{item: label, at: func() (Position, string) { return v.pos, v.src }, scope: l.scopeOf(r.file)}
			var rhs []opnd
			switch {
			case ops[i] == condition.OpExists:
			case ops[i].IsSet():
				for _, s := range l.expandItems(v.items, l.scopeOf(r.file)) {
					rhs = append(rhs, opnd{lit: s})
				}
			case v.isList || len(v.items) != 1:
				l.fail(v.pos, label, v.src, "comparison '%s' takes one value, not a list", ops[i])
				return falseNode
			default:
				rhs = []opnd{{lit: v.items[0].text}}
			}
			terms = append(terms, l.build(ctx, 0, ops[i], fields[i], rhs))
		}
		rows = append(rows, junction(true, terms))
	}
	return junction(false, rows)
}

// scopeOf is the scope of definitions in the given file.
func (l *loader) scopeOf(file int) int {
	if l.opts.FileScopedDefinitions {
		return file
	}
	return -1
}

func (l *loader) expandItems(items []listItem, scope int) []string {
	var out []string
	for _, it := range items {
		if !it.quoted {
			if ld := l.lookupList(it.text, scope); ld != nil {
				out = append(out, l.expandList(ld, scope)...)
				continue
			}
		}
		out = append(out, it.text)
	}
	return out
}

// outputPart is a literal piece of an output string, or a field.
type outputPart struct {
	lit   string
	field *sysflow.Field
}

// parseOutput splits a rule's output at %field references. An unknown field
// is a warning and prints as <NA>, as in Falco.
func (l *loader) parseOutput(r *ruleDef) []outputPart {
	s := r.output
	if s == "" {
		return nil
	}
	var parts []outputPart
	var lit strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			lit.WriteByte(s[i])
			continue
		}
		if i+1 < len(s) && s[i+1] == '%' {
			lit.WriteByte('%')
			i++
			continue
		}
		j := i + 1
		for j < len(s) && isFieldChar(s[j]) {
			j++
		}
		for j > i+1 && s[j-1] == '.' { // a full stop ending a sentence
			j--
		}
		name := s[i+1 : j]
		if name == "" {
			lit.WriteByte('%')
			continue
		}
		if lit.Len() > 0 {
			parts = append(parts, outputPart{lit: lit.String()})
			lit.Reset()
		}
		if f, ok := l.opts.Fields.LookupField(name); ok {
			parts = append(parts, outputPart{field: f})
		} else {
			hint := ""
			if c := l.opts.Fields.ClosestField(name); c != "" {
				hint = fmt.Sprintf(" (did you mean %s?)", c)
			}
			l.warn(r.outputPos, r.label(), "", "unknown field %%%s in output%s; prints as <NA>", name, hint)
			parts = append(parts, outputPart{lit: "<NA>"})
		}
		i = j - 1
	}
	if lit.Len() > 0 {
		parts = append(parts, outputPart{lit: lit.String()})
	}
	return parts
}

func isFieldChar(c byte) bool {
	return c == '.' || c == '_' || c == '[' || c == ']' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// render substitutes the event's values into the rule's output ("" when the
// rule has none). It allocates, but only for matching records.
func (r *Rule) render(ev *sysflow.Event) string {
	if len(r.output) == 0 {
		return ""
	}
	var b strings.Builder
	for _, p := range r.output {
		if p.field == nil {
			b.WriteString(p.lit)
			continue
		}
		v := p.field.Text(ev)
		if v == "" {
			v = "<NA>"
		}
		b.WriteString(v)
	}
	return b.String()
}

// FormatOutput returns the rule's output with ev's values substituted.
func (r *Rule) FormatOutput(ev *sysflow.Event) string { return r.render(ev) }
