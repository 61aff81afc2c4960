// Package terminal is the sink that prints events to standard output (or any
// writer): JSON lines, or the one-line text format of encoding/text.
package terminal

import (
	"errors"
	"io"
	"os"
	"sync"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/sfconnector/sfconnector/encoding"
	"github.com/sfconnector/sfconnector/sinks/internal/lines"
)

// Sink writes encoded events, one per line.
type Sink struct {
	mu  sync.Mutex
	w   io.Writer
	enc encoding.Encoder

	// Grouped writes the seed-era alert shape: events grouped by node and
	// container per write ({"groupId": ..., "observations": [...]}).
	Grouped bool
	buf     []byte
	closed  bool
}

// New returns a terminal sink writing to w (os.Stdout when nil).
func New(w io.Writer, enc encoding.Encoder) *Sink {
	if w == nil {
		w = os.Stdout
	}
	return &Sink{w: w, enc: enc}
}

// Publish writes the events of msgs with one write call per batch.
func (s *Sink) Publish(_ string, msgs ...*message.Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errTerminalClosed
	}
	var err error
	s.buf, _, err = s.appendLines(msgs)
	if err != nil {
		return err
	}
	_, err = s.w.Write(s.buf)
	return err
}

var errTerminalClosed = errors.New("terminal sink: closed")

// Close ends publishing; a later Publish fails, as with every sink, so a
// write after shutdown is reported instead of appearing after the summary.
// The writer itself (standard output) stays open.
func (s *Sink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}

func (s *Sink) appendLines(msgs []*message.Message) ([]byte, int, error) {
	if s.Grouped {
		return lines.AppendGrouped(s.buf[:0], s.enc, msgs)
	}
	return lines.Append(s.buf[:0], s.enc, msgs)
}
