package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The reference's runtime-integrity pipeline, as sf-processor ships it
// (values as strings, "out" as a list).
const refPipeline = `{
  "_comment": "a note",
  "pipeline":[
    {"processor": "sysflowreader", "handler": "flattener", "in": "sysflow sysflowchan", "out": ["flat flattenerchan"]},
    {"processor": "policyengine", "in": "flat flattenerchan", "out": ["evt eventchan"], "policies": "/etc/policies", "mode": "alert"},
    {"processor": "exporter", "in": "evt eventchan", "export": "syslog", "proto": "tcp", "tag": "sysflow", "host": "localhost", "port": "514"}
  ]
}`

func TestParseReferencePipeline(t *testing.T) {
	c, err := Parse("pipeline.json", []byte(refPipeline), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Root.Kind != KindReader || len(c.Root.Children) != 1 {
		t.Fatalf("root = %+v", c.Root)
	}
	pe := c.Root.Children[0]
	if pe.Kind != KindPolicy || len(pe.Children) != 1 || pe.Children[0].Kind != KindExporter {
		t.Fatalf("policy node = %+v", pe)
	}
	k := pe.Keys()
	if got := k.Given("policies"); got != "/etc/policies" {
		t.Errorf("policies = %q", got)
	}
	k.Enum("mode", "alert", "enrich", "filter")
	if err := k.Err(); err != nil {
		t.Errorf("policy keys: %v", err)
	}
	ex := pe.Children[0].Keys()
	// seed-era keys mean the dotted ones
	if got := ex.Int("syslog.port"); got != 514 {
		t.Errorf("syslog.port via port = %d", got)
	}
	if got := ex.Given("syslog.proto"); got != "tcp" {
		t.Errorf("syslog.proto via proto = %q", got)
	}
	ex.Given("export")
	ex.Given("syslog.tag")
	ex.Given("syslog.host")
	if err := ex.Err(); err != nil {
		t.Errorf("exporter keys: %v", err)
	}
}

func TestValuesAsNumbersAndBooleans(t *testing.T) {
	js := `{"pipeline":[
	 {"processor":"sysflowreader","handler":"flattener","in":"sysflow c1","out":"flat c2"},
	 {"processor":"exporter","in":"flat c2","export":"file","flat":true,"buffer":100,"path":"/tmp/x"}]}`
	c, err := Parse("p.json", []byte(js), nil)
	if err != nil {
		t.Fatal(err)
	}
	k := c.Root.Children[0].Keys()
	if !k.Bool("flat") || k.Int("buffer") != 100 || k.Given("file.path") != "/tmp/x" {
		t.Fatalf("flat=%v buffer=%d", k.Bool("flat"), k.Int("buffer"))
	}
}

func TestFanOut(t *testing.T) {
	js := `{"pipeline":[
	 {"processor":"sysflowreader","handler":"flattener","in":"sysflow c1","out":"flat c2"},
	 {"processor":"policyengine","in":"flat c2","out":["evt a","evt b"]},
	 {"processor":"exporter","in":"evt a","export":"terminal"},
	 {"processor":"exporter","in":"evt a","export":"null"},
	 {"processor":"policyengine","in":"evt b","out":"evt c","mode":"alert"},
	 {"processor":"exporter","in":"evt c","export":"file","file.path":"/tmp/y"}]}`
	c, err := Parse("p.json", []byte(js), nil)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	c.Root.Walk(func(n *Node) { kinds = append(kinds, n.Kind) })
	want := "reader policy exporter exporter policy exporter"
	if got := strings.Join(kinds, " "); got != want {
		t.Fatalf("walk = %s, want %s", got, want)
	}
}

func TestEnvOverride(t *testing.T) {
	env := map[string]string{"EXPORTER_EXPORT": "file", "EXPORTER_FILE_PATH": "/var/out.json", "POLICYENGINE_MODE": "alert"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	c, err := Parse("pipeline.json", []byte(refPipeline), lookup)
	if err != nil {
		t.Fatal(err)
	}
	pe := c.Root.Children[0]
	if got := pe.Keys().Given("mode"); got != "alert" {
		t.Errorf("mode = %q", got)
	}
	if got := pe.Children[0].Keys().Given("file.path"); got != "/var/out.json" {
		t.Errorf("file.path = %q, want the EXPORTER_FILE_PATH override", got)
	}
}

func TestYAMLSameAsJSON(t *testing.T) {
	y := `
source: {driver: socket, path: /tmp/sf.sock}
settings: {log.level: debug}
pipeline:
  - {processor: sysflowreader, handler: flattener, in: sysflow c1, out: flat c2}
  - {processor: exporter, in: flat c2, export: file, file.path: /tmp/z, flat: true}
`
	c, err := Parse("p.yaml", []byte(y), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Source == nil || c.Source.Kind != "socket" || c.Source.Keys().Given("path") != "/tmp/sf.sock" {
		t.Fatalf("source = %+v", c.Source)
	}
	if !c.Root.Children[0].Keys().Bool("flat") {
		t.Error("flat: true lost")
	}
}

func TestErrorsNameFileAndKey(t *testing.T) {
	cases := []struct{ name, data, want string }{
		{"bad.json", `{"pipeline": [`, "bad.json: line 1"},
		{"p.json", `{"pipeline":[{"processor":"nope"}]}`, `unknown processor "nope"`},
		{"p.json", `{"pipelines":[]}`, `unknown top-level key "pipelines"`},
		{"p.json", `{"pipeline":[{"processor":"exporter","in":"x"}]}`, "no sysflowreader"},
		{"p.json", `{"pipeline":[{"processor":"sysflowreader","out":"a"},{"processor":"exporter","in":"b"}]}`, `input channel "b"`},
		{"empty.yaml", ``, "empty configuration"},
	}
	for _, tc := range cases {
		t.Run(tc.want, func(t *testing.T) {
			_, err := Parse(tc.name, []byte(tc.data), nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.name) {
				t.Fatalf("err = %v, want it to name %s and say %q", err, tc.name, tc.want)
			}
		})
	}
}

func TestUnknownKeyAndBadValue(t *testing.T) {
	js := `{"pipeline":[
	 {"processor":"sysflowreader","out":"a"},
	 {"processor":"exporter","in":"a","export":"file","file.pth":"/x","flat":"maybe"}]}`
	c, err := Parse("conf/p.json", []byte(js), nil)
	if err != nil {
		t.Fatal(err)
	}
	k := c.Root.Children[0].Keys()
	k.Given("export")
	k.Given("file.path")
	k.Bool("flat")
	err = k.Err()
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	for _, want := range []string{`p.json: pipeline[1] (exporter)`, `unknown key "file.pth"`, `did you mean "file.path"`, `key "flat": invalid value "maybe"`} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add("p.json", []byte(refPipeline))
	f.Add("p.yaml", []byte("pipeline:\n  - {processor: sysflowreader, out: a}\n  - {processor: exporter, in: a}\n"))
	f.Add("p.json", []byte(`{"pipeline":[{"processor":"sysflowreader","out":["a","b"]},{"processor":"exporter","in":"a"},{"processor":"policyengine","in":"b","out":"a"}]}`))
	f.Add("p.json", []byte(otelPipeline))
	f.Add("p.json", []byte(`{"pipeline":[{"processor":"sysflowreader","out":"a"},{"processor":"exporter","in":"a","export":"kafka","kafka.config":{"acks":"-1","linger.ms":5,"x":null}}]}`))
	f.Fuzz(func(t *testing.T, name string, data []byte) {
		c, err := Parse(name, data, nil)
		if err != nil {
			return
		}
		if c.Root == nil || (c.Root.Kind != KindReader && c.Root.Kind != KindInput) {
			t.Fatalf("parsed without a reader or driver-fed root")
		}
		_ = c.CheckKeyNames()
	})
}

func TestLoadFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "pipeline.json")
	if err := os.WriteFile(p, []byte(refPipeline), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(p, nil)
	if err != nil || c.File != p {
		t.Fatalf("Load: %v", err)
	}
	if _, err := Load(p+".missing", nil); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("missing file: %v", err)
	}
}

// An override given under an alias replaces the file's canonical key, and
// reaches only the exporters of its type.
func TestEnvOverrideAliasAndExportType(t *testing.T) {
	js := `{"pipeline":[
	 {"processor":"sysflowreader","out":"a"},
	 {"processor":"exporter","in":"a","export":"syslog","syslog.host":"filehost"},
	 {"processor":"exporter","in":"a","export":"nats","nats.url":"nats://x:4222"}]}`
	env := map[string]string{"EXPORTER_HOST": "envhost", "EXPORTER_SYSLOG_PORT": "1514"}
	c, err := Parse("p.json", []byte(js), func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	sys := c.Root.Children[0].Keys()
	if got := sys.Given("syslog.host"); got != "envhost" {
		t.Errorf("syslog.host = %q, want the EXPORTER_HOST override", got)
	}
	if got := sys.Int("syslog.port"); got != 1514 {
		t.Errorf("syslog.port = %d", got)
	}
	n := c.Root.Children[1]
	if n.Has("syslog.port") || n.Has("syslog.host") {
		t.Errorf("the nats exporter got syslog overrides: %v", n.Raw())
	}
}

// The keys of another export type are accepted and reported by
// OtherExports; a typo is still an error, and a declared key that was not
// read is never "corrected" to itself.
func TestOtherExportKeys(t *testing.T) {
	js := `{"pipeline":[
	 {"processor":"sysflowreader","out":"a"},
	 {"processor":"exporter","in":"a","export":"file","path":"/x","host":"h","port":"1","syslog.proto":"tcp",
	  "es.addresses":"a,b","findings.pool.maxage":"1440","hots":"h"}]}`
	c, err := Parse("p.json", []byte(js), nil)
	if err != nil {
		t.Fatal(err)
	}
	k := c.Root.Children[0].Keys()
	k.Given("export")
	got := strings.Join(k.OtherExports("file"), " ")
	if want := "es.addresses findings.pool.maxage host port syslog.proto"; got != want {
		t.Errorf("OtherExports = %q, want %q", got, want)
	}
	k.Given("file.path")
	err = k.Err()
	if err == nil || !strings.Contains(err.Error(), `unknown key "hots"`) {
		t.Fatalf("err = %v, want the typo hots reported", err)
	}
	if strings.Count(err.Error(), "unknown key") != 1 {
		t.Errorf("err = %v, want only hots unknown", err)
	}

	// read as a terminal exporter without OtherExports: host is declared
	// but unread, and the message must not suggest "host" for "host"
	k = c.Root.Children[0].Keys()
	k.Given("export")
	k.Given("file.path")
	msg := k.Err().Error()
	if strings.Contains(msg, `"host" (did you mean "host"?)`) || !strings.Contains(msg, `unknown key "host" (declared, but not used`) {
		t.Errorf("error %q: want host named as declared but unused, with no self-suggestion", msg)
	}
}

// TestTreeErrorsNameFileOnce checks that errors from building the plugin
// tree name the file once: their plugin's Where already starts with it, and
// Parse used to prefix it again ("p.json: p.json: pipeline[0] ...").
func TestTreeErrorsNameFileOnce(t *testing.T) {
	cases := []struct{ doc, want string }{
		{`{"pipeline":[{"processor":"policyengine","in":"x"}]}`,
			`p.json: pipeline[0] (policyengine): no plugin and no driver writes to its input channel "x"`},
		{`{"pipeline":[{"processor":"sysflowreader","handler":"flattener","in":"a","out":"b"},{"processor":"sysflowreader","handler":"flattener","in":"c","out":"d"}]}`,
			`p.json: pipeline[1] (sysflowreader): a second reader/flattener; a pipeline has one`},
		// an error without a Where still gets the file name
		{`{"pipeline":[{"processor":"nope"}]}`,
			`dir/p.json: pipeline[0]: unknown processor "nope"`},
	}
	for _, c := range cases {
		_, err := Parse(filepath.Join("dir", "p.json"), []byte(c.doc), nil)
		if err == nil {
			t.Errorf("%s: no error", c.doc)
			continue
		}
		if !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("error\n got %q\nwant prefix %q", err, c.want)
		}
		if n := strings.Count(err.Error(), "p.json"); n != 1 {
			t.Errorf("file named %d times: %v", n, err)
		}
	}
}
