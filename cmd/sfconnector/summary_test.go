package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sfconnector/sfconnector/testenv/shared"
)

// logLines returns the JSON log lines of stderr whose msg is msg.
func logLines(t *testing.T, stderr, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(stderr, "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// TestCLIRunSummary: a file run ends with one log line saying how many
// records it read, the events made of them, the alerts, and what each sink
// wrote and failed to write. The expectations come from the test's own
// walk of the trace's container blocks and from the output file.
func TestCLIRunSummary(t *testing.T) {
	cleanEnv(t)
	trace := shared.Path(t, "traces", "httpd.sf")
	data, err := os.ReadFile(trace)
	if err != nil {
		t.Fatal(err)
	}
	records := 0
	for _, b := range walkBlocks(t, data) {
		records += b.count
	}
	dir := t.TempDir()
	pol := filepath.Join(dir, "policies")
	if err := os.Mkdir(pol, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(pol, "r.yaml"), []byte("- rule: flows\n  desc: test rule\n  condition: sf.type = NF or sf.type = FF\n  priority: high\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	alerts, all := filepath.Join(dir, "alerts.json"), filepath.Join(dir, "all.json")
	cfg := filepath.Join(dir, "p.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`
pipeline:
  - {processor: sysflowreader, handler: flattener, in: sysflow a, out: flat b}
  - {processor: policyengine, in: flat b, out: evt c, mode: alert, policies: %s, monitor: none}
  - {processor: exporter, in: evt c, export: file, format: json, file.path: %s}
  - {processor: exporter, in: flat b, export: file, format: json, file.path: %s}
`, pol, alerts, all)), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stderr := runCLI(t, "-driver", "file", "-config", cfg, "-log-format", "json", trace)
	assertNoPanic(t, stderr)
	if code != 0 {
		t.Fatalf("exit status %d; stderr:\n%s", code, tail(stderr, 2000))
	}
	nAlerts, nAll := len(readOutput(t, alerts)), len(readOutput(t, all))
	if nAlerts == 0 {
		t.Fatalf("no alert in %s: the test's rule must match some of %s", alerts, trace)
	}
	sums := logLines(t, stderr, "run summary")
	if len(sums) != 1 {
		t.Fatalf("%d run summary lines, want 1; stderr:\n%s", len(sums), tail(stderr, 2000))
	}
	got := sums[0]
	want := map[string]float64{
		"records": float64(records),
		"events":  float64(eventsIn(t, trace, -1)),
		"alerts":  float64(nAlerts),
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("summary %s = %v, want %v", k, got[k], v)
		}
	}
	sinks, _ := got["sinks"].(map[string]any)
	for path, n := range map[string]int{alerts: nAlerts, all: nAll} {
		s, ok := sinks["file:"+path].(map[string]any)
		if !ok {
			t.Errorf("summary has no sink file:%s: %v", path, got)
			continue
		}
		if s["written"] != float64(n) || s["failed"] != float64(0) {
			t.Errorf("sink file:%s: %v, want written %d failed 0", path, s, n)
		}
	}
}

// TestCLISocketListening: in socket mode the command says it listens, and
// where, once the socket exists (before any collector connects).
func TestCLISocketListening(t *testing.T) {
	cleanEnv(t)
	dir := shortDir(t)
	sock := filepath.Join(dir, "s.sock")
	p := startCLI(t, "-driver", "socket", "-config", pipelineJSON(t, dir, sock, filepath.Join(dir, "out.json")), "-log-format", "json")
	listening := func() []map[string]any {
		var out []map[string]any
		for _, m := range logLines(t, p.stderr.String(), "listening for the collector") {
			if m["socket"] == sock {
				out = append(out, m)
			}
		}
		return out
	}
	if !waitFor(t.Context(), 30*time.Second, func() bool { return len(listening()) > 0 }) {
		t.Fatalf("no 'listening' line naming %s; stderr:\n%s", sock, tail(p.stderr.String(), 2000))
	}
	if st, err := os.Stat(sock); err != nil || st.Mode()&os.ModeSocket == 0 {
		t.Errorf("logged listening on %s, but it is not a socket: %v", sock, err)
	}
	p.signal(t, syscall.SIGTERM)
	if code := p.wait(t, 30*time.Second); code != 0 {
		t.Errorf("exit status %d after SIGTERM; stderr:\n%s", code, tail(p.stderr.String(), 2000))
	}
	if n := len(listening()); n != 1 {
		t.Errorf("%d listening lines, want 1", n)
	}
	if len(logLines(t, p.stderr.String(), "run summary")) != 1 {
		t.Errorf("no run summary at the end of a socket run; stderr:\n%s", tail(p.stderr.String(), 2000))
	}
}
