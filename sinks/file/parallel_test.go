package file

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/ThreeDotsLabs/watermill/message"

	sfjson "github.com/sfconnector/sfconnector/encoding/json"
	"github.com/sfconnector/sfconnector/sysflow"
	"github.com/sfconnector/sfconnector/testenv/shared"
	"github.com/sfconnector/sfconnector/transforms/flatten"
)

// traceEvents flattens every real trace.
func traceEvents(t *testing.T) []*sysflow.Event {
	t.Helper()
	var out []*sysflow.Event
	for _, tr := range shared.Traces(t) {
		rd, c, err := sysflow.OpenFile(tr)
		if err != nil {
			t.Fatal(err)
		}
		f := flatten.New(flatten.Config{})
		for {
			recs, err := rd.Next(nil)
			out = f.Flatten(recs, out)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", tr, err)
			}
		}
		c.Close()
	}
	if len(out) < 10000 {
		t.Fatalf("%d events in the real traces", len(out))
	}
	return out
}

// TestParallelHalvesMatchSerial: batches the sink encodes in two halves
// on two goroutines (a concurrent-safe encoder, parallelEvents or more
// events) give the same file, byte for byte, as encoding every event in
// order, over many Publish calls of every size around the thresholds (the
// buffers are reused between calls).
func TestParallelHalvesMatchSerial(t *testing.T) {
	events := traceEvents(t)
	enc := sfjson.New(sfjson.Options{})
	var want []byte
	for _, ev := range events {
		b, err := enc.AppendEvent(nil, ev)
		if err != nil {
			t.Fatal(err)
		}
		want = append(append(want, b...), '\n')
	}
	path := filepath.Join(t.TempDir(), "out.json")
	s, err := New(Config{Path: path}, enc)
	if err != nil {
		t.Fatal(err)
	}
	sizes := []int{1, parallelEvents - 1, parallelEvents, parallelEvents + 1, 4096, 700, 9000}
	parallel := 0
	for i, k := 0, 0; i < len(events); k++ {
		n := min(sizes[k%len(sizes)], len(events)-i)
		m := sysflow.WithBatch(message.NewMessage("x", nil), &sysflow.Batch{Source: "t", Events: events[i : i+n]})
		if _, _, _, ok := s.halves([]*message.Message{m}); ok {
			parallel++
		}
		if err := s.Publish("t", m); err != nil {
			t.Fatal(err)
		}
		i += n
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if parallel == 0 {
		t.Fatal("no batch was encoded in halves")
	}
	if !bytes.Equal(got, want) {
		i := 0
		for i < len(got) && i < len(want) && got[i] == want[i] {
			i++
		}
		t.Fatalf("the file differs from the serial encoding at byte %d of %d (%d batches in halves)", i, len(want), parallel)
	}
}

// failAt is a concurrent-safe encoder failing on one event.
type failAt struct {
	*sfjson.Encoder
	bad *sysflow.Event
}

func (f failAt) AppendEvent(dst []byte, ev *sysflow.Event) ([]byte, error) {
	if ev == f.bad {
		return dst, errors.New("cannot encode this one")
	}
	return f.Encoder.AppendEvent(dst, ev)
}

// TestParallelHalfFailureWritesNothing: an encoding error in either half
// fails the Publish and leaves the file as it was, so that the retry
// writes the batch once.
func TestParallelHalfFailureWritesNothing(t *testing.T) {
	events := traceEvents(t)[:3000]
	for _, bad := range []int{10, 2990} {
		path := filepath.Join(t.TempDir(), "out.json")
		s, err := New(Config{Path: path}, failAt{sfjson.New(sfjson.Options{}), events[bad]})
		if err != nil {
			t.Fatal(err)
		}
		m := sysflow.WithBatch(message.NewMessage("x", nil), &sysflow.Batch{Source: "t", Events: events})
		if _, _, _, ok := s.halves([]*message.Message{m}); !ok {
			t.Fatal("the batch is not encoded in halves")
		}
		if err := s.Publish("t", m); err == nil {
			t.Errorf("event %d cannot be encoded, Publish did not fail", bad)
		}
		s.Close()
		if st, err := os.Stat(path); err != nil || st.Size() != 0 {
			t.Errorf("event %d failed: the file has %d bytes (%v), want none", bad, st.Size(), err)
		}
	}
}
