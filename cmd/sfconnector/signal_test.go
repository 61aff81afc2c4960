package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sfconnector/sfconnector/testenv/collector"
	"github.com/sfconnector/sfconnector/testenv/parity"
	"github.com/sfconnector/sfconnector/testenv/shared"
)

// TestCLIFileSIGTERMDrains stops a file pipeline with SIGTERM while it is
// busy: it must exit 0 within the shutdown deadline, and what it wrote
// must be whole records, in order, exactly a prefix of what the
// uninterrupted run writes (in-flight batches finished, nothing half
// written, nothing twice).
func TestCLIFileSIGTERMDrains(t *testing.T) {
	cleanEnv(t)
	trace := shared.Path(t, "traces", "mon.1531776682.sf")
	dir := t.TempDir()
	fullOut := filepath.Join(dir, "full.json")
	if err := run([]string{"-driver", "file", "-config", pipelineJSON(t, dir, "", fullOut), "-log", "error", trace},
		io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	one := readOutput(t, fullOut)

	// Many copies of the trace, so that the run is surely busy when the
	// signal comes; each file is a stream of its own and writes the same.
	const copies = 12
	in := filepath.Join(dir, "in")
	if err := os.Mkdir(in, 0o700); err != nil {
		t.Fatal(err)
	}
	for i := range copies {
		if err := os.Symlink(trace, filepath.Join(in, fmt.Sprintf("%02d.sf", i))); err != nil {
			t.Fatal(err)
		}
	}
	// The output is a FIFO the test reads slowly: back-pressure keeps the
	// run busy for as long as the test reads, however fast the pipeline.
	out := filepath.Join(dir, "out.fifo")
	if err := syscall.Mkfifo(out, 0o600); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got [][]byte
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		f, err := os.Open(out) // blocks until the sink opens it
		if err != nil {
			return
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 64<<20)
		for n := 1; sc.Scan(); n++ {
			mu.Lock()
			got = append(got, append([]byte(nil), sc.Bytes()...))
			mu.Unlock()
			if n%200 == 0 {
				time.Sleep(5 * time.Millisecond) // ~40k lines/s
			}
		}
	}()
	lines := func() int { mu.Lock(); defer mu.Unlock(); return len(got) }
	p := startCLI(t, "-driver", "file", "-config", pipelineJSON(t, dir, "", out), "-shutdown-timeout", "5s", in)
	if !waitFor(context.Background(), 30*time.Second, func() bool { return lines() > 0 }) {
		t.Fatalf("nothing written after 30s; stderr:\n%s", tail(p.stderr.String(), 2000))
	}
	sig := p.signal(t, syscall.SIGTERM)
	code := p.wait(t, 10*time.Second)
	took := p.exited.Sub(sig)
	<-readDone
	stderr := p.stderr.String()
	assertNoPanic(t, stderr)
	if code != 0 {
		t.Errorf("exit status %d after SIGTERM; stderr:\n%s", code, tail(stderr, 2000))
	}
	if took > 5*time.Second {
		t.Errorf("took %v to exit after SIGTERM, the shutdown deadline is 5s", took)
	}
	if len(got) >= copies*len(one) {
		t.Fatalf("the run finished (%d records) before SIGTERM: the test did not interrupt it", len(got))
	}
	if !strings.Contains(stderr, "draining in-flight records") {
		t.Errorf("no drain logged on stderr:\n%s", tail(stderr, 2000))
	}
	for i, line := range got {
		if want := one[i%len(one)]; !bytes.Equal(line, want) {
			t.Fatalf("record %d is not the uninterrupted run's:\n got %.300s\nwant %.300s", i+1, line, want)
		}
	}
	t.Logf("SIGTERM after %d of %d records; exited in %v", len(got), copies*len(one), took.Round(time.Millisecond))
}

// TestCLISocketSIGTERMDrainsReceived: once the collector has sent a trace
// and disconnected, every record is in the process's hands; SIGTERM right
// then must still write all of them, to every sink, before the process
// exits. A fan-out to several sinks makes the pipeline slower than the
// socket reader, so that records are queued when the signal comes.
func TestCLISocketSIGTERMDrainsReceived(t *testing.T) {
	trace := shared.Path(t, "traces", "mon.1531776682.sf")
	want := len(parity.LoadLines(t, shared.Path(t, "parity", "telemetry", "mon.1531776682.jsonl.gz")))
	dir := shortDir(t)
	sock := filepath.Join(dir, "s.sock")
	var outs []string
	for i := range 4 {
		outs = append(outs, filepath.Join(dir, fmt.Sprintf("out%d.json", i)))
	}
	p := startCLI(t, "-driver", "socket", "-config", pipelineJSON(t, dir, sock, outs...), "-shutdown-timeout", "5s")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := collector.Replay(ctx, collector.Options{Socket: sock, Wait: 20 * time.Second}, trace); err != nil {
		t.Fatal(err)
	}
	if !waitFor(ctx, 30*time.Second, func() bool { return strings.Contains(p.stderr.String(), "collector disconnected") }) {
		t.Fatalf("the source did not read the connection to its end; stderr:\n%s", tail(p.stderr.String(), 2000))
	}
	at := countLines(outs[0])
	sig := p.signal(t, syscall.SIGTERM)
	code := p.wait(t, 10*time.Second)
	took := p.exited.Sub(sig)
	stderr := p.stderr.String()
	assertNoPanic(t, stderr)
	if code != 0 {
		t.Errorf("exit status %d after SIGTERM; stderr:\n%s", code, tail(stderr, 2000))
	}
	if took > 5*time.Second {
		t.Errorf("took %v to exit after SIGTERM, the shutdown deadline is 5s", took)
	}
	var lost []int
	for _, out := range outs {
		lost = append(lost, want-countLines(out))
	}
	t.Logf("%d of %d records written at SIGTERM; lost per sink at exit: %v (exit %v after the signal)",
		at, want, lost, took.Round(time.Millisecond))
	for i, out := range outs {
		got := readOutput(t, out)
		if len(got) != want {
			t.Errorf("%s: %d records written, %d were received", out, len(got), want)
			continue
		}
		if i == 0 {
			parity.CompareTelemetry(t, trace, got)
		}
	}
}

// TestCLISocketBadMessages: malformed and oversized messages from a
// collector are skipped with an error logged, the connection's other
// records and the next connection's are processed as usual.
func TestCLISocketBadMessages(t *testing.T) {
	trace := shared.Path(t, "traces", "shellshock.sf")
	dir := shortDir(t)
	sock := filepath.Join(dir, "s.sock")
	out := filepath.Join(dir, "out.json")
	cfg := pipelineJSON(t, dir, sock, out)
	// the socket driver's limit on a message's size
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b = bytes.Replace(b, []byte(`"driver": "socket",`), []byte(`"driver": "socket", "max.message": 65536,`), 1)
	if err := os.WriteFile(cfg, b, 0o600); err != nil {
		t.Fatal(err)
	}
	p := startCLI(t, "-driver", "socket", "-config", cfg, "-shutdown-timeout", "5s")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	conn, err := collector.Dial(ctx, sock, 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for _, msg := range [][]byte{
		[]byte("this is not an Avro datum"),
		bytes.Repeat([]byte{0xff}, 100),
		bytes.Repeat([]byte{0x02}, 100_000), // above max.message
	} {
		if _, err := conn.Write(msg); err != nil {
			t.Fatalf("write %d bytes: %v", len(msg), err)
		}
	}
	conn.Close()
	if _, err := collector.Replay(ctx, collector.Options{Socket: sock, Wait: 20 * time.Second}, trace); err != nil {
		t.Fatal(err)
	}
	want := len(parity.LoadLines(t, shared.Path(t, "parity", "telemetry", "shellshock.jsonl.gz")))
	if !waitFor(ctx, 30*time.Second, func() bool { return countLines(out) >= want }) {
		t.Fatalf("%d of %d records written; stderr:\n%s", countLines(out), want, tail(p.stderr.String(), 2000))
	}
	p.signal(t, syscall.SIGTERM)
	if code := p.wait(t, 10*time.Second); code != 0 {
		t.Errorf("exit status %d after SIGTERM", code)
	}
	stderr := p.stderr.String()
	assertNoPanic(t, stderr)
	if n := strings.Count(stderr, "malformed message skipped"); n != 2 {
		t.Errorf("%d malformed messages logged, want 2; stderr:\n%s", n, tail(stderr, 3000))
	}
	if n := strings.Count(stderr, "message too large, skipped"); n != 1 {
		t.Errorf("%d oversized messages logged, want 1; stderr:\n%s", n, tail(stderr, 3000))
	}
	parity.CompareTelemetry(t, trace, readOutput(t, out))
}
