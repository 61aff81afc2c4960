package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sfconnector/sfconnector/testenv/parity"
)

// asMainEnv makes the test binary behave as the sfconnector command: the
// end-to-end tests start it as a subprocess to send it real signals and to
// see its real exit status and standard error.
const asMainEnv = "SFCONNECTOR_TEST_AS_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(asMainEnv) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// overrideEnv reports whether an environment variable would change what
// the command runs (sf-processor's image variables and <PLUGIN>_<KEY>
// overrides of the plugins the tests' configurations use).
func overrideEnv(name string) bool {
	switch name {
	case "CONFIG_PATH", "DRIVER", "INPUT_PATH", "LOG_LEVEL", "SFCONNECTOR_METRICS_ADDR":
		return true
	}
	for _, p := range []string{"SYSFLOWREADER_", "POLICYENGINE_", "EXPORTER_"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// cleanEnv unsets, for the test's duration, the environment variables
// that would change an in-process run.
func cleanEnv(t *testing.T) {
	t.Helper()
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		if overrideEnv(k) {
			t.Setenv(k, v) // restored after the test
			os.Unsetenv(k)
		}
	}
}

// pipelineJSON is an sf-processor pipeline.json: reader and flattener ->
// policy engine in enrich mode without policies -> one file exporter per
// output path (several make a fan-out). socket, when set, adds a socket
// driver listening there.
func pipelineJSON(t *testing.T, dir, socket string, outputs ...string) string {
	t.Helper()
	pipeline := []map[string]any{
		{"processor": "sysflowreader", "handler": "flattener", "in": "sysflow sysflowchan", "out": "flat flattenerchan"},
		{"processor": "policyengine", "in": "flat flattenerchan", "out": "evt eventchan", "mode": "enrich"},
	}
	for _, out := range outputs {
		pipeline = append(pipeline, map[string]any{"processor": "exporter", "in": "evt eventchan",
			"export": "file", "format": "json", "path": out})
	}
	top := map[string]any{"pipeline": pipeline}
	if socket != "" {
		top["drivers"] = []map[string]any{{"driver": "socket", "path": socket}}
	}
	b, err := json.MarshalIndent(top, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "pipeline.json")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// shortDir is a temporary directory with a short path: a unix socket's path
// must fit in 107 bytes, which t.TempDir's long names may exceed.
func shortDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("", "sfc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// readOutput returns the lines of an output file (none when it does not
// exist).
func readOutput(t *testing.T, path string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return parity.SplitLines(t, b)
}

// countLines counts complete lines in a file that may still be written.
func countLines(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	return bytes.Count(b, []byte("\n"))
}

// syncBuffer is a bytes.Buffer safe for a subprocess's output copier and
// the test reading it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// cliProcess is the command running as a subprocess.
type cliProcess struct {
	cmd    *exec.Cmd
	stdout syncBuffer
	stderr syncBuffer
	done   chan struct{}
	err    error // from Wait, once done is closed
	exited time.Time
}

// startCLI starts the command with args; the process is killed at the end
// of the test if it is still running.
func startCLI(t *testing.T, args ...string) *cliProcess {
	t.Helper()
	return startCLIEnv(t, nil, args...)
}

// startCLIEnv is startCLI with extra environment variables (NAME=value).
func startCLIEnv(t *testing.T, env []string, args ...string) *cliProcess {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	p := &cliProcess{done: make(chan struct{})}
	p.cmd = exec.Command(exe, args...)
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); !overrideEnv(k) && k != asMainEnv {
			p.cmd.Env = append(p.cmd.Env, kv)
		}
	}
	p.cmd.Env = append(append(p.cmd.Env, env...), asMainEnv+"=1")
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		p.exited = time.Now()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// wait waits up to d for the process to exit and returns its exit code.
func (p *cliProcess) wait(t *testing.T, d time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(d):
		p.cmd.Process.Kill()
		<-p.done
		t.Fatalf("sfconnector %s did not exit within %v; stderr:\n%s", strings.Join(p.cmd.Args[1:], " "), d, p.stderr.String())
	}
	var ee *exec.ExitError
	switch {
	case p.err == nil:
		return 0
	case errors.As(p.err, &ee):
		return ee.ExitCode()
	}
	t.Fatalf("waiting for sfconnector: %v", p.err)
	return -1
}

func (p *cliProcess) signal(t *testing.T, sig syscall.Signal) time.Time {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %v: %v", sig, err)
	}
	return time.Now()
}

// runCLI runs the command to completion as a subprocess.
func runCLI(t *testing.T, args ...string) (code int, stderr string) {
	t.Helper()
	p := startCLI(t, args...)
	code = p.wait(t, 60*time.Second)
	return code, p.stderr.String()
}

// waitFor polls cond until it holds or d passes.
func waitFor(ctx context.Context, d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

// assertNoPanic fails when a command's standard error shows a Go panic or
// fatal runtime error.
func assertNoPanic(t *testing.T, stderr string) {
	t.Helper()
	for _, s := range []string{"panic:", "goroutine ", "fatal error:"} {
		if strings.Contains(stderr, s) {
			t.Fatalf("sfconnector crashed (%q on stderr):\n%s", s, stderr)
		}
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return fmt.Sprintf("...%s", s[len(s)-n:])
	}
	return s
}
