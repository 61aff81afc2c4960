package connector

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/sfconnector/sfconnector/sources/socket"
	"github.com/sfconnector/sfconnector/sysflow"
	"github.com/sfconnector/sfconnector/sysflow/synth"
	"github.com/sfconnector/sfconnector/testenv/collector"
	"github.com/sfconnector/sfconnector/transforms/flatten"
)

// slowSink accepts a batch every delay, counting the events it was given.
type slowSink struct {
	delay  time.Duration
	events atomic.Int64
}

func (s *slowSink) Publish(_ string, msgs ...*message.Message) error {
	time.Sleep(s.delay)
	for _, m := range msgs {
		s.events.Add(int64(len(sysflow.BatchOf(m).Events)))
	}
	return nil
}
func (s *slowSink) Close() error { return nil }

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// A slow sink slows the collector down instead of growing memory or
// dropping records: the socket is not read while the bounded queue is full.
func TestSlowSinkSlowsTheSocketNotTheProcess(t *testing.T) {
	dir, _ := os.MkdirTemp("/tmp", "sfbp")
	defer os.RemoveAll(dir)
	trace := filepath.Join(dir, "big.sf")
	f, _ := os.Create(trace)
	st, err := synth.Generate(f, synth.Options{Seed: 3, Records: 60000})
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "s.sock")
	const batch, buffer = 256, 4
	src, err := socket.Listen(socket.Config{Path: sock, BatchSize: batch, Buffer: buffer, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	sink := &slowSink{delay: 2 * time.Millisecond}
	p := New(src, &Stage{Name: "flatten", Sinks: []*Sink{{Name: "slow", Pub: sink}}}, flatten.Config{Logger: quiet()},
		Settings{Logger: quiet()})
	ctx, cancel := context.WithCancel(context.Background())
	var runErr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); runErr = p.Run(ctx) }()

	var peak atomic.Uint64
	stop := make(chan struct{})
	go func() {
		var ms runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
		}
	}()
	start := time.Now()
	sent, err := collector.Replay(context.Background(), collector.Options{Socket: sock, Wait: 5 * time.Second}, trace)
	replayTime := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for sink.events.Load() < int64(st.Events) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	close(stop)
	cancel()
	wg.Wait()
	if runErr != nil && !errors.Is(runErr, context.Canceled) {
		t.Fatalf("run: %v", runErr)
	}
	if got := sink.events.Load(); got != int64(st.Events) {
		t.Fatalf("sink got %d events, want %d: records were lost", got, st.Events)
	}
	s := src.Stats()
	if s.Records != sent || s.Malformed != 0 || s.Oversized != 0 {
		t.Fatalf("socket stats %+v, sent %d", s, sent)
	}
	// The sink takes >= 2ms per batch of <= 256 records, so draining the
	// stream takes at least records/256*2ms; the collector can only finish
	// sending once everything but the bounded queue (buffer batches + the
	// kernel's socket buffer) has been taken.
	minimum := time.Duration(int(sent)/batch-buffer-64) * sink.delay
	if replayTime < minimum {
		t.Errorf("replay finished in %v, before the slow sink could have taken the records (%v): the socket was not slowed", replayTime, minimum)
	}
	if peak.Load() > 256<<20 {
		t.Errorf("heap in use peaked at %d MiB: memory is not bounded by the queue", peak.Load()>>20)
	}
	t.Logf("replayed %d records in %v (floor %v), heap peak %d MiB", sent, replayTime, minimum, peak.Load()>>20)
}
