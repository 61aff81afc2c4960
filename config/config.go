package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Processor kinds of the pipeline graph.
const (
	KindReader   = "reader"   // sysflowreader / flattener: decodes and flattens
	KindPolicy   = "policy"   // policyengine
	KindExporter = "exporter" // exporter: a sink
	// KindInput is the root of a pipeline without a sysflowreader: the
	// channel a driver writes into directly (sf-processor's OTel pipeline).
	KindInput = "input"
)

// Config is a loaded pipeline configuration.
type Config struct {
	File   string  // where it was loaded from ("" for built-in defaults)
	Source *Plugin // the source driver (may be nil: the command line supplies it)
	Root   *Node   // the reader/flattener, root of the plugin tree
	// Settings holds the top-level settings of our YAML format (log level,
	// metrics address, shutdown timeout...); pipeline.json has none.
	Settings *Plugin

	drivers []*Plugin // every entry of the "drivers" section
	// warnings are problems that do not stop loading: kafka.config keys
	// without an equivalent, secrets written in the file.
	warnings []string
	// template is set for sf-processor's pipeline.template.json, whose
	// values are descriptions of the keys, not settings.
	template bool
}

// Warnings lists what loading accepted but the user should know: each
// names the file, the plugin and the key.
func (c *Config) Warnings() []string { return c.warnings }

// Template reports whether the file is sf-processor's pipeline template
// (its "_comment" says "DO NOT EDIT THIS TEMPLATE"): every value is a
// description of the key, so only the key names mean anything.
func (c *Config) Template() bool { return c.template }

// Plugin is one configured component: its kind, its position in the file,
// and its keys as strings.
type Plugin struct {
	Kind  string // reader, policy, exporter, or a driver name for sources
	Name  string // the name as written (processor or driver)
	Where string // "pipeline.json: pipeline[2] (exporter)" for error messages
	keys  map[string]string
	// nested holds the object-valued keys the reference takes
	// (kafka.config), each flattened to string values; they are mapped onto
	// ordinary keys after loading (see kafkaconfig.go).
	nested map[string]map[string]string
	out    string // a driver's "out" channel, when it names one
}

// Node is a plugin in the pipeline tree with the plugins fed by its output.
type Node struct {
	Plugin
	Children []*Node
}

// Walk calls fn for n and every node below it, depth first.
func (n *Node) Walk(fn func(*Node)) {
	fn(n)
	for _, c := range n.Children {
		c.Walk(fn)
	}
}

var processorKinds = map[string]string{
	"sysflowreader": KindReader, "sysflowproc": KindReader, "flattener": KindReader, "reader": KindReader,
	"policyengine": KindPolicy, "policy": KindPolicy, "policies": KindPolicy,
	"exporter": KindExporter, "sink": KindExporter,
}

// structural keys of a pipeline entry: not plugin settings.
var structuralKeys = map[string]bool{"processor": true, "handler": true, "in": true, "out": true}

type rawFile struct {
	Drivers  json.RawMessage            `json:"drivers"`
	Pipeline []map[string]any           `json:"pipeline"`
	Settings map[string]any             `json:"settings"`
	Source   map[string]any             `json:"source"`
	Rest     map[string]json.RawMessage `json:"-"`
}

// Load reads a configuration file: JSON (pipeline.json) or YAML, chosen by
// extension (.json, .yaml, .yml) or, for others, by content. env looks up
// environment overrides (os.LookupEnv in production; nil disables them).
func Load(path string, env func(string) (string, bool)) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(path, data, env)
}

// Parse parses configuration data read from name.
func Parse(name string, data []byte, env func(string) (string, bool)) (*Config, error) {
	top, err := decodeTop(name, data)
	if err != nil {
		return nil, err
	}
	base := filepath.Base(name)
	c := &Config{File: name}
	// inFile names the file in err once: errors about a plugin already
	// start with its Where, which begins with base.
	inFile := func(err error) error {
		if strings.HasPrefix(err.Error(), base+": ") {
			return err
		}
		return fmt.Errorf("%s: %w", name, err)
	}
	for k := range top {
		switch k {
		case "pipeline", "drivers", "source", "settings", "_comment":
		default:
			if strings.HasPrefix(k, "_") {
				continue // sf-processor's templates carry "_comment" style notes
			}
			return nil, fmt.Errorf("%s: unknown top-level key %q (known: pipeline, drivers, source, settings)", name, k)
		}
	}
	if s, ok := top["settings"]; ok {
		m, ok := s.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s: settings: want an object", name)
		}
		p, err := newPlugin("settings", "settings", base+": settings", m)
		if err != nil {
			return nil, inFile(err)
		}
		c.Settings = p
	}
	if err := c.parseSource(base, top); err != nil {
		return nil, inFile(err)
	}
	pl, ok := top["pipeline"]
	if !ok {
		return nil, fmt.Errorf("%s: no \"pipeline\" list", name)
	}
	list, ok := pl.([]any)
	if !ok || len(list) == 0 {
		return nil, fmt.Errorf("%s: \"pipeline\" must be a non-empty list of plugins", name)
	}
	drivers := c.drivers
	if len(drivers) == 0 && c.Source != nil {
		drivers = []*Plugin{c.Source}
	}
	root, err := buildTree(base, list, drivers)
	if err != nil {
		return nil, inFile(err)
	}
	c.Root = root
	if note, ok := top["_comment"].(string); ok && strings.Contains(strings.ToUpper(note), "DO NOT EDIT THIS TEMPLATE") {
		c.template = true
	}
	if env != nil {
		if err := c.applyNestedEnv(env); err != nil {
			return nil, inFile(err)
		}
	}
	if err := c.mapNestedKeys(); err != nil {
		return nil, inFile(err)
	}
	if env != nil {
		c.applyEnv(env)
	}
	return c, nil
}

func decodeTop(name string, data []byte) (map[string]any, error) {
	ext := strings.ToLower(filepath.Ext(name))
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return nil, fmt.Errorf("%s: empty configuration file", name)
	}
	var top map[string]any
	if ext == ".json" || (ext != ".yaml" && ext != ".yml" && trimmed[0] == '{') {
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		if err := dec.Decode(&top); err != nil {
			return nil, fmt.Errorf("%s: %s", name, describeJSONError(data, err))
		}
		return top, nil
	}
	var node yaml.Node
	if err := yaml.Unmarshal(data, &node); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if err := node.Decode(&top); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if top == nil {
		return nil, fmt.Errorf("%s: the configuration is not a mapping", name)
	}
	return top, nil
}

// describeJSONError turns a JSON syntax error's byte offset into line:column.
func describeJSONError(data []byte, err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	var off int64 = -1
	switch {
	case errors.As(err, &se):
		off = se.Offset
	case errors.As(err, &te):
		off = te.Offset
	case errors.Is(err, io.ErrUnexpectedEOF):
		off = int64(len(data))
		err = errors.New("unexpected end of file (unclosed bracket or brace?)")
	}
	if off < 0 {
		return err.Error()
	}
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	line := 1 + bytes.Count(data[:off], []byte("\n"))
	col := int(off) - bytes.LastIndexByte(data[:off], '\n')
	return fmt.Sprintf("line %d, column %d: %v", line, col, err)
}

func (c *Config) parseSource(base string, top map[string]any) error {
	if s, ok := top["source"]; ok {
		m, ok := s.(map[string]any)
		if !ok {
			return errors.New("source: want an object with a \"driver\" key")
		}
		p, err := driverPlugin(base+": source", m)
		if err != nil {
			return err
		}
		c.Source = p
	}
	d, ok := top["drivers"]
	if !ok {
		return nil
	}
	if c.Source != nil {
		return errors.New("both \"source\" and \"drivers\" are set: use one")
	}
	var list []any
	switch v := d.(type) {
	case []any:
		list = v
	case map[string]any:
		// {"socket": {...}} or a single driver object
		if _, ok := v["driver"]; ok {
			list = []any{v}
		} else {
			names := sortedKeys(v)
			for _, n := range names {
				m, _ := v[n].(map[string]any)
				if m == nil {
					m = map[string]any{}
				}
				m["driver"] = n
				list = append(list, m)
			}
		}
	default:
		return errors.New("drivers: want a list of driver objects")
	}
	if len(list) == 0 {
		return nil
	}
	// sf-processor lists the drivers it can run and picks one with -driver;
	// we keep the first as the default and all of them for that choice.
	for i, item := range list {
		m, ok := item.(map[string]any)
		if !ok {
			return fmt.Errorf("drivers[%d]: want an object with a \"driver\" key", i)
		}
		p, err := driverPlugin(fmt.Sprintf("%s: drivers[%d]", base, i), m)
		if err != nil {
			return err
		}
		if i == 0 {
			c.Source = p
		}
		c.drivers = append(c.drivers, p)
	}
	return nil
}

func driverPlugin(where string, m map[string]any) (*Plugin, error) {
	name, _ := m["driver"].(string)
	if name == "" {
		name, _ = m["type"].(string)
	}
	if name == "" {
		return nil, fmt.Errorf("%s: missing \"driver\" (file, socket, kafka or nats)", where)
	}
	rest := make(map[string]any, len(m))
	var out string
	for k, v := range m {
		switch strings.ToLower(k) {
		case "driver", "type":
		case "out":
			// the channel the driver writes into (pipeline.otel.json)
			names, err := channelNames(v, where+" ("+name+")", "out")
			if err != nil {
				return nil, err
			}
			if len(names) > 1 {
				return nil, fmt.Errorf("%s (%s): \"out\" names one channel", where, name)
			}
			if len(names) == 1 {
				out = names[0]
			}
		default:
			rest[k] = v
		}
	}
	p, err := newPlugin(strings.ToLower(name), name, where+" ("+name+")", rest)
	if err != nil {
		return nil, err
	}
	p.out = out
	return p, nil
}

// Driver returns the configured driver with the given name, or nil.
func (c *Config) Driver(name string) *Plugin {
	for _, d := range c.drivers {
		if d.Kind == strings.ToLower(name) {
			return d
		}
	}
	if c.Source != nil && c.Source.Kind == strings.ToLower(name) {
		return c.Source
	}
	return nil
}

func newPlugin(kind, name, where string, m map[string]any) (*Plugin, error) {
	p := &Plugin{Kind: kind, Name: name, Where: where, keys: make(map[string]string, len(m))}
	for k, v := range m {
		if strings.HasPrefix(k, "_") {
			continue
		}
		if obj, ok := v.(map[string]any); ok {
			m, err := nestedKeys(k, obj)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", where, err)
			}
			if p.nested == nil {
				p.nested = map[string]map[string]string{}
			}
			p.nested[strings.ToLower(k)] = m
			continue
		}
		s, err := scalarString(v)
		if err != nil {
			return nil, fmt.Errorf("%s: key %q: %w", where, k, err)
		}
		p.keys[strings.ToLower(k)] = s
	}
	return p, nil
}

// scalarString renders a JSON/YAML value as the string sf-processor would see:
// strings as is, numbers and booleans in their text form, lists of scalars
// joined with commas.
func scalarString(v any) (string, error) {
	switch t := v.(type) {
	case string:
		return t, nil
	case json.Number:
		return t.String(), nil
	case bool:
		return strconv.FormatBool(t), nil
	case int:
		return strconv.Itoa(t), nil
	case int64:
		return strconv.FormatInt(t, 10), nil
	case float64:
		return strconv.FormatFloat(t, 'f', -1, 64), nil
	case nil:
		return "", nil
	case []any:
		parts := make([]string, 0, len(t))
		for _, e := range t {
			s, err := scalarString(e)
			if err != nil {
				return "", err
			}
			parts = append(parts, s)
		}
		return strings.Join(parts, ","), nil
	}
	return "", fmt.Errorf("want a string, number, boolean or list, got %T", v)
}

type entry struct {
	node *Node
	in   string
	outs []string
}

// channel names are "type name" (e.g. "flat flattenerchan"); we key by the
// whole trimmed string, which is what connects plugins.
func channelNames(v any, where, key string) ([]string, error) {
	switch t := v.(type) {
	case nil:
		return nil, nil
	case string:
		if s := strings.Join(strings.Fields(t), " "); s != "" {
			return []string{s}, nil
		}
		return nil, nil
	case []any:
		var out []string
		for _, e := range t {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("%s: %q must list channel names as strings", where, key)
			}
			if s = strings.Join(strings.Fields(s), " "); s != "" {
				out = append(out, s)
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("%s: %q must be a channel name or a list of them", where, key)
}

// driverFedRoot handles a pipeline without a sysflowreader, as
// sf-processor 0.7.0's pipeline.otel.json: there a driver's "out" channel
// is the input of the first plugin (the policy engine reads the driver's
// records directly; nothing is flattened). The root becomes a KindInput
// node standing for that channel; the driver named by it is the one whose
// "out" is the channel.
func driverFedRoot(entries []*entry, producers map[string]*entry, drivers []*Plugin) (*entry, error) {
	var fed []*entry
	for _, e := range entries {
		if e.in != "" && producers[e.in] == nil {
			fed = append(fed, e)
		}
	}
	if len(fed) == 0 {
		return nil, errors.New("the pipeline has no sysflowreader/flattener plugin")
	}
	ch := fed[0].in
	for _, e := range fed[1:] {
		if e.in != ch {
			return nil, fmt.Errorf("the pipeline has no sysflowreader/flattener plugin, and %s and %s read channels no plugin writes (%q, %q)", fed[0].node.Where, e.node.Where, ch, e.in)
		}
	}
	var by *Plugin
	for _, d := range drivers {
		if d.out == ch {
			by = d
			break
		}
	}
	if by == nil {
		return nil, fmt.Errorf("%s: no plugin and no driver writes to its input channel %q (the pipeline has no sysflowreader, so a driver with \"out\": %q must feed it)", fed[0].node.Where, ch, ch)
	}
	n := &Node{Plugin: Plugin{Kind: KindInput, Name: by.Name, Where: fmt.Sprintf("%s (output %q)", by.Where, ch), keys: map[string]string{}}}
	return &entry{node: n, outs: []string{ch}}, nil
}

func buildTree(base string, list []any, drivers []*Plugin) (*Node, error) {
	entries := make([]*entry, 0, len(list))
	for i, item := range list {
		m, ok := item.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("pipeline[%d]: want an object", i)
		}
		proc, _ := m["processor"].(string)
		handler, _ := m["handler"].(string)
		kind, ok := processorKinds[strings.ToLower(proc)]
		if !ok {
			return nil, fmt.Errorf("pipeline[%d]: unknown processor %q (known: sysflowreader, policyengine, exporter)", i, proc)
		}
		if kind == KindReader && handler != "" && !strings.EqualFold(handler, "flattener") {
			return nil, fmt.Errorf("pipeline[%d]: unknown handler %q for %s (known: flattener)", i, handler, proc)
		}
		where := fmt.Sprintf("%s: pipeline[%d] (%s)", base, i, proc)
		keys := make(map[string]any, len(m))
		for k, v := range m {
			if !structuralKeys[strings.ToLower(k)] {
				keys[k] = v
			}
		}
		p, err := newPlugin(kind, proc, where, keys)
		if err != nil {
			return nil, err
		}
		ins, err := channelNames(m["in"], where, "in")
		if err != nil {
			return nil, err
		}
		if len(ins) > 1 {
			return nil, fmt.Errorf("%s: \"in\" names one channel", where)
		}
		outs, err := channelNames(m["out"], where, "out")
		if err != nil {
			return nil, err
		}
		e := &entry{node: &Node{Plugin: *p}, outs: outs}
		if len(ins) == 1 {
			e.in = ins[0]
		}
		entries = append(entries, e)
	}
	var root *Node
	for _, e := range entries {
		if e.node.Kind == KindReader {
			if root != nil {
				return nil, fmt.Errorf("%s: a second reader/flattener; a pipeline has one", e.node.Where)
			}
			root = e.node
		}
	}
	// connect every consumer to the producer of its input channel
	producers := map[string]*entry{}
	for _, e := range entries {
		for _, o := range e.outs {
			if prev, dup := producers[o]; dup {
				return nil, fmt.Errorf("%s: channel %q is already the output of %s", e.node.Where, o, prev.node.Where)
			}
			producers[o] = e
		}
	}
	if root == nil {
		in, err := driverFedRoot(entries, producers, drivers)
		if err != nil {
			return nil, err
		}
		root = in.node
		entries = append(entries, in)
		producers[in.outs[0]] = in
	}
	attached := map[*entry]bool{}
	for _, e := range entries {
		if e.node.Kind == KindReader || e.node.Kind == KindInput {
			continue
		}
		if e.in == "" {
			return nil, fmt.Errorf("%s: missing \"in\" channel", e.node.Where)
		}
		p, ok := producers[e.in]
		if !ok {
			return nil, fmt.Errorf("%s: no plugin writes to its input channel %q", e.node.Where, e.in)
		}
		if p.node.Kind == KindExporter {
			return nil, fmt.Errorf("%s: reads from exporter %s, which has no output", e.node.Where, p.node.Where)
		}
		p.node.Children = append(p.node.Children, e.node)
		attached[e] = true
	}
	// a cycle would leave nodes unreachable from the root
	reach := 0
	root.Walk(func(*Node) { reach++ })
	if reach != len(entries) {
		return nil, errors.New("the pipeline's channels form a cycle or a part not fed by the reader")
	}
	return root, nil
}

// applyEnv applies the <PLUGIN>_<KEY> overrides (EXPORTER_FILE_PATH sets
// file.path of the exporter; EXPORTER_PATH, the seed-era alias, too). An
// override names a key or any of its aliases and replaces whatever the file
// set under any of those names. An exporter takes only the overrides of its
// own export type: EXPORTER_SYSLOG_HOST reaches the syslog exporters of a
// fan-out, not the NATS one beside them.
func (c *Config) applyEnv(env func(string) (string, bool)) {
	envName := func(prefix, key string) string {
		return prefix + "_" + strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(key))
	}
	c.Root.Walk(func(n *Node) {
		prefix := strings.ToUpper(n.Name)
		if n.Kind == KindExporter {
			if v, ok := env(envName(prefix, "export")); ok {
				n.keys["export"] = v
			}
		}
		export := strings.ToLower(n.keys["export"])
		if export == "" {
			export = "terminal"
		}
		for _, key := range knownKeys(n.Kind, n.keys) {
			if nestedKey(key) {
				continue // applied before loading finished (applyNestedEnv)
			}
			if n.Kind == KindExporter && !keyForExport(key, export) {
				if _, set := n.keys[key]; !set {
					continue
				}
			}
			v, ok := env(envName(prefix, key))
			if !ok {
				continue
			}
			canonical := key
			if s, found := Spec(n.Kind, key); found {
				canonical = s.Key
				for _, a := range s.Aliases {
					delete(n.keys, a)
				}
			}
			n.keys[canonical] = v
		}
	})
}

// keyForExport tells whether an exporter key belongs to an export type:
// "syslog.host" and its alias "host" to syslog, unprefixed keys to all.
func keyForExport(key, export string) bool {
	if s, ok := Spec(KindExporter, key); ok {
		key = s.Key
	}
	for _, t := range []string{"file", "syslog", "kafka", "nats", "es", "findings"} {
		if strings.HasPrefix(key, t+".") {
			return t == export
		}
	}
	return true
}

func knownKeys(kind string, have map[string]string) []string {
	set := map[string]bool{}
	for k := range have {
		set[k] = true
	}
	for _, k := range KnownKeys(kind) {
		set[k] = true
	}
	return sortedKeys(set)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
