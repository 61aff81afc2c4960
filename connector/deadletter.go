package connector

import (
	"bufio"
	"fmt"
	"os"
	"sync"

	"github.com/ThreeDotsLabs/watermill/message"

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
			d.buf = append(d.buf[:0], `{"reason":`...)
			d.buf = json.AppendString(d.buf, m.Metadata.Get("reason"))
			d.buf = append(d.buf, `,"source":`...)
			d.buf = json.AppendString(d.buf, b.Source)
			d.buf = append(d.buf, `,"record":`...)
			var err error
			if d.buf, err = d.enc.AppendEvent(d.buf, ev); err != nil {
				return err
			}
			d.buf = append(d.buf, "}\n"...)
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
