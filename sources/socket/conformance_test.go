package socket_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/sfconnector/sfconnector/internal/conformance"
	"github.com/sfconnector/sfconnector/sources/socket"
	"github.com/sfconnector/sfconnector/sysflow"
	"github.com/sfconnector/sfconnector/testenv/collector"
)

// The socket source runs the source half of the conformance suite with the
// test as the collector: one Avro datum per SOCK_SEQPACKET message over a
// connection made with the collector simulator's Dial; Reconnect closes
// that connection and the next Send dials again, as a restarted collector
// does.
func TestConformance(t *testing.T) {
	setup := func(t *testing.T) conformance.SourcePair {
		// a short directory: a unix socket path holds at most 107 bytes,
		// and subtest temp directories can be longer
		dir, err := os.MkdirTemp("", "sfsock")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		path := filepath.Join(dir, "s.sock")
		var (
			mu   sync.Mutex
			conn *net.UnixConn
			buf  []byte
		)
		t.Cleanup(func() {
			mu.Lock()
			defer mu.Unlock()
			if conn != nil {
				conn.Close()
			}
		})
		return conformance.SourcePair{
			Send: func(t *testing.T, recs []sysflow.Record) error {
				mu.Lock()
				defer mu.Unlock()
				if conn == nil {
					c, err := collector.Dial(context.Background(), path, 10*time.Second)
					if err != nil {
						return err
					}
					conn = c
				}
				for i := range recs {
					var err error
					if buf, err = sysflow.AppendDatum(buf[:0], &recs[i]); err != nil {
						t.Fatalf("encoding: %v", err)
					}
					if _, err := conn.Write(buf); err != nil {
						return err
					}
				}
				return nil
			},
			NewSubscriber: func(t *testing.T) message.Subscriber {
				src, err := socket.Listen(socket.Config{Path: path, BatchSize: 32, BatchTimeout: 10 * time.Millisecond,
					DrainTimeout: time.Second, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
				if err != nil {
					t.Fatal(err)
				}
				return src
			},
			Reconnect: func(t *testing.T) {
				mu.Lock()
				defer mu.Unlock()
				if conn != nil {
					conn.Close()
					conn = nil
				}
			},
		}
	}
	conformance.RunSource(t, conformance.SourceFeatures{
		// Resume is skipped: the socket keeps nothing; what the source
		// read but did not deliver before Close is counted as dropped
		Reconnect: true,
	}, setup)
}
