package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strconv"
	"testing"

	"github.com/sfconnector/sfconnector/policies"
	"github.com/sfconnector/sfconnector/sysflow"
	"github.com/sfconnector/sfconnector/sysflow/synth"
	"github.com/sfconnector/sfconnector/testenv/shared"
	"github.com/sfconnector/sfconnector/transforms/flatten"
	"github.com/sfconnector/sfconnector/transforms/policy"
)

// These benchmarks measure the policy engine from outside, through its
// public API, on the real traces and on a large generated trace: the
// compilation of a set at start-up and the evaluation of each set.

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func loadSet(b *testing.B, name string) *policies.Set {
	b.Helper()
	var set *policies.Set
	var err error
	switch name {
	case "runtimeintegrity79":
		set, _, err = policies.Load([]string{shared.Path(b, "policies", "sf-processor", "runtimeintegrity")}, policies.Options{Logger: quiet()})
	case "default":
		set, _, err = policies.LoadDefault(policies.Options{Logger: quiet()})
	}
	if err != nil {
		b.Fatal(err)
	}
	return set
}

// BenchmarkPolicyCompile loads and compiles a policy set, as start-up and
// every reload do.
func BenchmarkPolicyCompile(b *testing.B) {
	for _, name := range []string{"runtimeintegrity79", "default"} {
		b.Run(name, func(b *testing.B) {
			loadSet(b, name) // the files into the page cache
			b.ReportAllocs()
			for b.Loop() {
				loadSet(b, name)
			}
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/compile")
		})
	}
}

// flattenAll decodes and flattens one trace file's bytes.
func flattenAll(b *testing.B, data []byte, name string) []*sysflow.Event {
	b.Helper()
	r, err := sysflow.NewReader(bytes.NewReader(data), name)
	if err != nil {
		b.Fatal(err)
	}
	f := flatten.New(flatten.Config{Logger: quiet()})
	var recs []sysflow.Record
	var events []*sysflow.Event
	for {
		recs, err = r.Next(recs[:0])
		events = f.Flatten(recs, events)
		if errors.Is(err, io.EOF) {
			return events
		}
		if err != nil {
			b.Fatal(err)
		}
	}
}

func traceEvents(b *testing.B) []*sysflow.Event {
	var all []*sysflow.Event
	for _, p := range shared.Traces(b) {
		data, err := os.ReadFile(p)
		if err != nil {
			b.Fatal(err)
		}
		all = append(all, flattenAll(b, data, p)...)
	}
	return all
}

func synthEvents(b *testing.B, n int) []*sysflow.Event {
	var buf bytes.Buffer
	if _, err := synth.Generate(&buf, synth.Options{Seed: 42, Records: n}); err != nil {
		b.Fatal(err)
	}
	return flattenAll(b, buf.Bytes(), "synth")
}

// BenchmarkPolicyEval runs each set in alert mode over flat events in
// batches of 1024 (about what one OCF block gives), on one worker and on
// every core. records/s counts events.
func BenchmarkPolicyEval(b *testing.B) {
	inputs := []struct {
		name   string
		events func(*testing.B) []*sysflow.Event
	}{
		{"traces", traceEvents},
		{"synth-500k", func(b *testing.B) []*sysflow.Event { return synthEvents(b, 500_000) }},
	}
	for _, set := range []string{"runtimeintegrity79", "default"} {
		for _, in := range inputs {
			for _, workers := range []int{1, runtime.GOMAXPROCS(0)} {
				b.Run(set+"/"+in.name+"/workers="+strconv.Itoa(workers), func(b *testing.B) {
					benchEval(b, loadSet(b, set), in.events(b), workers)
				})
			}
		}
	}
}

func benchEval(b *testing.B, set *policies.Set, events []*sysflow.Event, workers int) {
	tr, err := policy.New(policy.Config{Mode: policy.ModeAlert, Workers: workers, Logger: quiet()}, set)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	const batch = 1024
	buf := make([]*sysflow.Event, 0, batch)
	matched := 0
	pass := func() {
		for lo := 0; lo < len(events); lo += batch {
			buf = append(buf[:0], events[lo:min(lo+batch, len(events))]...)
			out, err := tr.Process(ctx, buf)
			if err != nil {
				b.Fatal(err)
			}
			matched += len(out)
		}
	}
	pass() // Matches slices get their capacity
	if matched == 0 {
		b.Fatalf("no event matched any of the %d rules: the benchmark would measure nothing useful", len(set.Rules()))
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ReportAllocs()
	for b.Loop() {
		pass()
	}
	b.StopTimer()
	runtime.ReadMemStats(&after)
	n := float64(len(events)) * float64(b.N)
	b.ReportMetric(n/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/n, "allocs/record")
	b.ReportMetric(float64(matched)/float64(b.N+1)/float64(len(events)), "alerts/record")
}
