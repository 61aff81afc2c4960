package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sfconnector/sfconnector/testenv/shared"
)

type alertPolicy struct {
	ID   string         `json:"id"`
	Meta map[string]any `json:"meta"`
}

// alertRules returns, per rule id, how many records of a JSON output file
// carry it, and one of its policy entries.
func alertRules(t *testing.T, path string) (map[string]int, map[string]alertPolicy) {
	t.Helper()
	out, one := map[string]int{}, map[string]alertPolicy{}
	for _, line := range readOutput(t, path) {
		var rec struct {
			Policies []alertPolicy `json:"policies"`
		}
		if err := json.Unmarshal(line, &rec); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		for _, p := range rec.Policies {
			out[p.ID]++
			one[p.ID] = p
		}
	}
	return out, one
}

// TestCLISigmaBothLanguages runs the shellshock trace through two policy
// engines, the bundled Falco-style policies and the Sigma rules of
// policies/testdata/sigma with language: sigma and the reference's mapping
// as config, and through a third whose directory holds both languages:
// each engine alerts with its own rules.
func TestCLISigmaBothLanguages(t *testing.T) {
	cleanEnv(t)
	trace := shared.Path(t, "traces", "shellshock.sf")
	mapping := shared.Path(t, "policies", "sf-processor", "sigma", "config", "sysflow.yml")
	rules, err := filepath.Abs("../../policies/testdata/sigma/rules")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	mixed := filepath.Join(dir, "mixed")
	if err := os.Mkdir(mixed, 0o755); err != nil {
		t.Fatal(err)
	}
	sigmaRule, err := os.ReadFile(filepath.Join(rules, "cgi_shell.yml"))
	if err != nil {
		t.Fatal(err)
	}
	falcoRule := "- rule: cat of the account database\n  desc: cat reads /etc/passwd\n  condition: sf.opflags = EXEC and sf.proc.exe = /bin/cat and sf.proc.args contains /etc/passwd\n  priority: medium\n"
	for name, text := range map[string]string{"cgi_shell.yml": string(sigmaRule), "falco.yaml": falcoRule} {
		if err := os.WriteFile(filepath.Join(mixed, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	falcoOut, sigmaOut, mixedOut := filepath.Join(dir, "falco.json"), filepath.Join(dir, "sigma.json"), filepath.Join(dir, "mixed.json")
	cfg := filepath.Join(dir, "p.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`
pipeline:
  - {processor: sysflowreader, handler: flattener, in: sysflow a, out: flat b}
  - {processor: policyengine, in: flat b, out: evt c, mode: alert, monitor: none}
  - {processor: policyengine, in: flat b, out: evt d, mode: alert, monitor: none, language: sigma, policies: %s, config: %s, strict: true}
  - {processor: policyengine, in: flat b, out: evt e, mode: alert, monitor: none, policies: %s}
  - {processor: exporter, in: evt c, export: file, format: json, file.path: %s}
  - {processor: exporter, in: evt d, export: file, format: json, file.path: %s}
  - {processor: exporter, in: evt e, export: file, format: json, file.path: %s}
`, rules, mapping, mixed, falcoOut, sigmaOut, mixedOut)), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stderr := runCLI(t, "-driver", "file", "-config", cfg, "-log-format", "json", trace)
	assertNoPanic(t, stderr)
	if code != 0 {
		t.Fatalf("exit status %d; stderr:\n%s", code, tail(stderr, 2000))
	}
	falco, falcoPol := alertRules(t, falcoOut)
	sigma, sigmaPol := alertRules(t, sigmaOut)
	both, _ := alertRules(t, mixedOut)
	// The trace holds one shell started by the CGI program (bash -c cat
	// /etc/passwd) and the two opens of /etc/passwd below it.
	if falco["Shell spawned by a web server or database"] == 0 || falco["Shell spawned by a CGI program"] != 0 {
		t.Errorf("Falco engine alerts: %v", falco)
	}
	if sigma["Shell spawned by a CGI program"] != 1 || sigma["Account database read below a CGI program"] != 2 || len(sigma) != 2 {
		t.Errorf("Sigma engine alerts: %v", sigma)
	}
	// The Sigma alert carries the rule's metadata as written in
	// cgi_shell.yml; Falco-style alerts keep the reference's shape.
	meta := sigmaPol["Shell spawned by a CGI program"].Meta
	refs, _ := meta["sigma.references"].([]any)
	if meta["sigma.id"] != "5b0c9d3e-3f4a-4b8e-9a61-0c1f2d3e4a01" || meta["sigma.status"] != "experimental" ||
		len(refs) != 1 || refs[0] != "https://nvd.nist.gov/vuln/detail/CVE-2014-6271" {
		t.Errorf("Sigma alert metadata: %v", meta)
	}
	for id, p := range falcoPol {
		if p.Meta != nil {
			t.Errorf("Falco-style alert %q has metadata %v", id, p.Meta)
		}
	}
	if both["Shell spawned by a CGI program"] != 1 || both["cat of the account database"] != 1 || len(both) != 2 {
		t.Errorf("mixed directory alerts: %v", both)
	}
}

// TestCLISigmaValidate: validate lists the two shipped Sigma rules it
// cannot run (LogonId is not mapped) as warnings, and as errors with
// --strict; a policyengine with an unknown language is refused.
func TestCLISigmaValidate(t *testing.T) {
	cleanEnv(t)
	dir := shared.Path(t, "policies", "sf-processor", "sigma")
	args := []string{"validate", "--policies", filepath.Join(dir, "rules"), "--sigma-config", filepath.Join(dir, "config", "sysflow.yml")}
	for _, strict := range []bool{false, true} {
		a := args
		if strict {
			a = append(a, "--strict")
		}
		p := startCLI(t, a...)
		code := p.wait(t, 60*time.Second)
		out := p.stdout.String()
		if n := strings.Count(out, "field LogonId is not in the field mapping"); n != 2 {
			t.Errorf("strict %v: %d LogonId diagnostics in:\n%s", strict, n, out)
		}
		if want := map[bool]int{false: 0, true: 1}[strict]; code != want {
			t.Errorf("strict %v: exit %d, expected %d:\n%s", strict, code, want, out)
		}
	}
	cfg := filepath.Join(t.TempDir(), "p.yaml")
	if err := os.WriteFile(cfg, []byte("pipeline:\n  - {processor: sysflowreader, handler: flattener, in: sysflow a, out: flat b}\n  - {processor: policyengine, in: flat b, out: evt c, language: cobol}\n  - {processor: exporter, in: evt c, export: null}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := startCLI(t, "validate", "-c", cfg)
	if code := p.wait(t, 60*time.Second); code != 1 || !strings.Contains(p.stdout.String(), "language") {
		t.Errorf("language cobol: exit %d:\n%s", code, p.stdout.String())
	}
}

// TestCLISigmaPolicyTest runs `sfconnector policy test` on the Sigma
// rules' unit tests.
func TestCLISigmaPolicyTest(t *testing.T) {
	cleanEnv(t)
	p := startCLI(t, "policy", "test", "../../policies/testdata/sigma/tests.yaml")
	if code := p.wait(t, 60*time.Second); code != 0 || !strings.Contains(p.stdout.String(), "3 passed, 0 failed") {
		t.Fatalf("exit %d:\n%s%s", code, p.stdout.String(), p.stderr.String())
	}
}
