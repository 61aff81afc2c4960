// Package sender delivers batches to a Watermill subscription one message at
// a time, waiting for each ack before the next. The router handles messages
// concurrently, so this is what keeps a stream in order; decoding of the next
// batch goes on meanwhile in the source's own goroutine.
package sender

import (
	"context"
	"errors"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/sfconnector/sfconnector/sysflow"
)

// ErrClosed is returned when the subscription ends before a batch was acked.
var ErrClosed = errors.New("subscription closed before the batch was acknowledged")

// Send delivers b on out and waits for its ack. A nack redelivers the same
// batch after backoff (doubling up to maxBackoff). It returns ErrClosed or
// ctx's error if it gives up; the batch was then not acknowledged.
func Send(ctx context.Context, out chan<- *message.Message, b *sysflow.Batch, closing <-chan struct{}) error {
	backoff := 50 * time.Millisecond
	const maxBackoff = 5 * time.Second
	for {
		msg := message.NewMessage(watermill.NewUUID(), nil)
		msg.Metadata.Set("source", b.Source)
		sysflow.WithBatch(msg, b)
		select {
		case out <- msg:
		case <-ctx.Done():
			return ctx.Err()
		case <-closing:
			return ErrClosed
		}
		select {
		case <-msg.Acked():
			return nil
		case <-msg.Nacked():
		case <-ctx.Done():
			return ctx.Err()
		case <-closing:
			// the router is shutting down; it still acks or nacks what it holds
			select {
			case <-msg.Acked():
				return nil
			case <-msg.Nacked():
				return ErrClosed
			}
		}
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-closing:
			t.Stop()
			return ErrClosed
		}
		backoff = min(backoff*2, maxBackoff)
	}
}
