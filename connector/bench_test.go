package connector_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/sfconnector/sfconnector/config"
	"github.com/sfconnector/sfconnector/connector"
	"github.com/sfconnector/sfconnector/sysflow"
	"github.com/sfconnector/sfconnector/sysflow/synth"
	"github.com/sfconnector/sfconnector/testenv/shared"
)

// The whole pipeline in process, as `sfconnector run -c CONFIG INPUT` runs
// it: file source, decode, flatten, policies, encoders and sinks. Profile a
// pipeline with
//
//	go test -run '^$' -bench 'Pipeline/alert79/synth' -cpuprofile cpu.out ./connector/
//
// The records/s are SysFlow records of the input (entities included) per
// second, as the reference's table counts them.

const benchReader = `pipeline:
  - processor: sysflowreader
    handler: flattener
    in: sysflow sysflowchan
    out: flat flattenerchan
  - processor: exporter
    in: flat flattenerchan
    export: "null"
`

const benchEnrich = `pipeline:
  - processor: sysflowreader
    handler: flattener
    in: sysflow sysflowchan
    out: flat flattenerchan
  - processor: policyengine
    in: flat flattenerchan
    out: evt eventchan
    mode: enrich
  - processor: exporter
    in: evt eventchan
    export: file
    format: json
    file.path: {{OUT}}
`

const benchAlert = `pipeline:
  - processor: sysflowreader
    handler: flattener
    in: sysflow sysflowchan
    out: flat flattenerchan
  - processor: policyengine
    in: flat flattenerchan
    out: evt eventchan
    mode: alert
    monitor: none
    policies: {{POLICIES}}
  - processor: exporter
    in: evt eventchan
    export: file
    format: json
    file.path: {{OUT}}
`

type benchInput struct {
	name    string
	path    string
	records int
}

// benchInputs writes a generated trace and a file of copies of the real
// traces' records, each about 500k records.
func benchInputs(b *testing.B) []benchInput {
	b.Helper()
	dir := b.TempDir()
	synthPath := filepath.Join(dir, "synth.sf")
	f, err := os.Create(synthPath)
	if err != nil {
		b.Fatal(err)
	}
	st, err := synth.Generate(f, synth.Options{Seed: 42, Records: 500_000})
	if err := errors.Join(err, f.Close()); err != nil {
		b.Fatal(err)
	}
	ins := []benchInput{{"synth", synthPath, st.Records}}

	var all []sysflow.Record
	for _, p := range shared.Traces(b) {
		r, c, err := sysflow.OpenFile(p)
		if err != nil {
			b.Fatal(err)
		}
		for err == nil {
			all, err = r.Next(all)
		}
		c.Close()
		if !errors.Is(err, io.EOF) {
			b.Fatal(err)
		}
	}
	copies := max(1, 500_000/len(all))
	tracesPath := filepath.Join(dir, "traces.sf")
	f, err = os.Create(tracesPath)
	if err != nil {
		b.Fatal(err)
	}
	bw := bufio.NewWriter(f)
	w, err := sysflow.NewWriter(bw, sysflow.WriterOptions{})
	if err != nil {
		b.Fatal(err)
	}
	for range copies {
		for i := range all {
			if err := w.Write(&all[i]); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := errors.Join(w.Close(), bw.Flush(), f.Close()); err != nil {
		b.Fatal(err)
	}
	return append(ins, benchInput{"traces", tracesPath, copies * len(all)})
}

func BenchmarkPipeline(b *testing.B) {
	ins := benchInputs(b)
	out := filepath.Join(b.TempDir(), "out.jsonl")
	policyDir := shared.Path(b, "policies", "sf-processor", "runtimeintegrity")
	for _, p := range []struct{ name, cfg, out string }{
		{"reader", benchReader, ""},
		{"enrich-json-discard", benchEnrich, os.DevNull},
		{"enrich-json-file", benchEnrich, out},
		{"alert79", benchAlert, out},
	} {
		for _, in := range ins {
			b.Run(p.name+"/"+in.name, func(b *testing.B) {
				cfgText := strings.NewReplacer("{{OUT}}", p.out, "{{POLICIES}}", policyDir).Replace(p.cfg)
				runPipeline(b, cfgText, p.out, in)
			})
		}
	}
}

func runPipeline(b *testing.B, cfgText, out string, in benchInput) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelError}))
	ctx := context.Background()
	b.ReportAllocs()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for b.Loop() {
		if out != "" && out != os.DevNull {
			b.StopTimer()
			os.Remove(out)
			b.StartTimer()
		}
		cfg, err := config.Parse("bench.yaml", []byte(cfgText), nil)
		if err != nil {
			b.Fatal(err)
		}
		built, err := connector.Build(ctx, cfg, connector.Options{Inputs: []string{in.path}, Logger: quiet})
		if err != nil {
			b.Fatal(err)
		}
		if err := built.Run(ctx); err != nil {
			b.Fatal(err)
		}
	}
	runtime.ReadMemStats(&after)
	n := float64(in.records) * float64(b.N)
	b.ReportMetric(n/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/n, "allocs/record")
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/n, "B/record")
}
