package terminal_test

import (
	"bytes"
	"os"
	"sync"
	"testing"

	"github.com/sfconnector/sfconnector/internal/conformance"
	"github.com/sfconnector/sfconnector/sinks/terminal"
	"github.com/sfconnector/sfconnector/sysflow"
)

// The terminal sink runs the sink half of the conformance suite writing to
// a real pipe, as `sfconnector run | jq` does; a goroutine reads the other
// end into a buffer. The failure is the reader going away (EPIPE); a pipe
// cannot recover from it, so only the error is checked. Reconnect is
// skipped: standard output has no server.
func TestConformance(t *testing.T) {
	setup := func(t *testing.T) conformance.SinkPair {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		var (
			mu  sync.Mutex
			got bytes.Buffer
		)
		read := make(chan struct{})
		go func() {
			defer close(read)
			buf := make([]byte, 64<<10)
			for {
				n, err := r.Read(buf)
				mu.Lock()
				got.Write(buf[:n])
				mu.Unlock()
				if err != nil {
					return
				}
			}
		}()
		t.Cleanup(func() {
			w.Close()
			<-read
			r.Close()
		})
		return conformance.SinkPair{
			Publisher: terminal.New(w, conformance.Codec{}),
			Received: func(t *testing.T) []*sysflow.Event {
				mu.Lock()
				defer mu.Unlock()
				return conformance.DecodeLines(t, got.Bytes())
			},
			Fail: func(t *testing.T) func() {
				// closing the read end makes the next write fail with
				// EPIPE; the reading goroutine ends with the close
				r.Close()
				<-read
				return nil
			},
		}
	}
	conformance.RunSink(t, conformance.SinkFeatures{}, setup)
}
