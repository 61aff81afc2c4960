package syslog

import (
	"bufio"
	"errors"
	"io"
	"net"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sfconnector/sfconnector/testenv/rsyslog"
)

// These tests need a receiver that misbehaves on cue: one that takes
// messages into its kernel buffer without reading them and then resets
// the connection, the failure in which a successful write means nothing.
// rsyslog cannot be told to do that at a chosen moment, so the receiver
// here is a plain TCP listener; everything else (kernel, sockets, sink) is
// real. The rsyslog restart tests cover the same ground less precisely.

// receiver accepts connections. The first `blackholes` connections are
// never read and are reset when reset() is called; later ones are read
// frame by frame (octet counting) into msgs until the sender closes.
type receiver struct {
	t      *testing.T
	ln     net.Listener
	mu     sync.Mutex
	held   []*net.TCPConn
	msgs   chan []byte
	accept chan struct{} // one value per accepted connection
	wg     sync.WaitGroup
}

func newReceiver(t *testing.T, blackholes int, rcvbuf int) *receiver {
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		if rcvbuf == 0 {
			return nil
		}
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, rcvbuf)
		})
		return errors.Join(err, serr)
	}}
	ln, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &receiver{t: t, ln: ln, msgs: make(chan []byte, 1<<20), accept: make(chan struct{}, 16)}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		for n := 0; ; n++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			r.accept <- struct{}{}
			if n < blackholes {
				r.mu.Lock()
				r.held = append(r.held, c.(*net.TCPConn))
				r.mu.Unlock()
				continue
			}
			r.wg.Add(1)
			go r.read(c)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		r.reset()
		r.wg.Wait()
	})
	return r
}

// reset drops the held connections with a reset: whatever they hold unread
// is lost, as when a receiver crashes.
func (r *receiver) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.held {
		_ = c.SetLinger(0)
		c.Close()
	}
	r.held = nil
}

func (r *receiver) read(c net.Conn) {
	defer r.wg.Done()
	defer c.Close()
	br := bufio.NewReader(c)
	for {
		digits, err := br.ReadString(' ')
		if err != nil {
			return // EOF: the sender ended the stream; closing tells it we read everything
		}
		n, err := strconv.Atoi(digits[:len(digits)-1])
		if err != nil {
			r.t.Errorf("bad octet count %q", digits)
			return
		}
		msg := make([]byte, n)
		if _, err := io.ReadFull(br, msg); err != nil {
			r.t.Errorf("short frame: %v", err)
			return
		}
		r.msgs <- msg
	}
}

func (r *receiver) port() int { return r.ln.Addr().(*net.TCPAddr).Port }

// collect returns the messages received until none came for quiet.
func (r *receiver) collect(quiet time.Duration) [][]byte {
	var out [][]byte
	for {
		select {
		case m := <-r.msgs:
			out = append(out, m)
		case <-time.After(quiet):
			return out
		}
	}
}

// TestResendUnreadAfterReset: the receiver's kernel took every message,
// Publish returned, and then the receiver reset the connection without
// having read them. No further Publish comes: the sink must notice,
// reconnect and send them again on its own.
func TestResendUnreadAfterReset(t *testing.T) {
	r := newReceiver(t, 1, 0)
	s := newSink(t, Config{Host: "127.0.0.1", Port: r.port()})
	const n = 200
	if err := s.Publish("", batch(0, n)); err != nil {
		t.Fatal(err)
	}
	<-r.accept
	time.Sleep(50 * time.Millisecond) // let the kernel acknowledge everything
	r.reset()

	got := r.collect(3 * time.Second) // the supervisor's reconnection, without a Publish
	counts := verify(t, got, n, checkOpts{})
	if dups := complete(t, counts, n); dups != 0 {
		t.Errorf("%d duplicates: the first connection delivered nothing", dups)
	}
	if st := s.Stats(); st.Resent != n || st.Reconnects != 1 {
		t.Errorf("stats %+v, want %d resent on 1 reconnection", st, n)
	}
	if err := s.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
}

// TestResendAfterStall: the receiver stops reading, its small buffer
// fills, the sink's writes pile up in its own kernel buffer and Publish
// blocks; long after the resend window, the receiver resets. Messages its
// kernel acknowledged before the stall are older than the window counted
// from the failure, but not from the last time the receiver took data: they
// must be sent again, and so must everything never acknowledged.
func TestResendAfterStall(t *testing.T) {
	r := newReceiver(t, 1, 4096)
	s := newSink(t, Config{Host: "127.0.0.1", Port: r.port(), ResendWindow: 100 * time.Millisecond, WriteTimeout: time.Minute})
	// One message per Publish: each gets its own flush and its own
	// acknowledged offset, so the receiver's kernel acknowledges whole
	// messages before the stall.
	const n, per = 3000, 1
	done := make(chan error, 1)
	go func() {
		for from := 0; from < n; from += per {
			if err := s.Publish("", batch(from, from+per)); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	<-r.accept
	time.Sleep(time.Second) // ten windows
	select {
	case err := <-done:
		t.Fatalf("Publish did not block on a receiver that reads nothing: %v", err)
	default:
	}
	r.reset()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	got := r.collect(500 * time.Millisecond)
	dups := complete(t, verify(t, got, n, checkOpts{}), n)
	t.Logf("%d received, %d duplicates, stats %+v", len(got), dups, s.Stats())
}

// TestCloseProvesDelivery: Close ends the stream and returns only once the
// receiver closed its side after reading everything.
func TestCloseProvesDelivery(t *testing.T) {
	srv := rsyslog.Start(t, rsyslog.Options{TCP: true})
	h, p := hostPort(t, srv.TCPAddr)
	s := newSink(t, Config{Host: h, Port: p})
	const n = 5000
	for from := 0; from < n; from += 500 {
		if err := s.Publish("", batch(from, from+500)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// rsyslog closed the session after reading all of it; its direct queue
	// wrote each message before reading the next.
	lines := srv.WaitRaw(t, n, 2*time.Second)
	complete(t, verify(t, lines, n, checkOpts{}), n)
	if err := s.Publish("", batch(0, 1)); !errors.Is(err, ErrClosed) {
		t.Errorf("Publish after Close: %v", err)
	}
}

// TestCloseWhileStalled: a Publish is blocked writing to a receiver that
// reads nothing. Close must not wait for the write deadline: it cuts the
// write short (that Publish fails with ErrClosed), and still delivers what
// earlier Publish calls left kept, on a new connection.
func TestCloseWhileStalled(t *testing.T) {
	r := newReceiver(t, 1, 4096)
	s := newSink(t, Config{Host: "127.0.0.1", Port: r.port(), WriteTimeout: time.Minute})
	const n = 3000
	if err := s.Publish("", batch(0, 5)); err != nil { // fits in the buffers
		t.Fatal(err)
	}
	blocked := make(chan error, 1)
	go func() { blocked <- s.Publish("", batch(5, n)) }()
	<-r.accept
	time.Sleep(300 * time.Millisecond)
	select {
	case err := <-blocked:
		t.Fatalf("Publish did not block: %v", err)
	default:
	}
	start := time.Now()
	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Close took %v", d)
	}
	if err := <-blocked; !errors.Is(err, ErrClosed) {
		t.Errorf("blocked Publish: %v, want ErrClosed", err)
	}
	// The first Publish succeeded: its alerts arrive (on the second
	// connection); the failed one's are the router's to retry.
	counts := verify(t, r.collect(500*time.Millisecond), n, checkOpts{})
	complete(t, counts, 5)
}
