package json_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	stdjson "encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"reflect"
	"sort"
	"strings"
	"testing"

	sfjson "github.com/sfconnector/sfconnector/encoding/json"
	"github.com/sfconnector/sfconnector/sysflow"
	"github.com/sfconnector/sfconnector/testenv/shared"
	"github.com/sfconnector/sfconnector/transforms/flatten"
)

// The parity test runs every real trace through decode -> flatten ->
// encode and compares each record, as a JSON value and in order, with what
// the reference processor exported for the same trace. A difference is
// accepted only when it is one of the documented intentional differences
// or one of the reference's defects found here; each is normalised exactly
// (the reference's value must equal ours transformed the way the defect
// transforms it) and counted per trace. Anything else fails the test.

// Difference categories.
const (
	catOpNames     = "op flag names by record type (FIELDS.md 6)"
	catFlowDoubled = "flow counters doubled by the reference"
	catQuotes      = "unpaired bounding quote stripped from args/cmdline"
	catStaleProc   = "ancestry/parent cached at the process's first event"
	catPlaceholder = `unknown parent's strings written as "\"\""`
	catFEFd        = "file event with a non-zero fd (stale value)"
)

var categories = []string{catOpNames, catFlowDoubled, catQuotes, catStaleProc, catPlaceholder, catFEFd}

// traceRun is one trace flattened and encoded by us.
type traceRun struct {
	events []*sysflow.Event
	ours   []map[string]any // our records, parsed
	firsts []procFirst      // for each record: our values at its process's first event
}

type procFirst struct {
	anc   map[string]any // acmdline, aexe, aname, apid
	pproc any            // nil when absent
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

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func parseJSON(t testing.TB, b []byte) map[string]any {
	t.Helper()
	d := stdjson.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		t.Fatalf("invalid JSON %v: %.300s", err, b)
	}
	if d.More() {
		t.Fatalf("trailing data after JSON object: %.300s", b)
	}
	return m
}

func loadLines(t testing.TB, path string) [][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(path, ".gz") {
		gz, err := gzip.NewReader(f)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		r = gz
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 1<<20), 64<<20)
	var lines [][]byte
	for sc.Scan() {
		if line := bytes.TrimSpace(sc.Bytes()); len(line) > 0 {
			lines = append(lines, append([]byte(nil), line...))
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return lines
}

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
	firsts := map[string]procFirst{}
	var buf []byte
	for _, ev := range events {
		var err error
		buf, err = enc.AppendEvent(buf[:0], ev)
		if err != nil {
			t.Fatal(err)
		}
		o := parseJSON(t, buf)
		run.ours = append(run.ours, o)
		var first procFirst
		if proc, ok := o["proc"].(map[string]any); ok {
			key := fmt.Sprint(proc["pid"], "/", proc["createts"])
			if f, seen := firsts[key]; seen {
				first = f
			} else {
				first = procFirst{anc: map[string]any{}, pproc: o["pproc"]}
				for _, k := range ancestryKeys {
					first.anc[k] = proc[k]
				}
				firsts[key] = first
			}
		}
		run.firsts = append(run.firsts, first)
	}
	return run
}

var ancestryKeys = []string{"acmdline", "aexe", "aname", "apid"}

// refTrim is the reference's TrimBoundingQuotes: one leading and one
// trailing quote character go, paired or not.
func refTrim(s string) string {
	if len(s) > 0 && (s[0] == '"' || s[0] == '\'') {
		s = s[1:]
	}
	if len(s) > 0 && (s[len(s)-1] == '"' || s[len(s)-1] == '\'') {
		s = s[:len(s)-1]
	}
	return s
}

func trimmedStrings(v any) any {
	l, ok := v.([]any)
	if !ok {
		return v
	}
	out := make([]any, len(l))
	for i, x := range l {
		if s, ok := x.(string); ok {
			out[i] = refTrim(s)
		} else {
			out[i] = x
		}
	}
	return out
}

func eq(a, b any) bool { return reflect.DeepEqual(a, b) }

var opNames = map[bool]map[string]string{
	true:  {"READ": "RECV", "WRITE": "SEND"},
	false: {"RECV": "READ", "SEND": "WRITE"},
}

// normalize rewrites ref where it differs from ours by exactly one of the
// accepted differences, and returns the categories it applied.
func normalize(ref, ours map[string]any, first procFirst) []string {
	var cats []string
	add := func(c string) {
		for _, x := range cats {
			if x == c {
				return
			}
		}
		cats = append(cats, c)
	}
	typ, _ := ours["type"].(string)

	// 6: names of the read/write bits follow the record type.
	if ops, ok := ref["opflags"].([]any); ok && !eq(ops, ours["opflags"]) {
		fixed := make([]any, len(ops))
		for i, o := range ops {
			s, _ := o.(string)
			if n, ok := opNames[typ == "NF"][s]; ok {
				fixed[i] = n
			} else {
				fixed[i] = o
			}
		}
		if eq(fixed, ours["opflags"]) {
			ref["opflags"] = fixed
			add(catOpNames)
		}
	}

	// Flow counters: the reference reports twice each of them.
	if rf, ok := ref["flow"].(map[string]any); ok && !eq(rf, ours["flow"]) {
		of, _ := ours["flow"].(map[string]any)
		doubled := len(rf) == len(of)
		for k, v := range of {
			ov, _ := v.(stdjson.Number).Int64()
			rn, ok := rf[k].(stdjson.Number)
			rv, err := rn.Int64()
			if !ok || err != nil || rv != 2*ov {
				doubled = false
			}
		}
		if doubled {
			ref["flow"] = of
			add(catFlowDoubled)
		}
	}

	// A file event has no fd; the reference sometimes shows a stale one.
	if typ == "FE" {
		rf, _ := ref["file"].(map[string]any)
		of, _ := ours["file"].(map[string]any)
		if rf != nil && of != nil && !eq(rf["fd"], of["fd"]) && eq(of["fd"], stdjson.Number("0")) {
			rf["fd"] = of["fd"]
			add(catFEFd)
		}
	}

	// The process's own args and command line: quotes.
	if rp, ok := ref["proc"].(map[string]any); ok {
		op, _ := ours["proc"].(map[string]any)
		for _, k := range []string{"args", "cmdline"} {
			if rs, ok := rp[k].(string); ok && !eq(rs, op[k]) {
				if os, ok := op[k].(string); ok && rs == refTrim(os) {
					rp[k] = os
					add(catQuotes)
				}
			}
		}
		// Ancestry: ours now, or ours at the process's first event (the
		// reference caches it per process), each possibly quote-trimmed.
		same := func(cand map[string]any, trim bool) bool {
			for _, k := range ancestryKeys {
				c := cand[k]
				if trim && k == "acmdline" {
					c = trimmedStrings(c)
				}
				if !eq(rp[k], c) {
					return false
				}
			}
			return true
		}
		current := map[string]any{}
		for _, k := range ancestryKeys {
			current[k] = op[k]
		}
		if !same(current, false) {
			for _, c := range []struct {
				anc   map[string]any
				trim  bool
				stale bool
			}{{current, true, false}, {first.anc, false, true}, {first.anc, true, true}} {
				if c.anc != nil && same(c.anc, c.trim) {
					for _, k := range ancestryKeys {
						rp[k] = op[k]
					}
					if c.trim {
						add(catQuotes)
					}
					if c.stale {
						add(catStaleProc)
					}
					break
				}
			}
		}
	}

	// The parent section.
	if rp, ok := ref["pproc"].(map[string]any); ok && !eq(rp, ours["pproc"]) {
		op, _ := ours["pproc"].(map[string]any)
		fp, _ := first.pproc.(map[string]any)
		try := func(cand map[string]any) []string {
			if cand == nil {
				return nil
			}
			var used []string
			for k, rv := range rp {
				cv := cand[k]
				if eq(rv, cv) {
					continue
				}
				rs, rok := rv.(string)
				cs, cok := cv.(string)
				switch {
				case rok && cok && rs == `""` && cs == "":
					used = append(used, catPlaceholder)
				case rok && cok && (k == "args" || k == "cmdline") && rs == refTrim(cs):
					used = append(used, catQuotes)
				default:
					return nil
				}
			}
			if len(rp) != len(cand) {
				return nil
			}
			return append(used, "ok")
		}
		if used := try(op); used != nil {
			ref["pproc"] = op
			for _, c := range used[:len(used)-1] {
				add(c)
			}
		} else if used := try(fp); used != nil {
			ref["pproc"] = op
			for _, c := range used[:len(used)-1] {
				add(c)
			}
			add(catStaleProc)
		}
	}
	return cats
}

// diffPaths lists where a and b differ, for failure messages.
func diffPaths(a, b any, path string, out []string) []string {
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	if aok && bok {
		keys := map[string]bool{}
		for k := range am {
			keys[k] = true
		}
		for k := range bm {
			keys[k] = true
		}
		sorted := make([]string, 0, len(keys))
		for k := range keys {
			sorted = append(sorted, k)
		}
		sort.Strings(sorted)
		for _, k := range sorted {
			out = diffPaths(am[k], bm[k], path+"."+k, out)
		}
		return out
	}
	if !eq(a, b) {
		out = append(out, fmt.Sprintf("%s: ours %.120v, reference %.120v", path, a, b))
	}
	return out
}

type parityResult struct {
	records int
	counts  map[string]int
	byType  map[string]int // op-name differences per record type
}

func TestTelemetryParity(t *testing.T) {
	var total parityResult
	total.counts = map[string]int{}
	report := []string{}
	for _, path := range shared.Traces(t) {
		name := shared.TraceName(path)
		ref := loadLines(t, shared.Path(t, "parity", "telemetry", name+".jsonl.gz"))
		run := runTrace(t, path)
		t.Run(name, func(t *testing.T) {
			res := compareTelemetry(t, run, ref)
			total.records += res.records
			line := fmt.Sprintf("%-45s %6d records", name, res.records)
			for _, c := range categories {
				total.counts[c] += res.counts[c]
				if res.counts[c] > 0 {
					line += fmt.Sprintf("; %s: %d", c, res.counts[c])
				}
			}
			if len(res.byType) > 0 {
				line += fmt.Sprintf(" (op names by type %v)", res.byType)
			}
			report = append(report, line)
			// Difference 6 counted independently from the reference's
			// output: its network flows that say READ/WRITE and its other
			// records that say SEND/RECV must be exactly the records
			// normalised (k8s_small: 223 NF and 263 FF; FIELDS.md says 266
			// FF, but the reference's output has 263).
			if want := wrongOpNames(t, ref); !eq(want, res.byType) {
				t.Errorf("op flag name differences normalised %v, the reference has %v", res.byType, want)
			}
		})
	}
	for _, l := range report {
		t.Log(l)
	}
	t.Logf("all traces: %d records; %v", total.records, total.counts)
}

func wrongOpNames(t *testing.T, ref [][]byte) map[string]int {
	out := map[string]int{}
	for _, line := range ref {
		r := parseJSON(t, line)
		typ := r["type"].(string)
		for _, o := range r["opflags"].([]any) {
			s := o.(string)
			if (typ == "NF" && (s == "READ" || s == "WRITE")) || (typ != "NF" && (s == "SEND" || s == "RECV")) {
				out[typ]++
				break
			}
		}
	}
	return out
}

func compareTelemetry(t *testing.T, run *traceRun, ref [][]byte) parityResult {
	res := parityResult{records: len(ref), counts: map[string]int{}, byType: map[string]int{}}
	if len(run.ours) != len(ref) {
		t.Fatalf("%d records, the reference has %d", len(run.ours), len(ref))
	}
	failures := 0
	for i, line := range ref {
		r := parseJSON(t, line)
		o := run.ours[i]
		cats := normalize(r, o, run.firsts[i])
		for _, c := range cats {
			res.counts[c]++
			if c == catOpNames {
				res.byType[o["type"].(string)]++
			}
		}
		if !eq(r, o) {
			failures++
			if failures <= 5 {
				t.Errorf("record %d (%v ts %v): unexplained differences:\n  %s", i+1, o["type"], o["ts"],
					strings.Join(diffPaths(o, r, "", nil), "\n  "))
			}
		}
	}
	if failures > 0 {
		t.Errorf("%d of %d records differ beyond the accepted differences", failures, len(ref))
	}
	return res
}

// TestAlertParity checks the alert shape: for every record the reference
// alerted on, our event carrying the same matches encodes to the same JSON
// (policies with their priorities, tags de-duplicated: FIELDS.md 5).
func TestAlertParity(t *testing.T) {
	for _, path := range shared.Traces(t) {
		name := shared.TraceName(path)
		alerts := loadLines(t, shared.Path(t, "parity", "alerts", name+".jsonl"))
		if len(alerts) == 0 {
			continue
		}
		run := runTrace(t, path)
		t.Run(name, func(t *testing.T) {
			index := map[string][]int{}
			for i, o := range run.ours {
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
					normalize(cand, run.ours[i], run.firsts[i])
					if eq(cand, run.ours[i]) {
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
				if !eq(got["policies"], a["policies"]) {
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
				} else if !eq(got["tags"], want) {
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
