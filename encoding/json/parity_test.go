package json_test

import (
	stdjson "encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"testing"

	sfjson "github.com/sfconnector/sfconnector/encoding/json"
	"github.com/sfconnector/sfconnector/sysflow"
	"github.com/sfconnector/sfconnector/testenv/parity"
	"github.com/sfconnector/sfconnector/testenv/shared"
	"github.com/sfconnector/sfconnector/transforms/flatten"
)

// The parity test runs every real trace through decode -> flatten ->
// encode and compares each record, as a JSON value and in order, with what
// the reference processor exported for the same trace (testenv/parity: the
// accepted differences, each normalised exactly and counted per trace;
// anything else fails the test).

// traceRun is one trace flattened and encoded by us.
type traceRun struct {
	events []*sysflow.Event
	lines  [][]byte // our JSON, one record per line
}

func readTrace(t testing.TB, path string) []sysflow.Record {
	t.Helper()
	r, closer, err := sysflow.OpenFile(path)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	defer closer.Close()
	var recs []sysflow.Record
	for {
		recs, err = r.Next(recs)
		if errors.Is(err, io.EOF) {
			return recs
		}
		if err != nil {
			t.Fatalf("decode %s: %v", path, err)
		}
	}
}

// parseJSON is parity.ParseJSON, the helper the other tests here use.
func parseJSON(t testing.TB, b []byte) map[string]any {
	t.Helper()
	return parity.ParseJSON(t, b)
}

// diffPaths is parity.Diff, for the other tests here.
func diffPaths(a, b any, _ string, _ []string) []string { return parity.Diff(a, b) }

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func runTrace(t testing.TB, path string) *traceRun {
	t.Helper()
	recs := readTrace(t, path)
	fl := flatten.New(flatten.Config{Logger: quietLogger()})
	// Flatten in OCF-block-sized pieces, as a source would hand them over.
	var events []*sysflow.Event
	for start := 0; start < len(recs); start += 100 {
		end := min(start+100, len(recs))
		events = fl.Flatten(recs[start:end], events)
	}
	enc := sfjson.New(sfjson.Options{})
	run := &traceRun{events: events}
	for _, ev := range events {
		b, err := enc.AppendEvent(nil, ev)
		if err != nil {
			t.Fatal(err)
		}
		run.lines = append(run.lines, b)
	}
	return run
}

func TestTelemetryParity(t *testing.T) {
	total := parity.Result{Counts: map[parity.Category]int{}}
	var report []string
	for _, path := range shared.Traces(t) {
		run := runTrace(t, path)
		t.Run(shared.TraceName(path), func(t *testing.T) {
			res := parity.CompareTelemetry(t, path, run.lines)
			total.Add(res)
			report = append(report, res.String())
		})
	}
	for _, l := range report {
		t.Log(l)
	}
	t.Logf("all traces: %d records; %v", total.Records, total.Counts)
}

// TestAlertParity checks the alert shape: for every record the reference
// alerted on, our event carrying the same matches encodes to the same JSON
// (policies with their priorities, tags de-duplicated: FIELDS.md 5).
func TestAlertParity(t *testing.T) {
	for _, path := range shared.Traces(t) {
		name := shared.TraceName(path)
		alerts := parity.LoadLines(t, shared.Path(t, "parity", "alerts", name+".jsonl"))
		if len(alerts) == 0 {
			continue
		}
		run := runTrace(t, path)
		ours := parity.NewRun(t, run.lines)
		t.Run(name, func(t *testing.T) {
			index := map[string][]int{}
			for i, o := range ours.Records {
				index[alertKey(o)] = append(index[alertKey(o)], i)
			}
			enc := sfjson.New(sfjson.Options{})
			dedups := 0
			for n, line := range alerts {
				a := parseJSON(t, line)
				policies, _ := a["policies"].([]any)
				tags, _ := a["tags"].([]any)
				if len(policies) == 0 {
					t.Fatalf("alert %d has no policies", n+1)
				}
				found := -1
				for _, i := range index[alertKey(a)] {
					cand := parseJSON(t, line)
					delete(cand, "policies")
					delete(cand, "tags")
					ours.Normalize(i, cand)
					if reflect.DeepEqual(cand, ours.Records[i]) {
						found = i
						break
					}
				}
				if found < 0 {
					t.Errorf("alert %d (%v ts %v): no matching record of ours", n+1, a["type"], a["ts"])
					continue
				}
				ev := *run.events[found] // a copy: the run's events stay as flattened
				ev.Matches = nil
				for _, p := range policies {
					pm := p.(map[string]any)
					prio, _ := pm["priority"].(stdjson.Number).Int64()
					ev.Matches = append(ev.Matches, sysflow.Match{Rule: pm["id"].(string), Desc: pm["desc"].(string),
						Priority: sysflow.Priority(prio - 1)})
				}
				ev.Tags = nil
				for _, tg := range tags {
					ev.Tags = append(ev.Tags, tg.(string))
				}
				b, err := enc.AppendEvent(nil, &ev)
				if err != nil {
					t.Fatal(err)
				}
				got := parseJSON(t, b)
				if !reflect.DeepEqual(got["policies"], a["policies"]) {
					t.Errorf("alert %d: policies %v, reference %v", n+1, got["policies"], a["policies"])
				}
				want := dedup(tags)
				if len(want) != len(tags) {
					dedups++
				}
				if len(want) == 0 {
					if _, ok := got["tags"]; ok {
						t.Errorf("alert %d: tags %v, the reference writes none", n+1, got["tags"])
					}
				} else if !reflect.DeepEqual(got["tags"], want) {
					t.Errorf("alert %d: tags %v, want %v", n+1, got["tags"], want)
				}
			}
			t.Logf("%d alerts, %d with duplicate tags de-duplicated", len(alerts), dedups)
		})
	}
}

func alertKey(m map[string]any) string {
	var pid, tid any
	if p, ok := m["proc"].(map[string]any); ok {
		pid, tid = p["pid"], p["tid"]
	}
	return fmt.Sprint(m["type"], "/", m["ts"], "/", m["endts"], "/", pid, "/", tid)
}

func dedup(l []any) []any {
	var out []any
	for i, x := range l {
		dup := false
		for _, y := range l[:i] {
			if x == y {
				dup = true
			}
		}
		if !dup {
			out = append(out, x)
		}
	}
	return out
}
