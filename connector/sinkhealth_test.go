package connector_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"

	"github.com/sfconnector/sfconnector/connector"
	sfjson "github.com/sfconnector/sfconnector/encoding/json"
	"github.com/sfconnector/sfconnector/sinks/file"
	"github.com/sfconnector/sfconnector/sinks/syslog"
	filesrc "github.com/sfconnector/sfconnector/sources/file"
	"github.com/sfconnector/sfconnector/testenv/parity"
	"github.com/sfconnector/sfconnector/testenv/rsyslog"
	"github.com/sfconnector/sfconnector/testenv/shared"
	"github.com/sfconnector/sfconnector/transforms/flatten"
)

// logBuffer collects a logger's text output; the pipeline's goroutines
// write it while the test reads it.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuffer) logger() *slog.Logger { return slog.New(slog.NewTextHandler(l, nil)) }

// deadTCPAddr is a loopback address nothing listens on: a listener's,
// closed, so that connecting is refused.
func deadTCPAddr(t *testing.T) (string, int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := ln.Addr().(*net.TCPAddr)
	ln.Close()
	return a.IP.String(), a.Port
}

func newSyslogSink(t *testing.T, host string, port int, log *slog.Logger) *connector.Sink {
	t.Helper()
	s, err := syslog.New(syslog.Config{Proto: "tcp", Host: host, Port: port, Encoder: sfjson.New(sfjson.Options{}),
		Logger: watermill.NewSlogLogger(log)})
	if err != nil {
		t.Fatal(err)
	}
	return &connector.Sink{Name: "syslog:" + net.JoinHostPort(host, strconv.Itoa(port)), Pub: s}
}

func newDevFullSink(t *testing.T) *connector.Sink {
	t.Helper()
	s, err := file.New(file.Config{Path: "/dev/full"}, sfjson.New(sfjson.Options{}))
	if err != nil {
		t.Skipf("/dev/full: %v", err)
	}
	return &connector.Sink{Name: "file:/dev/full", Pub: s}
}

// smallTrace is a trace of 56 records read as one batch: a sink that fails
// holds the whole trace in flight.
func smallTrace(t *testing.T) (path string, events int) {
	t.Helper()
	path = shared.Path(t, "traces", "shellshock.sf")
	return path, len(parity.LoadLines(t, shared.Path(t, "parity", "telemetry", "shellshock.jsonl.gz")))
}

func newPipeline(t *testing.T, trace string, sink *connector.Sink, settings connector.Settings) *connector.Pipeline {
	t.Helper()
	src, err := filesrc.New(filesrc.Config{Paths: []string{trace}, BatchSize: 100_000, Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	root := &connector.Stage{Name: "flatten", Sinks: []*connector.Sink{sink}}
	return connector.New(src, root, flatten.Config{Logger: quietLog()}, settings)
}

// serveHealth serves /readyz for p and returns a function that asks it.
func serveHealth(t *testing.T, ctx context.Context, p *connector.Pipeline, m *connector.Metrics) func() (int, string) {
	t.Helper()
	h := &connector.Health{}
	h.SetReady(true)
	h.SetCheck(p.Unready)
	addr, _, err := connector.Serve(ctx, "127.0.0.1:0", m, h)
	if err != nil {
		t.Fatal(err)
	}
	return func() (int, string) {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			t.Fatalf("GET /readyz: %v", err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
}

func waitUntil(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

// TestReadinessFollowsSyslogReceiver: with the syslog receiver (a real
// rsyslogd) down, the failure is logged at once with the address, long
// before a write gives up (syslog.reconnect_timeout, 30s), and /readyz
// answers 503 naming the sink and the error; once rsyslogd is back on the
// same port, /readyz answers 200 again and every record arrives.
func TestReadinessFollowsSyslogReceiver(t *testing.T) {
	srv := rsyslog.Start(t, rsyslog.Options{TCP: true})
	if err := srv.Stop(); err != nil { // its port stays the same for the restart
		t.Fatal(err)
	}
	host, portText, _ := net.SplitHostPort(srv.TCPAddr)
	port, _ := strconv.Atoi(portText)
	trace, events := smallTrace(t)
	logs := &logBuffer{}
	sink := newSyslogSink(t, host, port, logs.logger())
	m := connector.NewMetrics(nil)
	p := newPipeline(t, trace, sink, connector.Settings{RetryMax: 100, RetryInitial: 10 * time.Millisecond,
		Logger: logs.logger(), Metrics: m})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	ready := serveHealth(t, ctx, p, m)

	start := time.Now()
	runErr := make(chan error, 1)
	go func() { runErr <- p.Run(ctx) }()
	var code int
	var body string
	if !waitUntil(20*time.Second, func() bool { code, body = ready(); return code == http.StatusServiceUnavailable }) {
		t.Fatalf("/readyz still %d %q with the receiver down; log:\n%s", code, body, logs.String())
	}
	took := time.Since(start)
	for _, want := range []string{sink.Name, "connection refused"} {
		if !strings.Contains(body, want) {
			t.Errorf("/readyz body does not name %q:\n%s", want, body)
		}
	}
	log := logs.String()
	if !strings.Contains(log, "cannot reach the receiver") || !strings.Contains(log, "addr="+srv.TCPAddr) {
		t.Errorf("the unreachable receiver is not logged with its address:\n%s", log)
	}
	if strings.Contains(log, "sink write failed") {
		t.Errorf("a write failed before the receiver was reported unreachable:\n%s", log)
	}
	if took > 15*time.Second {
		t.Errorf("the receiver was reported unreachable after %v; a write gives up only after 30s", took)
	}

	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	if !waitUntil(30*time.Second, func() bool { code, body = ready(); return code == http.StatusOK }) {
		t.Fatalf("/readyz still %d %q after the receiver came back; log:\n%s", code, body, logs.String())
	}
	if err := <-runErr; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got := srv.WaitRaw(t, events, 30*time.Second); len(got) != events {
		t.Errorf("rsyslogd received %d messages, the trace has %d events", len(got), events)
	}
	if !strings.Contains(logs.String(), "receiver reachable again") {
		t.Errorf("the recovery is not logged:\n%s", logs.String())
	}
}

// TestReadinessFollowsFailingWrites: a file sink on /dev/full fails every
// write; without a dead-letter sink the batch is retried and redelivered
// without end, /readyz answers 503 naming the sink and its error, the
// first failure is logged once and the next ones are rate-limited. At
// SIGTERM (ctx) the run ends within its deadline and reports the records
// it lost.
func TestReadinessFollowsFailingWrites(t *testing.T) {
	trace, events := smallTrace(t)
	sink := newDevFullSink(t)
	logs := &logBuffer{}
	m := connector.NewMetrics(nil)
	const deadline = time.Second
	p := newPipeline(t, trace, sink, connector.Settings{RetryMax: 3, RetryInitial: time.Millisecond,
		ShutdownTimeout: deadline, Logger: logs.logger(), Metrics: m})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := serveHealth(t, context.Background(), p, m)
	runErr := make(chan error, 1)
	go func() { runErr <- p.Run(ctx) }()

	if !waitUntil(30*time.Second, func() bool { return p.Summary().Sinks[0].Failed >= 10 }) {
		t.Fatalf("%d failed writes after 30s", p.Summary().Sinks[0].Failed)
	}
	code, body := ready()
	if code != http.StatusServiceUnavailable {
		t.Errorf("/readyz answers %d while every write fails", code)
	}
	for _, want := range []string{"sink file:/dev/full", "consecutive failed writes", "no space left on device"} {
		if !strings.Contains(body, want) {
			t.Errorf("/readyz body does not say %q:\n%s", want, body)
		}
	}
	log := logs.String()
	if n := strings.Count(log, "sink write failed"); n != 1 {
		t.Errorf("%d \"sink write failed\" lines for %d failures in well under 10s; want 1 (rate-limited):\n%s",
			n, p.Summary().Sinks[0].Failed, log)
	}
	if !strings.Contains(log, "no dead-letter sink") {
		t.Errorf("no warning at start that there is no dead-letter sink:\n%s", log)
	}

	stopped := time.Now()
	cancel()
	err := <-runErr
	if took := time.Since(stopped); took > deadline+2*time.Second {
		t.Errorf("Run returned %v after the cancel; the shutdown deadline is %v", took, deadline)
	}
	if !errors.Is(err, connector.ErrRecordsLost) {
		t.Fatalf("Run: %v; want records lost", err)
	}
	if want := "records lost: " + strconv.Itoa(events) + " records of 1 batches"; !strings.Contains(err.Error(), want) {
		t.Errorf("Run: %v; want %q", err, want)
	}
	if !strings.Contains(logs.String(), "records lost") {
		t.Errorf("the lost records are not logged:\n%s", logs.String())
	}
}

// TestFailFastStopsRun: with retry.failfast and no dead-letter sink, a
// batch that still fails after retry.max retries stops the run with an
// error naming the sink's path, after exactly 1+retry.max attempts.
func TestFailFastStopsRun(t *testing.T) {
	trace, _ := smallTrace(t)
	sink := newDevFullSink(t)
	const retries = 2
	p := newPipeline(t, trace, sink, connector.Settings{RetryMax: retries, RetryInitial: time.Millisecond,
		FailFast: true, Logger: quietLog()})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	err := p.Run(ctx)
	if ctx.Err() != nil {
		t.Fatal("the run did not stop within 60s")
	}
	if err == nil {
		t.Fatal("Run succeeded writing to /dev/full")
	}
	for _, want := range []string{"retry.failfast", "/dev/full", "no space left on device"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Run: %v; does not say %q", err, want)
		}
	}
	if got := p.Summary().Sinks[0].Failed; got != 1+retries {
		t.Errorf("%d failed writes, want %d (one attempt and %d retries)", got, 1+retries, retries)
	}
}

// TestShutdownDeadlineDeadSyslog: a syslog receiver refuses connections
// (a closed port) and a write keeps trying it for 30s. The shutdown
// deadline (1s) bounds the stop: the retry in progress is abandoned, and
// the batch goes to the dead-letter sink, whole and as the reference
// writes it, or, without one, is reported lost and fails the run.
func TestShutdownDeadlineDeadSyslog(t *testing.T) {
	trace, events := smallTrace(t)
	for _, withDLQ := range []bool{true, false} {
		name := map[bool]string{true: "dead-letter", false: "none"}[withDLQ]
		t.Run(name, func(t *testing.T) {
			host, port := deadTCPAddr(t)
			logs := &logBuffer{}
			sink := newSyslogSink(t, host, port, logs.logger())
			dead := &nilCheckingDeadLetters{}
			const deadline = time.Second
			settings := connector.Settings{RetryMax: 5, ShutdownTimeout: deadline, Logger: logs.logger()}
			if withDLQ {
				settings.DeadLetter = dead
			}
			p := newPipeline(t, trace, sink, settings)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			runErr := make(chan error, 1)
			go func() { runErr <- p.Run(ctx) }()
			if !waitUntil(20*time.Second, func() bool { return p.Unready() != nil }) {
				t.Fatalf("the dead receiver is not reported; log:\n%s", logs.String())
			}
			stopped := time.Now()
			cancel()
			var err error
			select {
			case err = <-runErr:
			case <-time.After(60 * time.Second):
				t.Fatal("Run did not return within 60s of the cancel")
			}
			if took := time.Since(stopped); took > deadline+2*time.Second {
				t.Errorf("Run returned %v after the cancel; the shutdown deadline is %v", took, deadline)
			}
			if !withDLQ {
				if !errors.Is(err, connector.ErrShutdownTimeout) || !errors.Is(err, connector.ErrRecordsLost) {
					t.Fatalf("Run: %v; want the shutdown deadline exceeded and records lost", err)
				}
				if want := "records lost: " + strconv.Itoa(events) + " records of 1 batches"; !strings.Contains(err.Error(), want) {
					t.Errorf("Run: %v; want %q", err, want)
				}
				return
			}
			if err != nil {
				t.Fatalf("Run: %v; everything undelivered went to the dead-letter sink", err)
			}
			if dead.nils > 0 {
				t.Errorf("%d nil events dead-lettered", dead.nils)
			}
			enc := sfjson.New(sfjson.Options{})
			var lines [][]byte
			for _, ev := range dead.events {
				b, err := enc.AppendEvent(nil, ev)
				if err != nil {
					t.Fatal(err)
				}
				lines = append(lines, b)
			}
			parity.CompareTelemetry(t, trace, lines)
		})
	}
}
