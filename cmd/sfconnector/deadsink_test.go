package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sfconnector/sfconnector/testenv/parity"
	"github.com/sfconnector/sfconnector/testenv/shared"
)

// sinkPipelineJSON is an sf-processor pipeline.json: reader and flattener
// -> policy engine in enrich mode without policies -> the exporter given,
// with the top-level settings given.
func sinkPipelineJSON(t *testing.T, dir string, exporter, settings map[string]any) string {
	t.Helper()
	exporter["processor"], exporter["in"] = "exporter", "evt eventchan"
	top := map[string]any{"pipeline": []map[string]any{
		{"processor": "sysflowreader", "handler": "flattener", "in": "sysflow sysflowchan", "out": "flat flattenerchan"},
		{"processor": "policyengine", "in": "flat flattenerchan", "out": "evt eventchan", "mode": "enrich"},
		exporter,
	}, "settings": settings}
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

// closedPort is a loopback TCP port nothing listens on (a listener's,
// closed): a syslog receiver that is down.
func closedPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}

var metricsAddrRE = regexp.MustCompile(`serving metrics and health"? addr=(\S+)`)

// readyz waits for the process to log its metrics address and asks its
// /readyz.
func readyz(t *testing.T, p *cliProcess) (int, string) {
	t.Helper()
	var addr string
	if !waitFor(t.Context(), 30*time.Second, func() bool {
		m := metricsAddrRE.FindStringSubmatch(p.stderr.String())
		if m != nil {
			addr = m[1]
		}
		return m != nil
	}) {
		t.Fatalf("no metrics address logged; stderr:\n%s", tail(p.stderr.String(), 2000))
	}
	resp, err := http.Get("http://" + addr + "/readyz")
	if err != nil {
		t.Fatalf("GET /readyz: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestCLIDeadSyslogReceiver runs a file input into a syslog receiver that
// is down (issue 15): the failure is logged at once with the address, not
// after the 30s a write keeps trying; /readyz answers 503 naming the sink
// and the error; SIGTERM ends the process within shutdown.timeout plus a
// small margin. With a dead-letter sink the undelivered records are there,
// whole, and the exit status is 0; without one, a warning at start says
// what becomes of them, they are logged as lost and the exit status is not 0.
func TestCLIDeadSyslogReceiver(t *testing.T) {
	trace := shared.Path(t, "traces", "shellshock.sf")
	events := len(parity.LoadLines(t, shared.Path(t, "parity", "telemetry", "shellshock.jsonl.gz")))
	const deadline = 2 * time.Second
	for _, withDLQ := range []bool{false, true} {
		t.Run(map[bool]string{false: "no-dead-letter", true: "dead-letter"}[withDLQ], func(t *testing.T) {
			dir := t.TempDir()
			port := closedPort(t)
			addr := "127.0.0.1:" + strconv.Itoa(port)
			dlq := filepath.Join(dir, "dead.jsonl")
			settings := map[string]any{"shutdown.timeout": deadline.String(), "metrics.addr": "127.0.0.1:0"}
			if withDLQ {
				settings["deadletter.path"] = dlq
			}
			cfg := sinkPipelineJSON(t, dir, map[string]any{"export": "syslog", "format": "json", "proto": "tcp",
				"host": "127.0.0.1", "port": strconv.Itoa(port)}, settings)
			started := time.Now()
			p := startCLI(t, "run", "-c", cfg, trace)
			if !waitFor(t.Context(), 30*time.Second, func() bool {
				return strings.Contains(p.stderr.String(), "cannot reach the receiver")
			}) {
				t.Fatalf("the dead receiver is not logged; stderr:\n%s", tail(p.stderr.String(), 3000))
			}
			if took := time.Since(started); took > 15*time.Second {
				t.Errorf("the dead receiver was logged %v after start; a write gives up after 30s", took)
			}
			stderr := p.stderr.String()
			if !regexp.MustCompile(`cannot reach the receiver.*addr=` + regexp.QuoteMeta(addr)).MatchString(stderr) {
				t.Errorf("the first error does not name the address %s:\n%s", addr, stderr)
			}
			if got := strings.Contains(stderr, "no dead-letter sink"); got == withDLQ {
				t.Errorf("warning about no dead-letter sink logged: %v, want %v:\n%s", got, !withDLQ, stderr)
			}
			code, body := readyz(t, p)
			if code != http.StatusServiceUnavailable {
				t.Errorf("/readyz answers %d with the receiver down", code)
			}
			for _, want := range []string{"sink syslog:" + addr, "connection refused"} {
				if !strings.Contains(body, want) {
					t.Errorf("/readyz body does not say %q:\n%s", want, body)
				}
			}

			sig := p.signal(t, syscall.SIGTERM)
			code = p.wait(t, 60*time.Second)
			took := p.exited.Sub(sig)
			stderr = p.stderr.String()
			assertNoPanic(t, stderr)
			if took > deadline+3*time.Second {
				t.Errorf("exited %v after SIGTERM; shutdown.timeout is %v", took, deadline)
			}
			if !withDLQ {
				if code == 0 {
					t.Errorf("exit status 0 with %d records lost; stderr:\n%s", events, tail(stderr, 3000))
				}
				if want := `records lost: .* batches=1 records=` + strconv.Itoa(events) + `\b`; !regexp.MustCompile(want).MatchString(stderr) {
					t.Errorf("stderr does not match %q:\n%s", want, tail(stderr, 3000))
				}
				return
			}
			if code != 0 {
				t.Errorf("exit status %d; every record went to the dead-letter sink; stderr:\n%s", code, tail(stderr, 3000))
			}
			parity.CompareTelemetry(t, trace, deadLetterRecords(t, dlq))
			t.Logf("exited %v after SIGTERM", took.Round(time.Millisecond))
		})
	}
}

// deadLetterRecords returns the "record" of every line of a dead-letter
// file.
func deadLetterRecords(t *testing.T, path string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var dl struct {
			Reason string          `json:"reason"`
			Record json.RawMessage `json:"record"`
		}
		if err := json.Unmarshal(sc.Bytes(), &dl); err != nil {
			t.Fatalf("%s: %v: %s", path, err, sc.Bytes())
		}
		if !strings.Contains(dl.Reason, "shutdown deadline") {
			t.Errorf("dead letter's reason %q does not say the shutdown deadline passed", dl.Reason)
		}
		out = append(out, dl.Record)
	}
	return out
}

var failedWritesRE = regexp.MustCompile(`(\d+) consecutive failed writes`)

// TestCLIFileSinkDevFull: a file sink on /dev/full fails every write
// (issue 14). With fail-fast (flag or settings key) and no dead-letter
// sink the run stops with an error naming the path and a non-zero exit
// status; without, it keeps retrying but says so: one log line, then
// rate-limited, and /readyz 503 naming the sink.
func TestCLIFileSinkDevFull(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skipf("/dev/full: %v", err)
	}
	trace := shared.Path(t, "traces", "shellshock.sf")
	exporter := func() map[string]any { return map[string]any{"export": "file", "format": "json", "path": "/dev/full"} }
	settings := func() map[string]any {
		return map[string]any{"retry.max": 2, "retry.initial": "10ms", "shutdown.timeout": "2s", "metrics.addr": "127.0.0.1:0"}
	}
	for _, tc := range []struct {
		name string
		flag bool
		key  bool
	}{{"flag", true, false}, {"key", false, true}} {
		t.Run("fail-fast-"+tc.name, func(t *testing.T) {
			s := settings()
			if tc.key {
				s["retry.failfast"] = true
			}
			args := []string{"run", "-c", sinkPipelineJSON(t, t.TempDir(), exporter(), s)}
			if tc.flag {
				args = append(args, "-fail-fast")
			}
			code, stderr := runCLI(t, append(args, trace)...)
			assertNoPanic(t, stderr)
			if code == 0 {
				t.Fatalf("exit status 0 writing to /dev/full; stderr:\n%s", tail(stderr, 3000))
			}
			for _, want := range []string{"retry.failfast", "/dev/full", "no space left on device"} {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr does not say %q:\n%s", want, tail(stderr, 3000))
				}
			}
		})
	}
	t.Run("retrying", func(t *testing.T) {
		p := startCLI(t, "run", "-c", sinkPipelineJSON(t, t.TempDir(), exporter(), settings()), trace)
		var code int
		var body string
		if !waitFor(t.Context(), 60*time.Second, func() bool {
			code, body = readyz(t, p)
			m := failedWritesRE.FindStringSubmatch(body)
			n := 0
			if m != nil {
				n, _ = strconv.Atoi(m[1])
			}
			return n >= 6
		}) {
			t.Fatalf("/readyz %d %q; stderr:\n%s", code, body, tail(p.stderr.String(), 3000))
		}
		if code != http.StatusServiceUnavailable {
			t.Errorf("/readyz answers %d while every write fails", code)
		}
		for _, want := range []string{"sink file:/dev/full", "no space left on device"} {
			if !strings.Contains(body, want) {
				t.Errorf("/readyz body does not say %q:\n%s", want, body)
			}
		}
		select {
		case <-p.done:
			t.Fatalf("the run ended without fail-fast; stderr:\n%s", tail(p.stderr.String(), 3000))
		default:
		}
		stderr := p.stderr.String()
		if n := strings.Count(stderr, "sink write failed"); n != 1 {
			t.Errorf("%d \"sink write failed\" lines; want the first failure once, the next ones rate-limited:\n%s", n, tail(stderr, 3000))
		}
		if !strings.Contains(stderr, "no dead-letter sink") {
			t.Errorf("no warning at start that there is no dead-letter sink:\n%s", tail(stderr, 3000))
		}
		sig := p.signal(t, syscall.SIGTERM)
		code = p.wait(t, 60*time.Second)
		if took := p.exited.Sub(sig); took > 5*time.Second {
			t.Errorf("exited %v after SIGTERM; shutdown.timeout is 2s", took)
		}
		if code == 0 {
			t.Errorf("exit status 0 with the records lost; stderr:\n%s", tail(p.stderr.String(), 3000))
		}
	})
}
