package policies_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sfconnector/sfconnector/policies"
	"github.com/sfconnector/sfconnector/testenv/shared"
)

func TestErrors(t *testing.T) {
	tests := []struct {
		name, text string
		strict     bool
		// every entry must be among the errors: "line:col: text"
		want []string
		// the snippet of the first error
		snippet string
	}{
		{
			name: "syntax error in a folded condition",
			text: `- rule: r
  desc: d
  condition: >
    sf.proc.name = bash and
    (sf.proc.exe startswith /bin or
  priority: low
`,
			want:    []string{`5:36: error: rule "r": syntax error: expected a comparison, a macro name or '(' at the end of the condition`},
			snippet: "    (sf.proc.exe startswith /bin or\n" + strings.Repeat(" ", 4+35) + "^",
		},
		{
			name: "syntax error on a continuation line",
			text: `- rule: r
  desc: d
  condition: sf.opflags = EXEC
             and sf.proc.name in bash
  priority: low
`,
			want:    []string{`4:34: error: rule "r": syntax error: expected '(' after 'in' near "bash"`},
			snippet: "             and sf.proc.name in bash\n" + strings.Repeat(" ", 4+33) + "^",
		},
		{
			name: "unknown macro with a suggestion",
			text: `- macro: interactive_shell
  condition: sf.proc.tty = true
- rule: r
  desc: d
  condition: sf.opflags = EXEC and interactive_shel
  priority: low
`,
			want: []string{`5:36: error: rule "r": unknown macro interactive_shel (did you mean interactive_shell?)`},
		},
		{
			name: "every error listed",
			text: `- rule: a
  desc: d
  condition: nope
  priority: low
- rule: b
  desc: d
  condition: x = = y
  priority: low
- rule: c
  desc: d
  priority: low
- rule: d
  desc: d
  condition: sf.opflags = EXEC
  prefilter: [PX]
`,
			want: []string{
				`3:14: error: rule "a": unknown macro nope`,
				`7:18: error: rule "b": syntax error`,
				`9:3: error: rule "c": rule has no condition`,
				`15:14: error: rule "d": unknown record type "PX" in prefilter`,
			},
		},
		{
			name: "macro cycle",
			text: `- macro: a
  condition: b
- macro: b
  condition: a
- rule: r
  desc: d
  condition: a
  priority: low
`,
			want: []string{`macro "a" uses itself`},
		},
		{
			name: "strict turns warnings into errors",
			text: `- rule: r
  desc: d
  condition: sf.proc.username = root
  priority: urgent
`,
			strict: true,
			want: []string{
				`3:14: error: rule "r": unknown field sf.proc.username (did you mean sf.proc.user?)`,
				`4:13: error: rule "r": unknown priority "urgent"`,
			},
		},
		{
			name: "bad YAML",
			text: "- rule: r\n  desc: [d\n",
			want: []string{`error: invalid YAML`},
		},
		{
			name: "not a list",
			text: "rule: r\n",
			want: []string{`1:1: error: a policy file is a YAML list of items`},
		},
		{
			name: "wrong types",
			text: `- rule: r
  desc: d
  condition: sf.opflags = EXEC
  tags: {a: b}
- list: l
  items: x
`,
			want: []string{`4:9: error: rule "r": tags must be a list, found a mapping`, `6:10: error: list "l": items must be a list`},
		},
		{
			name: "engine version",
			text: "- required_engine_version: 0.99.0\n",
			want: []string{`1:28: error: the file requires engine version 0.99.0`},
		},
		{
			name: "bad regex and glob",
			text: `- rule: r
  desc: d
  condition: sf.proc.exe regex '(' or sf.proc.exe glob '[a'
  priority: low
`,
			want: []string{`3:26: error: rule "r": bad regular expression "("`, `3:51: error: rule "r": bad glob pattern "[a"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set, diags, err := load(t, tt.text, policies.Options{Strict: tt.strict})
			if err == nil || set != nil {
				t.Fatalf("loaded without error; diagnostics %v", diags)
			}
			var le *policies.LoadError
			if !errors.As(err, &le) {
				t.Fatalf("error %T, want *LoadError", err)
			}
			msg := err.Error()
			for _, w := range tt.want {
				if !strings.Contains(msg, "p.yaml:"+w) && !strings.Contains(msg, w) {
					t.Errorf("error lacks %q:\n%s", w, msg)
				}
			}
			if tt.snippet != "" {
				var b strings.Builder
				policies.WriteDiagnostics(&b, le.Diagnostics[:1])
				if !strings.Contains(b.String(), tt.snippet) {
					t.Errorf("snippet:\n%s\nwant it to show:\n%s", b.String(), tt.snippet)
				}
			}
		})
	}
}

func TestWarningsKeepLoading(t *testing.T) {
	text := `- rule: r
  desc: d
  condition: sf.proc.username != root and sf.net.proto = udp
  priority: low
- rule: never
  desc: d
  condition: sf.poc.name in (at)
  priority: low
`
	set, diags, err := load(t, text, policies.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{
		`p.yaml:3:14: warning: rule "r": unknown field sf.proc.username (did you mean sf.proc.user?); read as the literal string "sf.proc.username"`,
		`p.yaml:3:56: warning: rule "r": sf.net.proto = 'udp' can never be true: sf.net.proto is an integer field and no value is an integer`,
		`p.yaml:5:3: warning: rule "never": rule can never match: its condition is always false`,
		`p.yaml:7:14: warning: rule "never": unknown field sf.poc.name`,
	} {
		found := false
		for _, d := range diags {
			found = found || strings.HasPrefix(d.String(), w)
		}
		if !found {
			t.Errorf("no warning %q in:\n%v", w, diags)
		}
	}
	if len(set.Rules()) != 2 {
		t.Fatalf("%d rules", len(set.Rules()))
	}
}

func TestLoadPathsAndDirectories(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a/1.yaml", "- macro: m\n  condition: sf.opflags = EXEC\n")
	write("a/sub/2.YML", "- rule: r\n  desc: d\n  condition: m\n  priority: low\n")
	write("a/notes.txt", "not yaml [")
	write("a/.git/x.yaml", "not a policy [")
	set, _, err := policies.Load([]string{filepath.Join(dir, "a")}, policies.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Files()) != 2 || len(set.Rules()) != 1 {
		t.Fatalf("files %v rules %d", set.Files(), len(set.Rules()))
	}
	_, _, err = policies.Load([]string{filepath.Join(dir, "missing")}, policies.Options{})
	if err == nil || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("missing path: %v", err)
	}
	_, _, err = policies.Load([]string{filepath.Join(dir, "a", "sub")}, policies.Options{})
	if err == nil || !strings.Contains(err.Error(), "unknown macro m") {
		t.Fatalf("macro from a file not loaded: %v", err)
	}
}

// TestReferencePolicyFilesLoad loads every Falco-style file of the
// reference's policy directory (not its sigma/ rules), each on its own, and the runtimeintegrity directory as a set,
// and checks the warnings about their quirks.
func TestReferencePolicyFilesLoad(t *testing.T) {
	root := shared.Path(t, "policies", "sf-processor")
	var files []string
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		// sigma/ holds SigmaHQ rules and their field mapping, a different
		// language (issue 11), not Falco-style policy files.
		if err == nil && d.IsDir() && p == filepath.Join(root, "sigma") {
			return filepath.SkipDir
		}
		if err == nil && !d.IsDir() && policies.IsPolicyFile(p) {
			files = append(files, p)
		}
		return err
	})
	if err != nil || len(files) < 20 {
		t.Fatalf("%d files: %v", len(files), err)
	}
	warned := map[string][]string{}
	for _, f := range files {
		set, diags, err := policies.Load([]string{f}, policies.Options{})
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if len(set.Rules())+len(set.Filters()) == 0 {
			t.Errorf("%s: no rules", f)
		}
		rel, _ := filepath.Rel(root, f)
		for _, d := range diags {
			pos := d.Pos
			pos.File = rel
			warned[rel] = append(warned[rel], pos.String()+": "+d.Item+": "+d.Msg)
		}
	}
	expect := map[string][]string{
		"runtimeintegrity/ttps.yaml": {
			"runtimeintegrity/ttps.yaml:47:1: : item indented by one space more than the others",
			"runtimeintegrity/ttps.yaml:809:9: : name contains ': '",
			`runtimeintegrity/ttps.yaml:558:45: macro "ps_discovery_args" (used by rule "Process Discovery"): unknown field sf-process.args (did you mean sf.proc.args?)`,
		},
		"runtimeintegrity/runtimeintegrity.yaml": {
			"runtimeintegrity/runtimeintegrity.yaml:660:1: : line continues the value above but is not indented",
		},
		"distribution/filter.yaml": {
			"distribution/filter.yaml:227:32: : tab characters in the text (line 227)",
			"distribution/filter.yaml:265:32: : tab characters in the text (line 265)",
		},
		"tests/unit_test_logic.yaml": {
			"tests/unit_test_logic.yaml:10:3: : tab characters are not valid YAML; read as spaces (lines 10-14)",
			"tests/unit_test_logic.yaml:18:1: : item indented by one space more than the others",
		},
		"tests/falco.yaml": {
			`tests/falco.yaml:387:7: rule "Unexpected outbound connection destination": unknown field fd.snet`,
			`tests/falco.yaml:358:11: rule "Disallowed SSH Connection": unknown field %user.loginuid in output`,
		},
		"tests/unit_test_fileflow.yaml": {`unknown field sf.is_open_write`},
	}
	for file, wants := range expect {
		for _, w := range wants {
			found := false
			for _, got := range warned[file] {
				found = found || strings.Contains(got, w)
			}
			if !found {
				t.Errorf("%s: no warning %q; got:\n  %s", file, w, strings.Join(warned[file], "\n  "))
			}
		}
	}
	set, _, err := policies.Load([]string{filepath.Join(root, "runtimeintegrity")}, policies.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Rules()) != 58 || len(set.Filters()) != 1 {
		t.Fatalf("runtimeintegrity: %d rules (79 with 21 redefined), %d filters", len(set.Rules()), len(set.Filters()))
	}
	both, _, _ := policies.Load([]string{filepath.Join(root, "runtimeintegrity")}, policies.Options{KeepDuplicateRules: true})
	if len(both.Rules()) != 79 {
		t.Fatalf("runtimeintegrity with duplicates kept: %d rules, want the reference's 79", len(both.Rules()))
	}
	if _, _, err := policies.Load([]string{filepath.Join(root, "runtimeintegrity")}, policies.Options{Strict: true}); err == nil {
		t.Fatal("strict mode accepted the reference's files, which have unknown fields")
	}
}

func TestDefaultPoliciesStrict(t *testing.T) {
	set, diags, err := policies.LoadDefault(policies.Options{Strict: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(diags) != 0 || len(set.Rules()) < 20 {
		t.Fatalf("%d rules, diagnostics %v", len(set.Rules()), diags)
	}
	for _, r := range set.Rules() {
		mitre := false
		for _, tag := range r.Tags {
			mitre = mitre || strings.HasPrefix(tag, "mitre:T")
		}
		if !mitre || r.Desc == "" || r.Output == "" {
			t.Errorf("rule %q: needs a MITRE tag, a description and an output", r.Name)
		}
	}
	files, err := policies.DefaultFiles()
	if err != nil || len(files) == 0 {
		t.Fatalf("DefaultFiles: %v", err)
	}
}

// TestMissingPathNamedOnce checks that the diagnostic for a policy path
// that does not exist names the path once, in its position, and not again
// in the message (as "stat PATH: ..." used to).
func TestMissingPathNamedOnce(t *testing.T) {
	p := filepath.Join(t.TempDir(), "missing.yaml")
	_, diags, err := policies.Load([]string{p}, policies.Options{})
	if err == nil || len(diags) != 1 {
		t.Fatalf("want one diagnostic and an error, got %v, %v", diags, err)
	}
	want := p + ": error: cannot open policy path: no such file or directory"
	if got := diags[0].String(); got != want {
		t.Errorf("diagnostic\n got %q\nwant %q", got, want)
	}
	if n := strings.Count(diags[0].String(), p); n != 1 {
		t.Errorf("path named %d times: %s", n, diags[0].String())
	}
}
