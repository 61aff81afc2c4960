package connector

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"sync"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/sfconnector/sfconnector/config"
	"github.com/sfconnector/sfconnector/encoding/json"
	"github.com/sfconnector/sfconnector/sysflow"
)

// deadLetterFile is the file dead-letter sink: one JSON line per record a
// sink rejected after every retry,
// {"reason": "...", "source": "...", "record": {...reference JSON...}}.
// Nothing is lost silently: what could not be delivered is here, with why.
type deadLetterFile struct {
	mu   sync.Mutex
	path string
	f    *os.File
	w    *bufio.Writer
	enc  *json.Encoder
	buf  []byte
}

func newDeadLetterFile(path string) (*deadLetterFile, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("dead-letter sink: %w", err)
	}
	return &deadLetterFile{path: path, f: f, w: bufio.NewWriter(f), enc: json.New(json.Options{})}, nil
}

func (d *deadLetterFile) Publish(_ string, msgs ...*message.Message) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, m := range msgs {
		b := sysflow.BatchOf(m)
		if b == nil {
			continue
		}
		for _, ev := range b.Events {
			var err error
			if d.buf, err = appendDeadLetter(d.buf[:0], d.enc, m.Metadata.Get("reason"), b.Source, ev); err != nil {
				return err
			}
			d.buf = append(d.buf, '\n')
			if _, err := d.w.Write(d.buf); err != nil {
				return fmt.Errorf("dead-letter sink %s: %w", d.path, err)
			}
		}
	}
	if err := d.w.Flush(); err != nil {
		return fmt.Errorf("dead-letter sink %s: %w", d.path, err)
	}
	return nil
}

func (d *deadLetterFile) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.f == nil {
		return nil
	}
	err := d.w.Flush()
	if cerr := d.f.Close(); err == nil {
		err = cerr
	}
	d.f = nil
	return err
}

// appendDeadLetter writes one dead letter:
// {"reason": "...", "source": "...", "record": {...reference JSON...}}.
func appendDeadLetter(dst []byte, enc *json.Encoder, reason, source string, ev *sysflow.Event) ([]byte, error) {
	dst = append(dst, `{"reason":`...)
	dst = json.AppendString(dst, reason)
	dst = append(dst, `,"source":`...)
	dst = json.AppendString(dst, source)
	dst = append(dst, `,"record":`...)
	dst, err := enc.AppendEvent(dst, ev)
	if err != nil {
		return dst, err
	}
	return append(dst, '}'), nil
}

// deadLetterBus sends dead letters to a Kafka topic or NATS subject: one
// message per record, its payload the dead-letter JSON above.
type deadLetterBus struct {
	sink *Sink
	enc  *json.Encoder
}

func (d *deadLetterBus) Publish(topic string, msgs ...*message.Message) error {
	var out []*message.Message
	for _, m := range msgs {
		b := sysflow.BatchOf(m)
		if b == nil {
			continue
		}
		for _, ev := range b.Events {
			payload, err := appendDeadLetter(nil, d.enc, m.Metadata.Get("reason"), b.Source, ev)
			if err != nil {
				return err
			}
			out = append(out, message.NewMessage(watermill.NewUUID(), payload))
		}
	}
	if len(out) == 0 {
		return nil
	}
	if err := d.sink.Pub.Publish(topic, out...); err != nil {
		return fmt.Errorf("dead-letter sink %s: %w", d.sink.Name, err)
	}
	return nil
}

func (d *deadLetterBus) Close() error { return d.sink.Pub.Close() }

// buildDeadLetter builds the dead-letter sink the settings name, if any.
func buildDeadLetter(ctx context.Context, settings *config.Plugin, k *config.Keys, opts Options) (message.Publisher, error) {
	export := k.Enum("deadletter.export", "file", "kafka", "nats")
	path := k.String("deadletter.path")
	if export == "" && path != "" {
		export = "file"
	}
	switch export {
	case "":
		return nil, nil
	case "file":
		if path == "" {
			return nil, fmt.Errorf("%s: key \"deadletter.path\": the file dead-letter sink needs a path", settings.Where)
		}
		if opts.DryRun {
			return nil, nil
		}
		return newDeadLetterFile(path)
	}
	keys := k.Prefixed("deadletter."+export+".", "deadletter.")
	keys["export"] = export
	keys["format"] = "json"
	node := &config.Node{Plugin: *config.NewPlugin(config.KindExporter, settings.Where+" deadletter."+export, keys)}
	s, err := buildSink(ctx, node, opts)
	if err != nil || opts.DryRun {
		return nil, err
	}
	return &deadLetterBus{sink: s, enc: json.New(json.Options{})}, nil
}
