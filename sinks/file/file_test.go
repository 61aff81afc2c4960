package file

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/sfconnector/sfconnector/sysflow"
)

// tsEncoder writes each event's timestamp: easy to check line by line.
type tsEncoder struct{}

func (tsEncoder) AppendEvent(dst []byte, ev *sysflow.Event) ([]byte, error) {
	return strconv.AppendInt(dst, ev.TS, 10), nil
}

func batch(from, n int) *message.Message {
	evs := make([]*sysflow.Event, n)
	for i := range evs {
		evs[i] = &sysflow.Event{Kind: sysflow.KindFileFlow, TS: int64(from + i)}
	}
	return sysflow.WithBatch(message.NewMessage("x", nil), &sysflow.Batch{Events: evs})
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}

func TestAppendsNeverTruncates(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.json")
	os.WriteFile(path, []byte("existing line\n"), 0o600)
	s, err := New(Config{Path: path}, tsEncoder{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Publish("t", batch(0, 3), batch(3, 2)); err != nil {
		t.Fatal(err)
	}
	// written to the file when Publish returns, before Close
	if got := readLines(t, path); len(got) != 6 || got[0] != "existing line" || got[5] != "4" {
		t.Fatalf("after publish: %q", got)
	}
	s.Close()
	s2, _ := New(Config{Path: path}, tsEncoder{})
	s2.Publish("t", batch(5, 1))
	s2.Close()
	got := readLines(t, path)
	want := []string{"existing line", "0", "1", "2", "3", "4", "5"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("got %q, want %q", got, want)
	}
	if s2.Publish("t", batch(6, 1)) == nil {
		t.Error("publish after close succeeded")
	}
}

func TestRotationKeepsEveryRecord(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.json")
	s, err := New(Config{Path: path, RotateSize: 100, RotateKeep: 50}, tsEncoder{})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 100; i += 10 {
		if err := s.Publish("t", batch(i, 10)); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	// read the rotated files oldest first, then the current one
	var all []string
	for i := 50; i >= 1; i-- {
		p := path + "." + strconv.Itoa(i)
		if _, err := os.Stat(p); err == nil {
			lines := readLines(t, p)
			if st, _ := os.Stat(p); st.Size() > 100 {
				t.Errorf("%s has %d bytes, above the rotation size", p, st.Size())
			}
			all = append(all, lines...)
		}
	}
	all = append(all, readLines(t, path)...)
	if len(all) != 100 {
		t.Fatalf("%d records across the files, want 100", len(all))
	}
	for i, l := range all {
		if l != strconv.Itoa(i) {
			t.Fatalf("record %d is %q: order lost across rotation", i, l)
		}
	}
}

func TestRotationDropsOnlyBeyondKeep(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.json")
	s, _ := New(Config{Path: path, RotateSize: 20, RotateKeep: 2}, tsEncoder{})
	for i := 0; i < 50; i += 5 {
		s.Publish("t", batch(i, 5))
	}
	s.Close()
	files, _ := filepath.Glob(path + "*")
	if len(files) != 3 {
		t.Fatalf("files = %v, want the current one and 2 rotated", files)
	}
}

func TestConfigErrors(t *testing.T) {
	if _, err := New(Config{}, tsEncoder{}); err == nil || !strings.Contains(err.Error(), "file.path") {
		t.Errorf("no path: %v", err)
	}
	if _, err := New(Config{Path: "/nonexistent-dir/x/out.json"}, tsEncoder{}); err == nil || !strings.Contains(err.Error(), "/nonexistent-dir/x/out.json") {
		t.Errorf("bad dir: %v", err)
	}
}
