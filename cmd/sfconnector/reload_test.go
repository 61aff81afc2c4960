package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sfconnector/sfconnector/sysflow/synth"
	"github.com/sfconnector/sfconnector/testenv/collector"
)

func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "sfconnector")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

func rule(name string) string {
	return fmt.Sprintf("- rule: %s\n  desc: test rule\n  condition: sf.type = PE and sf.opflags = EXEC\n  priority: high\n", name)
}

// waitFor polls until cond holds or the time is up.
func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// SIGHUP swaps a valid policy set in; a broken one is reported and the
// running set stays; SIGTERM ends the run promptly with exit status 0.
func TestSIGHUPReloadAndSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildBinary(t)
	dir, _ := os.MkdirTemp("/tmp", "sfhup")
	defer os.RemoveAll(dir)
	trace := filepath.Join(dir, "t.sf")
	f, _ := os.Create(trace)
	st, err := synth.Generate(f, synth.Options{Seed: 5, Records: 2000})
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	_ = st
	pol := filepath.Join(dir, "policies")
	os.Mkdir(pol, 0o755)
	os.WriteFile(filepath.Join(pol, "r.yaml"), []byte(rule("first rule")), 0o644)
	sock := filepath.Join(dir, "s.sock")
	out := filepath.Join(dir, "alerts.json")
	cfg := filepath.Join(dir, "p.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`
source: {driver: socket, path: %s}
pipeline:
  - {processor: sysflowreader, handler: flattener, in: sysflow a, out: flat b}
  - {processor: policyengine, in: flat b, out: evt c, mode: alert, policies: %s, monitor: none}
  - {processor: exporter, in: evt c, export: file, file.path: %s}
`, sock, pol, out)), 0o644)
	var stderr bytes.Buffer
	cmd := exec.Command(bin, "run", "-c", cfg)
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	replay := func() {
		if _, err := collector.Replay(context.Background(), collector.Options{Socket: sock, Wait: 10 * time.Second}, trace); err != nil {
			t.Fatal(err)
		}
	}
	count := func(name string) int {
		b, _ := os.ReadFile(out)
		return strings.Count(string(b), `"id":"`+name+`"`)
	}
	// stable waits until the output stops growing: the replay's records
	// are all processed
	stable := func() {
		last, since := -1, time.Now()
		waitUntil(t, 30*time.Second, "the output to settle", func() bool {
			b, _ := os.ReadFile(out)
			if len(b) != last {
				last, since = len(b), time.Now()
			}
			return last > 0 && time.Since(since) > 700*time.Millisecond
		})
	}
	replay()
	stable()
	n1 := count("first rule")
	if n1 == 0 {
		t.Fatal("no alert of the first rule")
	}

	os.WriteFile(filepath.Join(pol, "r.yaml"), []byte(rule("second rule")), 0o644)
	cmd.Process.Signal(syscall.SIGHUP)
	waitUntil(t, 10*time.Second, "the reload log line", func() bool { return strings.Contains(stderr.String(), "policies reloaded") })
	replay()
	stable()
	if got := count("second rule"); got != n1 {
		t.Errorf("second rule matched %d records, want %d", got, n1)
	}
	if count("first rule") != n1 {
		t.Errorf("the first rule kept matching after the reload")
	}

	os.WriteFile(filepath.Join(pol, "r.yaml"), []byte("- rule: broken\n  condition: sf.type = (\n"), 0o644)
	cmd.Process.Signal(syscall.SIGHUP)
	waitUntil(t, 10*time.Second, "the failed-reload log line", func() bool { return strings.Contains(stderr.String(), "policy reload failed") })
	replay()
	stable()
	if got := count("second rule"); got != 2*n1 {
		t.Errorf("after a broken reload the kept rule matched %d records in all, want %d", got, 2*n1)
	}

	start := time.Now()
	cmd.Process.Signal(syscall.SIGTERM)
	err = cmd.Wait()
	if err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, stderr.String())
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("SIGTERM took %v", d)
	}
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Errorf("socket file not removed on exit")
	}
}
