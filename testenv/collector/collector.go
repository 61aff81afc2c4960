// Package collector simulates the SysFlow collector's socket protocol: it
// streams the records of trace files to a unix SOCK_SEQPACKET socket, one
// Avro datum (v5 SysFlow union) per message, as the collector does. Each
// trace file is sent over its own connection, starting with its header.
//
// It backs `sfconnector replay` and the socket tests.
package collector

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/sfconnector/sfconnector/sysflow"
)

// Options of a replay.
type Options struct {
	Socket string        // socket path
	Rate   int           // records per second at most; 0 unlimited
	Wait   time.Duration // how long to wait for the socket to accept connections
}

// Replay streams the files' records to the socket and returns how many it
// sent.
func Replay(ctx context.Context, opts Options, files ...string) (int64, error) {
	var total int64
	for _, f := range files {
		n, err := replayFile(ctx, opts, f)
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// Dial connects to the socket, retrying until wait has passed.
func Dial(ctx context.Context, path string, wait time.Duration) (*net.UnixConn, error) {
	deadline := time.Now().Add(wait)
	for {
		c, err := net.DialUnix("unixpacket", nil, &net.UnixAddr{Name: path, Net: "unixpacket"})
		if err == nil {
			return c, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("replay: connect to %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func replayFile(ctx context.Context, opts Options, path string) (int64, error) {
	rd, closer, err := sysflow.OpenFile(path)
	if err != nil {
		return 0, err
	}
	defer closer.Close()
	conn, err := Dial(ctx, opts.Socket, opts.Wait)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	var sent int64
	var buf []byte
	var recs []sysflow.Record
	start := time.Now()
	for {
		recs, err = rd.Next(recs[:0])
		for i := range recs {
			if ctx.Err() != nil {
				return sent, ctx.Err()
			}
			buf, err = sysflow.AppendDatum(buf[:0], &recs[i])
			if err != nil {
				return sent, fmt.Errorf("replay %s: encoding record %d: %w", path, sent, err)
			}
			if _, err := conn.Write(buf); err != nil {
				return sent, fmt.Errorf("replay %s: %w", path, err)
			}
			sent++
			if opts.Rate > 0 {
				due := start.Add(time.Duration(sent) * time.Second / time.Duration(opts.Rate))
				if d := time.Until(due); d > 0 {
					time.Sleep(d)
				}
			}
		}
		if errors.Is(err, io.EOF) {
			return sent, nil
		}
		if err != nil {
			return sent, err
		}
	}
}
