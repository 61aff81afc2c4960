package file

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

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
