package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/sfconnector/sfconnector/testenv/shared"
)

// notYetSupported is every complaint `sfconnector validate` may make about
// sf-processor 0.7.0's own pipelines besides missing paths: the transports
// other work adds. When one lands, delete its lines here; the test fails
// until then if an entry no longer matches anything, so the list cannot
// outlive what it excuses.
var notYetSupported = []struct{ what, msg string }{}

// A missing policy path: the reference's pipelines name where its image
// installs the policies (/etc/sysflow/policies/...), absent here.
var missingPath = regexp.MustCompile(`^(\S+): error: cannot open policy path: no such file or directory$`)

// TestValidateReferencePipelines runs `sfconnector validate -c FILE` and
// `sfconnector validate FILE` on every pipeline sf-processor 0.7.0 ships
// (../shared/pipelines/sf-processor) and accepts, line by line, only
// missing paths and the not-yet-supported transports above. The template
// is checked by key name and must pass.
func TestValidateReferencePipelines(t *testing.T) {
	cleanEnv(t)
	files, err := filepath.Glob(filepath.Join(shared.Path(t, "pipelines", "sf-processor"), "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no pipelines in ../shared/pipelines/sf-processor")
	}
	used := make([]int, len(notYetSupported))
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			var withC, positional bytes.Buffer
			errC := run([]string{"validate", "-c", f}, &withC, &bytes.Buffer{})
			errP := run([]string{"validate", f}, &positional, &bytes.Buffer{})
			if withC.String() != positional.String() {
				t.Errorf("validate FILE differs from validate -c FILE:\n%s\nvs\n%s", positional.String(), withC.String())
			}
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			problems := 0
			for _, line := range strings.Split(strings.TrimSpace(withC.String()), "\n") {
				switch {
				case strings.HasPrefix(line, "ok: "+f+": "):
				case regexp.MustCompile(`^\d+ problem\(s\) found$`).MatchString(line):
				case strings.HasPrefix(line, "note: "+f+" is sf-processor's pipeline template"):
					if !strings.Contains(string(data), "DO NOT EDIT THIS TEMPLATE") {
						t.Errorf("not a template, but: %s", line)
					}
				case missingPath.MatchString(line):
					m := missingPath.FindStringSubmatch(line)
					if !strings.Contains(string(data), `"`+m[1]+`"`) {
						t.Errorf("missing path %q is not one the file names: %s", m[1], line)
					}
					if _, err := os.Stat(m[1]); err == nil {
						t.Errorf("reported missing, but %s exists", m[1])
					}
					problems++
				default:
					known := false
					for i, ns := range notYetSupported {
						if strings.HasPrefix(line, "error: "+filepath.Base(f)+": ") && strings.Contains(line, ns.msg) {
							known = true
							used[i]++
						}
					}
					if !known {
						t.Errorf("validate reports more than missing paths and not-yet-supported transports: %s", line)
					}
					problems++
				}
			}
			if (problems > 0) != (errC != nil) || (errC == nil) != (errP == nil) {
				t.Errorf("%d problems, exit errors %v / %v", problems, errC, errP)
			}
			t.Logf("%s", withC.String())
		})
	}
	for i, n := range used {
		if n == 0 {
			t.Errorf("no pipeline needs the allowance for %s (%q) any more: remove it from notYetSupported", notYetSupported[i].what, notYetSupported[i].msg)
		}
	}
}

// `validate FILE` checks FILE (a broken one fails); without a file it
// says it checked the bundled policies.
func TestValidatePositionalFile(t *testing.T) {
	cleanEnv(t)
	dir := t.TempDir()
	bad := filepath.Join(dir, "p.json")
	if err := os.WriteFile(bad, []byte(`{"pipeline":[{"processor":"sysflowreader","out":"a"},{"processor":"exporter","in":"a","export":"syslgo"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := run([]string{"validate", bad}, &out, &bytes.Buffer{}); err == nil {
		t.Fatalf("validate %s passed:\n%s", bad, out.String())
	}
	if !strings.Contains(out.String(), `key "export": invalid value "syslgo"`) {
		t.Errorf("output does not name the bad key:\n%s", out.String())
	}
	out.Reset()
	if err := run([]string{"validate"}, &out, &bytes.Buffer{}); err != nil {
		t.Fatalf("validate: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "ok: no configuration given: the bundled default policies") {
		t.Errorf("validate without a file: %q, want it to say what it checked", out.String())
	}
	if err := run([]string{"validate", "-c", bad, bad}, &out, &bytes.Buffer{}); err == nil {
		t.Error("validate -c FILE FILE: want a usage error")
	}
}

// The kafka.config warnings reach validate's output, and --strict makes
// them problems.
func TestValidateKafkaConfigWarnings(t *testing.T) {
	cleanEnv(t)
	f := filepath.Join(t.TempDir(), "p.json")
	js := `{"pipeline":[{"processor":"sysflowreader","out":"a"},{"processor":"exporter","in":"a","export":"kafka",
	  "kafka.config":{"bootstrap.servers":"127.0.0.1:1","client.id":"x","sasl.password":"s3cret"}}]}`
	if err := os.WriteFile(f, []byte(js), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := run([]string{"validate", f}, &out, &bytes.Buffer{}); err != nil {
		t.Fatalf("validate: %v\n%s", err, out.String())
	}
	for _, want := range []string{`warning: p.json: pipeline[1] (exporter): kafka.config "client.id" has no equivalent`,
		`warning: p.json: pipeline[1] (exporter): kafka.config "sasl.password" is not read`, "ok: " + f + ": 2 warning(s)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "s3cret") {
		t.Errorf("the password is shown:\n%s", out.String())
	}
	out.Reset()
	if err := run([]string{"validate", "--strict", f}, &out, &bytes.Buffer{}); err == nil {
		t.Errorf("validate --strict passed with warnings:\n%s", out.String())
	}
}

// validate loads a policy engine's files as that engine will: with compat
// sf-processor a repeated rule name is two rules, not a replacement to warn
// about.
func TestValidateHonoursCompat(t *testing.T) {
	cleanEnv(t)
	dir := t.TempDir()
	pol := filepath.Join(dir, "p.yaml")
	rules := "- rule: r\n  desc: a\n  condition: sf.proc.name = a\n  priority: low\n- rule: r\n  desc: b\n  condition: sf.proc.name = b\n  priority: low\n"
	if err := os.WriteFile(pol, []byte(rules), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		compat string
		warns  bool
	}{{"", true}, {"sf-processor", false}} {
		cfg := filepath.Join(dir, "p"+tc.compat+".json")
		js := `{"pipeline":[{"processor":"sysflowreader","out":"a"},{"processor":"policyengine","in":"a","out":"b","mode":"alert","policies":"` + pol + `","compat":"` + tc.compat + `"},{"processor":"exporter","in":"b","export":"null"}]}`
		if err := os.WriteFile(cfg, []byte(js), 0o600); err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		if err := run([]string{"validate", cfg}, &out, &bytes.Buffer{}); err != nil {
			t.Fatalf("compat %q: %v\n%s", tc.compat, err, out.String())
		}
		if got := strings.Contains(out.String(), "rule defined twice"); got != tc.warns {
			t.Errorf("compat %q: duplicate-rule warning %v, want %v:\n%s", tc.compat, got, tc.warns, out.String())
		}
	}
}
