package connector_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

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

// The chunk tests run batches split into many chunks (Settings.ChunkRecords
// far below the batch size) and check what the sinks get against the
// reference processor's output: every record once, in order, whatever
// fails on the way.

// TestChunkedSinkFailuresRetriedExactlyOnce: sinks failing in the middle
// of a batch's chunks get every record exactly once and in order (a sink
// that failed a chunk gets none of the later ones until the retry), and
// the healthy sink beside them is not written twice.
func TestChunkedSinkFailuresRetriedExactlyOnce(t *testing.T) {
	in, traces, _ := deliveryInput(t)
	tests := []struct {
		name     string
		fail     func(call int) bool
		retryMax int
		nested   bool
	}{
		{"fails 2 of every 3 writes", func(c int) bool { return c%3 != 0 }, 3, false},
		{"fails 2 of every 3 writes, sinks behind a transform", func(c int) bool { return c%3 != 0 }, 3, true},
		{"fails every 5th write", func(c int) bool { return c%5 == 0 }, 2, false},
		// beyond the retry budget the batch is nacked and redelivered: the
		// chunks the sinks took must not be written again
		{"fails beyond the retry budget, redelivered", func(c int) bool { return c > 4 && c <= 11 }, 1, false},
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
				connector.Settings{RetryMax: tc.retryMax, RetryInitial: time.Millisecond, Logger: quietLog(), Metrics: metrics, ChunkRecords: 3})
			runToEnd(t, p)

			lines, calls, failures := flaky.result()
			if failures == 0 {
				t.Fatalf("the flaky sink failed none of its %d writes: the schedule did not apply", calls)
			}
			t.Run("file sink", func(t *testing.T) { compareOutput(t, traces, readLines(t, out)) })
			t.Run("flaky sink", func(t *testing.T) { compareOutput(t, traces, lines) })
			if got := counter(t, metrics.Registry, "sfconnector_sink_errors_total", "sink", "flaky"); got != float64(failures) {
				t.Errorf("sink errors metric %v, want %d", got, failures)
			}
			if got := counter(t, metrics.Registry, "sfconnector_records_out_total", "sink", "file"); got != float64(len(lines)) {
				t.Errorf("records out of the file sink %v, want %d", got, len(lines))
			}
			// more writes than batches: the batches really were chunked
			if ok := calls - failures; ok <= len(traces)*3 {
				t.Errorf("%d successful writes of the flaky sink: the batches were not split into chunks", ok)
			}
		})
	}
}

// failOnce is a transform that fails its n-th call, once, and passes
// events through otherwise.
type failOnce struct {
	n     int
	calls atomic.Int64
}

func (f *failOnce) Process(_ context.Context, events []*sysflow.Event) ([]*sysflow.Event, error) {
	if f.calls.Add(1) == int64(f.n) {
		return nil, errors.New("transform failed on purpose")
	}
	return events, nil
}

// TestChunkedTransformFailure: a transform failing on a middle chunk of a
// batch holds back that chunk and the later ones until the retry, while the
// chunks before it are written once.
func TestChunkedTransformFailure(t *testing.T) {
	in, traces, _ := deliveryInput(t)
	for _, n := range []int{2, 5, 17} {
		t.Run(fmt.Sprintf("fails call %d", n), func(t *testing.T) {
			sink := newFlakySink(func(int) bool { return false })
			src, err := filesrc.New(filesrc.Config{Paths: []string{in}, BatchSize: 1, Logger: quietLog()})
			if err != nil {
				t.Fatal(err)
			}
			metrics := connector.NewMetrics(nil)
			tr := &failOnce{n: n}
			root := &connector.Stage{Name: "flatten", Children: []*connector.Stage{{Name: "failonce", Transform: tr,
				Sinks: []*connector.Sink{{Name: "out", Pub: sink}}}}}
			p := connector.New(src, root, flatten.Config{Logger: quietLog()},
				connector.Settings{RetryMax: 3, RetryInitial: time.Millisecond, Logger: quietLog(), Metrics: metrics, ChunkRecords: 4})
			runToEnd(t, p)
			lines, _, _ := sink.result()
			compareOutput(t, traces, lines)
			if got := counter(t, metrics.Registry, "sfconnector_retries_total"); got != 1 {
				t.Errorf("%v retries, want 1 (the transform failed once)", got)
			}
		})
	}
}

// failAlways is a transform that fails every call.
type failAlways struct{}

func (failAlways) Process(context.Context, []*sysflow.Event) ([]*sysflow.Event, error) {
	return nil, errors.New("transform failed on purpose")
}

// TestChunkedTransformFailureDeadLetters: when the transform fails on the
// first chunk of every batch and the retries run out, the dead-letter sink
// gets every event of every batch: the chunks after the failing one were
// flattened all the same.
func TestChunkedTransformFailureDeadLetters(t *testing.T) {
	in, traces, _ := deliveryInput(t)
	want := 0
	for _, tr := range traces {
		want += len(parity.LoadLines(t, shared.Path(t, "parity", "telemetry", parity.TraceName(tr)+".jsonl.gz")))
	}
	sink := newFlakySink(func(int) bool { return false })
	src, err := filesrc.New(filesrc.Config{Paths: []string{in}, BatchSize: 4096, Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	dead := &deadLetters{}
	root := &connector.Stage{Name: "flatten", Children: []*connector.Stage{{Name: "fail", Transform: failAlways{},
		Sinks: []*connector.Sink{{Name: "out", Pub: sink}}}}}
	p := connector.New(src, root, flatten.Config{Logger: quietLog()},
		connector.Settings{RetryMax: 1, RetryInitial: time.Millisecond, DeadLetter: dead, Logger: quietLog(), ChunkRecords: 4})
	runToEnd(t, p)
	if lines, _, _ := sink.result(); len(lines) != 0 {
		t.Errorf("the sink behind the failing transform got %d events", len(lines))
	}
	if dead.events != want {
		t.Errorf("the dead-letter sink got %d events, the traces have %d", dead.events, want)
	}
}

// TestChunkedMessageIDs: chunk i>0 of a batch goes to a sink with the id
// "batch/sink#i" (chunk 0 keeps "batch/sink"), so the ids differ between
// chunks and a retried chunk carries its first attempt's id.
func TestChunkedMessageIDs(t *testing.T) {
	in, _, _ := deliveryInput(t)
	flaky := &idSink{fail: func(c int) bool { return c == 3 || c == 4 || c == 9 }}
	healthy := &idSink{fail: func(int) bool { return false }}
	src, err := filesrc.New(filesrc.Config{Paths: []string{in}, BatchSize: 1, Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	root := &connector.Stage{Name: "flatten", Sinks: []*connector.Sink{{Name: "flaky", Pub: flaky}, {Name: "healthy", Pub: healthy}}}
	p := connector.New(src, root, flatten.Config{Logger: quietLog()},
		connector.Settings{RetryMax: 5, RetryInitial: time.Millisecond, Logger: quietLog(), ChunkRecords: 5})
	runToEnd(t, p)

	seen := map[string]bool{}
	chunked := 0
	for _, id := range healthy.ids {
		if seen[id] {
			t.Fatalf("the healthy sink got id %s twice", id)
		}
		seen[id] = true
		batch, rest, ok := strings.Cut(id, "/")
		if !ok || batch == "" || (rest != "healthy" && !strings.HasPrefix(rest, "healthy#")) {
			t.Fatalf("id %q: want batch/healthy or batch/healthy#i", id)
		}
		if strings.Contains(rest, "#") {
			chunked++
		}
	}
	if chunked == 0 {
		t.Fatal("no chunk ids: the batches were not split")
	}
	// the flaky sink's ids: each distinct one equals the healthy sink's with
	// its own name, and the three failed calls were retried with the same id
	distinct := map[string]int{}
	for _, id := range flaky.ids {
		distinct[id]++
		if !seen[strings.Replace(id, "/flaky", "/healthy", 1)] {
			t.Errorf("flaky id %s has no healthy counterpart", id)
		}
	}
	if len(distinct) != len(healthy.ids) {
		t.Errorf("flaky sink: %d distinct ids, healthy: %d", len(distinct), len(healthy.ids))
	}
	repeats := 0
	for _, n := range distinct {
		repeats += n - 1
	}
	if repeats != 3 {
		t.Errorf("%d ids repeated, want the 3 failed calls", repeats)
	}
	for i := 1; i < len(flaky.ids); i++ {
		if flaky.ids[i] == flaky.ids[i-1] {
			continue // a retry
		}
		if distinct[flaky.ids[i-1]] > 1 && i+1 < len(flaky.ids) && flaky.ids[i+1] == flaky.ids[i-1] {
			t.Errorf("the sink got %s between two attempts of %s: a later chunk before the failed one", flaky.ids[i], flaky.ids[i-1])
		}
	}
}

// chunkTreeConfig is a tree with a sink at the flattener (telemetry) and a
// policy stage below it (alerts), run with chunk.records {{CHUNK}}.
const chunkTreeConfig = `settings:
  chunk.records: {{CHUNK}}
pipeline:
  - processor: sysflowreader
    handler: flattener
    in: sysflow sysflowchan
    out: flat flattenerchan
  - processor: exporter
    in: flat flattenerchan
    export: file
    format: json
    file.path: {{TELEMETRY}}
  - processor: policyengine
    in: flat flattenerchan
    out: evt eventchan
    mode: alert
    monitor: none
    compat: sf-processor
    policies: {{POLICIES}}
  - processor: exporter
    in: evt eventchan
    export: file
    format: json
    file.path: {{ALERTS}}
`

// TestChunkedTreeMatchesReference runs every real trace through a tree
// with a telemetry sink at the flattener and the reference's 79 rules in
// alert mode below it, in chunks of 7 records and in whole batches. The
// telemetry must equal the reference's (no matches of the policy stage on
// it: that stage works on copies, since the telemetry sink writes after
// it), the alerts the reference's alerts record by record, and the chunked
// output that of whole batches byte for byte.
func TestChunkedTreeMatchesReference(t *testing.T) {
	policies := shared.Path(t, "policies", "sf-processor", "runtimeintegrity")
	for _, trace := range shared.Traces(t) {
		name := shared.TraceName(trace)
		t.Run(name, func(t *testing.T) {
			outs := map[string][2][]byte{}
			for _, chunk := range []string{"7", "1000000"} {
				dir := t.TempDir()
				tel, alerts := filepath.Join(dir, "telemetry.json"), filepath.Join(dir, "alerts.json")
				cfg := strings.NewReplacer("{{CHUNK}}", chunk, "{{TELEMETRY}}", tel, "{{ALERTS}}", alerts, "{{POLICIES}}", policies).Replace(chunkTreeConfig)
				runConfig(t, cfg, []string{trace}, nil)
				a, _ := os.ReadFile(alerts) // no file: no alert
				outs[chunk] = [2][]byte{readFile(t, tel), a}
			}
			chunked, whole := outs["7"], outs["1000000"]
			if !bytes.Equal(chunked[0], whole[0]) {
				t.Error("telemetry differs between chunks of 7 records and whole batches")
			}
			if !bytes.Equal(chunked[1], whole[1]) {
				t.Error("alerts differ between chunks of 7 records and whole batches")
			}
			parity.CompareTelemetry(t, trace, parity.SplitLines(t, bytes.TrimSpace(chunked[0])))
			if bytes.Contains(chunked[0], []byte(`"policies"`)) {
				t.Error("the telemetry sink wrote the policy stage's matches")
			}
			want := recordAlerts(t, readFile(t, shared.Path(t, "parity", "alerts", name+".jsonl")))
			got := recordAlerts(t, chunked[1])
			if !maps2Equal(got, want) {
				t.Errorf("alerts of %d records, the reference's of %d: they differ", len(got), len(want))
			}
		})
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// recordAlerts reads JSON alert lines as: per record (type, ts, endts,
// pid, tid), the sorted policy ids of each alert on it.
func recordAlerts(t *testing.T, data []byte) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for i, line := range bytes.Split(data, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var r struct {
			Type     string `json:"type"`
			TS       int64  `json:"ts"`
			EndTS    int64  `json:"endts"`
			Proc     struct{ Pid, Tid int64 }
			Policies []struct{ ID string }
		}
		if err := json.Unmarshal(line, &r); err != nil {
			t.Fatalf("alert line %d: %v", i+1, err)
		}
		var ids []string
		for _, p := range r.Policies {
			ids = append(ids, p.ID)
		}
		sort.Strings(ids)
		k := fmt.Sprintf("%s ts=%d endts=%d pid=%d tid=%d", r.Type, r.TS, r.EndTS, r.Proc.Pid, r.Proc.Tid)
		out[k] = append(out[k], strings.Join(ids, ","))
	}
	for _, l := range out {
		sort.Strings(l)
	}
	return out
}

func maps2Equal(a, b map[string][]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

// TestChunkRecordsValidated: chunk.records below 1 is refused, naming the
// key and the file.
func TestChunkRecordsValidated(t *testing.T) {
	for _, v := range []string{"0", "-4"} {
		path := filepath.Join(t.TempDir(), "p.yaml")
		cfg, err := config.Parse(path, []byte("settings:\n  chunk.records: "+v+"\npipeline:\n  - processor: sysflowreader\n    handler: flattener\n    in: sysflow sysflowchan\n    out: flat flattenerchan\n  - processor: exporter\n    in: flat flattenerchan\n    export: terminal\n"), nil)
		if err != nil {
			t.Fatal(err)
		}
		_, err = connector.Build(context.Background(), cfg, connector.Options{Inputs: []string{t.TempDir()}, Logger: quietLog()})
		if err == nil || !strings.Contains(err.Error(), "chunk.records") || !strings.Contains(err.Error(), path) {
			t.Errorf("chunk.records %s: error %v, want one naming the key and %s", v, err, path)
		}
	}
}

// blockingSink blocks its first write until released, counting events.
type blockingSink struct {
	release chan struct{}
	once    sync.Once
	mu      sync.Mutex
	events  int
}

func (s *blockingSink) Publish(_ string, msgs ...*message.Message) error {
	s.once.Do(func() { <-s.release })
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range msgs {
		s.events += len(sysflow.BatchOf(m).Events)
	}
	return nil
}

func (s *blockingSink) Close() error { return nil }

// counting is a pass-through transform counting its calls.
type counting struct{ calls atomic.Int64 }

func (c *counting) Process(_ context.Context, events []*sysflow.Event) ([]*sysflow.Event, error) {
	c.calls.Add(1)
	return events, nil
}

// TestChunksOverlapTheSinks: while a sink is still writing chunk 0 of a
// batch, chunks 1 and 2 are flattened and transformed (one waits to be
// written, the other to be handed over), and no more: the look-ahead is
// bounded whatever the batch size.
func TestChunksOverlapTheSinks(t *testing.T) {
	trace := shared.Path(t, "traces", "mon.1531776682.sf")
	sink := &blockingSink{release: make(chan struct{})}
	src, err := filesrc.New(filesrc.Config{Paths: []string{trace}, BatchSize: 4096, Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	tr := &counting{}
	root := &connector.Stage{Name: "flatten", Children: []*connector.Stage{{Name: "count", Transform: tr,
		Sinks: []*connector.Sink{{Name: "out", Pub: sink}}}}}
	p := connector.New(src, root, flatten.Config{Logger: quietLog()},
		connector.Settings{Logger: quietLog(), ChunkRecords: 50})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	for tr.calls.Load() < 3 && ctx.Err() == nil {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // room for a look-ahead too far
	if n := tr.calls.Load(); n != 3 {
		t.Errorf("%d chunks transformed while the sink writes the first, want 3", n)
	}
	close(sink.release)
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if sum := p.Summary(); int64(sink.events) != sum.Events || sum.Events == 0 {
		t.Errorf("the sink got %d events of %d", sink.events, sum.Events)
	}
}

// panicky panics on its n-th write, once, and records the rest.
type panicky struct {
	*flakySink
	n     int
	calls atomic.Int64
}

func (p *panicky) Publish(topic string, msgs ...*message.Message) error {
	if p.calls.Add(1) == int64(p.n) {
		panic("sink bug")
	}
	return p.flakySink.Publish(topic, msgs...)
}

// TestChunkedSinkPanicRetried: a sink panicking while it writes a middle
// chunk (on the writing goroutine, outside the router's recoverer) fails
// that attempt like an error does; the retry writes every record once.
func TestChunkedSinkPanicRetried(t *testing.T) {
	in, traces, _ := deliveryInput(t)
	sink := &panicky{flakySink: newFlakySink(func(int) bool { return false }), n: 4}
	src, err := filesrc.New(filesrc.Config{Paths: []string{in}, BatchSize: 4096, Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	metrics := connector.NewMetrics(nil)
	root := &connector.Stage{Name: "flatten", Sinks: []*connector.Sink{{Name: "out", Pub: sink}}}
	p := connector.New(src, root, flatten.Config{Logger: quietLog()},
		connector.Settings{RetryMax: 3, RetryInitial: time.Millisecond, Logger: quietLog(), Metrics: metrics, ChunkRecords: 3})
	runToEnd(t, p)
	lines, _, _ := sink.result()
	compareOutput(t, traces, lines)
	if got := counter(t, metrics.Registry, "sfconnector_retries_total"); got != 1 {
		t.Errorf("%v retries, want 1 (one panic)", got)
	}
}
