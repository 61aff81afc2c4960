// Package lines writes the events of Watermill batch messages as
// newline-terminated encoded records to an io.Writer: the shared core of the
// terminal and file sinks.
package lines

import (
	"fmt"
	"strconv"

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

// AppendChunked encodes like Append, but hands the lines over in chunks:
// whenever dst holds limit bytes or more it calls flush(dst), which returns
// the buffer to go on with (it may write dst out while the next chunk is
// encoded). The last, shorter chunk is returned, not flushed. n counts the
// events encoded, flushed or not.
func AppendChunked(dst []byte, enc encoding.Encoder, msgs []*message.Message, limit int,
	flush func([]byte) ([]byte, error)) (out []byte, n int, err error) {
	for _, m := range msgs {
		b := sysflow.BatchOf(m)
		if b == nil {
			return dst, n, fmt.Errorf("message %s carries no batch", m.UUID)
		}
		var k int
		dst, k, err = AppendEventsChunked(dst, enc, b.Events, b.Source, limit, flush)
		n += k
		if err != nil {
			return dst, n, err
		}
	}
	return dst, n, nil
}

// AppendEventsChunked is AppendChunked for events of one batch from source.
func AppendEventsChunked(dst []byte, enc encoding.Encoder, events []*sysflow.Event, source string, limit int,
	flush func([]byte) ([]byte, error)) (out []byte, n int, err error) {
	for _, ev := range events {
		dst, err = enc.AppendEvent(dst, ev)
		if err != nil {
			return dst, n, fmt.Errorf("encoding a %s record from %s: %w", ev.Kind, source, err)
		}
		dst = append(dst, '\n')
		n++
		if flush != nil && len(dst) >= limit {
			if dst, err = flush(dst); err != nil {
				return dst, n, err
			}
		}
	}
	return dst, n, nil
}

// AppendGrouped writes the seed-era `type: alert` shape: the events of the
// messages grouped by node and container, one line per group,
// {"groupId": "<node>/<container>", "observations": [...]}, groups in order
// of first appearance.
func AppendGrouped(dst []byte, enc encoding.Encoder, msgs []*message.Message) ([]byte, int, error) {
	type group struct {
		id     string
		events []*sysflow.Event
	}
	var groups []*group
	index := map[string]*group{}
	n := 0
	for _, m := range msgs {
		b := sysflow.BatchOf(m)
		if b == nil {
			return dst, 0, fmt.Errorf("message %s carries no batch", m.UUID)
		}
		for _, ev := range b.Events {
			node, ctr := "", ""
			if ev.Header != nil {
				node = ev.Header.Exporter
			}
			if ev.Container != nil {
				ctr = ev.Container.ID
			}
			id := node + "/" + ctr
			g, ok := index[id]
			if !ok {
				g = &group{id: id}
				index[id] = g
				groups = append(groups, g)
			}
			g.events = append(g.events, ev)
			n++
		}
	}
	for _, g := range groups {
		dst = append(dst, `{"groupId":`...)
		dst = strconv.AppendQuote(dst, g.id)
		dst = append(dst, `,"observations":[`...)
		for i, ev := range g.events {
			if i > 0 {
				dst = append(dst, ',')
			}
			var err error
			dst, err = enc.AppendEvent(dst, ev)
			if err != nil {
				return dst, 0, err
			}
		}
		dst = append(dst, "]}\n"...)
	}
	return dst, n, nil
}
