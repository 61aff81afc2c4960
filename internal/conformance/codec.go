package conformance

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/sfconnector/sfconnector/sysflow"
)

// Codec encodes the suite's events as "node|container|seq" and decodes them
// back. It implements encoding.Encoder and the bus sources' Decoder.
type Codec struct{}

// AppendEvent implements encoding.Encoder.
func (Codec) AppendEvent(dst []byte, ev *sysflow.Event) ([]byte, error) {
	node, ctr := "", ""
	if ev.Header != nil {
		node = ev.Header.Exporter
	}
	if ev.Container != nil {
		ctr = ev.Container.ID
	}
	dst = append(dst, node...)
	dst = append(dst, '|')
	dst = append(dst, ctr...)
	dst = append(dst, '|')
	return strconv.AppendInt(dst, ev.TS, 10), nil
}

// Decode parses one value and appends its event to b.
func (Codec) Decode(_ context.Context, value []byte, b *sysflow.Batch) error {
	parts := strings.Split(string(value), "|")
	if len(parts) != 3 {
		return fmt.Errorf("conformance codec: %q is not node|container|seq", value)
	}
	seq, err := strconv.ParseInt(parts[2], 10, 64)
	if err != nil {
		return fmt.Errorf("conformance codec: %q: %w", value, err)
	}
	ev := &sysflow.Event{Kind: sysflow.KindFileFlow, Header: &sysflow.Header{Exporter: parts[0]}, TS: seq}
	if parts[1] != "" {
		ev.Container = &sysflow.Container{ID: parts[1]}
	}
	b.Events = append(b.Events, ev)
	return nil
}

// Event makes the suite's event number seq for a key.
func Event(node, container string, seq int64) *sysflow.Event {
	ev := &sysflow.Event{Kind: sysflow.KindFileFlow, Header: &sysflow.Header{Exporter: node}, TS: seq}
	if container != "" {
		ev.Container = &sysflow.Container{ID: container}
	}
	return ev
}

// keyOf is the ordering key of a decoded event.
func keyOf(ev *sysflow.Event) string {
	k := ev.Header.Exporter + "|"
	if ev.Container != nil {
		k += ev.Container.ID
	}
	return k
}
