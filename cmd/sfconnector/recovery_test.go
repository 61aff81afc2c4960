package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sfconnector/sfconnector/sysflow"
)

// signalWriter collects a command's standard error and closes seen when a
// line containing want was written.
type signalWriter struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	want string
	seen chan struct{}
	once sync.Once
}

func (w *signalWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if strings.Contains(w.buf.String(), w.want) {
		w.once.Do(func() { close(w.seen) })
	}
	return len(p), nil
}

func (w *signalWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// TestCLIRecoveringSink (issue 14): `sfconnector run` over a generated
// trace fans out to two file sinks. One always works (the control); the
// other's path is a symbolic link to /dev/full, so its writes fail with
// ENOSPC, until the test, once the command has logged a failed write,
// points the link at a regular file, as an operator freeing the output
// would. The retries then succeed: the recovered file must hold exactly
// the control's records, in the same order, none lost and none twice.
// Alert mode puts the bundled policies' dropping stage before the sinks
// (defect 1's crash); enrich mode passes every record.
func TestCLIRecoveringSink(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full on this system")
	}
	cleanEnv(t)
	dir := t.TempDir()
	trace := filepath.Join(dir, "gen.sf")
	var genErr bytes.Buffer
	if err := run([]string{"gen", "--records", "20000", "--seed", "14", "-o", trace}, &bytes.Buffer{}, &genErr); err != nil {
		t.Fatalf("gen: %v\n%s", err, genErr.String())
	}
	for _, mode := range []string{"enrich", "alert"} {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			real := filepath.Join(dir, "recovered.json")
			link := filepath.Join(dir, "out.json")
			control := filepath.Join(dir, "control.json")
			if err := os.Symlink("/dev/full", link); err != nil {
				t.Fatal(err)
			}
			cfg := filepath.Join(dir, "pipeline.yaml")
			yaml := fmt.Sprintf(`
source:
  driver: file
  batch.size: 256
settings:
  retry.max: 1000
  retry.initial: 5ms
pipeline:
  - processor: sysflowreader
    handler: flattener
    in: sysflow sysflowchan
    out: flat flattenerchan
  - processor: policyengine
    in: flat flattenerchan
    out: evt eventchan
    mode: %s
  - processor: exporter
    in: evt eventchan
    export: file
    file.path: %s
  - processor: exporter
    in: evt eventchan
    export: file
    file.path: %s
`, mode, link, control)
			if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			stderr := &signalWriter{want: "sink write failed", seen: make(chan struct{})}
			done := make(chan error, 1)
			go func() { done <- run([]string{"run", "-config", cfg, "-log", "warn", trace}, &bytes.Buffer{}, stderr) }()
			select {
			case <-stderr.seen:
			case err := <-done:
				t.Fatalf("the command ended (%v) without a failed write to /dev/full\nstderr:\n%s", err, tail(stderr.String(), 2000))
			case <-time.After(60 * time.Second):
				t.Fatalf("no failed write logged within 60s\nstderr:\n%s", tail(stderr.String(), 2000))
			}
			tmp := link + ".new"
			if err := os.Symlink(real, tmp); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(tmp, link); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("run: %v\nstderr:\n%s", err, tail(stderr.String(), 2000))
				}
			case <-time.After(120 * time.Second):
				t.Fatalf("the command did not finish within 120s of the recovery\nstderr:\n%s", tail(stderr.String(), 2000))
			}
			want := readOutput(t, control)
			got := readOutput(t, real)
			if len(want) == 0 {
				t.Fatal("the control sink holds no record")
			}
			if len(got) != len(want) {
				t.Fatalf("the recovered sink holds %d records, the control %d", len(got), len(want))
			}
			for i := range want {
				if !bytes.Equal(got[i], want[i]) {
					t.Fatalf("record %d differs:\n recovered %.300s\n control   %.300s", i+1, got[i], want[i])
				}
			}
			if mode == "enrich" {
				// enrich passes every event and flow of the trace: count
				// them in the trace itself
				if n := traceEvents(t, trace); len(want) != n {
					t.Errorf("the control sink holds %d records, the trace %d events and flows", len(want), n)
				}
			}
			t.Logf("%s mode: %d records, each once, after %d failed writes", mode, len(want), strings.Count(stderr.String(), "sink write failed"))
		})
	}
}

// traceEvents counts the event and flow records of a trace (what the
// flattener turns into output records; headers and entities are not).
func traceEvents(t *testing.T, path string) int {
	t.Helper()
	rd, closer, err := sysflow.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer closer.Close()
	n := 0
	for {
		recs, err := rd.Next(nil)
		for _, r := range recs {
			switch r.Kind {
			case sysflow.KindProcessEvent, sysflow.KindFileEvent, sysflow.KindFileFlow, sysflow.KindNetworkFlow,
				sysflow.KindNetworkEvent, sysflow.KindProcessFlow, sysflow.KindK8sEvent:
				n++
			}
		}
		if errors.Is(err, io.EOF) {
			return n
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestCLIDevFullDeadLetters (issue 14): `sfconnector run` with a file sink
// on /dev/full that never recovers and a dead-letter file: after the
// retries each record the control sink got is in the dead-letter file
// once, and the command ends instead of crashing or hanging.
func TestCLIDevFullDeadLetters(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full on this system")
	}
	cleanEnv(t)
	dir := t.TempDir()
	trace := filepath.Join(dir, "gen.sf")
	var genErr bytes.Buffer
	if err := run([]string{"gen", "--records", "5000", "--seed", "15", "-o", trace}, &bytes.Buffer{}, &genErr); err != nil {
		t.Fatalf("gen: %v\n%s", err, genErr.String())
	}
	control := filepath.Join(dir, "control.json")
	dead := filepath.Join(dir, "dead.jsonl")
	cfg := filepath.Join(dir, "pipeline.yaml")
	yaml := fmt.Sprintf(`
source:
  driver: file
  batch.size: 256
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
    file.path: /dev/full
  - processor: exporter
    in: flat flattenerchan
    export: file
    file.path: %s
`, dead, control)
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	done := make(chan error, 1)
	go func() { done <- run([]string{"run", "-config", cfg, "-log", "error", trace}, &bytes.Buffer{}, &stderr) }()
	select {
	case err := <-done:
		// closing the failed sink may fail (its buffer still holds what
		// it could not write): then the error must name it
		if err != nil && !strings.Contains(err.Error(), "/dev/full") {
			t.Fatalf("run: %v (an error must name the failing sink)", err)
		}
	case <-time.After(120 * time.Second):
		t.Fatal("the command did not finish within 120s")
	}
	want := readOutput(t, control)
	letters := readOutput(t, dead)
	if n := traceEvents(t, trace); len(want) != n {
		t.Fatalf("the control sink holds %d records, the trace %d events and flows", len(want), n)
	}
	if len(letters) != len(want) {
		t.Fatalf("%d dead letters, %d records", len(letters), len(want))
	}
	for i, l := range letters {
		var dl struct {
			Reason string          `json:"reason"`
			Record json.RawMessage `json:"record"`
		}
		if err := json.Unmarshal(l, &dl); err != nil {
			t.Fatalf("dead letter %d: %v", i+1, err)
		}
		if !strings.Contains(dl.Reason, "no space left on device") {
			t.Fatalf("dead letter %d: reason %q does not give the sink's error", i+1, dl.Reason)
		}
		var a, b any
		if json.Unmarshal(dl.Record, &a) != nil || json.Unmarshal(want[i], &b) != nil || !reflect.DeepEqual(a, b) {
			t.Fatalf("dead letter %d holds %.300s, the control %.300s", i+1, dl.Record, want[i])
		}
	}
}
