// Package null is the sink that accepts and discards everything: for
// benchmarks and for pipelines whose only purpose is their metrics.
package null

import (
	"sync/atomic"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/sfconnector/sfconnector/sysflow"
)

// Sink discards events and counts them.
type Sink struct{ events atomic.Int64 }

// New returns a null sink.
func New() *Sink { return &Sink{} }

// Publish counts the events of msgs.
func (s *Sink) Publish(_ string, msgs ...*message.Message) error {
	for _, m := range msgs {
		if b := sysflow.BatchOf(m); b != nil {
			s.events.Add(int64(len(b.Events)))
		}
	}
	return nil
}

// Events is the number of events accepted.
func (s *Sink) Events() int64 { return s.events.Load() }

// Close does nothing.
func (s *Sink) Close() error { return nil }
