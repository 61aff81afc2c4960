package policies

import (
	"encoding/base64"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
	"unsafe"

	"github.com/sfconnector/sfconnector/policies/condition"
	"github.com/sfconnector/sfconnector/sysflow"
	"gopkg.in/yaml.v3"
)

// sigmaDef is a Sigma rule as read from its file; it compiles with the
// other rules, into the same tree of shared comparisons.
type sigmaDef struct {
	f    *sourceFile
	root *yaml.Node
	vals map[string]*yaml.Node
	keys map[string]*yaml.Node
}

// SigmaInfo is what a Sigma rule carries besides its condition. Title,
// level, tags, id and status are in the alert (rule name, priority, tags,
// and the tags sigma.id:<id> and sigma.status:<status>); the rest is kept
// here for tools and encoders.
type SigmaInfo struct {
	ID             string
	Status         string
	Level          string
	Author         string
	References     []string
	FalsePositives []string
	Category       string
}

// meta lists the metadata alerts carry, in a fixed order, without empty
// entries.
func (s *SigmaInfo) meta() []sysflow.MetaField {
	var out []sysflow.MetaField
	add := func(k string, list bool, vs ...string) {
		var keep []string
		for _, v := range vs {
			if v != "" {
				keep = append(keep, v)
			}
		}
		if len(keep) > 0 {
			out = append(out, sysflow.MetaField{Key: k, Values: keep, List: list})
		}
	}
	add("sigma.id", false, s.ID)
	add("sigma.status", false, s.Status)
	add("sigma.level", false, s.Level)
	add("sigma.author", false, s.Author)
	add("sigma.references", true, s.References...)
	add("sigma.falsepositives", true, s.FalsePositives...)
	return out
}

// isSigmaDoc reports whether a YAML document is a Sigma rule: a mapping
// with a detection key (a Falco-style file is a list).
func isSigmaDoc(root *yaml.Node) bool {
	if root.Kind != yaml.MappingNode {
		return false
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "detection" {
			return true
		}
	}
	return false
}

// isSigmaMappingDoc reports whether a document is a Sigma field-mapping
// file: found in a rule directory, it is not a policy.
func isSigmaMappingDoc(root *yaml.Node) bool {
	if root.Kind != yaml.MappingNode {
		return false
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		if k := root.Content[i].Value; k == "fieldmappings" || k == "logsources" {
			return true
		}
	}
	return false
}

// sigmaRule registers a Sigma rule document, in definition order with the
// Falco-style rules.
func (l *loader) sigmaRule(f *sourceFile, root *yaml.Node) {
	d := &sigmaDef{f: f, root: root, vals: map[string]*yaml.Node{}, keys: map[string]*yaml.Node{}}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if v.Kind == yaml.AliasNode && v.Alias != nil {
			v = v.Alias
		}
		if _, dup := d.vals[k.Value]; dup {
			l.warn(f.pos(k), "", f.line(k.Line), "key %q given twice in one Sigma rule; the last one is used", k.Value)
		}
		d.vals[k.Value], d.keys[k.Value] = v, k
	}
	name := ""
	pos := f.pos(root)
	if t, ok := d.vals["title"]; ok && t.Kind == yaml.ScalarNode {
		name = strings.TrimSpace(t.Value)
		pos = f.pos(d.keys["title"])
	}
	r := &ruleDef{name: name, pos: pos, src: f.line(pos.Line), file: f.index, enabled: true, sigma: d, index: len(l.order)}
	l.order = append(l.order, r)
}

// sigmaSkip reports why a Sigma rule is not loaded: a construct of the
// specification this engine does not run. It is a warning (the rule is
// skipped) and an error in strict mode.
type sigmaSkip struct {
	pos Position
	src string
	msg string
}

// sigmaCompiler compiles one Sigma rule.
type sigmaCompiler struct {
	l      *loader
	r      *ruleDef
	d      *sigmaDef
	f      *sourceFile
	label  string
	skip   *sigmaSkip // the first unsupported construct
	bad    bool       // an error was reported
	idents map[string]*yaml.Node
	identK map[string]*yaml.Node
	names  []string // identifiers in file order
	memo   map[string]*cnode
}

func (c *sigmaCompiler) unsupported(n *yaml.Node, format string, args ...any) {
	if c.skip == nil {
		c.skip = &sigmaSkip{pos: c.f.pos(n), src: c.f.line(n.Line), msg: fmt.Sprintf(format, args...)}
	}
}

func (c *sigmaCompiler) fail(n *yaml.Node, format string, args ...any) {
	c.bad = true
	c.l.fail(c.f.pos(n), c.label, c.f.line(n.Line), format, args...)
}

func (c *sigmaCompiler) failed() bool { return c.bad || c.skip != nil }

// sigmaLevel maps a Sigma level to the three priorities.
func sigmaLevel(s string) (sysflow.Priority, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "informational", "low":
		return sysflow.PriorityLow, true
	case "medium":
		return sysflow.PriorityMedium, true
	case "high", "critical":
		return sysflow.PriorityHigh, true
	}
	return sysflow.PriorityLow, false
}

// sigmaCategories maps the Sigma log source categories SysFlow records can
// answer to record kinds, with the operation the record must carry ("" for
// any).
var sigmaCategories = map[string]struct {
	kinds []sysflow.RecordKind
	op    string
}{
	"process_creation":    {[]sysflow.RecordKind{sysflow.KindProcessEvent}, "EXEC"},
	"process_termination": {[]sysflow.RecordKind{sysflow.KindProcessEvent}, "EXIT"},
	"file_event":          {[]sysflow.RecordKind{sysflow.KindFileFlow, sysflow.KindFileEvent}, ""},
	"file_access":         {[]sysflow.RecordKind{sysflow.KindFileFlow}, ""},
	"file_delete":         {[]sysflow.RecordKind{sysflow.KindFileEvent}, "UNLINK"},
	"file_rename":         {[]sysflow.RecordKind{sysflow.KindFileEvent}, "RENAME"},
	"network_connection":  {[]sysflow.RecordKind{sysflow.KindNetworkFlow}, ""},
}

func sigmaCategoryNames() string {
	var names []string
	for n := range sigmaCategories {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

func (l *loader) compileSigma(r *ruleDef) *Rule {
	d := r.sigma
	f := d.f
	label := fmt.Sprintf("sigma rule %q", r.name)
	if r.name == "" {
		label = "sigma rule"
	}
	c := &sigmaCompiler{l: l, r: r, d: d, f: f, label: label, memo: map[string]*cnode{}}
	if l.sigma == nil {
		l.sigma = l.loadSigmaMapping(l.opts.SigmaConfig)
	}
	if r.name == "" {
		c.fail(d.root, "a Sigma rule needs a title")
		return nil
	}
	info := &SigmaInfo{}
	str := func(key string) string {
		v, ok := d.vals[key]
		if !ok {
			return ""
		}
		if v.Kind != yaml.ScalarNode {
			c.fail(v, "%s must be a string, found %s", key, kindName(v))
			return ""
		}
		return strings.TrimSpace(v.Value)
	}
	list := func(key string) []string {
		v, ok := d.vals[key]
		if !ok {
			return nil
		}
		out, ok := l.stringList(f, v, label, key)
		if !ok {
			c.bad = true
		}
		return out
	}
	info.ID, info.Status, info.Level, info.Author = str("id"), str("status"), str("level"), str("author")
	desc := str("description")
	info.References, info.FalsePositives = list("references"), list("falsepositives")
	tags := list("tags")
	prio := sysflow.PriorityLow
	if info.Level != "" {
		p, ok := sigmaLevel(info.Level)
		if !ok {
			l.warn(f.pos(d.vals["level"]), label, f.line(d.vals["level"].Line), "unknown level %q; using low (known: informational, low, medium, high, critical)", info.Level)
		}
		prio = p
	}
	if a, ok := d.vals["action"]; ok {
		c.unsupported(a, "action %q (rule collections) is not supported: write each rule as a complete document", a.Value)
	}
	mask, base := c.logsource(info)
	det, ok := d.vals["detection"]
	var root *cnode
	switch {
	case !ok:
		c.fail(d.root, "a Sigma rule needs a detection")
	case det.Kind != yaml.MappingNode:
		c.fail(det, "detection must be a mapping of search identifiers and a condition, found %s", kindName(det))
	default:
		root = c.detection(det)
	}
	if c.bad {
		return nil
	}
	if c.skip != nil {
		verdict := "rule skipped"
		if l.opts.Strict {
			verdict = "rule refused (strict mode)"
		}
		l.warn(c.skip.pos, label, c.skip.src, "%s: %s", verdict, c.skip.msg)
		return nil
	}
	root = junction(true, []*cnode{base, root})
	canTrue, _ := l.masks(root)
	var all []string
	all = append(all, tags...)
	all = append(all, "sigma")
	if info.ID != "" {
		all = append(all, "sigma.id:"+info.ID)
	}
	if info.Status != "" {
		all = append(all, "sigma.status:"+info.Status)
	}
	rule := &Rule{Name: r.name, Desc: desc, Priority: prio, Tags: dedup(all), Pos: r.pos, Sigma: info, Meta: info.meta(), kinds: mask & canTrue}
	for i := 0; i+1 < len(det.Content); i += 2 {
		if det.Content[i].Value == "condition" {
			rule.Condition = conditionText(det.Content[i+1])
		}
	}
	if rule.kinds == 0 {
		l.warn(r.pos, label, r.src, "rule can never match: its condition is always false on %s records", kindList(mask))
	}
	expr, text, err := compileGovaluate(root)
	if err != nil {
		l.fail(r.pos, label, r.src, "internal error compiling the condition: %v", err)
		return nil
	}
	rule.expr, rule.exprText, rule.root = expr, text, root
	return rule
}

func conditionText(n *yaml.Node) string {
	if n.Kind == yaml.SequenceNode {
		var parts []string
		for _, e := range n.Content {
			parts = append(parts, "("+e.Value+")")
		}
		return strings.Join(parts, " or ")
	}
	return n.Value
}

// logsource works out the record kinds of the rule's category and the
// conditions the mapping's matching log sources add.
func (c *sigmaCompiler) logsource(info *SigmaInfo) (kindMask, *cnode) {
	d := c.d
	ls, ok := d.vals["logsource"]
	if !ok {
		c.fail(d.root, "a Sigma rule needs a logsource")
		return 0, falseNode
	}
	if ls.Kind != yaml.MappingNode {
		c.fail(ls, "logsource must be a mapping (category, product, service), found %s", kindName(ls))
		return 0, falseNode
	}
	var product, service, category string
	var catNode, prodNode, servNode *yaml.Node
	for i := 0; i+1 < len(ls.Content); i += 2 {
		k, v := ls.Content[i], ls.Content[i+1]
		switch k.Value {
		case "product":
			product, prodNode = strings.ToLower(strings.TrimSpace(v.Value)), v
		case "service":
			service, servNode = strings.ToLower(strings.TrimSpace(v.Value)), v
		case "category":
			category, catNode = strings.ToLower(strings.TrimSpace(v.Value)), v
		}
	}
	info.Category = category
	m := c.l.sigma
	products := map[string]bool{"linux": true}
	for _, s := range m.sources {
		if s.product != "" {
			products[s.product] = true
		}
	}
	if product != "" && !products[product] {
		c.unsupported(prodNode, "log source product %q: SysFlow records describe %s hosts", product, strings.Join(sortedKeys(products), ", "))
		return 0, falseNode
	}
	if catNode == nil {
		n := ls
		if servNode != nil {
			n = servNode
		}
		c.unsupported(n, "log source without a category (service %q): SysFlow answers the categories %s", service, sigmaCategoryNames())
		return 0, falseNode
	}
	cat, ok := sigmaCategories[category]
	if !ok {
		c.unsupported(catNode, "log source category %q has no SysFlow record type (supported: %s)", category, sigmaCategoryNames())
		return 0, falseNode
	}
	var mask kindMask
	for _, k := range cat.kinds {
		mask |= 1 << k
	}
	var kids []*cnode
	if cat.op != "" {
		f, _ := sysflow.LookupField("sf.opflags")
		kids = append(kids, c.l.build(c.ctxAt(catNode), 0, condition.OpEq, opnd{field: f}, []opnd{{lit: cat.op}}))
	}
	serviceKnown := service == ""
	for _, s := range m.sources {
		if s.service != "" && s.service == service {
			serviceKnown = true
		}
		if !sourceApplies(s, product, service, category) {
			continue
		}
		for _, sc := range s.conds {
			kids = append(kids, c.sourceCond(sc))
		}
	}
	if !serviceKnown {
		c.unsupported(servNode, "log source service %q is not one of the mapping's log sources (%s)", service, m.file)
	}
	return mask, junction(true, kids)
}

func sortedKeys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// sourceApplies reports whether a mapping log source applies to a rule:
// each of product, service and category that both name must agree.
func sourceApplies(s sigmaSource, product, service, category string) bool {
	agree := func(a, b string) bool { return a == "" || b == "" || a == b }
	return agree(s.product, product) && agree(s.service, service) && agree(s.category, category)
}

// sourceCond compiles a condition of a mapping log source. The reference's
// event.provider: sysflow holds for every record this engine sees.
func (c *sigmaCompiler) sourceCond(sc sigmaSourceCond) *cnode {
	if sc.field == "event.provider" && strings.EqualFold(sc.value, "sysflow") {
		return trueNode
	}
	fields := c.l.sigma.fields[sc.field]
	if fields == nil {
		if f, ok := c.l.opts.Fields.LookupField(sc.field); ok {
			fields = []*sysflow.Field{f}
		}
	}
	if fields == nil {
		c.l.warn(sc.pos, "", sc.src, "log source condition on %s ignored: not a mapped or SysFlow field", sc.field)
		return trueNode
	}
	var kids []*cnode
	for _, f := range fields {
		t, _ := c.l.sigmaPatternTest(sigmaParsePattern(sc.value), false)
		kids = append(kids, c.l.sigmaLeaf("sigma "+f.Name+" = "+quoteLit(sc.value), f, t))
	}
	return junction(false, kids)
}

func (c *sigmaCompiler) ctxAt(n *yaml.Node) *cctx {
	pos, src := c.f.pos(n), c.f.line(n.Line)
	return &cctx{item: c.label, at: func() (Position, string) { return pos, src }, scope: -1}
}

// detection compiles the detection: its search identifiers, referenced
// from the condition.
func (c *sigmaCompiler) detection(det *yaml.Node) *cnode {
	c.idents, c.identK = map[string]*yaml.Node{}, map[string]*yaml.Node{}
	var cond, condKey *yaml.Node
	for i := 0; i+1 < len(det.Content); i += 2 {
		k, v := det.Content[i], det.Content[i+1]
		if v.Kind == yaml.AliasNode && v.Alias != nil {
			v = v.Alias
		}
		switch k.Value {
		case "condition":
			cond, condKey = v, k
		case "timeframe":
			c.unsupported(k, "timeframe %q (correlation over time) is not supported", v.Value)
		default:
			if _, dup := c.idents[k.Value]; !dup {
				c.names = append(c.names, k.Value)
			}
			c.idents[k.Value], c.identK[k.Value] = v, k
		}
	}
	if cond == nil {
		c.fail(det, "detection has no condition")
		return falseNode
	}
	var conds []*yaml.Node
	switch cond.Kind {
	case yaml.ScalarNode:
		conds = []*yaml.Node{cond}
	case yaml.SequenceNode:
		// a list of conditions, any of which matches (older rules)
		conds = cond.Content
	default:
		c.fail(condKey, "condition must be a string, found %s", kindName(cond))
		return falseNode
	}
	var kids []*cnode
	for _, cn := range conds {
		if cn.Kind != yaml.ScalarNode {
			c.fail(cn, "condition must be a string, found %s", kindName(cn))
			return falseNode
		}
		e, err := parseSigmaCondition(cn.Value)
		if err != nil {
			pos := c.f.scalarPos(cn, err.off)
			if err.unsupported {
				if c.skip == nil {
					c.skip = &sigmaSkip{pos: pos, src: c.f.line(pos.Line), msg: err.msg}
				}
			} else {
				c.bad = true
				c.l.fail(pos, c.label, c.f.line(pos.Line), "condition: %s", err.msg)
			}
			return falseNode
		}
		kids = append(kids, c.condExpr(e, cn))
	}
	return junction(false, kids)
}

func (c *sigmaCompiler) condExpr(e sigExpr, cn *yaml.Node) *cnode {
	switch e := e.(type) {
	case sigAnd:
		kids := make([]*cnode, len(e.kids))
		for i, k := range e.kids {
			kids[i] = c.condExpr(k, cn)
		}
		return junction(true, kids)
	case sigOr:
		kids := make([]*cnode, len(e.kids))
		for i, k := range e.kids {
			kids[i] = c.condExpr(k, cn)
		}
		return junction(false, kids)
	case sigNot:
		return notNode(c.condExpr(e.x, cn))
	case sigRef:
		if _, ok := c.idents[e.name]; !ok {
			pos := c.f.scalarPos(cn, e.off)
			hint := ""
			if cl := closest(e.name, c.names); cl != "" {
				hint = fmt.Sprintf(" (did you mean %s?)", cl)
			}
			c.bad = true
			c.l.fail(pos, c.label, c.f.line(pos.Line), "condition names %s, which the detection does not define%s", e.name, hint)
			return falseNode
		}
		return c.ident(e.name)
	case sigOf:
		var kids []*cnode
		for _, n := range c.names {
			if e.pattern == "them" && !strings.HasPrefix(n, "_") || e.pattern != "them" && sigmaGlob(e.pattern, n) {
				kids = append(kids, c.ident(n))
			}
		}
		if len(kids) == 0 {
			pos := c.f.scalarPos(cn, e.off)
			c.bad = true
			c.l.fail(pos, c.label, c.f.line(pos.Line), "no search identifier matches %s", e.pattern)
			return falseNode
		}
		return junction(e.all, kids)
	}
	panic(fmt.Sprintf("policies: unexpected Sigma condition node %T", e))
}

// ident compiles one search identifier, once.
func (c *sigmaCompiler) ident(name string) *cnode {
	if n, ok := c.memo[name]; ok {
		return n
	}
	v := c.idents[name]
	var n *cnode
	switch v.Kind {
	case yaml.MappingNode:
		n = c.fieldMap(v)
	case yaml.SequenceNode:
		var kids []*cnode
		for _, e := range v.Content {
			if e.Kind == yaml.AliasNode && e.Alias != nil {
				e = e.Alias
			}
			if e.Kind != yaml.MappingNode {
				c.unsupported(e, "keyword search (%s: a list of values without a field): SysFlow records have no raw message to search", name)
				return falseNode
			}
			kids = append(kids, c.fieldMap(e))
		}
		n = junction(false, kids)
	default:
		if v.Tag == "!!null" {
			c.fail(c.identK[name], "search identifier %s is empty", name)
		} else {
			c.unsupported(v, "keyword search (%s: a value without a field): SysFlow records have no raw message to search", name)
		}
		n = falseNode
	}
	c.memo[name] = n
	return n
}

// fieldMap compiles a map of field conditions, all of which must hold.
func (c *sigmaCompiler) fieldMap(m *yaml.Node) *cnode {
	var kids []*cnode
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if v.Kind == yaml.AliasNode && v.Alias != nil {
			v = v.Alias
		}
		kids = append(kids, c.fieldCond(k, v))
		if c.failed() {
			return falseNode
		}
	}
	return junction(true, kids)
}

// sigmaMods are the value modifiers of a field condition.
type sigmaMods struct {
	position   string // contains, startswith, endswith or ""
	all        bool
	cased      bool
	re         bool
	reFlags    string // i, m, s
	cidr       bool
	exists     bool
	cmp        string // gt, gte, lt, lte
	fieldref   bool
	transforms []string // windash, base64, base64offset, in order
	text       string   // as written, for leaf keys
}

// sigmaUnsupportedMods are modifiers of the specification this engine
// does not implement, with the reason.
var sigmaUnsupportedMods = map[string]string{
	"wide":    "UTF-16 encodings only make sense for Windows event data",
	"utf16":   "UTF-16 encodings only make sense for Windows event data",
	"utf16le": "UTF-16 encodings only make sense for Windows event data",
	"utf16be": "UTF-16 encodings only make sense for Windows event data",
	"expand":  "placeholders need per-deployment values that the field mapping does not define",
}

func (c *sigmaCompiler) parseMods(k *yaml.Node, mods []string) (sigmaMods, bool) {
	var m sigmaMods
	m.text = strings.Join(mods, "|")
	kinds := 0 // value kinds: re, cidr, exists, cmp, fieldref
	for _, mod := range mods {
		switch mod = strings.ToLower(mod); mod {
		case "contains", "startswith", "endswith":
			if m.position != "" {
				c.fail(k, "modifiers %s and %s cannot be combined", m.position, mod)
				return m, false
			}
			m.position = mod
		case "all":
			m.all = true
		case "cased":
			m.cased = true
		case "re":
			m.re = true
			kinds++
		case "i", "m", "s":
			if !m.re {
				c.fail(k, "modifier %s applies to re and must follow it", mod)
				return m, false
			}
			m.reFlags += mod
		case "cidr":
			m.cidr = true
			kinds++
		case "exists":
			m.exists = true
			kinds++
		case "gt", "gte", "lt", "lte":
			m.cmp = mod
			kinds++
		case "fieldref":
			m.fieldref = true
			kinds++
		case "windash", "base64", "base64offset":
			m.transforms = append(m.transforms, mod)
		default:
			if why, ok := sigmaUnsupportedMods[mod]; ok {
				c.unsupported(k, "modifier %s is not supported: %s", mod, why)
			} else {
				c.unsupported(k, "unknown modifier %q (supported: contains, startswith, endswith, all, re, i, m, s, cidr, base64, base64offset, windash, exists, cased, gt, gte, lt, lte, fieldref)", mod)
			}
			return m, false
		}
	}
	switch {
	case kinds > 1:
		c.fail(k, "modifiers %s combine more than one of re, cidr, exists, gt/gte/lt/lte, fieldref", m.text)
		return m, false
	case kinds == 1 && len(m.transforms) > 0:
		c.fail(k, "modifiers %s: %s cannot apply to a regular expression, network, comparison or field reference", m.text, m.transforms[0])
		return m, false
	case kinds == 1 && m.position != "" && !m.fieldref:
		c.fail(k, "modifiers %s: %s only applies to string values", m.text, m.position)
		return m, false
	}
	return m, true
}

// fields resolves a Sigma field name: through the mapping, or as a SysFlow
// field name written directly.
func (c *sigmaCompiler) fields(k *yaml.Node, name string) []*sysflow.Field {
	if fs, ok := c.l.sigma.fields[name]; ok && len(fs) > 0 {
		return fs
	}
	if f, ok := c.l.opts.Fields.LookupField(name); ok && strings.Contains(name, ".") {
		return []*sysflow.Field{f}
	}
	c.unsupported(k, "field %s is not in the field mapping (%s) and is not a SysFlow field", name, c.l.sigma.file)
	return nil
}

// sigmaValue is one value of a field condition.
type sigmaValue struct {
	text string
	null bool
	node *yaml.Node
}

// fieldCond compiles one field condition: Field|mod|mod: value(s).
func (c *sigmaCompiler) fieldCond(k, v *yaml.Node) *cnode {
	parts := strings.Split(k.Value, "|")
	name := strings.TrimSpace(parts[0])
	if name == "" {
		c.unsupported(k, "keyword search (a value without a field): SysFlow records have no raw message to search")
		return falseNode
	}
	mods, ok := c.parseMods(k, parts[1:])
	if !ok {
		return falseNode
	}
	fields := c.fields(k, name)
	if fields == nil {
		return falseNode
	}
	var vals []sigmaValue
	switch v.Kind {
	case yaml.ScalarNode:
		vals = []sigmaValue{{text: v.Value, null: v.Tag == "!!null", node: v}}
	case yaml.SequenceNode:
		for _, e := range v.Content {
			if e.Kind != yaml.ScalarNode {
				c.fail(e, "values of %s must be scalars, found %s", k.Value, kindName(e))
				return falseNode
			}
			vals = append(vals, sigmaValue{text: e.Value, null: e.Tag == "!!null", node: e})
		}
		if len(vals) == 0 {
			c.fail(v, "%s has an empty list of values", k.Value)
			return falseNode
		}
	default:
		c.fail(v, "the value of %s must be a scalar or a list, found %s", k.Value, kindName(v))
		return falseNode
	}
	if mods.exists {
		if len(vals) != 1 || (vals[0].text != "true" && vals[0].text != "false") {
			c.fail(v, "exists takes true or false")
			return falseNode
		}
		var kids []*cnode
		for _, f := range fields {
			kids = append(kids, c.l.sigmaLeaf("sigma "+f.Name+" exists", f, nil))
		}
		n := junction(false, kids)
		if vals[0].text == "false" {
			n = notNode(n)
		}
		return n
	}
	// Each value holds when it holds on any of the mapped fields; the
	// values hold together with all, else any of them.
	var perValue []*cnode
	if mods.all {
		for _, val := range vals {
			perValue = append(perValue, c.valuesOn(fields, mods, []sigmaValue{val}))
		}
		return junction(true, perValue)
	}
	return c.valuesOn(fields, mods, vals)
}

// valuesOn builds the condition "any of vals on any of fields".
func (c *sigmaCompiler) valuesOn(fields []*sysflow.Field, mods sigmaMods, vals []sigmaValue) *cnode {
	var kids []*cnode
	var plain []sigmaValue
	for _, v := range vals {
		if v.null {
			for _, f := range fields {
				kids = append(kids, notNode(c.l.sigmaLeaf("sigma "+f.Name+" exists", f, nil)))
			}
			continue
		}
		plain = append(plain, v)
	}
	if len(plain) > 0 {
		if mods.fieldref {
			for _, v := range plain {
				refs := c.fields(v.node, strings.TrimSpace(v.text))
				if refs == nil {
					return falseNode
				}
				for _, f := range fields {
					for _, g := range refs {
						kids = append(kids, c.l.sigmaFieldref(f, g, mods))
					}
				}
			}
			return junction(false, kids)
		}
		t, key := c.valueTest(mods, plain)
		if t == nil {
			return falseNode
		}
		for _, f := range fields {
			kids = append(kids, c.l.sigmaLeaf("sigma "+f.Name+" "+key, f, t))
		}
	}
	return junction(false, kids)
}

// valueTest builds the test of a string against any of the values, and a
// canonical text for the comparison's key.
func (c *sigmaCompiler) valueTest(mods sigmaMods, vals []sigmaValue) (strTest, string) {
	var tests []strTest
	var keys []string
	for _, v := range vals {
		switch {
		case mods.re:
			flags := mods.reFlags
			re, err := regexp.Compile(reFlagPrefix(flags) + v.text)
			if err != nil {
				c.unsupported(v.node, "regular expression %q: %v (RE2 syntax: no lookaround, no backreferences)", v.text, err)
				return nil, ""
			}
			tests = append(tests, re.MatchString)
			keys = append(keys, "re"+flags+" "+quoteLit(v.text))
		case mods.cidr:
			p, err := netip.ParsePrefix(strings.TrimSpace(v.text))
			if err != nil {
				c.fail(v.node, "cidr: %q is not a network (like 10.0.0.0/8): %v", v.text, err)
				return nil, ""
			}
			p = p.Masked()
			tests = append(tests, func(s string) bool {
				a, err := netip.ParseAddr(s)
				return err == nil && p.Contains(a.Unmap())
			})
			keys = append(keys, "cidr "+p.String())
		case mods.cmp != "":
			n, err := strconv.ParseFloat(strings.TrimSpace(v.text), 64)
			if err != nil {
				c.fail(v.node, "%s compares numbers and %q is not one", mods.cmp, v.text)
				return nil, ""
			}
			tests = append(tests, numberTest(mods.cmp, n))
			keys = append(keys, mods.cmp+" "+strconv.FormatFloat(n, 'g', -1, 64))
		default:
			pats, cased, ok := c.patterns(mods, v)
			if !ok {
				return nil, ""
			}
			for _, p := range pats {
				t, key := c.l.sigmaPatternTest(p, cased)
				tests = append(tests, t)
				keys = append(keys, key)
			}
		}
	}
	key := strings.Join(keys, ", ")
	if len(tests) == 1 {
		return tests[0], key
	}
	return func(s string) bool {
		for _, t := range tests {
			if t(s) {
				return true
			}
		}
		return false
	}, "any(" + key + ")"
}

func reFlagPrefix(flags string) string {
	if flags == "" {
		return ""
	}
	return "(?" + flags + ")"
}

func numberTest(op string, n float64) strTest {
	return func(s string) bool {
		x, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return false
		}
		switch op {
		case "gt":
			return x > n
		case "gte":
			return x >= n
		case "lt":
			return x < n
		}
		return x <= n
	}
}

// sigmaPart is a piece of a Sigma string: literal text, or a wildcard
// (* any run of characters, ? one character).
type sigmaPart struct {
	lit  string
	wild byte
}

// sigmaParsePattern splits a Sigma string into literals and wildcards. A
// backslash escapes *, ? and itself; before any other character it is a
// plain backslash, so Windows paths need no doubling.
func sigmaParsePattern(s string) []sigmaPart {
	var out []sigmaPart
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			out = append(out, sigmaPart{lit: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); i++ {
		switch ch := s[i]; {
		case ch == '\\' && i+1 < len(s) && (s[i+1] == '*' || s[i+1] == '?' || s[i+1] == '\\'):
			lit.WriteByte(s[i+1])
			i++
		case ch == '*' || ch == '?':
			flush()
			out = append(out, sigmaPart{wild: ch})
		default:
			lit.WriteByte(ch)
		}
	}
	flush()
	return out
}

// patterns applies the value's transformations and position modifier: the
// patterns to match, whether they compare case-sensitively, and false when
// a problem was reported.
func (c *sigmaCompiler) patterns(mods sigmaMods, v sigmaValue) ([][]sigmaPart, bool, bool) {
	cased := mods.cased
	texts := []string{v.text}
	encoded := false
	for _, t := range mods.transforms {
		var next []string
		switch t {
		case "windash":
			for _, s := range texts {
				vs, ok := windashVariants(s)
				if !ok {
					c.unsupported(v.node, "windash on %q gives more than %d variants", v.text, maxWindash)
					return nil, false, false
				}
				next = append(next, vs...)
			}
		case "base64":
			for _, s := range texts {
				next = append(next, base64.StdEncoding.EncodeToString([]byte(s)))
			}
			encoded = true
		case "base64offset":
			for _, s := range texts {
				next = append(next, base64Offsets(s)...)
			}
			encoded = true
		}
		texts = next
	}
	if encoded {
		// base64 text is case-sensitive and has no wildcards
		cased = true
	}
	var out [][]sigmaPart
	for _, s := range texts {
		var p []sigmaPart
		if encoded {
			p = []sigmaPart{{lit: s}}
		} else {
			p = sigmaParsePattern(s)
		}
		switch mods.position {
		case "contains":
			p = append(append([]sigmaPart{{wild: '*'}}, p...), sigmaPart{wild: '*'})
		case "startswith":
			p = append(p, sigmaPart{wild: '*'})
		case "endswith":
			p = append([]sigmaPart{{wild: '*'}}, p...)
		}
		out = append(out, p)
	}
	return out, cased, true
}

const maxWindash = 625

var windashChars = []string{"-", "/", "\u2013", "\u2014", "\u2015"}

// windashVariants replaces each dash or slash that starts an option (after
// a non-word character or the start, before a word character) by each of
// the characters Windows programs accept there, in every combination.
func windashVariants(s string) ([]string, bool) {
	isWord := func(c byte) bool {
		return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
	}
	var at []int
	for i := 0; i < len(s); i++ {
		if (s[i] == '-' || s[i] == '/') && (i == 0 || !isWord(s[i-1])) && i+1 < len(s) && isWord(s[i+1]) {
			at = append(at, i)
		}
	}
	n := 1
	for range at {
		n *= len(windashChars)
		if n > maxWindash {
			return nil, false
		}
	}
	out := []string{""}
	prev := 0
	for _, i := range at {
		var next []string
		for _, o := range out {
			for _, d := range windashChars {
				next = append(next, o+s[prev:i]+d)
			}
		}
		out, prev = next, i+1
	}
	for j := range out {
		out[j] += s[prev:]
	}
	return out, true
}

// base64Offsets returns the three forms the value takes inside a longer
// base64 text, depending on its offset modulo 3: the encodings of the value
// shifted by 0, 1 and 2 bytes, without the characters that depend on the
// neighbouring bytes.
func base64Offsets(s string) []string {
	start := [3]int{0, 2, 3}
	end := [3]int{0, 3, 2}
	var out []string
	for i := 0; i < 3; i++ {
		enc := base64.StdEncoding.EncodeToString([]byte(strings.Repeat(" ", i) + s))
		e := len(enc) - end[(len(s)+i)%3]
		if start[i] <= e {
			out = append(out, enc[start[i]:e])
		}
	}
	return out
}

// sigmaPatternTest compiles a pattern into a test. Patterns without inner
// wildcards (equality, prefix, suffix, substring) compare directly; the
// others become an anchored regular expression.
func (l *loader) sigmaPatternTest(p []sigmaPart, cased bool) (strTest, string) {
	var key strings.Builder
	if cased {
		key.WriteString("cased ")
	}
	for _, x := range p {
		if x.wild != 0 {
			key.WriteByte(x.wild)
		} else {
			key.WriteString(quoteLit(x.lit))
		}
	}
	lead := len(p) > 0 && p[0].wild == '*'
	trail := len(p) > 1 && p[len(p)-1].wild == '*' || len(p) == 1 && !lead && p[0].wild == '*'
	inner := p
	if lead {
		inner = inner[1:]
	}
	if trail && len(inner) > 0 {
		inner = inner[:len(inner)-1]
	}
	simple := len(inner) <= 1 && (len(inner) == 0 || inner[0].wild == 0)
	lit := ""
	if len(inner) == 1 {
		lit = inner[0].lit
	}
	ascii := true
	for i := 0; i < len(lit); i++ {
		if lit[i] >= utf8.RuneSelf {
			ascii = false
		}
	}
	if simple && (cased || ascii) {
		low := strings.ToLower(lit)
		switch {
		case len(p) == 1 && p[0].wild == '*', lead && trail && lit == "":
			return func(string) bool { return true }, key.String()
		case lead && trail:
			if cased {
				return func(s string) bool { return strings.Contains(s, lit) }, key.String()
			}
			return func(s string) bool { return containsFold(s, low) }, key.String()
		case lead:
			if cased {
				return func(s string) bool { return strings.HasSuffix(s, lit) }, key.String()
			}
			return func(s string) bool { return len(s) >= len(low) && asciiEqualFold(s[len(s)-len(low):], low) }, key.String()
		case trail:
			if cased {
				return func(s string) bool { return strings.HasPrefix(s, lit) }, key.String()
			}
			return func(s string) bool { return len(s) >= len(low) && asciiEqualFold(s[:len(low)], low) }, key.String()
		default:
			if cased {
				return func(s string) bool { return s == lit }, key.String()
			}
			return func(s string) bool { return len(s) == len(low) && asciiEqualFold(s, low) }, key.String()
		}
	}
	var re strings.Builder
	re.WriteString("(?s")
	if !cased {
		re.WriteByte('i')
	}
	re.WriteString(")^")
	for _, x := range p {
		switch x.wild {
		case '*':
			re.WriteString(".*")
		case '?':
			re.WriteByte('.')
		default:
			re.WriteString(regexp.QuoteMeta(x.lit))
		}
	}
	re.WriteByte('$')
	rx := regexp.MustCompile(re.String())
	return rx.MatchString, key.String()
}

// asciiEqualFold compares s with lower (lower case ASCII), ignoring ASCII
// case in s.
func asciiEqualFold(s, lower string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// sigmaLeaf returns the comparison with this key, making it from the test
// on the field's values (a list field: any element) when new. A nil test
// is the exists test.
func (l *loader) sigmaLeaf(key string, f *sysflow.Field, t strTest) *cnode {
	if i, ok := l.leafIndex[key]; ok {
		return &cnode{op: cLeaf, leaf: i}
	}
	var eval func(*Evaluator) bool
	if t == nil {
		eval = existsEval(opnd{field: f})
	} else {
		eval = l.fieldEval(f, t)
	}
	lf := &leaf{key: key, fields: []*sysflow.Field{f}, eval: eval}
	lf.setProc()
	l.kindsOf(lf)
	i := int32(len(l.leaves))
	l.leaves = append(l.leaves, lf)
	l.leafIndex[key] = i
	return &cnode{op: cLeaf, leaf: i}
}

// fieldEval applies a string test to a field's value as text, without
// allocating: integers are formatted into the evaluator's buffer, list
// fields hold when any element passes.
func (l *loader) fieldEval(f *sysflow.Field, t strTest) func(*Evaluator) bool {
	switch f.Kind {
	case sysflow.FieldInt:
		get := f.Int
		return func(p *Evaluator) bool {
			p.buf = strconv.AppendInt(p.buf[:0], get(p.ev), 10)
			return t(unsafe.String(unsafe.SliceData(p.buf), len(p.buf)))
		}
	case sysflow.FieldBool:
		get := f.Bool
		yes, no := t("true"), t("false")
		return func(p *Evaluator) bool {
			if get(p.ev) {
				return yes
			}
			return no
		}
	case sysflow.FieldList:
		if f.Name == "sf.proc.acmdline" {
			// The reference mapping's ParentCommandLine: building the list
			// would allocate a string per ancestor and record, so each
			// command line is composed in the buffer and tested in turn.
			return func(p *Evaluator) bool {
				for _, a := range p.ev.Ancestry {
					p.buf = appendAncestorCmdline(p.buf[:0], a)
					if t(unsafe.String(unsafe.SliceData(p.buf), len(p.buf))) {
						return true
					}
				}
				return false
			}
		}
		slot := l.listSlot(f)
		return func(p *Evaluator) bool {
			return slices.ContainsFunc(p.listValue(slot, f), func(s string) bool { return t(s) })
		}
	}
	if app := appenders[f.Name]; app != nil {
		return func(p *Evaluator) bool {
			p.buf = app(p.buf[:0], p.ev)
			return t(unsafe.String(unsafe.SliceData(p.buf), len(p.buf)))
		}
	}
	get := f.Str
	return func(p *Evaluator) bool { return t(get(p.ev)) }
}

// appendAncestorCmdline appends one element of sf.proc.acmdline: the exe,
// and a space and the arguments when there are any
// (TestAncestorCmdlineAppender checks it against the field on every trace
// event).
func appendAncestorCmdline(b []byte, a *sysflow.Process) []byte {
	if a == nil {
		return b
	}
	b = append(b, a.Exe...)
	if args := sysflow.ProcArgs(a); args != "" {
		b = append(append(b, ' '), args...)
	}
	return b
}

// sigmaFieldref compares two fields' values: equal (or containing,
// starting or ending with the other) ignoring case unless cased. On list
// fields, any pair of elements.
func (l *loader) sigmaFieldref(f, g *sysflow.Field, mods sigmaMods) *cnode {
	key := "sigma " + f.Name + " fieldref|" + mods.text + " " + g.Name
	if i, ok := l.leafIndex[key]; ok {
		return &cnode{op: cLeaf, leaf: i}
	}
	cmp := func(a, b string) bool {
		if !mods.cased {
			a, b = strings.ToLower(a), strings.ToLower(b)
		}
		switch mods.position {
		case "contains":
			return strings.Contains(a, b)
		case "startswith":
			return strings.HasPrefix(a, b)
		case "endswith":
			return strings.HasSuffix(a, b)
		}
		return a == b
	}
	lhs, rhs := opnd{field: f}, opnd{field: g}
	eval := func(p *Evaluator) bool {
		left := p.values(lhs, p.list[:0])
		right := p.values(rhs, p.list2[:0])
		hit := false
		for _, a := range left {
			for _, b := range right {
				if cmp(a, b) {
					hit = true
				}
			}
		}
		p.list, p.list2 = left[:0], right[:0]
		return hit
	}
	lf := &leaf{key: key, fields: []*sysflow.Field{f, g}, eval: eval}
	lf.setProc()
	l.kindsOf(lf)
	i := int32(len(l.leaves))
	l.leaves = append(l.leaves, lf)
	l.leafIndex[key] = i
	return &cnode{op: cLeaf, leaf: i}
}
