// Package encoding turns flat events into bytes for the sinks: json (the
// reference processor's shape), ecs, and avro (schema-registry aware).
package encoding

import "github.com/sfconnector/sfconnector/sysflow"

// Encoder appends the encoding of one flat event to dst.
type Encoder interface {
	AppendEvent(dst []byte, ev *sysflow.Event) ([]byte, error)
}

// ConcurrentEncoder is an Encoder that may be called from several
// goroutines at once: a sink can then encode the two halves of a batch on
// two cores.
type ConcurrentEncoder interface {
	Encoder
	// ConcurrentSafe marks the encoder; it does nothing.
	ConcurrentSafe()
}
