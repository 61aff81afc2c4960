package file_test

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	sfjson "github.com/sfconnector/sfconnector/encoding/json"
	"github.com/sfconnector/sfconnector/sinks/file"
	"github.com/sfconnector/sfconnector/sysflow"
	"github.com/sfconnector/sfconnector/sysflow/synth"
	"github.com/sfconnector/sfconnector/testenv/shared"
	"github.com/sfconnector/sfconnector/transforms/flatten"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// flat decodes and flattens a trace.
func flat(t testing.TB, data []byte) []*sysflow.Event {
	t.Helper()
	r, err := sysflow.NewReader(bytes.NewReader(data), "trace")
	if err != nil {
		t.Fatal(err)
	}
	var recs []sysflow.Record
	for err == nil {
		recs, err = r.Next(recs)
	}
	if !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	return flatten.New(flatten.Config{Logger: quiet()}).Flatten(recs, nil)
}

func synthEvents(t testing.TB, n int) []*sysflow.Event {
	t.Helper()
	var buf bytes.Buffer
	if _, err := synth.Generate(&buf, synth.Options{Seed: 5, Records: n}); err != nil {
		t.Fatal(err)
	}
	return flat(t, buf.Bytes())
}

func batch(events []*sysflow.Event) *message.Message {
	return sysflow.WithBatch(message.NewMessage(watermill.NewUUID(), nil), &sysflow.Batch{Source: "test", Events: events})
}

// Files that are not regular are written to but never synced (fsync fails
// on them) nor rotated (renaming /dev/null or a FIFO aside would break the
// system or the reader at the other end).
func TestNonRegularFiles(t *testing.T) {
	events := synthEvents(t, 500)
	t.Run("devnull", func(t *testing.T) {
		s, err := file.New(file.Config{Path: os.DevNull, RotateSize: 1}, sfjson.New(sfjson.Options{}))
		if err != nil {
			t.Fatal(err)
		}
		for range 3 {
			if err := s.Publish("", batch(events)); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if st, err := os.Stat(os.DevNull); err != nil || st.Mode()&os.ModeCharDevice == 0 {
			t.Fatalf("%s is no longer a character device: %v %v", os.DevNull, st, err)
		}
		if _, err := os.Stat(os.DevNull + ".1"); err == nil {
			t.Fatalf("%s.1 exists: /dev/null was rotated", os.DevNull)
		}
	})
	t.Run("fifo", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "pipe")
		if err := syscall.Mkfifo(path, 0o600); err != nil {
			t.Skipf("mkfifo: %v", err)
		}
		got := make(chan int, 1)
		go func() {
			f, err := os.Open(path)
			if err != nil {
				got <- -1
				return
			}
			defer f.Close()
			data, _ := io.ReadAll(f)
			got <- strings.Count(string(data), "\n")
		}()
		s, err := file.New(file.Config{Path: path, RotateSize: 100}, sfjson.New(sfjson.Options{}))
		if err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if err := s.Publish("", batch(events)); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if n := <-got; n != 2*len(events) {
			t.Errorf("the reader got %d lines, want %d", n, 2*len(events))
		}
		if _, err := os.Stat(path + ".1"); err == nil {
			t.Error("the FIFO was rotated")
		}
	})
}

// BenchmarkFileSink encodes events as JSON lines and appends them, in
// batches of 1024 as the pipeline hands them over, to a file and to
// /dev/null (the encoder and the sink without the disk): the real traces'
// events, and a 500k-event generated trace's.
func BenchmarkFileSink(b *testing.B) {
	inputs := []struct {
		name   string
		events func(*testing.B) []*sysflow.Event
	}{
		{"traces", func(b *testing.B) []*sysflow.Event {
			var events []*sysflow.Event
			for _, p := range shared.Traces(b) {
				data, err := os.ReadFile(p)
				if err != nil {
					b.Fatal(err)
				}
				events = append(events, flat(b, data)...)
			}
			return events
		}},
		{"synth-500k", func(b *testing.B) []*sysflow.Event { return synthEvents(b, 500_000) }},
	}
	for _, in := range inputs {
		for _, target := range []string{"file", "devnull"} {
			b.Run(in.name+"/"+target, func(b *testing.B) {
				events := in.events(b)
				var msgs []*message.Message
				for lo := 0; lo < len(events); lo += 1024 {
					msgs = append(msgs, batch(events[lo:min(lo+1024, len(events))]))
				}
				path := os.DevNull
				if target == "file" {
					path = filepath.Join(b.TempDir(), "out.jsonl")
				}
				s, err := file.New(file.Config{Path: path}, sfjson.New(sfjson.Options{}))
				if err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				for b.Loop() {
					if target == "file" {
						// keep the file from growing past what the page cache holds
						b.StopTimer()
						if err := os.Truncate(path, 0); err != nil {
							b.Fatal(err)
						}
						b.StartTimer()
					}
					for _, m := range msgs {
						if err := s.Publish("", m); err != nil {
							b.Fatal(err)
						}
					}
				}
				b.ReportMetric(float64(len(events))*float64(b.N)/b.Elapsed().Seconds(), "records/s")
				if err := s.Close(); err != nil {
					b.Fatal(err)
				}
			})
		}
	}
}

// A batch of many megabytes is written in chunks while the next chunk is
// encoded: every line arrives, in order, and the sink can be reused.
func TestLargeBatchesInChunks(t *testing.T) {
	events := synthEvents(t, 20000) // ~30 MB of JSON per publish
	path := filepath.Join(t.TempDir(), "out.jsonl")
	s, err := file.New(file.Config{Path: path}, sfjson.New(sfjson.Options{}))
	if err != nil {
		t.Fatal(err)
	}
	half := len(events) / 2
	for _, msgs := range [][]*message.Message{{batch(events[:half])}, {batch(events[half : half+10]), batch(events[half+10:])}} {
		if err := s.Publish("", msgs...); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if got := s.Events(); got != int64(len(events)) {
		t.Errorf("Events() = %d, want %d", got, len(events))
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	if len(lines) != len(events) {
		t.Fatalf("%d lines, want %d", len(lines), len(events))
	}
	enc := sfjson.New(sfjson.Options{})
	for i, ev := range events {
		want, _ := enc.AppendEvent(nil, ev)
		if lines[i] != string(want) {
			t.Fatalf("line %d differs from the event's encoding:\n%s\n%s", i+1, lines[i], want)
		}
	}
}

// A write error in the middle of a chunked batch (the FIFO's reader went
// away) is returned, not lost or turned into a hang.
func TestWriteErrorMidBatch(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pipe")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	opened := make(chan struct{})
	go func() {
		f, err := os.Open(path)
		close(opened)
		if err == nil {
			f.Read(make([]byte, 4096))
			f.Close() // the reader leaves after the first bytes
		}
	}()
	s, err := file.New(file.Config{Path: path}, sfjson.New(sfjson.Options{}))
	if err != nil {
		t.Fatal(err)
	}
	<-opened
	events := synthEvents(t, 20000)
	var perr error
	for range 5 {
		if perr = s.Publish("", batch(events)); perr != nil {
			break
		}
	}
	if perr == nil || !strings.Contains(perr.Error(), path) {
		t.Fatalf("Publish into a FIFO without a reader: %v, want an error naming %s", perr, path)
	}
	s.Close()
}
