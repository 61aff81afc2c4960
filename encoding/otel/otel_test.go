package otel_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/sfconnector/sfconnector/encoding/otel"
	"github.com/sfconnector/sfconnector/sysflow"
	"github.com/sfconnector/sfconnector/testenv/shared"
	"github.com/sfconnector/sfconnector/transforms/flatten"
)

// traceEvents reads a trace and flattens it.
func traceEvents(t testing.TB, path string) []*sysflow.Event {
	t.Helper()
	r, c, err := sysflow.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var recs []sysflow.Record
	for {
		recs, err = r.Next(recs)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
	}
	f := flatten.New(flatten.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	return f.Flatten(recs, nil)
}

func newEncoder(t testing.TB, o otel.Options) *otel.Encoder {
	t.Helper()
	e, err := otel.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// valueText renders an attribute as sysflow.Field.Text renders a field:
// ints in decimal, bools true/false, arrays joined with commas.
func valueText(v pcommon.Value) string {
	switch v.Type() {
	case pcommon.ValueTypeInt:
		return strconv.FormatInt(v.Int(), 10)
	case pcommon.ValueTypeBool:
		return strconv.FormatBool(v.Bool())
	case pcommon.ValueTypeSlice:
		parts := make([]string, v.Slice().Len())
		for i := range parts {
			parts[i] = v.Slice().At(i).Str()
		}
		return strings.Join(parts, ",")
	}
	return v.Str()
}

// zeroText is a field's text when its attribute is left out.
func zeroText(k sysflow.FieldKind) string {
	switch k {
	case sysflow.FieldInt:
		return "0"
	case sysflow.FieldBool:
		return "false"
	}
	return ""
}

// allRecords decodes a message with the OpenTelemetry library and returns,
// per log record in order, the union of its resource's and its own
// attributes, and the records themselves.
func allRecords(t *testing.T, msg []byte) ([]map[string]pcommon.Value, []plog.LogRecord) {
	t.Helper()
	ld, err := (&plog.ProtoUnmarshaler{}).UnmarshalLogs(msg)
	if err != nil {
		t.Fatalf("the OpenTelemetry library rejects the message: %v", err)
	}
	var attrs []map[string]pcommon.Value
	var recs []plog.LogRecord
	for i := range ld.ResourceLogs().Len() {
		rl := ld.ResourceLogs().At(i)
		for j := range rl.ScopeLogs().Len() {
			sl := rl.ScopeLogs().At(j)
			if sl.Scope().Name() != otel.ScopeName {
				t.Fatalf("scope %q, want %q", sl.Scope().Name(), otel.ScopeName)
			}
			for k := range sl.LogRecords().Len() {
				lr := sl.LogRecords().At(k)
				m := map[string]pcommon.Value{}
				for name, v := range rl.Resource().Attributes().All() {
					m[name] = v
				}
				for name, v := range lr.Attributes().All() {
					if _, dup := m[name]; dup {
						t.Fatalf("attribute %s is both a resource and a record attribute", name)
					}
					m[name] = v
				}
				attrs = append(attrs, m)
				recs = append(recs, lr)
			}
		}
	}
	return attrs, recs
}

// Every event of every real trace, encoded in batches and decoded by the
// OpenTelemetry library: each record's sf.* attributes (resource and
// record together) are the registry's values of the original event, zero
// values left out; the timestamp is sf.ts; the resource names the host,
// container and pod with the semantic conventions' keys. Our own decoder,
// given the same bytes, rebuilds events that read as the originals through
// every registry field.
func TestRoundTripOnTraces(t *testing.T) {
	enc := newEncoder(t, otel.Options{MaxRecords: 100})
	dec := otel.NewDecoder()
	var names []string
	for _, n := range sysflow.FieldNames() {
		if strings.HasPrefix(n, "sf.") {
			names = append(names, n)
		}
	}
	total, messages := 0, 0
	for _, path := range shared.Traces(t) {
		t.Run(shared.TraceName(path), func(t *testing.T) {
			events := traceEvents(t, path)
			if len(events) == 0 {
				t.Skip("no events")
			}
			for rest := events; len(rest) > 0; {
				msg, n, err := enc.AppendEvents(nil, rest)
				if err != nil {
					t.Fatal(err)
				}
				if n < 1 || n > 100 {
					t.Fatalf("a message took %d records, want 1..100", n)
				}
				batch, recs := allRecords(t, msg)
				if len(batch) != n {
					t.Fatalf("the library finds %d records in a message of %d", len(batch), n)
				}
				for i, attrs := range batch {
					ev := rest[i]
					if got := int64(recs[i].Timestamp()); got != ev.TS {
						t.Fatalf("record %d: timestamp %d, want sf.ts %d", i, got, ev.TS)
					}
					for _, name := range names {
						f, _ := sysflow.LookupField(name)
						want := f.Text(ev)
						got := zeroText(f.Kind)
						if v, ok := attrs[name]; ok {
							got = valueText(v)
						}
						if got != want {
							t.Fatalf("record %d (%s): attribute %s = %q, the registry says %q", i, ev.Kind, name, got, want)
						}
					}
					if ev.Header != nil && ev.Header.Exporter != "" && valueText(attrs["host.name"]) != ev.Header.Exporter {
						t.Fatalf("record %d: host.name %q, want %q", i, valueText(attrs["host.name"]), ev.Header.Exporter)
					}
					if ev.Container != nil && ev.Container.ID != "" && valueText(attrs["container.id"]) != ev.Container.ID {
						t.Fatalf("record %d: container.id %q, want %q", i, valueText(attrs["container.id"]), ev.Container.ID)
					}
					if ev.Pod != nil && ev.Pod.Name != "" && valueText(attrs["k8s.pod.name"]) != ev.Pod.Name {
						t.Fatalf("record %d: k8s.pod.name %q, want %q", i, valueText(attrs["k8s.pod.name"]), ev.Pod.Name)
					}
					if recs[i].SeverityNumber() != plog.SeverityNumberInfo {
						t.Fatalf("record %d: telemetry has severity %s", i, recs[i].SeverityNumber())
					}
				}
				var b sysflow.Batch
				if err := dec.Decode(context.Background(), msg, &b); err != nil {
					t.Fatal(err)
				}
				if len(b.Events) != n {
					t.Fatalf("decoded %d events of %d", len(b.Events), n)
				}
				for i, got := range b.Events {
					for _, name := range sysflow.FieldNames() {
						f, _ := sysflow.LookupField(name)
						if a, b := f.Text(rest[i]), f.Text(got); a != b {
							t.Fatalf("event %d (%s): %s is %q after the round trip, %q before", i, got.Kind, name, b, a)
						}
					}
					if strings.Join(rest[i].Args, "\x00") != strings.Join(got.Args, "\x00") {
						t.Fatalf("event %d: args %q, want %q", i, got.Args, rest[i].Args)
					}
				}
				rest = rest[n:]
				messages++
			}
			total += len(events)
		})
	}
	t.Logf("%d events in %d messages", total, messages)
}

// An alert's severity follows its highest priority, its rules are listed by
// name and in full, and the decoder gives back the matches and tags.
func TestAlertSeverityAndRules(t *testing.T) {
	events := traceEvents(t, filepath.Join(shared.Path(t, "traces"), "tcp.sf"))
	if len(events) < 4 {
		t.Fatalf("tcp.sf has %d events", len(events))
	}
	cases := []struct {
		matches []sysflow.Match
		sev     plog.SeverityNumber
		text    string
	}{
		{[]sysflow.Match{{Rule: "r-low", Priority: sysflow.PriorityLow}}, plog.SeverityNumberWarn, "low"},
		{[]sysflow.Match{{Rule: "r-low", Priority: sysflow.PriorityLow}, {Rule: "r-med", Desc: "d", Priority: sysflow.PriorityMedium, Tags: []string{"a", "b"}}},
			plog.SeverityNumberError, "medium"},
		{[]sysflow.Match{{Rule: "r-high", Priority: sysflow.PriorityHigh, Output: "out %x"}}, plog.SeverityNumberFatal, "high"},
	}
	enc := newEncoder(t, otel.Options{})
	for i, c := range cases {
		ev := *events[i]
		ev.Matches = c.matches
		ev.Tags = []string{"t1", "t2"}
		msg, err := enc.AppendEvent(nil, &ev)
		if err != nil {
			t.Fatal(err)
		}
		attrs, recs := allRecords(t, msg)
		if len(recs) != 1 {
			t.Fatalf("case %d: %d records", i, len(recs))
		}
		if recs[0].SeverityNumber() != c.sev || recs[0].SeverityText() != c.text {
			t.Errorf("case %d: severity %s %q, want %s %q", i, recs[0].SeverityNumber(), recs[0].SeverityText(), c.sev, c.text)
		}
		if recs[0].EventName() != "sysflow.alert" {
			t.Errorf("case %d: event name %q", i, recs[0].EventName())
		}
		var names []string
		for _, m := range c.matches {
			names = append(names, m.Rule)
		}
		if got := valueText(attrs[0][otel.AttrAlertRules]); got != strings.Join(names, ",") {
			t.Errorf("case %d: %s = %q, want %q", i, otel.AttrAlertRules, got, strings.Join(names, ","))
		}
		ms := attrs[0][otel.AttrAlertMatches].Slice()
		if ms.Len() != len(c.matches) {
			t.Fatalf("case %d: %d matches written, want %d", i, ms.Len(), len(c.matches))
		}
		for j, m := range c.matches {
			mm := ms.At(j).Map()
			if r, _ := mm.Get("rule"); r.Str() != m.Rule {
				t.Errorf("case %d match %d: rule %q", i, j, r.Str())
			}
			if p, _ := mm.Get("priority"); p.Str() != m.Priority.String() {
				t.Errorf("case %d match %d: priority %q", i, j, p.Str())
			}
		}
		var b sysflow.Batch
		if err := otel.NewDecoder().Decode(context.Background(), msg, &b); err != nil {
			t.Fatal(err)
		}
		got := b.Events[0]
		if len(got.Matches) != len(c.matches) {
			t.Fatalf("case %d: decoded %d matches", i, len(got.Matches))
		}
		for j := range c.matches {
			w, g := c.matches[j], got.Matches[j]
			if w.Rule != g.Rule || w.Desc != g.Desc || w.Priority != g.Priority || w.Output != g.Output || strings.Join(w.Tags, ",") != strings.Join(g.Tags, ",") {
				t.Errorf("case %d match %d: %+v, want %+v", i, j, g, w)
			}
		}
		if strings.Join(got.Tags, ",") != "t1,t2" {
			t.Errorf("case %d: tags %q", i, got.Tags)
		}
	}
}

// A message stops taking records at MaxBytes, and OTLP/JSON decodes as
// protobuf does.
func TestLimitsAndJSON(t *testing.T) {
	events := traceEvents(t, filepath.Join(shared.Path(t, "traces"), "k8s_small.sf"))
	small := newEncoder(t, otel.Options{MaxBytes: 1})
	if _, n, err := small.AppendEvents(nil, events); err != nil || n != 1 {
		t.Fatalf("MaxBytes 1: %d records, %v; want 1", n, err)
	}
	js := newEncoder(t, otel.Options{Encoding: otel.JSON, MaxRecords: 50})
	msg, n, err := js.AppendEvents(nil, events)
	if err != nil || n != 50 {
		t.Fatalf("json: %d records, %v", n, err)
	}
	ld, err := (&plog.JSONUnmarshaler{}).UnmarshalLogs(msg)
	if err != nil || ld.LogRecordCount() != 50 {
		t.Fatalf("the library reads %d records of OTLP/JSON: %v", ld.LogRecordCount(), err)
	}
	var b sysflow.Batch
	if err := otel.NewDecoder().Decode(context.Background(), msg, &b); err != nil || len(b.Events) != 50 {
		t.Fatalf("decoded %d events: %v", len(b.Events), err)
	}
	for i, ev := range b.Events {
		if ev.ProcCmdline() != events[i].ProcCmdline() || ev.TS != events[i].TS {
			t.Fatalf("event %d: %q at %d, want %q at %d", i, ev.ProcCmdline(), ev.TS, events[i].ProcCmdline(), events[i].TS)
		}
	}
	if _, err := otel.New(otel.Options{Encoding: "xml"}); err == nil {
		t.Error("encoding xml accepted")
	}
}

// Records that are not SysFlow's, or whose fields have the wrong type, are
// reported by position and skipped; the others still decode.
func TestDecodeErrors(t *testing.T) {
	ld := plog.NewLogs()
	lrs := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
	lrs.AppendEmpty().Body().SetStr("an application's log line")
	bad := lrs.AppendEmpty()
	bad.Attributes().PutStr("sf.type", "PE")
	bad.Attributes().PutStr("sf.proc.pid", "12")
	good := lrs.AppendEmpty()
	good.Attributes().PutStr("sf.type", "PE")
	good.Attributes().PutInt("sf.proc.pid", 12)
	good.Attributes().PutStr("sf.proc.exe", "/bin/sh")
	badMatch := lrs.AppendEmpty()
	badMatch.Attributes().PutStr("sf.type", "PE")
	badMatch.Attributes().PutEmptySlice(otel.AttrAlertMatches).AppendEmpty().SetStr("x")
	msg, _ := (&plog.ProtoMarshaler{}).MarshalLogs(ld)
	var b sysflow.Batch
	err := otel.NewDecoder().Decode(context.Background(), msg, &b)
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"record 0: no sf.type", "record 1: attribute sf.proc.pid: want int, got str", "record 3: attribute sf.alert.matches[0]: want a map"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if len(b.Events) != 1 || b.Events[0].ProcOID.Hpid != 12 || b.Events[0].Proc.Exe != "/bin/sh" {
		t.Fatalf("the good record decoded as %+v", b.Events)
	}
	if err := otel.NewDecoder().Decode(context.Background(), []byte{0xff, 0xff, 0xff}, &b); err == nil || !strings.Contains(err.Error(), "not an OTLP LogsData") {
		t.Errorf("garbage: %v", err)
	}
}
