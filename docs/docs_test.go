package docs_test

import (
	"encoding/json"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sfconnector/sfconnector/config"
	"github.com/sfconnector/sfconnector/connector"
	"github.com/sfconnector/sfconnector/sysflow"
)

// root is the repository, seen from this package's directory.
const root = ".."

func read(t *testing.T, rel string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// row is one row of a Markdown table, its cells trimmed.
type row struct {
	line  int
	cells []string
}

// splitRow splits "| a | b \| c |" into cells, honouring escaped pipes.
func splitRow(l string) []string {
	l = strings.TrimSpace(l)
	l = strings.TrimPrefix(l, "|")
	l = strings.TrimSuffix(l, "|")
	var cells []string
	var cur strings.Builder
	for i := 0; i < len(l); i++ {
		if l[i] == '\\' && i+1 < len(l) && l[i+1] == '|' {
			cur.WriteByte('|')
			i++
			continue
		}
		if l[i] == '|' {
			cells = append(cells, strings.TrimSpace(cur.String()))
			cur.Reset()
			continue
		}
		cur.WriteByte(l[i])
	}
	return append(cells, strings.TrimSpace(cur.String()))
}

// tables returns the rows of the table following each marker comment
// "<!-- NAME: ARG -->", by ARG (header and separator rows dropped).
func tables(t *testing.T, text, name string) map[string][]row {
	t.Helper()
	marker := regexp.MustCompile(`^<!-- ` + name + `: ([a-z0-9_.-]+) -->$`)
	out := map[string][]row{}
	lines := strings.Split(text, "\n")
	for i := 0; i < len(lines); i++ {
		m := marker.FindStringSubmatch(strings.TrimSpace(lines[i]))
		if m == nil {
			continue
		}
		if _, dup := out[m[1]]; dup {
			t.Errorf("line %d: a second table for %q", i+1, m[1])
		}
		out[m[1]] = []row{}
		j := i + 1
		for ; j < len(lines) && strings.HasPrefix(strings.TrimSpace(lines[j]), "|"); j++ {
			if j <= i+2 { // header and separator
				continue
			}
			out[m[1]] = append(out[m[1]], row{j + 1, splitRow(lines[j])})
		}
		if j == i+1 {
			t.Errorf("line %d: marker %q not followed by a table", i+1, m[1])
		}
		i = j - 1
	}
	return out
}

var codeRE = regexp.MustCompile("`([^`]*)`")

// codes returns the `quoted` parts of a cell.
func codes(cell string) []string {
	var out []string
	for _, m := range codeRE.FindAllStringSubmatch(cell, -1) {
		out = append(out, m[1])
	}
	return out
}

func envName(plugin, key string) string {
	return strings.ToUpper(plugin) + "_" + strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(key))
}

// pluginName is the processor name the environment overrides of a kind are
// documented under: the SysFlow processor's names.
var pluginName = map[string]string{
	config.KindReader:   "sysflowreader",
	config.KindPolicy:   "policyengine",
	config.KindExporter: "exporter",
}

var envReadRE = regexp.MustCompile(`(?:Getenv|LookupEnv|envOr)\("([A-Z][A-Z0-9_]*)"`)

// cliEnv returns the variables the command line reads, from its sources.
func cliEnv(t *testing.T) map[string]bool {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(root, "cmd", "sfconnector", "*.go"))
	out := map[string]bool{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range envReadRE.FindAllStringSubmatch(string(data), -1) {
			out[m[1]] = true
		}
	}
	if len(out) == 0 {
		t.Fatal("found no environment variable read in cmd/sfconnector")
	}
	return out
}

func sorted[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

var update = flag.Bool("update", false, "rewrite the key tables of docs/configuration.md from config.Specs (the prose around them is kept)")

// cliOverrides are the keys of source drivers and settings that a
// command-line variable overrides (the test checks that the command line
// reads them).
var cliOverrides = map[string]string{
	"file/path":             "INPUT_PATH",
	"socket/path":           "INPUT_PATH",
	"settings/log.level":    "LOG_LEVEL",
	"settings/metrics.addr": "SFCONNECTOR_METRICS_ADDR",
}

// renderKeys renders the table of a kind's keys from config.Specs.
func renderKeys(kind string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "<!-- keys: %s -->\n| key | default | environment | description |\n| --- | --- | --- | --- |\n", kind)
	for _, s := range config.Specs {
		if s.Kind != kind {
			continue
		}
		key := "`" + s.Key + "`"
		if len(s.Aliases) > 0 {
			key += " (alias `" + strings.Join(s.Aliases, "`, `") + "`)"
		}
		def := "—"
		if s.Default != "" {
			def = "`" + s.Default + "`"
		}
		env := "—"
		if p, ok := pluginName[kind]; ok && !strings.HasSuffix(s.Key, ".*") { // a key family has no one variable
			names := []string{envName(p, s.Key)}
			for _, a := range s.Aliases {
				names = append(names, envName(p, a))
			}
			env = "`" + strings.Join(names, "`, `") + "`"
		} else if v, ok := cliOverrides[kind+"/"+s.Key]; ok {
			env = "`" + v + "`"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", key, def, env, strings.ReplaceAll(s.Doc, "|", "\\|"))
	}
	return b.String()
}

// updateKeyTables rewrites every key table of the document from the code.
func updateKeyTables(t *testing.T, doc string) {
	t.Helper()
	text := read(t, doc)
	re := regexp.MustCompile("(?m)^<!-- keys: ([a-z]+) -->\n(?:\\|.*\n)+")
	text = re.ReplaceAllStringFunc(text, func(m string) string {
		return renderKeys(re.FindStringSubmatch(m)[1])
	})
	if err := os.WriteFile(filepath.Join(root, doc), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestConfigurationReference compares docs/configuration.md with
// config.Specs both ways: every key with its aliases, default and
// environment override, and no key the code does not know.
func TestConfigurationReference(t *testing.T) {
	const doc = "docs/configuration.md"
	if *update {
		updateKeyTables(t, doc)
	}
	text := read(t, doc)
	tabs := tables(t, text, "keys")
	cli := cliEnv(t)

	type specKey struct{ kind, key string }
	specs := map[specKey]config.KeySpec{}
	kinds := map[string]bool{}
	for _, s := range config.Specs {
		specs[specKey{s.Kind, s.Key}] = s
		kinds[s.Kind] = true
	}
	for kind := range kinds {
		if _, ok := tabs[kind]; !ok {
			t.Errorf("%s: no table for the %q keys (add <!-- keys: %s --> and a table)", doc, kind, kind)
		}
	}
	// a pipeline with the processor names the overrides are documented for
	const pipeline = `pipeline:
  - {processor: sysflowreader, handler: flattener, in: a, out: b}
  - {processor: policyengine, in: b, out: c}
  - {processor: exporter, in: c}
`
	seen := map[specKey]bool{}
	for kind, rows := range tabs {
		if !kinds[kind] {
			t.Errorf("%s: a table for %q, which is not a kind of plugin in config.Specs", doc, kind)
			continue
		}
		for _, r := range rows {
			where := fmt.Sprintf("%s:%d", doc, r.line)
			if len(r.cells) != 4 {
				t.Errorf("%s: want 4 cells (key, default, environment, description), have %d", where, len(r.cells))
				continue
			}
			names := codes(r.cells[0])
			if len(names) == 0 {
				t.Errorf("%s: no `key` in the first cell", where)
				continue
			}
			key, aliases := names[0], names[1:]
			sk := specKey{kind, key}
			s, ok := specs[sk]
			if !ok {
				t.Errorf("%s: %s key %q is not in config.Specs", where, kind, key)
				continue
			}
			if seen[sk] {
				t.Errorf("%s: %s key %q listed twice", where, kind, key)
			}
			seen[sk] = true
			if fmt.Sprint(aliases) != fmt.Sprint(s.Aliases) && !(len(aliases) == 0 && len(s.Aliases) == 0) {
				t.Errorf("%s: %s key %q: aliases %v, the code has %v", where, kind, key, aliases, s.Aliases)
			}
			def := ""
			if d := codes(r.cells[1]); len(d) == 1 {
				def = d[0]
			} else if r.cells[1] != "—" {
				t.Errorf("%s: default cell %q: want `value` or —", where, r.cells[1])
			}
			if def != s.Default {
				t.Errorf("%s: %s key %q: documented default %q, the code's is %q", where, kind, key, def, s.Default)
			}
			if r.cells[3] != s.Doc {
				t.Errorf("%s: %s key %q: description %q, the code's (config.Specs Doc) is %q (go test ./docs -run TestConfigurationReference -update rewrites the tables)", where, kind, key, r.cells[3], s.Doc)
			}
			env := codes(r.cells[2])
			if p, ok := pluginName[kind]; ok && !strings.HasSuffix(key, ".*") {
				want := []string{envName(p, key)}
				for _, a := range s.Aliases {
					want = append(want, envName(p, a))
				}
				if fmt.Sprint(env) != fmt.Sprint(want) {
					t.Errorf("%s: %s key %q: environment %v, want %v", where, kind, key, env, want)
				}
				// and the loader applies each of them; an exporter takes the
				// overrides of its own export type, so the check's exporter
				// is of the type the key belongs to
				doc := pipeline
				for _, typ := range []string{"file", "syslog", "kafka", "nats", "es"} {
					if kind == config.KindExporter && strings.HasPrefix(key, typ+".") {
						doc = strings.Replace(pipeline, "{processor: exporter, in: c}", "{processor: exporter, in: c, export: "+typ+"}", 1)
					}
				}
				for i, name := range want {
					value, read := "from-env", append([]string{key}, s.Aliases...)[i]
					if key == "kafka.config" {
						// an object of librdkafka properties, each becoming a key
						value, read = `{"bootstrap.servers": "from-env"}`, "kafka.brokers"
					}
					cfg, err := config.Parse("check.yaml", []byte(doc), func(k string) (string, bool) {
						return value, k == name
					})
					if err != nil {
						t.Fatal(err)
					}
					set := false
					cfg.Root.Walk(func(n *config.Node) {
						if n.Kind == kind && n.Keys().Given(read) == "from-env" {
							set = true
						}
					})
					if !set {
						t.Errorf("%s: %s does not set %s key %q", where, name, kind, key)
					}
				}
			} else {
				for _, name := range env {
					if !cli[name] {
						t.Errorf("%s: %s key %q: environment variable %s is not read by the command line (it reads %v)", where, kind, key, name, sorted(cli))
					}
				}
				if len(env) == 0 && r.cells[2] != "—" {
					t.Errorf("%s: environment cell %q: want `NAME` or —", where, r.cells[2])
				}
				if want := cliOverrides[kind+"/"+key]; strings.Join(env, ",") != want {
					t.Errorf("%s: %s key %q: environment %v, want [%s]", where, kind, key, env, want)
				}
			}
		}
	}
	for sk := range specs {
		if !seen[sk] {
			s := specs[sk]
			t.Errorf("%s: %s key %q (default %q) is not documented", doc, sk.kind, sk.key, s.Default)
		}
	}

	// the table of the command line's variables lists exactly what it reads
	listed := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\| `([A-Z][A-Z0-9_]*)` \\|").FindAllStringSubmatch(text, -1) {
		listed[m[1]] = true
	}
	for name := range cli {
		if !listed[name] {
			t.Errorf("%s: the command line reads %s; add it to the table of environment variables", doc, name)
		}
	}
	for name := range listed {
		if !cli[name] {
			t.Errorf("%s: documents %s, which the command line does not read", doc, name)
		}
	}
}

// TestPolicyFields compares the field table of docs/policies.md with the
// field registry both ways (names and types), and the Falco alias table with
// what the aliases resolve to.
func TestPolicyFields(t *testing.T) {
	const doc = "docs/policies.md"
	text := read(t, doc)
	tabs := tables(t, text, "table")
	fields, ok := tabs["fields"]
	if !ok {
		t.Fatalf("%s: no <!-- table: fields --> table", doc)
	}
	seen := map[string]bool{}
	for _, r := range fields {
		where := fmt.Sprintf("%s:%d", doc, r.line)
		if len(r.cells) != 3 {
			t.Errorf("%s: want 3 cells (field, type, meaning)", where)
			continue
		}
		names := codes(r.cells[0])
		if len(names) != 1 {
			t.Errorf("%s: want one `field` in the first cell", where)
			continue
		}
		f, ok := sysflow.LookupField(names[0])
		if !ok || f.Name != names[0] {
			t.Errorf("%s: %q is not a field name of the registry", where, names[0])
			continue
		}
		if seen[f.Name] {
			t.Errorf("%s: %s listed twice", where, f.Name)
		}
		seen[f.Name] = true
		if r.cells[1] != f.Kind.String() {
			t.Errorf("%s: %s has type %s, the table says %s", where, f.Name, f.Kind, r.cells[1])
		}
		if r.cells[2] == "" {
			t.Errorf("%s: %s has no meaning", where, f.Name)
		}
	}
	for _, n := range sysflow.FieldNames() {
		if !seen[n] {
			f, _ := sysflow.LookupField(n)
			t.Errorf("%s: field %s (%s) is not documented", doc, n, f.Kind)
		}
	}

	aliases, ok := tabs["aliases"]
	if !ok {
		t.Fatalf("%s: no <!-- table: aliases --> table", doc)
	}
	seenAlias := map[string]bool{}
	for _, r := range aliases {
		where := fmt.Sprintf("%s:%d", doc, r.line)
		if len(r.cells) != 2 {
			t.Errorf("%s: want 2 cells (Falco names, field)", where)
			continue
		}
		target := codes(r.cells[1])
		for _, a := range codes(r.cells[0]) {
			seenAlias[a] = true
			f, ok := sysflow.LookupField(a)
			switch {
			case !ok:
				t.Errorf("%s: alias %s does not resolve", where, a)
			case len(target) != 1 || f.Name != target[0]:
				t.Errorf("%s: alias %s resolves to %s, the table says %v", where, a, f.Name, target)
			}
		}
	}
	for _, a := range sysflow.FieldAliases() {
		if !seenAlias[a] {
			f, _ := sysflow.LookupField(a)
			t.Errorf("%s: alias %s (-> %s) is not documented", doc, a, f.Name)
		}
	}
}

// metric is one Prometheus metric created in connector/.
type metric struct {
	name, typ string
	labels    []string
	// scrape-time metrics (a Desc read by a collector) are registered with
	// the pipeline, not by NewMetrics
	desc bool
}

// codeMetrics finds the metrics connector/ creates: every
// prometheus.NewXxx(prometheus.XxxOpts{Name: "..."}, []string{...}) call.
func codeMetrics(t *testing.T) map[string]metric {
	t.Helper()
	fset := token.NewFileSet()
	files, _ := filepath.Glob(filepath.Join(root, "connector", "*.go"))
	out := map[string]metric{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(file, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok || !strings.HasPrefix(sel.Sel.Name, "New") || len(call.Args) == 0 {
				return true
			}
			if x, ok := sel.X.(*ast.Ident); !ok || x.Name != "prometheus" {
				return true
			}
			lit, ok := call.Args[0].(*ast.CompositeLit)
			if !ok {
				return true
			}
			m := metric{}
			switch strings.TrimSuffix(strings.TrimPrefix(sel.Sel.Name, "New"), "Vec") {
			case "Counter":
				m.typ = "counter"
			case "Gauge":
				m.typ = "gauge"
			case "Histogram":
				m.typ = "histogram"
			case "Summary":
				m.typ = "summary"
			default:
				return true
			}
			for _, e := range lit.Elts {
				kv, ok := e.(*ast.KeyValueExpr)
				if !ok {
					continue
				}
				if k, ok := kv.Key.(*ast.Ident); ok && k.Name == "Name" {
					if b, ok := kv.Value.(*ast.BasicLit); ok {
						m.name, _ = strconv.Unquote(b.Value)
					}
				}
			}
			if len(call.Args) > 1 {
				if l, ok := call.Args[1].(*ast.CompositeLit); ok {
					for _, e := range l.Elts {
						if b, ok := e.(*ast.BasicLit); ok {
							s, _ := strconv.Unquote(b.Value)
							m.labels = append(m.labels, s)
						}
					}
				}
			}
			if m.name == "" {
				t.Errorf("%s: a %s without a literal Name", fset.Position(call.Pos()), m.typ)
				return true
			}
			out[m.name] = m
			return true
		})
	}
	if len(out) == 0 {
		t.Fatal("found no metric in connector/")
	}
	for name, m := range descMetrics(t, fset, files) {
		out[name] = m
	}
	return out
}

// descMetrics finds the metrics read at scrape time: a field set to
// prometheus.NewDesc("name", help, []string{labels}, ...) and emitted with
// prometheus.MustNewConstMetric(c.field, prometheus.XxxValue, ...).
func descMetrics(t *testing.T, fset *token.FileSet, files []string) map[string]metric {
	t.Helper()
	byField := map[string]*metric{}
	var parsed []*ast.File
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		parsed = append(parsed, file)
		ast.Inspect(file, func(n ast.Node) bool {
			kv, ok := n.(*ast.KeyValueExpr)
			if !ok {
				return true
			}
			key, ok1 := kv.Key.(*ast.Ident)
			call, ok2 := kv.Value.(*ast.CallExpr)
			if !ok1 || !ok2 || !isPromCall(call, "NewDesc") || len(call.Args) < 3 {
				return true
			}
			b, ok := call.Args[0].(*ast.BasicLit)
			if !ok {
				t.Errorf("%s: NewDesc without a literal name", fset.Position(call.Pos()))
				return true
			}
			m := &metric{desc: true}
			m.name, _ = strconv.Unquote(b.Value)
			if l, ok := call.Args[2].(*ast.CompositeLit); ok {
				for _, e := range l.Elts {
					if b, ok := e.(*ast.BasicLit); ok {
						s, _ := strconv.Unquote(b.Value)
						m.labels = append(m.labels, s)
					}
				}
			}
			byField[key.Name] = m
			return true
		})
	}
	for _, file := range parsed {
		ast.Inspect(file, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || !isPromCall(call, "MustNewConstMetric") || len(call.Args) < 2 {
				return true
			}
			sel, ok := call.Args[0].(*ast.SelectorExpr)
			vt, ok2 := call.Args[1].(*ast.SelectorExpr)
			if !ok || !ok2 {
				return true
			}
			if m := byField[sel.Sel.Name]; m != nil {
				m.typ = map[string]string{"CounterValue": "counter", "GaugeValue": "gauge", "UntypedValue": "untyped"}[vt.Sel.Name]
			}
			return true
		})
	}
	out := map[string]metric{}
	for field, m := range byField {
		if m.typ == "" {
			t.Errorf("connector/: %s (field %s) is never emitted with MustNewConstMetric", m.name, field)
		}
		out[m.name] = *m
	}
	return out
}

func isPromCall(call *ast.CallExpr, name string) bool {
	sel, ok := call.Fun.(*ast.SelectorExpr)
	if !ok || sel.Sel.Name != name {
		return false
	}
	x, ok := sel.X.(*ast.Ident)
	return ok && x.Name == "prometheus"
}

// registered reports whether connector.NewMetrics registers a metric of
// this name: registering another collector under the name then fails.
func registered(name string) bool {
	m := connector.NewMetrics(nil)
	err := m.Registry.Register(prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: "probe"}))
	return err != nil
}

// TestMetricsReference compares docs/metrics.md with the metrics of the
// code both ways (name, type, labels), and checks that the Grafana dashboard
// queries only real metrics and shows every one.
func TestMetricsReference(t *testing.T) {
	const doc = "docs/metrics.md"
	code := codeMetrics(t)
	tabs := tables(t, read(t, doc), "table")
	rows, ok := tabs["metrics"]
	if !ok {
		t.Fatalf("%s: no <!-- table: metrics --> table", doc)
	}
	seen := map[string]bool{}
	for _, r := range rows {
		where := fmt.Sprintf("%s:%d", doc, r.line)
		if len(r.cells) != 4 {
			t.Errorf("%s: want 4 cells (metric, type, labels, meaning)", where)
			continue
		}
		names := codes(r.cells[0])
		if len(names) != 1 {
			t.Errorf("%s: want one `metric` in the first cell", where)
			continue
		}
		name := names[0]
		seen[name] = true
		m, ok := code[name]
		if !ok {
			t.Errorf("%s: %s is not created in connector/", where, name)
			continue
		}
		if !m.desc && !registered(name) {
			t.Errorf("%s: %s is created in connector/ but connector.NewMetrics does not register it", where, name)
		}
		if r.cells[1] != m.typ {
			t.Errorf("%s: %s is a %s, the table says %s", where, name, m.typ, r.cells[1])
		}
		if got, want := strings.Join(codes(r.cells[2]), ","), strings.Join(m.labels, ","); got != want {
			t.Errorf("%s: %s has labels [%s], the table says [%s]", where, name, want, got)
		}
	}
	for name, m := range code {
		if !seen[name] {
			t.Errorf("%s: %s (%s) is not documented", doc, name, m.typ)
		}
	}
	if registered("sfconnector_no_such_metric_total") {
		t.Fatal("the registration probe reports a metric that does not exist")
	}

	// the dashboard: valid JSON, queries real metrics, shows them all
	const dash = "docs/grafana/sfconnector-dashboard.json"
	var d struct {
		Title  string `json:"title"`
		UID    string `json:"uid"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal([]byte(read(t, dash)), &d); err != nil {
		t.Fatalf("%s: %v", dash, err)
	}
	if d.Title == "" || d.UID == "" || len(d.Panels) == 0 {
		t.Fatalf("%s: want a title, a uid and panels", dash)
	}
	used := map[string]bool{}
	nameRE := regexp.MustCompile(`sfconnector_[a-z_]+`)
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			for _, n := range nameRE.FindAllString(tg.Expr, -1) {
				base := n
				m, ok := code[base]
				if !ok {
					for _, suf := range []string{"_bucket", "_sum", "_count"} {
						if b, cut := strings.CutSuffix(n, suf); cut {
							if mm, ok2 := code[b]; ok2 && mm.typ == "histogram" {
								base, m, ok = b, mm, true
							}
						}
					}
				}
				if !ok {
					t.Errorf("%s: panel %q queries %s, which the code does not export", dash, p.Title, n)
					continue
				}
				if m.typ == "histogram" && base == n {
					t.Errorf("%s: panel %q queries histogram %s without _bucket, _sum or _count", dash, p.Title, n)
				}
				used[base] = true
			}
		}
	}
	for name := range code {
		if !used[name] {
			t.Errorf("%s: no panel shows %s", dash, name)
		}
	}
}

// TestLinks checks every relative link of the README and docs/: the file
// exists, and an #anchor names a heading of it.
func TestLinks(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	files = append(files, filepath.Join(root, "README.md"))
	linkRE := regexp.MustCompile(`\]\(([^)\s]+)\)`)
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, f)
		for _, m := range linkRE.FindAllStringSubmatch(stripCode(string(data)), -1) {
			link := m[1]
			if strings.Contains(link, "://") || strings.HasPrefix(link, "mailto:") {
				continue
			}
			target, anchor, _ := strings.Cut(link, "#")
			path := f
			if target != "" {
				path = filepath.Join(filepath.Dir(f), target)
			}
			if _, err := os.Stat(path); err != nil {
				t.Errorf("%s: link %s: %v", rel, link, err)
				continue
			}
			if anchor != "" && strings.HasSuffix(path, ".md") {
				text, _ := os.ReadFile(path)
				if !anchors(string(text))[anchor] {
					t.Errorf("%s: link %s: no heading with anchor #%s", rel, link, anchor)
				}
			}
		}
	}
}

// stripCode removes fenced code blocks, whose brackets are not links.
func stripCode(s string) string {
	var b strings.Builder
	in := false
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "```") {
			in = !in
			continue
		}
		if !in {
			b.WriteString(l)
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// anchors returns the GitHub-style anchors of a document's headings.
func anchors(text string) map[string]bool {
	out := map[string]bool{}
	drop := regexp.MustCompile(`[^a-z0-9 _-]`)
	for _, l := range strings.Split(stripCode(text), "\n") {
		if !strings.HasPrefix(l, "#") {
			continue
		}
		h := strings.TrimSpace(strings.TrimLeft(l, "#"))
		h = drop.ReplaceAllString(strings.ToLower(h), "")
		out[strings.ReplaceAll(h, " ", "-")] = true
	}
	return out
}

// TestConnectorKeysAreSpecified checks that every key the connector reads
// (k.String("...") and the other typed readers in connector/) is in
// config.Specs, and so in the reference above: a key read but not specified
// would work without being documented.
func TestConnectorKeysAreSpecified(t *testing.T) {
	known := map[string]bool{}
	for _, s := range config.Specs {
		known[s.Key] = true
		for _, a := range s.Aliases {
			known[a] = true
		}
	}
	re := regexp.MustCompile(`\bk\.(?:String|Int|Bool|Duration|Enum)\("([a-z0-9_.]+)"`)
	files, _ := filepath.Glob(filepath.Join(root, "connector", "*.go"))
	n := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range re.FindAllStringSubmatch(string(data), -1) {
			n++
			if !known[m[1]] {
				t.Errorf("%s reads key %q, which is not in config.Specs (nor documented)", filepath.Base(f), m[1])
			}
		}
	}
	if n == 0 {
		t.Fatal("found no key read in connector/")
	}
}
