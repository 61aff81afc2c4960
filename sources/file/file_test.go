package file

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/linkedin/goavro/v2"

	"github.com/sfconnector/sfconnector/sysflow"
	"github.com/sfconnector/sfconnector/testenv/shared"
)

func countRecords(t *testing.T, path string) int {
	t.Helper()
	rd, c, err := sysflow.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var recs []sysflow.Record
	for {
		recs, err = rd.Next(recs)
		if errors.Is(err, io.EOF) {
			return len(recs)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

type got struct {
	sources []string
	records int
}

// drain acks every message until the channel closes.
func drain(t *testing.T, ch <-chan *message.Message, nackFirst bool) got {
	t.Helper()
	var g got
	nacked := !nackFirst
	timeout := time.After(60 * time.Second)
	for {
		select {
		case m, ok := <-ch:
			if !ok {
				return g
			}
			b := sysflow.BatchOf(m)
			if !nacked {
				nacked = true
				m.Nack() // redelivered: must not be lost or counted twice
				continue
			}
			if len(g.sources) == 0 || g.sources[len(g.sources)-1] != b.Source {
				g.sources = append(g.sources, b.Source)
			}
			g.records += len(b.Records)
			m.Ack()
		case <-timeout:
			t.Fatal("timed out")
		}
	}
}

func TestDirectoryInNameOrder(t *testing.T) {
	traces := shared.Traces(t)
	dir := t.TempDir()
	want := 0
	// link the traces under names that sort in reverse of their own order
	var names []string
	for i, tr := range traces {
		name := filepath.Join(dir, string(rune('z'-i))+".sf")
		if err := os.Symlink(tr, name); err != nil {
			t.Fatal(err)
		}
		want += countRecords(t, tr)
		names = append(names, name)
	}
	os.WriteFile(filepath.Join(dir, ".hidden"), []byte("x"), 0o600)
	src, err := New(Config{Paths: []string{dir}, BatchSize: 500})
	if err != nil {
		t.Fatal(err)
	}
	ch, _ := src.Subscribe(context.Background(), "")
	g := drain(t, ch, true)
	if g.records != want {
		t.Errorf("records = %d, want %d", g.records, want)
	}
	for i := 1; i < len(g.sources); i++ {
		if g.sources[i-1] > g.sources[i] {
			t.Fatalf("files out of name order: %v", g.sources)
		}
	}
	if len(g.sources) != len(names) {
		t.Errorf("read %d files, want %d", len(g.sources), len(names))
	}
	if err := src.Err(); err != nil {
		t.Errorf("Err = %v", err)
	}
}

func TestDamagedFileReportedAndOthersRead(t *testing.T) {
	traces := shared.Traces(t)
	dir := t.TempDir()
	good := traces[0] // the largest trace spans many blocks
	for _, tr := range traces {
		a, _ := os.Stat(tr)
		b, _ := os.Stat(good)
		if a.Size() > b.Size() {
			good = tr
		}
	}
	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "a-truncated.sf")
	os.WriteFile(bad, data[:len(data)*2/3], 0o600)
	os.WriteFile(filepath.Join(dir, "b-not-avro.sf"), []byte("hello, not avro"), 0o600)
	os.WriteFile(filepath.Join(dir, "c-empty.sf"), nil, 0o600)
	os.Symlink(good, filepath.Join(dir, "d-good.sf"))
	src, _ := New(Config{Paths: []string{filepath.Join(dir, "*.sf")}})
	ch, _ := src.Subscribe(context.Background(), "")
	g := drain(t, ch, false)
	n := countRecords(t, good)
	if g.records <= n {
		t.Errorf("records = %d: the truncated file's records before the damage are missing (good file alone has %d)", g.records, n)
	}
	err = src.Err()
	if err == nil {
		t.Fatal("no error for damaged files")
	}
	for _, name := range []string{"a-truncated.sf", "b-not-avro.sf", "c-empty.sf"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s: %v", name, err)
		}
	}
	if strings.Contains(err.Error(), "d-good.sf") {
		t.Errorf("error names the good file: %v", err)
	}
}

func TestFollowReadsEachFinishedFileOnce(t *testing.T) {
	traces := shared.Traces(t)
	dir := t.TempDir()
	src, _ := New(Config{Paths: []string{dir}, Follow: true, Settle: 200 * time.Millisecond})
	ch, _ := src.Subscribe(context.Background(), "")
	data, _ := os.ReadFile(traces[0])
	n := countRecords(t, traces[0])
	os.WriteFile(filepath.Join(dir, "1.sf"), data, 0o600)
	os.WriteFile(filepath.Join(dir, "2.sf"), data, 0o600)
	var total int
	deadline := time.After(20 * time.Second)
	for total < 2*n {
		select {
		case m := <-ch:
			total += len(sysflow.BatchOf(m).Records)
			m.Ack()
		case <-deadline:
			t.Fatalf("followed %d records, want %d", total, 2*n)
		}
	}
	// nothing is read twice
	select {
	case m := <-ch:
		t.Fatalf("extra batch from %s", sysflow.BatchOf(m).Source)
	case <-time.After(time.Second):
	}
	src.Close()
	if _, ok := <-ch; ok {
		t.Fatal("channel open after Close")
	}
}

// TestUnreadableEntryReported: a directory entry whose target is gone is
// reported (not silently left out) and the other files are read.
func TestUnreadableEntryReported(t *testing.T) {
	traces := shared.Traces(t)
	dir := t.TempDir()
	bad := filepath.Join(dir, "a-gone.sf")
	if err := os.Symlink(filepath.Join(dir, "missing"), bad); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(traces[0], filepath.Join(dir, "b-good.sf")); err != nil {
		t.Fatal(err)
	}
	src, err := New(Config{Paths: []string{dir}})
	if err != nil {
		t.Fatal(err)
	}
	ch, _ := src.Subscribe(context.Background(), "")
	g := drain(t, ch, false)
	if n := countRecords(t, traces[0]); g.records != n {
		t.Errorf("records = %d, want the good file's %d", g.records, n)
	}
	err = src.Err()
	var re *ReadError
	if !errors.As(err, &re) || re.Path != bad || !strings.Contains(err.Error(), "cannot read "+bad) {
		t.Fatalf("Err = %v, want a ReadError naming %s", err, bad)
	}
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Err = %v does not wrap the cause", err)
	}
}

// writeGoavroTrace writes FileFlow records with goavro under schema, endTs
// given by endTs (goavro native form), one record per value.
func writeGoavroTrace(t *testing.T, path, schema string, endTs ...any) {
	t.Helper()
	var buf bytes.Buffer
	w, err := goavro.NewOCFWriter(goavro.OCFConfig{W: &buf, Schema: schema, CompressionName: "deflate"})
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range endTs {
		ff := map[string]any{"procOID": map[string]any{"createTS": int64(100), "hpid": int64(7)},
			"ts": int64(1000 + i), "tid": int64(7), "opFlags": int32(1), "openFlags": int32(0), "endTs": e,
			"fileOID": make([]byte, 20), "fd": int32(3),
			"numRRecvOps": int64(0), "numWSendOps": int64(0), "numRRecvBytes": int64(0), "numWSendBytes": int64(0)}
		if strings.Contains(schema, `{"name":"ts","type":"string"}`) {
			ff["ts"] = "not a number"
		}
		if err := w.Append([]any{map[string]any{"rec": map[string]any{"sysflow.flow.FileFlow": ff}}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

// An early collector's file (FileFlow.endTs written as ["null","long"]) is
// read; a file whose schema cannot resolve is reported as a schema problem
// naming the type and field, not as damaged, and does not stop the others.
func TestWriterSchemaResolution(t *testing.T) {
	v5 := sysflow.SchemaV5()
	const endTs = `{"name":"endTs","type":"long"},{"name":"fileOID"`
	const ts = `{"name":"ts","type":"long"},{"name":"tid","type":"long"},{"name":"opFlags","type":"int"},{"name":"openFlags"`
	if !strings.Contains(v5, endTs) || !strings.Contains(v5, ts) {
		t.Fatal("the v5 schema text changed: update the replacements")
	}
	early := strings.Replace(v5, endTs, `{"name":"endTs","type":["null","long"]},{"name":"fileOID"`, 1)
	bad := strings.Replace(v5, ts, `{"name":"ts","type":"string"},{"name":"tid","type":"long"},{"name":"opFlags","type":"int"},{"name":"openFlags"`, 1)
	dir := t.TempDir()
	writeGoavroTrace(t, filepath.Join(dir, "a-early.sf"), early, nil, map[string]any{"long": int64(2000)}, nil)
	writeGoavroTrace(t, filepath.Join(dir, "b-bad-schema.sf"), bad, int64(5))

	var logs bytes.Buffer
	src, err := New(Config{Paths: []string{dir}, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ch, _ := src.Subscribe(context.Background(), "")
	var recs []sysflow.Record
	timeout := time.After(60 * time.Second)
	for done := false; !done; {
		select {
		case m, ok := <-ch:
			if !ok {
				done = true
				break
			}
			recs = append(recs, sysflow.BatchOf(m).Records...)
			m.Ack()
		case <-timeout:
			t.Fatal("source did not finish")
		}
	}
	if len(recs) != 3 {
		t.Fatalf("read %d records, want the early file's 3", len(recs))
	}
	for i, want := range []int64{0, 2000, 0} {
		if ff := recs[i].FileFlow; ff == nil || ff.EndTS != want || ff.TS != int64(1000+i) {
			t.Errorf("record %d: got %+v, want endTs %d ts %d", i, ff, want, 1000+i)
		}
	}
	err = src.Err()
	var se *sysflow.SchemaError
	if !errors.As(err, &se) || se.Type != "FileFlow" || se.Field != "ts" {
		t.Fatalf("Err = %v, want a SchemaError for FileFlow field ts", err)
	}
	for _, want := range []string{"b-bad-schema.sf", "schema", "FileFlow", "field ts"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Err %q does not say %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "a-early.sf") {
		t.Errorf("Err names the readable file: %v", err)
	}
	log := logs.String()
	if !strings.Contains(log, "schema") || !strings.Contains(log, "b-bad-schema.sf") || strings.Contains(log, "damaged") {
		t.Errorf("log does not report a schema problem, or says damaged:\n%s", log)
	}
}
