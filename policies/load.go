package policies

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/sfconnector/sfconnector/sysflow"
	"gopkg.in/yaml.v3"
)

// EngineVersion is the language level this engine implements, in Falco's
// numbering (engine version N is 0.N.0): a file whose
// required_engine_version is higher does not load.
const EngineVersion = 26

// FieldRegistry resolves policy field names. The default is the sysflow
// package's registry; tests and tools may pass their own.
type FieldRegistry interface {
	// LookupField resolves an sf.* name, a Falco alias or a json-path form.
	LookupField(name string) (*sysflow.Field, bool)
	// ClosestField suggests the known name nearest to an unknown one, or "".
	ClosestField(name string) string
}

type sysflowFields struct{}

func (sysflowFields) LookupField(name string) (*sysflow.Field, bool) {
	return sysflow.LookupField(name)
}
func (sysflowFields) ClosestField(name string) string { return sysflow.ClosestField(name) }

// Options control loading.
type Options struct {
	// Strict turns every warning into an error (sfconnector validate uses it).
	Strict bool
	// Logger, when set, receives every diagnostic as it is reported: errors
	// at error level, warnings at warn level.
	Logger *slog.Logger
	// Fields resolves field names; nil means the sysflow registry.
	Fields FieldRegistry
	// KeepDuplicateRules evaluates every definition of a rule name, as the
	// reference processor does (it lists such a rule once per definition
	// that matches). By default a later definition replaces an earlier one
	// (FIELDS.md, intentional difference 3). For comparisons with the
	// reference's output.
	KeepDuplicateRules bool
	// FileScopedDefinitions resolves names the way the reference processor
	// does: the rules of a file see the lists and macros of that file and
	// of the files loaded before it, the latest definition winning, and a
	// redefinition in a later file does not reach them. By default every
	// rule sees the last definition of each name, wherever it is (Falco's
	// way, which lets a local file retune the macros of the stock rules).
	// Names defined only in later files resolve in both modes.
	FileScopedDefinitions bool
	// ReferenceContainerType types a record outside any container as the
	// reference processor does: sf.container.type reads DOCKER, its
	// container-type enum's zero value, where sfconnector says host
	// (FIELDS.md, intentional difference 1). A record whose container
	// record is missing reads DOCKER too, as there.
	ReferenceContainerType bool
	// GovaluateOnly evaluates every candidate rule with its govaluate
	// expression alone, without the direct pre-check of the compiled tree
	// (see Evaluator). Results are the same; it is slower and exists for
	// measurement.
	GovaluateOnly bool
	// NoMemo walks each rule's own compiled tree, as written, instead of
	// the evaluation plan (plan.go): a macro shared by several rules is
	// then evaluated once per rule instead of once per event, comparisons
	// the record type settles are still made, and terms keep their
	// written order. Results are the same; it is slower and exists for
	// measurement and for the test that both agree.
	NoMemo bool
	// noSubtreeMemo builds the plan without memo slots (for the tests).
	noSubtreeMemo bool
	// SigmaConfig is the Sigma field-mapping file (the policyengine's
	// config key) used to compile Sigma rules; "" means the built-in
	// mapping. Sigma rules are recognised by their content (a mapping with
	// a detection), so one set may hold both languages.
	SigmaConfig string
}

func (o *Options) setDefaults() {
	if o.Fields == nil {
		o.Fields = sysflowFields{}
	}
	if o.ReferenceContainerType {
		o.Fields = referenceContainerType{o.Fields}
	}
}

// CompatSFProcessor is the compat setting (policy engine key "compat",
// run --compat) that evaluates policies as sf-processor 0.7.0 does.
const CompatSFProcessor = "sf-processor"

// SFProcessorCompat returns o with every behaviour of the reference
// processor that FIELDS.md lists as an intentional difference of the
// policy engine switched on: duplicate rule names all evaluated (3),
// definitions resolved within their file (12), host processes typed DOCKER
// (1). For users who run both side by side and want the same alerts.
func (o Options) SFProcessorCompat() Options {
	o.KeepDuplicateRules = true
	o.FileScopedDefinitions = true
	o.ReferenceContainerType = true
	return o
}

// referenceContainerType wraps a field registry so that sf.container.type
// (and its aliases, which resolve to the same field) of a record without a
// container reads as the reference reads it.
type referenceContainerType struct{ FieldRegistry }

func (r referenceContainerType) LookupField(name string) (*sysflow.Field, bool) {
	f, ok := r.FieldRegistry.LookupField(name)
	if !ok || f.Name != "sf.container.type" {
		return f, ok
	}
	c := *f
	str := f.Str
	c.Str = func(e *sysflow.Event) string {
		if e.Container == nil {
			return sysflow.ContainerTypeName(0)
		}
		return str(e)
	}
	return &c, true
}

// source is a policy file to load: its name for messages and its bytes.
type source struct {
	name string
	data []byte
}

// Load loads the policy files at paths: files, or directories searched
// recursively for .yaml and .yml files in lexical order. Definitions from
// every file share one namespace, in load order, so a rule may use a macro
// or list defined in another file, before or after it.
//
// It returns the compiled set and every diagnostic (warnings included). When
// there is an error (or, in strict mode, a warning) the set is nil and err
// is a *LoadError listing all of them.
func Load(paths []string, opts Options) (*Set, []Diagnostic, error) {
	var diags diagList
	var srcs []source
	files, err := policyFiles(paths)
	if err != nil {
		if pe, ok := err.(*pathError); ok {
			// the position names the path: the message must not repeat it
			diags.add(SeverityError, Position{File: pe.path}, "", "", "%s", pe.detail())
		} else {
			diags.add(SeverityError, Position{}, "", "", "%v", err)
		}
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			diags.add(SeverityError, Position{File: f}, "", "", "cannot read policy file: %v", err)
			continue
		}
		srcs = append(srcs, source{name: f, data: data})
	}
	if len(files) == 0 && err == nil {
		diags.add(SeverityError, Position{File: strings.Join(paths, ", ")}, "", "", "no policy files (.yaml, .yml) found")
	}
	return load(srcs, &diags, opts)
}

// LoadFS loads the policy files of fsys matched by the glob patterns
// (fs.Glob syntax), in lexical order.
func LoadFS(fsys fs.FS, patterns []string, opts Options) (*Set, []Diagnostic, error) {
	var diags diagList
	var srcs []source
	seen := map[string]bool{}
	for _, p := range patterns {
		names, err := fs.Glob(fsys, p)
		if err != nil {
			diags.add(SeverityError, Position{File: p}, "", "", "bad pattern: %v", err)
			continue
		}
		sort.Strings(names)
		for _, n := range names {
			if seen[n] {
				continue
			}
			seen[n] = true
			data, err := fs.ReadFile(fsys, n)
			if err != nil {
				diags.add(SeverityError, Position{File: n}, "", "", "cannot read policy file: %v", err)
				continue
			}
			srcs = append(srcs, source{name: n, data: data})
		}
	}
	return load(srcs, &diags, opts)
}

// Validate loads the policies at paths only to check them and returns every
// diagnostic, in file and line order. With strict, warnings are errors.
func Validate(paths []string, strict bool) []Diagnostic {
	_, diags, _ := Load(paths, Options{Strict: strict})
	return diags
}

type pathError struct {
	path string
	what string // "cannot open policy path"
	err  error
}

func (e *pathError) Error() string { return e.path + ": " + e.what + ": " + e.err.Error() }
func (e *pathError) Unwrap() error { return e.err }

// detail is the error without e.path: an os error about e.path itself
// ("stat PATH: no such file or directory") is reduced to its cause, so that
// a diagnostic positioned at the path names it once. An error about another
// path (a file inside a directory being walked) keeps that path.
func (e *pathError) detail() string {
	var pe *fs.PathError
	if errors.As(e.err, &pe) && pe.Path == e.path {
		return e.what + ": " + pe.Err.Error()
	}
	return e.what + ": " + e.err.Error()
}

// policyFiles expands paths into the policy files to load, without
// duplicates, keeping the order of paths and lexical order inside
// directories. Hidden files and directories (.git, .#x.yaml) are skipped
// in directories; a path given by name is always loaded.
func policyFiles(paths []string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	add := func(p string) {
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return out, &pathError{p, "cannot open policy path", err}
		}
		if !st.IsDir() {
			add(p)
			continue
		}
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			hidden := path != p && strings.HasPrefix(d.Name(), ".")
			if d.IsDir() {
				if hidden {
					return filepath.SkipDir
				}
				return nil
			}
			// Hidden files are editors' and tools' temporary copies
			// (.#rules.yaml, .rules.yaml.swp).
			if !hidden && IsPolicyFile(path) {
				add(path)
			}
			return nil
		})
		if err != nil {
			return out, &pathError{p, "cannot read policy directory", err}
		}
	}
	return out, nil
}

// IsPolicyFile reports whether a file name has a policy extension (.yaml or
// .yml, any case).
func IsPolicyFile(name string) bool {
	ext := strings.ToLower(filepath.Ext(name))
	return ext == ".yaml" || ext == ".yml"
}

// load parses, merges and compiles the sources.
func load(srcs []source, diags *diagList, opts Options) (*Set, []Diagnostic, error) {
	opts.setDefaults()
	l := &loader{
		opts:   opts,
		diags:  diags,
		lists:  map[string]*listDef{},
		macros: map[string]*macroDef{},
		rules:  map[string]*ruleDef{},

		listHist:  map[string][]*listDef{},
		macroHist: map[string][]*macroDef{},
	}
	order := map[string]int{}
	for i, s := range srcs {
		order[s.name] = i
		f := parseSource(s.name, s.data, diags)
		f.index = i
		l.files = append(l.files, s.name)
		for _, doc := range f.docs {
			l.document(f, doc)
		}
	}
	set := l.compile()
	all := diags.sorted(order)
	if opts.Strict {
		for i := range all {
			all[i].Severity = SeverityError
		}
	}
	if opts.Logger != nil {
		for _, d := range all {
			lvl := slog.LevelWarn
			if d.Severity == SeverityError {
				lvl = slog.LevelError
			}
			opts.Logger.Log(context.Background(), lvl, "policy "+d.Severity.String(), "at", d.Pos.String(), "item", d.Item, "msg", d.Msg)
		}
	}
	var errs []Diagnostic
	for _, d := range all {
		if d.Severity == SeverityError {
			errs = append(errs, d)
		}
	}
	if len(errs) > 0 {
		return nil, all, &LoadError{Diagnostics: errs}
	}
	set.diags = all
	return set, all, nil
}

// condText is a condition as written: one segment, or several when items
// with append: true extended it. Offsets into String() map back to files.
type condText struct {
	segs []condSeg
}

type condSeg struct {
	f    *sourceFile
	node *yaml.Node
}

func (c condText) String() string {
	parts := make([]string, len(c.segs))
	for i, s := range c.segs {
		parts[i] = s.node.Value
	}
	return strings.Join(parts, " ")
}

// pos maps an offset of String() to the file, with the source line.
func (c condText) pos(off int) (Position, string) {
	for _, s := range c.segs {
		n := len(s.node.Value)
		if off <= n {
			p := s.f.scalarPos(s.node, off)
			return p, s.f.line(p.Line)
		}
		off -= n + 1
	}
	last := c.segs[len(c.segs)-1]
	p := last.f.scalarPos(last.node, len(last.node.Value))
	return p, last.f.line(p.Line)
}

type listItem struct {
	text   string
	quoted bool
}

type listDef struct {
	name  string
	pos   Position
	file  int
	items []listItem
	// expansion state per scope (see cctx.scope)
	state    map[int]int8 // 0 new, 1 resolving, 2 done
	expanded map[int][]string
}

type macroDef struct {
	name string
	pos  Position
	file int
	cond condText
	// compilation state per scope (see cctx.scope)
	state map[int]int8 // 0 new, 1 compiling, 2 done
	node  map[int]*cnode
}

type exceptionDef struct {
	name   string
	pos    Position
	src    string
	fields []fieldRef
	comps  []string
	values [][]excValue // one tuple per entry; for a single field, one value per entry
	single bool         // fields was a single name, not a list
	f      *sourceFile
}

type fieldRef struct {
	name string
	pos  Position
	src  string
}

type excValue struct {
	items  []listItem // a YAML list given as the value, or one item
	isList bool
	pos    Position
	src    string
}

type ruleDef struct {
	filter     bool
	name       string
	pos        Position
	src        string
	desc       string
	cond       condText
	hasCond    bool
	priority   sysflow.Priority
	tags       []string
	prefilter  []string
	prefPos    Position
	actions    []string
	output     string
	outputPos  Position
	enabled    bool
	exceptions []exceptionDef
	index      int       // definition order
	file       int       // load order of the defining file
	sigma      *sigmaDef // a Sigma rule: compiled from its detection
}

func (r *ruleDef) label() string {
	if r.filter {
		return fmt.Sprintf("filter %q", r.name)
	}
	return fmt.Sprintf("rule %q", r.name)
}

type loader struct {
	opts   Options
	diags  *diagList
	files  []string
	lists  map[string]*listDef // the last definition of each name
	macros map[string]*macroDef
	// every definition of each name, in load order (file-scoped mode)
	listHist  map[string][]*listDef
	macroHist map[string][]*macroDef
	rules     map[string]*ruleDef
	order     []*ruleDef // rules and filters in definition order
	filters   map[string]*ruleDef

	// compilation
	leaves      []*leaf
	leafIndex   map[string]int32
	probe       *Evaluator
	neverReason string
	// opflagsMasks is set by makeEval when it compiles an sf.opflags bit
	// test: the bits per record kind.
	opflagsMasks *[32]int32
	listSlots    map[string]int
	strSlots     map[string]int
	sigma        *sigmaMapping // read when the first Sigma rule compiles
}

// itemKeys are the keys allowed on each kind of item. Keys Falco knows but
// this engine ignores are listed too, so that they load without a warning.
var itemKeys = map[string]map[string]bool{
	"rule": set("rule", "desc", "condition", "priority", "tags", "prefilter", "enabled", "actions", "action",
		"output", "exceptions", "append", "source", "warn_evttypes", "skip-if-unknown-filter", "capture", "capture_duration"),
	"macro":  set("macro", "condition", "append", "source"),
	"list":   set("list", "items", "append", "source"),
	"filter": set("filter", "drop", "condition", "desc", "enabled", "prefilter", "tags", "append"),
}

func set(keys ...string) map[string]bool {
	m := make(map[string]bool, len(keys))
	for _, k := range keys {
		m[k] = true
	}
	return m
}

func (l *loader) warn(pos Position, item, src, format string, args ...any) {
	l.diags.add(SeverityWarning, pos, item, src, format, args...)
}

func (l *loader) fail(pos Position, item, src, format string, args ...any) {
	l.diags.add(SeverityError, pos, item, src, format, args...)
}

func (l *loader) document(f *sourceFile, doc *yaml.Node) {
	root := doc
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) == 0 {
			return
		}
		root = root.Content[0]
	}
	switch {
	case root.Kind == yaml.ScalarNode && root.Tag == "!!null":
		return
	case isSigmaDoc(root):
		l.sigmaRule(f, root)
		return
	case isSigmaMappingDoc(root):
		if f.name != l.opts.SigmaConfig {
			l.warn(f.pos(root), "", f.line(root.Line), "a Sigma field mapping among the policy files is ignored; give it as the policy engine's config")
		}
		return
	case root.Kind != yaml.SequenceNode:
		l.fail(f.pos(root), "", f.line(root.Line), "a policy file is a YAML list of items (- rule:, - macro:, - list:, - filter:), found %s", kindName(root))
		return
	}
	for _, it := range root.Content {
		l.item(f, it)
	}
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	}
	return "a scalar"
}

// item reads one list entry.
func (l *loader) item(f *sourceFile, n *yaml.Node) {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Kind != yaml.MappingNode {
		l.fail(f.pos(n), "", f.line(n.Line), "an item must be a mapping with one of rule, macro, list, filter, found %s", kindName(n))
		return
	}
	vals := map[string]*yaml.Node{}
	keyAt := map[string]*yaml.Node{}
	var keys []string
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if v.Kind == yaml.AliasNode && v.Alias != nil {
			v = v.Alias
		}
		if _, dup := vals[k.Value]; dup {
			l.warn(f.pos(k), "", f.line(k.Line), "key %q given twice in one item; the last one is used", k.Value)
		} else {
			keys = append(keys, k.Value)
		}
		vals[k.Value] = v
		keyAt[k.Value] = k
	}
	kind := ""
	for _, k := range keys {
		switch k {
		case "rule", "macro", "list", "filter", "drop", "required_engine_version", "required_plugin_versions":
			if kind != "" {
				l.fail(f.pos(keyAt[k]), "", f.line(keyAt[k].Line), "item has both %q and %q", kind, k)
				return
			}
			kind = k
		}
	}
	switch kind {
	case "":
		l.fail(f.pos(n), "", f.line(n.Line), "item has none of the keys rule, macro, list, filter, drop (keys: %s)", strings.Join(keys, ", "))
		return
	case "required_engine_version":
		l.engineVersion(f, vals[kind])
		return
	case "required_plugin_versions":
		l.warn(f.pos(keyAt[kind]), "", f.line(keyAt[kind].Line), "required_plugin_versions ignored: this engine has no plugins")
		return
	case "drop":
		kind = "filter"
	}
	nameKey := keyAt["rule"]
	for _, k := range []string{"macro", "list", "filter", "drop"} {
		if nameKey == nil {
			nameKey = keyAt[k]
		}
	}
	nameNode := vals[nameKey.Value]
	if nameNode.Kind != yaml.ScalarNode || strings.TrimSpace(nameNode.Value) == "" {
		l.fail(f.pos(nameNode), "", f.line(nameNode.Line), "%s needs a name", kind)
		return
	}
	name := strings.TrimSpace(nameNode.Value)
	label := fmt.Sprintf("%s %q", kind, name)
	for _, k := range keys {
		if !itemKeys[kind][k] {
			l.warn(f.pos(keyAt[k]), label, f.line(keyAt[k].Line), "unknown key %q ignored", k)
		}
	}
	appendMode := false
	if a, ok := vals["append"]; ok {
		b, ok := l.boolValue(f, a, label, "append")
		if !ok {
			return
		}
		appendMode = b
	}
	pos := f.pos(nameKey)
	switch kind {
	case "list":
		l.list(f, name, pos, label, vals, appendMode)
	case "macro":
		l.macro(f, name, pos, label, vals, appendMode)
	default:
		l.rule(f, kind == "filter", name, pos, label, vals, appendMode)
	}
}

func (l *loader) engineVersion(f *sourceFile, v *yaml.Node) {
	if v.Kind != yaml.ScalarNode {
		l.fail(f.pos(v), "", f.line(v.Line), "required_engine_version must be a number or a version like 0.26.0")
		return
	}
	s := strings.TrimSpace(v.Value)
	need := -1
	if n, err := strconv.Atoi(s); err == nil {
		need = n
	} else if parts := strings.Split(s, "."); len(parts) == 3 {
		maj, e1 := strconv.Atoi(parts[0])
		min, e2 := strconv.Atoi(parts[1])
		_, e3 := strconv.Atoi(parts[2])
		if e1 == nil && e2 == nil && e3 == nil {
			need = min
			if maj > 0 {
				need = 1 << 30
			}
		}
	}
	switch {
	case need < 0:
		l.fail(f.pos(v), "", f.line(v.Line), "required_engine_version %q is not a number or a version like 0.26.0", s)
	case need > EngineVersion:
		l.fail(f.pos(v), "", f.line(v.Line), "the file requires engine version %s; this engine implements %d (0.%d.0)", s, EngineVersion, EngineVersion)
	}
}

func (l *loader) boolValue(f *sourceFile, v *yaml.Node, label, key string) (bool, bool) {
	if v.Kind == yaml.ScalarNode {
		switch strings.ToLower(strings.TrimSpace(v.Value)) {
		case "true", "yes", "on":
			return true, true
		case "false", "no", "off":
			return false, true
		}
	}
	l.fail(f.pos(v), label, f.line(v.Line), "%s must be true or false, found %q", key, v.Value)
	return false, false
}

func (l *loader) stringValue(f *sourceFile, v *yaml.Node, label, key string) (string, bool) {
	if v.Kind != yaml.ScalarNode {
		l.fail(f.pos(v), label, f.line(v.Line), "%s must be a string, found %s", key, kindName(v))
		return "", false
	}
	return v.Value, true
}

// stringList reads a list of scalars; a single scalar is accepted as a
// one-element list.
func (l *loader) stringList(f *sourceFile, v *yaml.Node, label, key string) ([]string, bool) {
	if v.Kind == yaml.ScalarNode {
		if v.Tag == "!!null" {
			return nil, true
		}
		return []string{v.Value}, true
	}
	if v.Kind != yaml.SequenceNode {
		l.fail(f.pos(v), label, f.line(v.Line), "%s must be a list, found %s", key, kindName(v))
		return nil, false
	}
	out := make([]string, 0, len(v.Content))
	for _, e := range v.Content {
		if e.Kind != yaml.ScalarNode {
			l.fail(f.pos(e), label, f.line(e.Line), "%s entries must be strings, found %s", key, kindName(e))
			return nil, false
		}
		out = append(out, e.Value)
	}
	return out, true
}

// itemsOf reads list items: unquoted items may name other lists; one level
// of quotes inside an item ('"(systemd)"') is removed, as Falco does when it
// pastes lists into conditions.
func (l *loader) itemsOf(f *sourceFile, v *yaml.Node, label, key string) ([]listItem, bool) {
	if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
		return nil, true
	}
	if v.Kind != yaml.SequenceNode {
		l.fail(f.pos(v), label, f.line(v.Line), "%s must be a list, found %s", key, kindName(v))
		return nil, false
	}
	out := make([]listItem, 0, len(v.Content))
	for _, e := range v.Content {
		if e.Kind != yaml.ScalarNode {
			l.fail(f.pos(e), label, f.line(e.Line), "%s entries must be strings, found %s", key, kindName(e))
			return nil, false
		}
		out = append(out, listItem{text: unquote(e.Value), quoted: e.Style&(yaml.SingleQuotedStyle|yaml.DoubleQuotedStyle) != 0})
	}
	return out, true
}

func unquote(s string) string {
	if len(s) >= 2 && (s[0] == '"' || s[0] == '\'') && s[len(s)-1] == s[0] {
		return s[1 : len(s)-1]
	}
	return s
}

func (l *loader) list(f *sourceFile, name string, pos Position, label string, vals map[string]*yaml.Node, appendMode bool) {
	v, ok := vals["items"]
	if !ok {
		l.fail(pos, label, f.line(pos.Line), "list has no items key")
		return
	}
	items, ok := l.itemsOf(f, v, label, "items")
	if !ok {
		return
	}
	old := l.lists[name]
	switch {
	case appendMode && old == nil:
		l.fail(pos, label, f.line(pos.Line), "append: true but no list %q is defined before", name)
	case appendMode:
		old.items = append(old.items, items...)
	default:
		if old != nil && !sameItems(old.items, items) {
			l.warn(pos, label, f.line(pos.Line), "list redefined with different items (previous definition at %s); this definition is used", old.pos)
		}
		d := &listDef{name: name, pos: pos, file: f.index, items: items}
		l.lists[name] = d
		l.listHist[name] = append(l.listHist[name], d)
	}
}

func sameItems(a, b []listItem) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func (l *loader) condition(f *sourceFile, vals map[string]*yaml.Node, pos Position, label string) (condSeg, bool) {
	v, ok := vals["condition"]
	if !ok {
		return condSeg{}, false
	}
	if v.Kind != yaml.ScalarNode {
		l.fail(f.pos(v), label, f.line(v.Line), "condition must be a string, found %s", kindName(v))
		return condSeg{}, false
	}
	if strings.TrimSpace(v.Value) == "" {
		l.fail(f.pos(v), label, f.line(v.Line), "condition is empty")
		return condSeg{}, false
	}
	return condSeg{f: f, node: v}, true
}

func (l *loader) macro(f *sourceFile, name string, pos Position, label string, vals map[string]*yaml.Node, appendMode bool) {
	seg, ok := l.condition(f, vals, pos, label)
	if !ok {
		if _, has := vals["condition"]; !has {
			l.fail(pos, label, f.line(pos.Line), "macro has no condition")
		}
		return
	}
	old := l.macros[name]
	switch {
	case appendMode && old == nil:
		l.fail(pos, label, f.line(pos.Line), "append: true but no macro %q is defined before", name)
	case appendMode:
		old.cond.segs = append(old.cond.segs, seg)
	default:
		if old != nil && normSpace(old.cond.String()) != normSpace(seg.node.Value) {
			l.warn(pos, label, f.line(pos.Line), "macro redefined with a different condition (previous definition at %s); this definition is used", old.pos)
		}
		d := &macroDef{name: name, pos: pos, file: f.index, cond: condText{segs: []condSeg{seg}}}
		l.macros[name] = d
		l.macroHist[name] = append(l.macroHist[name], d)
	}
}

func normSpace(s string) string { return strings.Join(strings.Fields(s), " ") }

func (l *loader) rule(f *sourceFile, filter bool, name string, pos Position, label string, vals map[string]*yaml.Node, appendMode bool) {
	index := l.rules
	if filter {
		if l.filters == nil {
			l.filters = map[string]*ruleDef{}
		}
		index = l.filters
	}
	old := index[name]
	r := &ruleDef{filter: filter, name: name, pos: pos, src: f.line(pos.Line), file: f.index, enabled: true}
	ok := true
	if v, has := vals["desc"]; has {
		r.desc, ok = l.stringValue(f, v, label, "desc")
		r.desc = strings.TrimSpace(r.desc)
	}
	if v, has := vals["priority"]; has && ok {
		var s string
		if s, ok = l.stringValue(f, v, label, "priority"); ok {
			p, known := ParsePriority(s)
			if !known {
				l.warn(f.pos(v), label, f.line(v.Line), "unknown priority %q; using low (known: low, medium, high and Falco's debug ... emergency)", s)
			}
			r.priority = p
		}
	}
	if v, has := vals["tags"]; has && ok {
		r.tags, ok = l.stringList(f, v, label, "tags")
	}
	if v, has := vals["prefilter"]; has && ok {
		r.prefilter, ok = l.stringList(f, v, label, "prefilter")
		r.prefPos = f.pos(v)
	}
	actionsKey := "actions"
	if _, has := vals["action"]; has {
		actionsKey = "action"
	}
	if v, has := vals[actionsKey]; has && ok {
		r.actions, ok = l.stringList(f, v, label, actionsKey)
	}
	if v, has := vals["output"]; has && ok {
		r.output, ok = l.stringValue(f, v, label, "output")
		r.output = strings.TrimSpace(r.output)
		r.outputPos = f.pos(v)
	}
	if v, has := vals["enabled"]; has && ok {
		r.enabled, ok = l.boolValue(f, v, label, "enabled")
	}
	if v, has := vals["exceptions"]; has && ok {
		r.exceptions, ok = l.exceptions(f, v, label)
	}
	if !ok {
		return
	}
	seg, hasCond := l.condition(f, vals, pos, label)
	if _, given := vals["condition"]; given && !hasCond {
		return
	}
	if appendMode {
		if old == nil {
			l.fail(pos, label, f.line(pos.Line), "append: true but no %s %q is defined before", kindWord(filter), name)
			return
		}
		if hasCond {
			old.cond.segs = append(old.cond.segs, seg)
		}
		old.exceptions = append(old.exceptions, r.exceptions...)
		old.tags = append(old.tags, r.tags...)
		if _, has := vals["enabled"]; has {
			old.enabled = r.enabled
		}
		return
	}
	if !hasCond {
		// Falco's way to switch an existing rule on or off: only a name
		// and enabled.
		if _, has := vals["enabled"]; has && old != nil && len(vals) == 2 {
			old.enabled = r.enabled
			return
		}
		l.fail(pos, label, f.line(pos.Line), "%s has no condition", kindWord(filter))
		return
	}
	r.cond = condText{segs: []condSeg{seg}}
	r.hasCond = true
	if old != nil && !(l.opts.KeepDuplicateRules && !filter) {
		if !filter {
			l.warn(pos, label, f.line(pos.Line), "rule defined twice (first at %s); this definition replaces it", old.pos)
		}
		r.index = old.index
		*old = *r
		return
	}
	r.index = len(l.order)
	index[name] = r
	l.order = append(l.order, r)
}

func kindWord(filter bool) string {
	if filter {
		return "filter"
	}
	return "rule"
}

// exceptions reads Falco's exceptions: a name, fields (one name or a list),
// comps (one per field; default = for a list of fields, in for one field)
// and values (tuples for a list of fields, values for one field).
func (l *loader) exceptions(f *sourceFile, v *yaml.Node, label string) ([]exceptionDef, bool) {
	if v.Kind != yaml.SequenceNode {
		l.fail(f.pos(v), label, f.line(v.Line), "exceptions must be a list, found %s", kindName(v))
		return nil, false
	}
	var out []exceptionDef
	for _, e := range v.Content {
		if e.Kind != yaml.MappingNode {
			l.fail(f.pos(e), label, f.line(e.Line), "an exception must be a mapping with name, fields, comps and values")
			return nil, false
		}
		x := exceptionDef{pos: f.pos(e), src: f.line(e.Line), f: f}
		kv := map[string]*yaml.Node{}
		for i := 0; i+1 < len(e.Content); i += 2 {
			k := e.Content[i]
			switch k.Value {
			case "name", "fields", "comps", "values":
			default:
				l.warn(f.pos(k), label, f.line(k.Line), "unknown exception key %q ignored", k.Value)
			}
			kv[k.Value] = e.Content[i+1]
		}
		if n, ok := kv["name"]; ok {
			x.name = n.Value
		}
		xl := fmt.Sprintf("%s exception %q", label, x.name)
		fn, ok := kv["fields"]
		if !ok {
			l.fail(x.pos, xl, x.src, "exception has no fields")
			return nil, false
		}
		if fn.Kind == yaml.ScalarNode {
			x.single = true
			x.fields = []fieldRef{{name: fn.Value, pos: f.pos(fn), src: f.line(fn.Line)}}
		} else if fn.Kind == yaml.SequenceNode {
			for _, fe := range fn.Content {
				x.fields = append(x.fields, fieldRef{name: fe.Value, pos: f.pos(fe), src: f.line(fe.Line)})
			}
		} else {
			l.fail(f.pos(fn), xl, f.line(fn.Line), "exception fields must be a name or a list of names")
			return nil, false
		}
		if cn, ok := kv["comps"]; ok {
			comps, ok := l.stringList(f, cn, xl, "comps")
			if !ok {
				return nil, false
			}
			x.comps = comps
		}
		if len(x.comps) == 0 {
			for range x.fields {
				if x.single {
					x.comps = append(x.comps, "in")
				} else {
					x.comps = append(x.comps, "=")
				}
			}
		}
		if len(x.comps) != len(x.fields) {
			l.fail(x.pos, xl, x.src, "exception has %d fields but %d comps", len(x.fields), len(x.comps))
			return nil, false
		}
		if vn, ok := kv["values"]; ok {
			if vn.Kind != yaml.SequenceNode {
				l.fail(f.pos(vn), xl, f.line(vn.Line), "exception values must be a list")
				return nil, false
			}
			for _, tup := range vn.Content {
				row, ok := l.exceptionRow(f, tup, x, xl)
				if !ok {
					return nil, false
				}
				x.values = append(x.values, row)
			}
		}
		out = append(out, x)
	}
	return out, true
}

func (l *loader) exceptionRow(f *sourceFile, tup *yaml.Node, x exceptionDef, label string) ([]excValue, bool) {
	value := func(n *yaml.Node) (excValue, bool) {
		ev := excValue{pos: f.pos(n), src: f.line(n.Line)}
		switch n.Kind {
		case yaml.ScalarNode:
			ev.items = []listItem{{text: unquote(n.Value), quoted: n.Style&(yaml.SingleQuotedStyle|yaml.DoubleQuotedStyle) != 0}}
		case yaml.SequenceNode:
			items, ok := l.itemsOf(f, n, label, "values")
			if !ok {
				return ev, false
			}
			ev.items, ev.isList = items, true
		default:
			l.fail(ev.pos, label, ev.src, "exception values must be strings or lists of strings")
			return ev, false
		}
		return ev, true
	}
	if x.single {
		v, ok := value(tup)
		return []excValue{v}, ok
	}
	if tup.Kind != yaml.SequenceNode || len(tup.Content) != len(x.fields) {
		l.fail(f.pos(tup), label, f.line(tup.Line), "each exception value must be a list of %d values, one per field", len(x.fields))
		return nil, false
	}
	row := make([]excValue, len(tup.Content))
	for i, n := range tup.Content {
		v, ok := value(n)
		if !ok {
			return nil, false
		}
		row[i] = v
	}
	return row, true
}

// ParsePriority maps a priority name (any case) to the three levels:
// low, medium, high, and Falco's names (debug, informational, info, notice
// are low; warning is medium; error, critical, alert, emergency are high).
// Unknown names give low and false.
func ParsePriority(s string) (sysflow.Priority, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "low", "debug", "info", "informational", "notice":
		return sysflow.PriorityLow, true
	case "medium", "warning", "warn":
		return sysflow.PriorityMedium, true
	case "high", "error", "critical", "alert", "emergency":
		return sysflow.PriorityHigh, true
	}
	return sysflow.PriorityLow, false
}
