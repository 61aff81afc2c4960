package avro_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/linkedin/goavro/v2"

	"github.com/sfconnector/sfconnector/encoding/avro"
	"github.com/sfconnector/sfconnector/sysflow"
	"github.com/sfconnector/sfconnector/testenv"
	"github.com/sfconnector/sfconnector/testenv/shared"
	"github.com/sfconnector/sfconnector/transforms/flatten"
)

// traceData reads a trace's records and flattens them.
func traceData(t testing.TB, path string) ([]sysflow.Record, []*sysflow.Event) {
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
	return recs, f.Flatten(recs, nil)
}

func newCodec(t testing.TB, schema avro.Schema) (*avro.Encoder, *avro.Decoder, *avro.Registry) {
	t.Helper()
	reg, err := avro.NewRegistry(avro.Config{RegistryURL: testenv.SchemaRegistry(t), Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	enc, err := avro.NewEncoder(reg)
	if err != nil {
		t.Fatal(err)
	}
	return enc, avro.NewDecoder(reg), reg
}

// Every event of every real trace: encoded, decoded back into an Event, it
// reads the same through every field of the registry as the original. The
// registry (sysflow) is the oracle, not this package.
func TestEventRoundTripOnTraces(t *testing.T) {
	enc, dec, _ := newCodec(t, avro.SchemaEvent)
	te, _ := enc.ForDestination("events")
	total := 0
	for _, path := range shared.Traces(t) {
		t.Run(shared.TraceName(path), func(t *testing.T) {
			_, events := traceData(t, path)
			if len(events) == 0 {
				t.Skip("no events")
			}
			var buf []byte
			for i, ev := range events {
				var err error
				buf, err = te.AppendEvent(buf[:0], ev)
				if err != nil {
					t.Fatal(err)
				}
				got, err := dec.DecodeEvent(context.Background(), buf)
				if err != nil {
					t.Fatalf("event %d: %v", i, err)
				}
				for _, name := range sysflow.FieldNames() {
					f, _ := sysflow.LookupField(name)
					if a, b := f.Text(ev), f.Text(got); a != b {
						t.Fatalf("event %d (%s): %s is %q after the round trip, %q before", i, ev.Kind, name, b, a)
					}
				}
				if strings.Join(ev.Args, "\x00") != strings.Join(got.Args, "\x00") {
					t.Fatalf("event %d: args %q, want %q", i, got.Args, ev.Args)
				}
			}
			total += len(events)
		})
	}
	t.Logf("%d events round-tripped", total)
}

// goavro, reading our bytes with the embedded schema text, finds every
// registry field at its place with the registry's value: the schema and the
// writer agree, and the schema holds every registry field.
func TestSchemaHoldsEveryRegistryField(t *testing.T) {
	enc, _, _ := newCodec(t, avro.SchemaEvent)
	te, _ := enc.ForDestination("x")
	text, _ := avro.SchemaEvent.Text()
	codec, err := goavro.NewCodec(text)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(shared.Path(t, "traces"), "k8s_small.sf")
	_, events := traceData(t, path)
	seenSection := map[string]bool{}
	for _, ev := range events {
		b, err := te.AppendEvent(nil, ev)
		if err != nil {
			t.Fatal(err)
		}
		native, rest, err := codec.NativeFromBinary(b[5:])
		if err != nil || len(rest) != 0 {
			t.Fatalf("goavro: %v (%d trailing bytes)", err, len(rest))
		}
		top := native.(map[string]any)
		for _, name := range sysflow.FieldNames() {
			parts := strings.Split(strings.TrimPrefix(name, "sf."), ".")
			v, present := lookup(top, parts)
			f, _ := sysflow.LookupField(name)
			if !present {
				continue // a null section: the registry reads its zero value
			}
			seenSection[parts[0]] = true
			if got, want := text2(v), f.Text(ev); got != want {
				t.Fatalf("%s: goavro reads %q, the registry %q", name, got, want)
			}
		}
	}
	for _, s := range []string{"proc", "pproc", "file", "net", "flow", "container", "pod", "node", "meta", "type"} {
		if !seenSection[s] {
			t.Errorf("section %s never present in k8s_small.sf", s)
		}
	}
	// Completeness: every registry field has a place in the schema.
	var schema map[string]any
	_ = json.Unmarshal([]byte(text), &schema)
	for _, name := range sysflow.FieldNames() {
		if !schemaHas(schema, strings.Split(strings.TrimPrefix(name, "sf."), ".")) {
			t.Errorf("registry field %s is not in event.avsc", name)
		}
	}
}

func lookup(m map[string]any, path []string) (any, bool) {
	v, ok := m[path[0]]
	if !ok {
		return nil, false
	}
	if len(path) == 1 {
		return v, true
	}
	if v == nil {
		return nil, false
	}
	inner := v.(map[string]any)
	if len(inner) == 1 { // a union branch
		for k, x := range inner {
			if strings.Contains(k, ".") {
				inner = x.(map[string]any)
			}
		}
	}
	return lookup(inner, path[1:])
}

func text2(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case int64:
		return strings.TrimSpace(strings.Replace(jsonText(x), "\n", "", -1))
	case bool:
		if x {
			return "true"
		}
		return "false"
	case []any:
		s := make([]string, len(x))
		for i, e := range x {
			s[i] = e.(string)
		}
		return strings.Join(s, ",")
	}
	return "?"
}

func jsonText(v any) string { b, _ := json.Marshal(v); return string(b) }

func schemaHas(rec map[string]any, path []string) bool {
	fields, _ := rec["fields"].([]any)
	for _, f := range fields {
		fm := f.(map[string]any)
		if fm["name"] != path[0] {
			continue
		}
		if len(path) == 1 {
			return true
		}
		typ := fm["type"]
		if u, ok := typ.([]any); ok {
			typ = u[len(u)-1]
		}
		if r, ok := typ.(map[string]any); ok {
			return schemaHas(r, path[1:])
		}
	}
	return false
}

// Raw records forwarded in the record schema come back identical.
func TestRecordRoundTrip(t *testing.T) {
	enc, dec, _ := newCodec(t, avro.SchemaRecord)
	te, _ := enc.ForDestination("raw")
	re := te.(interface {
		AppendRecord([]byte, *sysflow.Record) ([]byte, error)
	})
	for _, path := range shared.Traces(t)[:3] {
		recs, _ := traceData(t, path)
		var b sysflow.Batch
		for i := range recs {
			buf, err := re.AppendRecord(nil, &recs[i])
			if err != nil {
				t.Fatal(err)
			}
			if err := dec.Decode(context.Background(), buf, &b); err != nil {
				t.Fatalf("%s record %d: %v", path, i, err)
			}
		}
		for i := range recs {
			a, _ := sysflow.AppendDatum(nil, &recs[i])
			c, _ := sysflow.AppendDatum(nil, &b.Records[i])
			if string(a) != string(c) {
				t.Fatalf("%s record %d (%s) differs after the round trip", path, i, recs[i].Kind)
			}
		}
	}
}

func TestRecordSchemaIsTheSysFlowV5Union(t *testing.T) {
	text, _ := avro.SchemaRecord.Text()
	if text != sysflow.SchemaV5() {
		t.Fatal("schemas/record.avsc differs from the v5 schema the sysflow package decodes")
	}
}

// A consumer reads a message written with an older version of the schema,
// still registered: fields that version lacks decode as zero values.
func TestOlderSchemaVersionDecodes(t *testing.T) {
	url := testenv.SchemaRegistry(t)
	reg, err := avro.NewRegistry(avro.Config{RegistryURL: url})
	if err != nil {
		t.Fatal(err)
	}
	// Version 1 of the subject: a FlatEvent with only a few fields.
	old := `{"type":"record","name":"FlatEvent","namespace":"io.sfconnector","fields":[
		{"name":"type","type":"string"},{"name":"ts","type":"long"},
		{"name":"node","type":{"type":"record","name":"Node","fields":[{"name":"id","type":"string"}]}},
		{"name":"meta","type":{"type":"record","name":"Meta","fields":[{"name":"tracename","type":"string"}]}}]}`
	id, err := reg.Register("old-value", old)
	if err != nil {
		t.Fatal(err)
	}
	codec, _ := goavro.NewCodec(old)
	body, err := codec.BinaryFromNative(nil, map[string]any{"type": "NF", "ts": int64(42),
		"node": map[string]any{"id": "n1"}, "meta": map[string]any{"tracename": "t.sf"}})
	if err != nil {
		t.Fatal(err)
	}
	// Version 2 (today's) registered after it under the same subject.
	enc, err := avro.NewEncoder(reg)
	if err != nil {
		t.Fatal(err)
	}
	te, _ := enc.ForDestination("old")
	if _, err := te.AppendEvent(nil, &sysflow.Event{Kind: sysflow.KindFileFlow}); err != nil {
		t.Fatal(err)
	}
	ev, err := avro.NewDecoder(reg).DecodeEvent(context.Background(), append(avro.AppendHeader(nil, id), body...))
	if err != nil {
		t.Fatal(err)
	}
	if ev.Kind != sysflow.KindNetworkFlow || ev.TS != 42 || ev.Header == nil || ev.Header.Exporter != "n1" || ev.Proc != nil {
		t.Fatalf("decoded %+v", ev)
	}
}

func TestAlertCarriesMatches(t *testing.T) {
	enc, dec, _ := newCodec(t, avro.SchemaAlert)
	te, _ := enc.ForDestination("alerts")
	_, events := traceData(t, filepath.Join(shared.Path(t, "traces"), "tcp.sf"))
	ev := *events[0]
	ev.Matches = []sysflow.Match{
		{Rule: "r1", Desc: "d1", Priority: sysflow.PriorityMedium, Tags: []string{"a", "b"}},
		{Rule: "r2", Priority: sysflow.PriorityHigh, Output: "out"},
	}
	ev.Tags = []string{"a", "b"}
	b, err := te.AppendEvent(nil, &ev)
	if err != nil {
		t.Fatal(err)
	}
	got, err := dec.DecodeEvent(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Matches) != 2 || got.Matches[0].Rule != "r1" || got.Matches[0].Priority != sysflow.PriorityMedium ||
		strings.Join(got.Matches[0].Tags, ",") != "a,b" || got.Matches[1].Output != "out" || got.MaxPriority() != sysflow.PriorityHigh ||
		strings.Join(got.Tags, ",") != "a,b" {
		t.Fatalf("matches %+v tags %v", got.Matches, got.Tags)
	}
	// The alert also reads as an Alert with goavro: priority is the highest.
	text, _ := avro.SchemaAlert.Text()
	codec, _ := goavro.NewCodec(text)
	native, _, err := codec.NativeFromBinary(b[5:])
	if err != nil {
		t.Fatal(err)
	}
	if p := native.(map[string]any)["priority"]; p != "high" {
		t.Fatalf("priority %v, want high", p)
	}
}

func TestAlertSchemaExtendsEventSchema(t *testing.T) {
	var ev, al struct {
		Fields []json.RawMessage `json:"fields"`
	}
	et, _ := avro.SchemaEvent.Text()
	at, _ := avro.SchemaAlert.Text()
	_ = json.Unmarshal([]byte(et), &ev)
	_ = json.Unmarshal([]byte(at), &al)
	if len(al.Fields) != len(ev.Fields)+3 {
		t.Fatalf("alert has %d fields, event %d: want event + 3", len(al.Fields), len(ev.Fields))
	}
	for i := range ev.Fields {
		if string(ev.Fields[i]) != string(al.Fields[i]) {
			t.Fatalf("alert field %d differs from the event's", i)
		}
	}
}

func TestWireFormatErrors(t *testing.T) {
	_, dec, _ := newCodec(t, avro.SchemaEvent)
	for name, in := range map[string][]byte{
		"empty":      nil,
		"short":      {0, 0, 1},
		"magic":      {1, 0, 0, 0, 1, 2},
		"unknown id": {0, 0, 0, 0x7f, 0x7f, 2},
		"json":       []byte(`{"a":1}`),
	} {
		t.Run(name, func(t *testing.T) {
			var b sysflow.Batch
			if err := dec.Decode(context.Background(), in, &b); err == nil {
				t.Fatal("decoded garbage")
			}
		})
	}
}

func TestHeader(t *testing.T) {
	h := avro.AppendHeader(nil, 0x01020304)
	if string(h) != "\x00\x01\x02\x03\x04" {
		t.Fatalf("header % x", h)
	}
	id, body, err := avro.ParseHeader(append(h, 9))
	if err != nil || id != 0x01020304 || len(body) != 1 {
		t.Fatalf("parse: %d %v %v", id, body, err)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		cfg  avro.Config
		want string
	}{
		{avro.Config{}, "avro.registry.url"},
		{avro.Config{RegistryURL: "localhost:8081"}, "avro.registry.url"},
		{avro.Config{RegistryURL: "http://x", Schema: "protobuf"}, "avro.schema"},
		{avro.Config{RegistryURL: "http://x", Subject: "{node}-value"}, "avro.subject"},
	} {
		if _, err := avro.NewRegistry(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want one naming %s", tc.cfg, err, tc.want)
		}
	}
	_ = os.Getenv
}

// A SysFlow record schema other than v5, as an early collector registered
// it (FileFlow.endTs as ["null","long"]), is resolved against v5; one that
// cannot resolve is refused with an error naming the type and field.
func TestOlderSysFlowRecordSchemaDecodes(t *testing.T) {
	url := testenv.SchemaRegistry(t)
	reg, err := avro.NewRegistry(avro.Config{RegistryURL: url})
	if err != nil {
		t.Fatal(err)
	}
	v5 := sysflow.SchemaV5()
	const endTs = `{"name":"endTs","type":"long"},{"name":"fileOID"`
	const ts = `{"name":"ts","type":"long"},{"name":"tid","type":"long"},{"name":"opFlags","type":"int"},{"name":"openFlags"`
	if !strings.Contains(v5, endTs) || !strings.Contains(v5, ts) {
		t.Fatal("the v5 schema text changed: update the replacements")
	}
	early := strings.Replace(v5, endTs, `{"name":"endTs","type":["null","long"]},{"name":"fileOID"`, 1)
	bad := strings.Replace(v5, ts, `{"name":"ts","type":"string"},{"name":"tid","type":"long"},{"name":"opFlags","type":"int"},{"name":"openFlags"`, 1)
	fileflow := func(ts, endTs any) any {
		return map[string]any{"rec": map[string]any{"sysflow.flow.FileFlow": map[string]any{
			"procOID": map[string]any{"createTS": int64(100), "hpid": int64(7)},
			"ts":      ts, "tid": int64(7), "opFlags": int32(1), "openFlags": int32(0), "endTs": endTs,
			"fileOID": make([]byte, 20), "fd": int32(3),
			"numRRecvOps": int64(0), "numWSendOps": int64(0), "numRRecvBytes": int64(0), "numWSendBytes": int64(0)}}}
	}
	frame := func(subject, schema string, native any) []byte {
		t.Helper()
		id, err := reg.Register(subject, schema)
		if err != nil {
			t.Fatal(err)
		}
		codec, err := goavro.NewCodec(schema)
		if err != nil {
			t.Fatal(err)
		}
		body, err := codec.BinaryFromNative(nil, native)
		if err != nil {
			t.Fatal(err)
		}
		return append(avro.AppendHeader(nil, id), body...)
	}
	dec := avro.NewDecoder(reg)
	var b sysflow.Batch
	for _, e := range []any{nil, map[string]any{"long": int64(2000)}} {
		if err := dec.Decode(context.Background(), frame("early-value", early, fileflow(int64(1000), e)), &b); err != nil {
			t.Fatal(err)
		}
	}
	if len(b.Records) != 2 {
		t.Fatalf("decoded %d records, want 2", len(b.Records))
	}
	for i, want := range []int64{0, 2000} {
		if ff := b.Records[i].FileFlow; ff == nil || ff.EndTS != want || ff.TS != 1000 || ff.ProcOID.Hpid != 7 || ff.FD != 3 {
			t.Errorf("record %d: got %+v, want endTs %d", i, ff, want)
		}
	}
	err = dec.Decode(context.Background(), frame("bad-value", bad, fileflow("x", int64(1))), &b)
	var se *sysflow.SchemaError
	if !errors.As(err, &se) || se.Type != "FileFlow" || se.Field != "ts" || !strings.Contains(err.Error(), "schema") {
		t.Fatalf("got %v, want a schema error for FileFlow field ts", err)
	}
}
