package docs_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/sfconnector/sfconnector/config"
	"github.com/sfconnector/sfconnector/sysflow"
)

// Issue 14 item 5: errors and documents named keys that do not exist
// (inflight semantics, avro.registry.*, tls.server_name...). These tests
// find every key-like name an error message or a document gives and check
// that config.Specs declares it, so a renamed or invented key fails here.

// dotted matches a dotted lower-case name such as syslog.tls.ca or
// deadletter.kafka.*.
var dotted = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.([a-z0-9_]+|\*))+$`)

// keyNames are every key and alias config.Specs declares, of any kind.
func keyNames() map[string]bool {
	names := map[string]bool{}
	for _, s := range config.Specs {
		names[s.Key] = true
		for _, a := range s.Aliases {
			names[a] = true
		}
	}
	return names
}

// declared tells whether name is a key of config.Specs: directly, as an
// alias, under a "prefix.*" entry (es.index under es.*), or a dead-letter
// key (deadletter.kafka.brokers: the kafka exporter's kafka.brokers).
func declared(names map[string]bool, name string) bool {
	if names[name] {
		return true
	}
	// settings.shutdown.timeout: a settings key by its section
	if rest, ok := strings.CutPrefix(name, "settings."); ok && names[rest] {
		return true
	}
	// syslog.*: the family of keys with that prefix
	if prefix, ok := strings.CutSuffix(name, "*"); ok {
		for n := range names {
			if strings.HasPrefix(n, prefix) {
				return true
			}
		}
	}
	for n := range names {
		if strings.HasSuffix(n, ".*") && strings.HasPrefix(name, strings.TrimSuffix(n, "*")) {
			if rest, ok := strings.CutPrefix(name, "deadletter."); ok {
				return names[rest] || strings.HasSuffix(rest, ".*")
			}
			return true
		}
	}
	return false
}

// notKeys are dotted names that documents and errors use for other things
// than configuration keys; each is a file, a command or a value.
var notKeys = map[string]string{
	"pipeline.json":         "sf-processor's configuration file",
	"sfconnector.yaml":      "our configuration file",
	"sysflow.sock":          "the collector's socket file",
	"export.out":            "the file sink's default output file",
	"sysflow.>":             "a subject filter",
	"docker-compose.yml":    "a file",
	"sysflow.{type}.{node}": "a subject template",
	"sfconnector.tmpfiles":  "a systemd-tmpfiles file",
	"e.g":                   "an abbreviation",
	"i.e":                   "an abbreviation",
	"avro.schema":           "the metadata key of an Avro object container file",
	"pod.hostip":            "a field of the SysFlow Pod record",
	"pod.internalip":        "a field of the SysFlow Pod record",
	"pod.services":          "a field of the SysFlow Pod record",
	"sf.proc.username":      "the reference's policy field, renamed (migrating.md)",
}

// librdkafka are properties of sf-processor 0.7.0's kafka.config object
// (librdkafka's names), which the documents and the kafka.config doc
// discuss: mapped onto our keys or warned about, never keys themselves.
var librdkafka = map[string]bool{
	"bootstrap.servers": true, "metadata.broker.list": true, "compression.type": true, "compression.codec": true,
	"request.required.acks": true, "security.protocol": true, "sasl.mechanisms": true, "sasl.password": true,
	"ssl.ca.location": true, "ssl.certificate.location": true, "ssl.key.location": true, "ssl.key.password": true,
	"ssl.keystore.password": true, "enable.ssl.certificate.verification": true, "linger.ms": true,
	"queue.buffering.max.ms": true, "batch.num.messages": true, "group.id": true, "auto.offset.reset": true,
	"client.id": true, "message.max.bytes": true,
}

// isSigmaName tells the Sigma vocabulary policies.md describes (tags such
// as attack.t1059 and sigma.id, the logsource field event.provider) from
// keys.
func isSigmaName(name string) bool {
	return strings.HasPrefix(name, "sigma.") || strings.HasPrefix(name, "attack.") || name == "event.provider"
}

// isOTelName tells the OpenTelemetry vocabulary otel.md describes (resource
// attributes of the semantic conventions, the sf.* attribute families and
// the scope names sysflow.event and sysflow.alert) from keys.
func isOTelName(name string) bool {
	for _, p := range []string{"service.", "host.", "container.", "k8s.", "sf."} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return name == "sysflow.event" || name == "sysflow.alert"
}

func isLibrdkafka(name string) bool {
	if librdkafka[name] {
		return true
	}
	if prefix, ok := strings.CutSuffix(name, "*"); ok {
		for p := range librdkafka {
			if strings.HasPrefix(p, prefix) {
				return true
			}
		}
	}
	return false
}

// fileName reports names that are files, hosts or versions, not keys.
var fileName = regexp.MustCompile(`\.(json|ya?ml|sf|go|md|sock|out|jsonl|pem|crt|txt|log|conf|sh|tsv|avsc|html|io|com|org|svc|local|cluster)$|^[0-9]|\.[0-9]`)

// isPolicyField tells a policy field (proc.exe, sf.proc.exe, container.id)
// from a key: policies.md and the migration guide are full of them.
func isPolicyField(name string) bool {
	if _, ok := sysflow.LookupField(name); ok {
		return true
	}
	_, ok := sysflow.LookupField(strings.TrimPrefix(name, "sf."))
	return ok
}

func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "go.mod")); err != nil {
		t.Fatalf("module root: %v", err)
	}
	return dir
}

// errorCall tells whether a call builds an error or reports a bad key:
// fmt.Errorf, errors.New, and the Fail/fail/bad methods of config.Keys.
func errorCall(call *ast.CallExpr) bool {
	switch fn := call.Fun.(type) {
	case *ast.SelectorExpr:
		if x, ok := fn.X.(*ast.Ident); ok {
			if (x.Name == "fmt" && fn.Sel.Name == "Errorf") || (x.Name == "errors" && fn.Sel.Name == "New") {
				return true
			}
		}
		switch fn.Sel.Name {
		case "Fail", "fail", "errorf":
			return true
		}
	case *ast.Ident:
		return fn.Name == "errorf"
	}
	return false
}

var parenthesised = regexp.MustCompile(`\(([^()]*)\)`)

var verb = regexp.MustCompile(`%[-+# 0-9.]*[a-zA-Z]`)

// keyWords returns the dotted names in s; a format verb is dropped, so
// "%s.tls.ca" gives tls.ca.
func keyWords(s string) []string {
	var out []string
	s = verb.ReplaceAllString(s, " ")
	for _, w := range strings.FieldsFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '*' || r == '-')
	}) {
		w = strings.Trim(w, ".-")
		if dotted.MatchString(w) {
			out = append(out, w)
		}
	}
	return out
}

var verbOrPercent = regexp.MustCompile(`%[-+# 0-9.]*[a-zA-Z%]`)

var quotedKey = regexp.MustCompile(`\bkeys? "([a-z][a-z0-9_.*]*)"`)

// errorKeyNames returns the key names the error messages of one Go file
// give: dotted names in the format and literal arguments, names quoted
// after "key", literal arguments printed by a `key %q` verb, and the key
// argument of Fail.
func errorKeyNames(t *testing.T, path string) map[string]token.Position {
	t.Helper()
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, nil, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]token.Position{}
	add := func(name string, pos token.Pos) {
		if _, seen := out[name]; !seen {
			out[name] = fset.Position(pos)
		}
	}
	ast.Inspect(f, func(n ast.Node) bool {
		if ts, ok := n.(*ast.TypeSpec); ok && strings.HasSuffix(ts.Name.Name, "Config") {
			// the doc comments of a configuration struct's fields name
			// their keys in parentheses: "(kafka.brokers)"
			if st, ok := ts.Type.(*ast.StructType); ok {
				for _, fld := range st.Fields.List {
					for _, cg := range []*ast.CommentGroup{fld.Doc, fld.Comment} {
						if cg == nil {
							continue
						}
						for _, m := range parenthesised.FindAllStringSubmatch(cg.Text(), -1) {
							for _, w := range keyWords(m[1]) {
								add(w, fld.Pos())
							}
						}
					}
				}
			}
			return true
		}
		call, ok := n.(*ast.CallExpr)
		if !ok || !errorCall(call) {
			return true
		}
		lits := make([]string, len(call.Args))
		for i, a := range call.Args {
			if b, ok := a.(*ast.BasicLit); ok && b.Kind == token.STRING {
				lits[i], _ = strconv.Unquote(b.Value)
			}
		}
		if sel, ok := call.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "Fail" && lits[0] != "" {
			add(lits[0], call.Pos())
		}
		for i, s := range lits {
			if s == "" {
				continue
			}
			for _, w := range keyWords(s) {
				add(w, call.Args[i].Pos())
			}
			for _, m := range quotedKey.FindAllStringSubmatch(s, -1) {
				add(m[1], call.Args[i].Pos())
			}
			// key %q with its value a literal further on
			if i == 0 {
				verbs := verbOrPercent.FindAllStringIndex(s, -1)
				arg := 1
				for _, v := range verbs {
					verb := s[v[0]:v[1]]
					if verb == "%%" {
						continue
					}
					if verb == "%q" && strings.HasSuffix(strings.TrimSpace(s[:v[0]]), "key") && arg < len(lits) && lits[arg] != "" {
						add(lits[arg], call.Args[arg].Pos())
					}
					arg++
				}
			}
		}
		return true
	})
	return out
}

// TestErrorsNameDeclaredKeys: every key an error message of the code names
// is declared in config.Specs.
func TestErrorsNameDeclaredKeys(t *testing.T) {
	root := moduleRoot(t)
	names := keyNames()
	var bad []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		for name, pos := range errorKeyNames(t, path) {
			if declared(names, name) || notKeys[name] != "" || fileName.MatchString(name) || isPolicyField(name) || isLibrdkafka(name) || isSigmaName(name) || isOTelName(name) {
				continue
			}
			rel, _ := filepath.Rel(root, pos.Filename)
			bad = append(bad, rel+":"+strconv.Itoa(pos.Line)+": "+name)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(bad)
	for _, b := range bad {
		t.Errorf("%s: an error names this key, config.Specs does not declare it", b)
	}
}

var backquoted = regexp.MustCompile("`([^`\n]+)`")

// TestDocsNameDeclaredKeys: every dotted key-like name a document gives in
// backquotes (outside code blocks, where commands and files are) is a key
// of config.Specs, a policy field, or a file.
func TestDocsNameDeclaredKeys(t *testing.T) {
	root := moduleRoot(t)
	docs, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil || len(docs) == 0 {
		t.Fatalf("no docs/*.md: %v", err)
	}
	docs = append(docs, filepath.Join(root, "README.md"))
	names := keyNames()
	for _, path := range docs {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		inCode := false
		for i, line := range strings.Split(string(data), "\n") {
			if strings.HasPrefix(strings.TrimSpace(line), "```") {
				inCode = !inCode
				continue
			}
			if inCode {
				continue
			}
			for _, m := range backquoted.FindAllStringSubmatch(line, -1) {
				name := strings.TrimSpace(m[1])
				// "kafka.batch.size: 500" or "syslog.host=..." name a key too
				if k, _, ok := strings.Cut(name, ":"); ok && dotted.MatchString(k) {
					name = k
				}
				if k, _, ok := strings.Cut(name, "="); ok && dotted.MatchString(k) {
					name = k
				}
				if !dotted.MatchString(name) || declared(names, name) || notKeys[name] != "" || fileName.MatchString(name) || isPolicyField(name) || isLibrdkafka(name) || isSigmaName(name) || isOTelName(name) {
					continue
				}
				t.Errorf("%s:%d: `%s` is not a key of config.Specs", filepath.Base(path), i+1, name)
			}
		}
	}
}

// TestSpecDocsNameDeclaredKeys: the Doc of every key in config.Specs (the
// configuration reference's text) names only declared keys.
func TestSpecDocsNameDeclaredKeys(t *testing.T) {
	names := keyNames()
	for _, s := range config.Specs {
		for _, w := range keyWords(s.Doc) {
			if declared(names, w) || notKeys[w] != "" || fileName.MatchString(w) || isPolicyField(w) || isLibrdkafka(w) || isSigmaName(w) || isOTelName(w) {
				continue
			}
			t.Errorf("%s key %q: its doc names %q, which config.Specs does not declare", s.Kind, s.Key, w)
		}
	}
}
