package socket

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/sfconnector/sfconnector/sysflow"
	"github.com/sfconnector/sfconnector/testenv/collector"
	"github.com/sfconnector/sfconnector/testenv/shared"
)

func readAll(t *testing.T, path string) []sysflow.Record {
	t.Helper()
	rd, c, err := sysflow.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var recs []sysflow.Record
	for {
		recs, err = rd.Next(recs)
		if errors.Is(err, io.EOF) {
			return recs
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// collect acks every message and gathers its records until n have arrived.
func collect(t *testing.T, ch <-chan *message.Message, n int, timeout time.Duration) []sysflow.Record {
	t.Helper()
	var got []sysflow.Record
	deadline := time.After(timeout)
	for len(got) < n {
		select {
		case m, ok := <-ch:
			if !ok {
				t.Fatalf("channel closed after %d of %d records", len(got), n)
			}
			got = append(got, sysflow.BatchOf(m).Records...)
			m.Ack()
		case <-deadline:
			t.Fatalf("timed out after %d of %d records", len(got), n)
		}
	}
	return got
}

func sockPath(t *testing.T) string {
	// unix socket paths are short: use /tmp rather than a long TempDir
	dir, err := os.MkdirTemp("/tmp", "sfsock")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, "sf.sock")
}

func TestReplayRealTracesOverSocket(t *testing.T) {
	for _, trace := range shared.Traces(t) {
		t.Run(shared.TraceName(trace), func(t *testing.T) {
			want := readAll(t, trace)
			path := sockPath(t)
			src, err := Listen(Config{Path: path, BatchSize: 100, DrainTimeout: 300 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			st, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if st.Mode().Perm() != 0o600 {
				t.Errorf("socket mode = %o, want 600", st.Mode().Perm())
			}
			ch, err := src.Subscribe(context.Background(), "")
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			sent := make(chan error, 1)
			go func() {
				n, err := collector.Replay(ctx, collector.Options{Socket: path, Wait: 5 * time.Second}, trace)
				if err == nil && n != int64(len(want)) {
					err = errors.New("replay sent a different count")
				}
				sent <- err
			}()
			got := collect(t, ch, len(want), 30*time.Second)
			if err := <-sent; err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				for i := range want {
					if !reflect.DeepEqual(got[i], want[i]) {
						t.Fatalf("record %d differs: got %+v want %+v", i, got[i], want[i])
					}
				}
			}
			if s := src.Stats(); s.Records != int64(len(want)) || s.Malformed != 0 || s.Connections != 1 {
				t.Errorf("stats = %+v", s)
			}
			src.Close()
			if _, err := os.Stat(path); !os.IsNotExist(err) {
				t.Errorf("socket file left behind: %v", err)
			}
		})
	}
}

// A message far above the reference's 16 KiB limit arrives whole; malformed
// messages are skipped and counted; the connection goes on; a reconnect is
// served.
func TestLargeAndMalformedMessages(t *testing.T) {
	path := sockPath(t)
	src, err := Listen(Config{Path: path, BatchSize: 1, Mode: 0o660, DrainTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o660 {
		t.Errorf("mode = %o, want the configured 660", st.Mode().Perm())
	}
	ch, _ := src.Subscribe(context.Background(), "")

	big := strings.Repeat("x", 100<<10) // 100 KiB of arguments
	recs := []sysflow.Record{
		{Kind: sysflow.KindHeader, Header: &sysflow.Header{Version: 5, Exporter: "node1", IP: "10.0.0.1", Filename: "t"}},
		{Kind: sysflow.KindProcess, Process: &sysflow.Process{OID: sysflow.OID{CreateTS: 1, Hpid: 42}, Exe: "/bin/sh", ExeArgs: big, UserName: "root", GroupName: "root", Env: []string{}}},
	}
	conn, err := collector.Dial(context.Background(), path, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	send := func(c *net.UnixConn, b []byte) {
		if _, err := c.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	for i := range recs {
		b, err := sysflow.AppendDatum(nil, &recs[i])
		if err != nil {
			t.Fatal(err)
		}
		send(conn, b)
		if i == 0 {
			send(conn, []byte{0x07, 0xff, 0xff}) // not a SysFlow datum
		}
	}
	got := collect(t, ch, 2, 10*time.Second)
	if got[1].Process == nil || got[1].Process.ExeArgs != big {
		t.Fatalf("large record not delivered whole")
	}
	conn.Close()
	// reconnect: the next connection is served
	conn2, err := collector.Dial(context.Background(), path, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := sysflow.AppendDatum(nil, &recs[0])
	send(conn2, b)
	got = collect(t, ch, 1, 10*time.Second)
	if got[0].Header == nil || got[0].Header.Exporter != "node1" {
		t.Fatalf("after reconnect got %+v", got[0])
	}
	conn2.Close()
	deadline := time.Now().Add(2 * time.Second)
	for src.Stats().Connections < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if s := src.Stats(); s.Malformed != 1 || s.Connections != 2 || s.Records != 3 {
		t.Errorf("stats = %+v, want 1 malformed, 2 connections, 3 records", s)
	}
}

func TestOversizedMessageSkipped(t *testing.T) {
	path := sockPath(t)
	src, err := Listen(Config{Path: path, BatchSize: 1, MaxMessage: 1024, DrainTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	ch, _ := src.Subscribe(context.Background(), "")
	conn, err := collector.Dial(context.Background(), path, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	hdr := sysflow.Record{Kind: sysflow.KindHeader, Header: &sysflow.Header{Version: 5, Exporter: "n"}}
	b, _ := sysflow.AppendDatum(nil, &hdr)
	conn.Write(make([]byte, 4096))
	conn.Write(b)
	got := collect(t, ch, 1, 5*time.Second)
	if got[0].Header == nil {
		t.Fatalf("got %+v", got[0])
	}
	if s := src.Stats(); s.Oversized != 1 {
		t.Errorf("oversized = %d, want 1", s.Oversized)
	}
}

func TestRefusesLiveSocketAndNonSocket(t *testing.T) {
	path := sockPath(t)
	src, err := Listen(Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if _, err := Listen(Config{Path: path}); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Errorf("second listener: %v", err)
	}
	plain := filepath.Join(filepath.Dir(path), "plain")
	os.WriteFile(plain, []byte("data"), 0o600)
	if _, err := Listen(Config{Path: plain}); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Errorf("regular file: %v", err)
	}
}
