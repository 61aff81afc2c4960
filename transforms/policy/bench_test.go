package policy

import (
	"context"
	"runtime"
	"testing"

	"github.com/sfconnector/sfconnector/policies"
	"github.com/sfconnector/sfconnector/policies/policytest"
	"github.com/sfconnector/sfconnector/sysflow"
	"github.com/sfconnector/sfconnector/testenv/shared"
)

// benchEvents flattens every trace once, in order.
func benchEvents(b *testing.B) []*sysflow.Event {
	b.Helper()
	var all []*sysflow.Event
	for _, tr := range shared.Traces(b) {
		evs, err := policytest.ReadTrace(context.Background(), tr)
		if err != nil {
			b.Fatal(err)
		}
		all = append(all, evs...)
	}
	return all
}

// benchProcess runs the transform over all trace events in batches of 1024
// (about an OCF block) and reports records per second.
func benchProcess(b *testing.B, set *policies.Set, mode Mode, workers int) {
	events := benchEvents(b)
	tr, err := New(Config{Mode: mode, Workers: workers}, set)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	const batch = 1024
	buf := make([]*sysflow.Event, 0, batch)
	// One pass first, so that Matches slices have their capacity.
	run := func() {
		for lo := 0; lo < len(events); lo += batch {
			buf = append(buf[:0], events[lo:min(lo+batch, len(events))]...)
			if _, err := tr.Process(ctx, buf); err != nil {
				b.Fatal(err)
			}
		}
	}
	run()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		run()
	}
	b.ReportMetric(float64(b.N)*float64(len(events))/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(0, "ns/op")
}

func BenchmarkReference79Alert(b *testing.B) {
	set, _, err := policies.Load([]string{shared.Path(b, "policies", "sf-processor", "runtimeintegrity")}, policies.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("workers=1", func(b *testing.B) { benchProcess(b, set, ModeAlert, 1) })
	b.Run("workers=GOMAXPROCS", func(b *testing.B) { benchProcess(b, set, ModeAlert, runtime.GOMAXPROCS(0)) })
	gv, _, err := policies.Load([]string{shared.Path(b, "policies", "sf-processor", "runtimeintegrity")}, policies.Options{GovaluateOnly: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("govaluate-only/workers=1", func(b *testing.B) { benchProcess(b, gv, ModeAlert, 1) })
	// Each rule's own tree walked, without the evaluation plan: what the
	// plan gains, measured in one process.
	direct, _, err := policies.Load([]string{shared.Path(b, "policies", "sf-processor", "runtimeintegrity")}, policies.Options{NoMemo: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("no-memo/workers=1", func(b *testing.B) { benchProcess(b, direct, ModeAlert, 1) })
	// All 79 definitions evaluated, as the reference does.
	all79, _, err := policies.Load([]string{shared.Path(b, "policies", "sf-processor", "runtimeintegrity")},
		policies.Options{KeepDuplicateRules: true, FileScopedDefinitions: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("79-definitions/workers=GOMAXPROCS", func(b *testing.B) { benchProcess(b, all79, ModeAlert, runtime.GOMAXPROCS(0)) })
}

func BenchmarkDefaultAlert(b *testing.B) {
	set, _, err := policies.LoadDefault(policies.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("workers=1", func(b *testing.B) { benchProcess(b, set, ModeAlert, 1) })
	b.Run("workers=GOMAXPROCS", func(b *testing.B) { benchProcess(b, set, ModeAlert, runtime.GOMAXPROCS(0)) })
	direct, _, err := policies.LoadDefault(policies.Options{NoMemo: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("no-memo/workers=1", func(b *testing.B) { benchProcess(b, direct, ModeAlert, 1) })
}

// BenchmarkReference79Enrich keeps every record, as the enrich mode does.
func BenchmarkReference79Enrich(b *testing.B) {
	set, _, err := policies.Load([]string{shared.Path(b, "policies", "sf-processor", "runtimeintegrity")}, policies.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("workers=GOMAXPROCS", func(b *testing.B) { benchProcess(b, set, ModeEnrich, runtime.GOMAXPROCS(0)) })
}

// BenchmarkSigmaShippedAlert runs the SigmaHQ Linux rules the reference
// ships (49 of 51 load; two use a field its mapping lacks), compiled with
// its field mapping, over every trace; run with -cpu 1,2 to compare with
// BenchmarkReference79Alert and BenchmarkDefaultAlert.
func BenchmarkSigmaShippedAlert(b *testing.B) {
	dir := shared.Path(b, "policies", "sf-processor", "sigma")
	opts := policies.Options{SigmaConfig: dir + "/config/sysflow.yml"}
	set, _, err := policies.Load([]string{dir + "/rules"}, opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("workers=GOMAXPROCS", func(b *testing.B) { benchProcess(b, set, ModeAlert, runtime.GOMAXPROCS(0)) })
	// Both languages in one set: the reference's Falco-style policies and
	// the Sigma rules.
	both, _, err := policies.Load([]string{dir + "/rules", shared.Path(b, "policies", "sf-processor", "runtimeintegrity")}, opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("with-reference-falco/workers=GOMAXPROCS", func(b *testing.B) { benchProcess(b, both, ModeAlert, runtime.GOMAXPROCS(0)) })
}
