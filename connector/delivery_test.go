package connector_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sfconnector/sfconnector/config"
	"github.com/sfconnector/sfconnector/connector"
	sfjson "github.com/sfconnector/sfconnector/encoding/json"
	filesink "github.com/sfconnector/sfconnector/sinks/file"
	filesrc "github.com/sfconnector/sfconnector/sources/file"
	"github.com/sfconnector/sfconnector/sysflow"
	"github.com/sfconnector/sfconnector/testenv/parity"
	"github.com/sfconnector/sfconnector/testenv/shared"
	"github.com/sfconnector/sfconnector/transforms/flatten"
)

// The delivery tests run real pipelines (the file source on a directory of
// real traces, file sinks) with sinks that fail, and check every sink's
// output against the reference processor's (testenv/parity): the right
// records, in order, each exactly once. The input is every trace of
// ../shared/traces but the two large ones, read one OCF block per batch.

// deliveryInput is a directory of links to the small real traces (read in
// name order, as shared.Traces lists them), the traces, and the number of
// batches with events they make at one block per batch.
func deliveryInput(t *testing.T) (dir string, traces []string, batches int) {
	t.Helper()
	dir = t.TempDir()
	for _, tr := range shared.Traces(t) {
		if st, err := os.Stat(tr); err != nil || st.Size() > 100<<10 {
			continue
		}
		if err := os.Symlink(tr, filepath.Join(dir, filepath.Base(tr))); err != nil {
			t.Fatal(err)
		}
		traces = append(traces, tr)
		rd, c, err := sysflow.OpenFile(tr)
		if err != nil {
			t.Fatal(err)
		}
		for {
			recs, err := rd.Next(nil)
			for _, r := range recs {
				if r.Kind == sysflow.KindProcessEvent || r.Kind == sysflow.KindFileEvent || r.Kind == sysflow.KindFileFlow ||
					r.Kind == sysflow.KindNetworkFlow || r.Kind == sysflow.KindK8sEvent {
					batches++
					break
				}
			}
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		c.Close()
	}
	if len(traces) < 5 || batches <= len(traces) {
		t.Fatalf("%d small traces in %d batches: the tests want several traces and one with several blocks", len(traces), batches)
	}
	return dir, traces, batches
}

// compareOutput checks lines, one sink's output for deliveryInput, trace
// by trace against the reference: a record lost or written twice shifts
// every trace after it and fails.
func compareOutput(t *testing.T, traces []string, lines [][]byte) {
	t.Helper()
	for _, tr := range traces {
		name := parity.TraceName(tr)
		n := len(parity.LoadLines(t, shared.Path(t, "parity", "telemetry", name+".jsonl.gz")))
		if n > len(lines) {
			t.Fatalf("%s: %d records left of the output, the reference has %d", name, len(lines), n)
		}
		parity.CompareTelemetry(t, tr, lines[:n])
		lines = lines[n:]
	}
	if len(lines) > 0 {
		t.Fatalf("%d records after the last trace's", len(lines))
	}
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// flakySink is a sink that fails the writes its schedule says to fail and
// records, as reference JSON lines, the events of the writes it accepts.
type flakySink struct {
	fail func(call int) bool // call counts from 1

	mu       sync.Mutex
	enc      *sfjson.Encoder
	calls    int
	failures int
	lines    [][]byte
}

func newFlakySink(fail func(call int) bool) *flakySink {
	return &flakySink{fail: fail, enc: sfjson.New(sfjson.Options{})}
}

var errFlaky = errors.New("flaky sink: temporary failure")

func (s *flakySink) Publish(_ string, msgs ...*message.Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.fail(s.calls) {
		s.failures++
		return errFlaky
	}
	for _, m := range msgs {
		b := sysflow.BatchOf(m)
		if b == nil {
			return errors.New("flaky sink: message without a batch")
		}
		for _, ev := range b.Events {
			line, err := s.enc.AppendEvent(nil, ev)
			if err != nil {
				return err
			}
			s.lines = append(s.lines, line)
		}
	}
	return nil
}

func (s *flakySink) Close() error { return nil }

func (s *flakySink) result() (lines [][]byte, calls, failures int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lines, s.calls, s.failures
}

// passThrough is a transform stage that changes nothing: the sinks behind
// it are a child stage's, as behind a policy engine.
type passThrough struct{}

func (passThrough) Process(_ context.Context, events []*sysflow.Event) ([]*sysflow.Event, error) {
	return events, nil
}

// deadLetters records what the pipeline hands its dead-letter sink.
type deadLetters struct {
	mu      sync.Mutex
	events  int
	reasons []string
}

func (d *deadLetters) Publish(_ string, msgs ...*message.Message) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, m := range msgs {
		if b := sysflow.BatchOf(m); b != nil {
			d.events += len(b.Events)
		}
		d.reasons = append(d.reasons, m.Metadata.Get("reason"))
	}
	return nil
}

func (d *deadLetters) Close() error { return nil }

// counter reads a counter of the pipeline's registry (summed over labels,
// or only those with label=value when given).
func counter(t *testing.T, reg *prometheus.Registry, name string, label ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			if len(label) == 2 {
				for _, lp := range m.GetLabel() {
					if lp.GetName() == label[0] && lp.GetValue() != label[1] {
						continue metrics
					}
				}
			}
			sum += m.GetCounter().GetValue()
		}
	}
	return sum
}

func TestSinkFailuresRetriedExactlyOnce(t *testing.T) {
	in, traces, batches := deliveryInput(t)
	tests := []struct {
		name       string
		fail       func(call int) bool
		retryMax   int
		flakyFirst bool // the flaky sink before the file sink in the fan-out
		failures   int  // writes the flaky sink must have failed
		nested     bool // the sinks fed by a transform stage, not the flattener
	}{
		{"fails 3 times then recovers, within the retry budget", func(c int) bool { return c <= 3 }, 5, true, 3, false},
		{"fails 3 times then recovers, listed second", func(c int) bool { return c <= 3 }, 5, false, 3, false},
		{"fails 2 of every 3 writes", func(c int) bool { return c%3 != 0 }, 3, true, 2 * batches, false},
		{"fails 2 of every 3 writes, sinks behind a transform", func(c int) bool { return c%3 != 0 }, 3, true, 2 * batches, true},
		// beyond the retry budget the batch is nacked and the source
		// delivers it again: the sinks that accepted it must not get it twice
		{"fails beyond the retry budget, redelivered", func(c int) bool { return c <= 7 }, 1, true, 7, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out.json")
			fileSink, err := filesink.New(filesink.Config{Path: out}, sfjson.New(sfjson.Options{}))
			if err != nil {
				t.Fatal(err)
			}
			flaky := newFlakySink(tc.fail)
			sinks := []*connector.Sink{{Name: "flaky", Pub: flaky}, {Name: "file", Pub: fileSink}}
			if !tc.flakyFirst {
				sinks[0], sinks[1] = sinks[1], sinks[0]
			}
			src, err := filesrc.New(filesrc.Config{Paths: []string{in}, BatchSize: 1, Logger: quietLog()})
			if err != nil {
				t.Fatal(err)
			}
			metrics := connector.NewMetrics(nil)
			root := &connector.Stage{Name: "flatten", Sinks: sinks}
			if tc.nested {
				root = &connector.Stage{Name: "flatten", Children: []*connector.Stage{{Name: "passthrough", Transform: passThrough{}, Sinks: sinks}}}
			}
			p := connector.New(src, root, flatten.Config{Logger: quietLog()},
				connector.Settings{RetryMax: tc.retryMax, RetryInitial: time.Millisecond, Logger: quietLog(), Metrics: metrics})
			runToEnd(t, p)

			lines, calls, failures := flaky.result()
			if failures != tc.failures {
				t.Errorf("the flaky sink failed %d of %d writes, want %d", failures, calls, tc.failures)
			}
			t.Run("file sink", func(t *testing.T) { compareOutput(t, traces, readLines(t, out)) })
			t.Run("flaky sink", func(t *testing.T) { compareOutput(t, traces, lines) })
			if got := counter(t, metrics.Registry, "sfconnector_sink_errors_total", "sink", "flaky"); got != float64(tc.failures) {
				t.Errorf("sink errors metric %v, want %d", got, tc.failures)
			}
			if got := counter(t, metrics.Registry, "sfconnector_records_out_total", "sink", "file"); got != float64(len(lines)) {
				t.Errorf("records out of the file sink %v, want %d", got, len(lines))
			}
			retries := counter(t, metrics.Registry, "sfconnector_retries_total")
			if retries == 0 || retries > float64(tc.failures) {
				t.Errorf("%v retries for %d failures", retries, tc.failures)
			}
			// the run summary: retried and redelivered batches are counted once
			sum := p.Summary()
			want := map[string][2]int64{"flaky": {int64(len(lines)), int64(tc.failures)}, "file": {int64(len(lines)), 0}}
			for _, k := range sum.Sinks {
				if w := want[k.Name]; k.Written != w[0] || k.Failed != w[1] {
					t.Errorf("summary of sink %s: written %d, failed %d; want %d, %d", k.Name, k.Written, k.Failed, w[0], w[1])
				}
			}
			if len(sum.Sinks) != 2 || sum.Events != int64(len(lines)) {
				t.Errorf("summary %+v: want 2 sinks and the %d events written", sum, len(lines))
			}
		})
	}
}

// TestRetryBeforeDeadLetter: with a dead-letter sink configured, a sink
// that fails and then recovers within the retry budget is retried; nothing
// goes to the dead-letter sink.
func TestRetryBeforeDeadLetter(t *testing.T) {
	in, traces, _ := deliveryInput(t)
	flaky := newFlakySink(func(c int) bool { return c <= 2 })
	src, err := filesrc.New(filesrc.Config{Paths: []string{in}, BatchSize: 1, Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	dead := &deadLetters{}
	p := connector.New(src, &connector.Stage{Name: "flatten", Sinks: []*connector.Sink{{Name: "flaky", Pub: flaky}}},
		flatten.Config{Logger: quietLog()},
		connector.Settings{RetryMax: 5, RetryInitial: time.Millisecond, DeadLetter: dead, Logger: quietLog()})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.Run(ctx); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if dead.events > 0 {
		t.Errorf("%d events sent to the dead-letter sink (reasons %q) although the sink recovered within the retry budget",
			dead.events, dead.reasons)
	}
	lines, _, _ := flaky.result()
	compareOutput(t, traces, lines)
}

// TestDeadLetterFromConfig: a sink that never recovers (a file sink on
// /dev/full: every write fails with ENOSPC) with settings.deadletter.path
// set: after the retries, every record lands in the dead-letter file with
// the reason, and the other sink of the fan-out gets each record exactly
// once.
func TestDeadLetterFromConfig(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full on this system")
	}
	in, traces, batches := deliveryInput(t)
	dir := t.TempDir()
	dead := filepath.Join(dir, "dead.jsonl")
	good := filepath.Join(dir, "good.json")
	yaml := fmt.Sprintf(`
source:
  driver: file
  batch.size: 1
settings:
  retry.max: 2
  retry.initial: 1ms
  deadletter.path: %s
pipeline:
  - processor: sysflowreader
    handler: flattener
    in: sysflow sysflowchan
    out: flat flattenerchan
  - processor: exporter
    in: flat flattenerchan
    export: file
    path: /dev/full
  - processor: exporter
    in: flat flattenerchan
    export: file
    path: %s
`, dead, good)
	cfg, err := config.Parse(filepath.Join(dir, "pipeline.yaml"), []byte(yaml), nil)
	if err != nil {
		t.Fatal(err)
	}
	metrics := connector.NewMetrics(nil)
	built, err := connector.Build(context.Background(), cfg, connector.Options{Inputs: []string{in}, Logger: quietLog(), Metrics: metrics})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	runErr := built.Run(ctx)
	if ctx.Err() != nil {
		t.Fatal("the pipeline did not finish within 30s")
	}
	// The failed sink's buffer still holds what it could not write, so
	// closing it fails: the error, if any, must name it.
	t.Logf("Run: %v", runErr)
	if runErr != nil && !strings.Contains(runErr.Error(), "/dev/full") {
		t.Errorf("Run: %v (an error must name the failing sink)", runErr)
	}

	t.Run("other sink", func(t *testing.T) { compareOutput(t, traces, readLines(t, good)) })
	var records [][]byte
	for i, line := range readLines(t, dead) {
		var dl struct {
			Reason string          `json:"reason"`
			Source string          `json:"source"`
			Record json.RawMessage `json:"record"`
		}
		if err := json.Unmarshal(line, &dl); err != nil {
			t.Fatalf("dead letter %d: %v: %.200s", i+1, err, line)
		}
		if !strings.Contains(dl.Reason, "file:/dev/full") || !strings.Contains(dl.Reason, "no space left on device") {
			t.Fatalf("dead letter %d: the reason %q does not name the sink and its error", i+1, dl.Reason)
		}
		if filepath.Dir(dl.Source) != in {
			t.Fatalf("dead letter %d: source %q, want a file of %s", i+1, dl.Source, in)
		}
		records = append(records, dl.Record)
	}
	// every record, in order, once
	t.Run("dead letters", func(t *testing.T) { compareOutput(t, traces, records) })
	if got := counter(t, metrics.Registry, "sfconnector_dead_lettered_total"); got != float64(len(records)) {
		t.Errorf("dead-lettered metric %v, %d records in the file", got, len(records))
	}
	// each batch was retried retry.max times before it was given up
	if got := counter(t, metrics.Registry, "sfconnector_retries_total"); got != float64(2*batches) {
		t.Errorf("%v retries, want 2 for each of the %d batches", got, batches)
	}
}

func readLines(t *testing.T, path string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return parity.SplitLines(t, bytes.TrimSpace(b))
}

// runToEnd runs p until its source is exhausted, failing the test if the
// run fails or does not end within 30s.
func runToEnd(t *testing.T, p *connector.Pipeline) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.Run(ctx); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if ctx.Err() != nil {
		t.Fatal("the pipeline did not finish within 30s")
	}
}
