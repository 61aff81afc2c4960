package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sfconnector/sfconnector/testenv/collector"
	"github.com/sfconnector/sfconnector/testenv/parity"
	"github.com/sfconnector/sfconnector/testenv/shared"
)

// TestCLIFileParity runs sf-processor's invocation,
// `sfconnector -driver file -config pipeline.json TRACE`, in process on
// every real trace, the pipeline being the reference's telemetry setup
// (enrich mode, no policies, JSON to a file), and compares the file with
// what the reference exported: every difference must be an accepted one,
// with the pinned count per trace.
func TestCLIFileParity(t *testing.T) {
	cleanEnv(t)
	total := parity.Result{Counts: map[parity.Category]int{}}
	for _, trace := range shared.Traces(t) {
		t.Run(shared.TraceName(trace), func(t *testing.T) {
			dir := t.TempDir()
			out := filepath.Join(dir, "out.json")
			cfg := pipelineJSON(t, dir, "", out)
			var stdout, stderr bytes.Buffer
			err := run([]string{"-driver", "file", "-config", cfg, "-log", "warn", trace}, &stdout, &stderr)
			if err != nil {
				t.Fatalf("run: %v\nstderr:\n%s", err, tail(stderr.String(), 2000))
			}
			if stdout.Len() > 0 {
				t.Errorf("a file pipeline wrote to stdout: %.200s", stdout.String())
			}
			res := parity.CompareTelemetry(t, trace, readOutput(t, out))
			total.Add(res)
			t.Log(res)
		})
	}
	t.Logf("all traces: %d records; %v", total.Records, total.Counts)
}

// TestCLISocketParity streams every real trace over the collector's socket
// to the command running as a subprocess (`-driver socket`), waits until
// the output holds as many records as the reference exported, stops it
// with SIGTERM and compares the output with the reference as the file path
// does. The process must exit 0 within the shutdown deadline.
func TestCLISocketParity(t *testing.T) {
	for _, trace := range shared.Traces(t) {
		name := shared.TraceName(trace)
		t.Run(name, func(t *testing.T) {
			want := len(parity.LoadLines(t, shared.Path(t, "parity", "telemetry", name+".jsonl.gz")))
			dir := shortDir(t)
			sock := filepath.Join(dir, "s.sock")
			out := filepath.Join(dir, "out.json")
			cfg := pipelineJSON(t, dir, sock, out)
			p := startCLI(t, "-driver", "socket", "-config", cfg, "-shutdown-timeout", "5s")

			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			sent, err := collector.Replay(ctx, collector.Options{Socket: sock, Wait: 20 * time.Second}, trace)
			if err != nil {
				t.Fatalf("replay: %v (sent %d)\nstderr:\n%s", err, sent, p.stderr.String())
			}
			if !waitFor(ctx, 30*time.Second, func() bool { return countLines(out) >= want }) {
				t.Fatalf("%d of %d records written 30s after the replay of %d records\nstderr:\n%s",
					countLines(out), want, sent, tail(p.stderr.String(), 2000))
			}
			sig := p.signal(t, syscall.SIGTERM)
			if code := p.wait(t, 10*time.Second); code != 0 {
				t.Fatalf("exit status %d after SIGTERM\nstderr:\n%s", code, tail(p.stderr.String(), 2000))
			}
			if took := p.exited.Sub(sig); took > 5*time.Second {
				t.Errorf("took %v to exit after SIGTERM, the shutdown deadline is 5s", took)
			}
			stderr := p.stderr.String()
			assertNoPanic(t, stderr)
			if !strings.Contains(stderr, "pipeline stopped") {
				t.Errorf("no \"pipeline stopped\" line on stderr:\n%s", tail(stderr, 2000))
			}
			res := parity.CompareTelemetry(t, trace, readOutput(t, out))
			t.Logf("%s (%d records replayed)", res, sent)
		})
	}
}
