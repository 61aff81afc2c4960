package policytest_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sfconnector/sfconnector/policies/policytest"
	"github.com/sfconnector/sfconnector/sysflow"
)

func write(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRunReportsEachTest(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "rules/r.yaml", `
- list: shells
  items: [bash, sh]
- rule: shell
  desc: a shell ran
  condition: sf.opflags = EXEC and sf.proc.name in (shells)
  priority: low
- filter: quiet
  condition: sf.proc.user = batch
`)
	tests := write(t, dir, "tests/t.yaml", `
policies: [../rules]
tests:
  - name: passes
    events:
      - {sf.opflags: EXEC, sf.proc.exe: /bin/sh}
      - {sf.opflags: EXEC, sf.proc.exe: /bin/sh, sf.proc.user: batch}
      - {sf.opflags: EXEC, sf.proc.exe: /bin/ls}
    expect: [[shell], [], []]
  - name: wrong expectation
    events:
      - {sf.opflags: EXEC, sf.proc.exe: /bin/ls}
    expect: [[shell]]
  - name: counts
    events:
      - {sf.opflags: EXEC, sf.proc.exe: /bin/bash}
      - {sf.opflags: EXEC, sf.proc.exe: /bin/bash}
    counts: {shell: 1}
    alerted: 2
  - name: unknown rule
    events: [{sf.opflags: EXEC}]
    expect: [[nope]]
  - name: bad event
    events: [{sf.proc.exe: /bin/sh, sf.proc.name: ls}]
    expect: [[]]
`)
	broken := write(t, dir, "tests/broken.yaml", "tests: [\n")
	var out bytes.Buffer
	passed, failed, err := policytest.Run(context.Background(), []string{tests, broken}, &out)
	if err != nil {
		t.Fatal(err)
	}
	text := out.String()
	t.Log("\n" + text)
	if passed != 1 || failed != 5 {
		t.Fatalf("passed %d failed %d, want 1 and 5", passed, failed)
	}
	for _, want := range []string{
		"PASS " + tests + ": passes",
		"FAIL " + tests + ": wrong expectation: event 1: matched nothing, expected [shell]",
		`rule "shell" matched 2 records, expected 1`,
		"2 records alerted, expected 2",
		`expected rule "nope" is not in the policies`,
		`field sf.proc.name: given "ls", the event reads "sh"`,
		"FAIL " + broken + ": (file): invalid YAML",
		"1 passed, 5 failed",
	} {
		if want == "2 records alerted, expected 2" {
			if strings.Contains(text, want) {
				t.Errorf("output reports a correct alerted count as wrong")
			}
			continue
		}
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q", want)
		}
	}
}

func TestNewEvent(t *testing.T) {
	tests := []struct {
		name   string
		values policytest.Values
		check  map[string]string // field -> text expected
		err    string
	}{
		{"process event", policytest.Values{"sf.opflags": "EXEC", "sf.proc.exe": "/usr/bin/nc", "sf.proc.args": "-e /bin/sh"},
			map[string]string{"sf.type": "PE", "sf.proc.name": "nc", "sf.proc.cmdline": "/usr/bin/nc -e /bin/sh", "sf.container.type": "host", "sf.opflags": "EXEC"}, ""},
		{"name alone", policytest.Values{"sf.proc.name": "bash"}, map[string]string{"sf.proc.exe": "bash"}, ""},
		{"cmdline alone", policytest.Values{"proc.cmdline": "/bin/sh -c id"}, map[string]string{"sf.proc.exe": "/bin/sh", "sf.proc.args": "-c id"}, ""},
		{"file flow inferred", policytest.Values{"sf.file.path": "/etc/shadow", "sf.file.openflags": []string{"RDONLY"}},
			map[string]string{"sf.type": "FF", "sf.file.name": "shadow", "sf.file.directory": "/etc", "sf.file.is_open_read": "true", "sf.file.type": "f"}, ""},
		{"network flow", policytest.Values{"sf.net.dip": "203.0.113.5", "sf.net.dport": "4444", "sf.opflags": "CONNECT"},
			map[string]string{"sf.type": "NF", "sf.net.dip": "203.0.113.5", "sf.net.dport": "4444"}, ""},
		{"container", policytest.Values{"sf.container.id": "c1", "sf.container.type": "CRIO"}, map[string]string{"sf.container.type": "CRIO", "sf.container.id": "c1"}, ""},
		{"ancestry", policytest.Values{"sf.proc.aexe": []string{"/bin/sh", "/usr/sbin/apache2", "/usr/bin/containerd"}},
			map[string]string{"sf.proc.aname": "sh,apache2,containerd", "sf.pproc.name": "apache2"}, ""},
		{"unknown field", policytest.Values{"sf.proc.username": "x"}, nil, "unknown field sf.proc.username (did you mean sf.proc.user?)"},
		{"inconsistent", policytest.Values{"sf.proc.exe": "/bin/sh", "sf.proc.name": "bash"}, nil, `given "bash", the event reads "sh"`},
		{"bad flag", policytest.Values{"sf.opflags": "OPENN"}, nil, `unknown op flag "OPENN"`},
		{"bad integer", policytest.Values{"sf.proc.uid": "root"}, nil, `"root" is not an integer`},
		{"derived only", policytest.Values{"sf.proc.oid": "abc"}, nil, "cannot be set"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := policytest.NewEvent(tt.values)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for name, want := range tt.check {
				f, ok := sysflow.LookupField(name)
				if !ok {
					t.Fatalf("no field %s", name)
				}
				if got := f.Text(ev); got != want {
					t.Errorf("%s = %q, want %q", name, got, want)
				}
			}
		})
	}
}
