package sysflow

import (
	"context"

	"github.com/ThreeDotsLabs/watermill/message"
)

// Batch is what one Watermill message carries inside the process: many
// records (from a file or socket source) or many flat events (after
// flattening, or from a bus source). Messages between stages carry batches
// because a Watermill message costs microseconds; on Kafka and NATS each wire
// message is one record and the bus sinks batch their writes instead.
type Batch struct {
	Source  string   // the file, connection, topic or subject the batch came from
	Records []Record // raw SysFlow records, in stream order
	Events  []*Event // flat events, in stream order
}

type batchKey struct{}

// WithBatch attaches b to msg. The batch travels in the message's context, so
// it never leaves the process; bus sinks encode it to the payload themselves.
func WithBatch(msg *message.Message, b *Batch) *message.Message {
	msg.SetContext(context.WithValue(msg.Context(), batchKey{}, b))
	return msg
}

// BatchOf returns the batch attached to msg, or nil.
func BatchOf(msg *message.Message) *Batch {
	b, _ := msg.Context().Value(batchKey{}).(*Batch)
	return b
}
