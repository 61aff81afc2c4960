package connector_test

import (
	"context"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/sfconnector/sfconnector/connector"
	"github.com/sfconnector/sfconnector/sysflow"
	"github.com/sfconnector/sfconnector/transforms/flatten"
)

// busLikeSource delivers raw-record batches of one stream the way the Kafka
// and NATS sources do: up to inFlight of them unacknowledged at once, so
// the router handles them in concurrent goroutines.
type busLikeSource struct {
	stream   string
	batches  [][]sysflow.Record
	inFlight int

	done, closed chan struct{}
	closeOnce    sync.Once
	closedOnce   sync.Once
}

func (s *busLikeSource) Subscribe(ctx context.Context, _ string) (<-chan *message.Message, error) {
	out := make(chan *message.Message)
	go func() {
		defer close(out)
		slots := make(chan struct{}, s.inFlight)
		var wg sync.WaitGroup
		defer func() {
			wg.Wait()
			s.closeOnce.Do(func() { close(s.done) })
			// Like a bus source, the subscription stays open until the
			// router closes it.
			select {
			case <-s.closed:
			case <-ctx.Done():
			}
		}()
		for _, recs := range s.batches {
			b := &sysflow.Batch{Source: s.stream, Records: recs}
			msg := sysflow.WithBatch(message.NewMessage(watermill.NewUUID(), nil), b)
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				return
			}
			select {
			case out <- msg:
			case <-ctx.Done():
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-slots }()
				select {
				case <-msg.Acked():
				case <-msg.Nacked(): // not expected: the sink never fails
				case <-ctx.Done():
				}
			}()
		}
	}()
	return out, nil
}

func (s *busLikeSource) Close() error {
	s.closeOnce.Do(func() { close(s.done) })
	s.closedOnce.Do(func() { close(s.closed) })
	return nil
}
func (s *busLikeSource) Done() <-chan struct{} { return s.done }
func (s *busLikeSource) Err() error            { return nil }

// Raw-record batches of one stream, 16 in flight as from a bus source,
// are flattened by one Flattener in the order the source delivered them,
// and reach the sink in that order: the output equals the reference
// processor's, record for record. Run with -race.
func TestConcurrentRawBatchesOfOneStreamKeepOrder(t *testing.T) {
	_, traces, _ := deliveryInput(t)
	for _, tr := range traces {
		rd, c, err := sysflow.OpenFile(tr)
		if err != nil {
			t.Fatal(err)
		}
		var recs []sysflow.Record
		for {
			recs, err = rd.Next(recs)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", tr, err)
			}
		}
		c.Close()
		// Small batches: many of them in flight at once.
		var batches [][]sysflow.Record
		for len(recs) > 0 {
			n := min(4, len(recs))
			batches = append(batches, recs[:n:n])
			recs = recs[n:]
		}
		src := &busLikeSource{stream: "topic-" + tr, batches: batches, inFlight: 16, done: make(chan struct{}), closed: make(chan struct{})}
		sink := newFlakySink(func(int) bool { return false })
		p := connector.New(src, &connector.Stage{Name: "flatten", Sinks: []*connector.Sink{{Name: "out", Pub: sink}}},
			flatten.Config{Logger: quietLog()}, connector.Settings{Logger: quietLog()})
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		if err := p.Run(ctx); err != nil {
			cancel()
			t.Fatalf("Run: %v", err)
		}
		if ctx.Err() != nil {
			cancel()
			t.Fatal("the pipeline did not finish within 60s")
		}
		cancel()
		lines, _, _ := sink.result()
		compareOutput(t, []string{tr}, lines)
	}
}
