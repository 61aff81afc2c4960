// Package lines writes the events of Watermill batch messages as
// newline-terminated encoded records to an io.Writer: the shared core of the
// terminal and file sinks.
package lines

import (
	"fmt"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/sfconnector/sfconnector/encoding"
	"github.com/sfconnector/sfconnector/sysflow"
)

// Append encodes every event of every message's batch into dst, one per line.
func Append(dst []byte, enc encoding.Encoder, msgs []*message.Message) ([]byte, int, error) {
	n := 0
	for _, m := range msgs {
		b := sysflow.BatchOf(m)
		if b == nil {
			return dst, n, fmt.Errorf("message %s carries no batch", m.UUID)
		}
		for _, ev := range b.Events {
			var err error
			dst, err = enc.AppendEvent(dst, ev)
			if err != nil {
				return dst, n, fmt.Errorf("encoding a %s record from %s: %w", ev.Kind, b.Source, err)
			}
			dst = append(dst, '\n')
			n++
		}
	}
	return dst, n, nil
}
