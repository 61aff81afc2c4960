package syslog

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"

	"github.com/sfconnector/sfconnector/testenv/rsyslog"
)

// syncLog is a logger's output, written by the sink's goroutines and read
// by the test.
type syncLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestUnreachableReportedThenAborted: with the receiver down, the first
// failed dial is logged at once with the address and Health reports it,
// while the Publish keeps trying (30s by default); Abort makes that
// Publish fail at once with ErrClosed, and Close, with nothing kept, ends
// at once without error.
func TestUnreachableReportedThenAborted(t *testing.T) {
	srv := rsyslog.Start(t, rsyslog.Options{TCP: true})
	h, p := hostPort(t, srv.TCPAddr)
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	logs := &syncLog{}
	s := newSink(t, Config{Host: h, Port: p, Logger: watermill.NewSlogLogger(slog.New(slog.NewTextHandler(logs, nil)))})
	if err := s.Health(); err != nil {
		t.Fatalf("Health before any dial: %v", err)
	}
	published := make(chan error, 1)
	go func() { published <- s.Publish("", batch(0, 10)) }()
	deadline := time.Now().Add(10 * time.Second)
	for s.Health() == nil {
		if time.Now().After(deadline) {
			t.Fatalf("Health still nil 10s into a Publish to a dead receiver; log:\n%s", logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := s.Health(); !strings.Contains(err.Error(), srv.TCPAddr) || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("Health: %v; want the address and the dial error", err)
	}
	if log := logs.String(); !strings.Contains(log, "cannot reach the receiver") || !strings.Contains(log, "addr="+srv.TCPAddr) {
		t.Errorf("the first failed dial is not logged with the address:\n%s", log)
	}
	select {
	case err := <-published:
		t.Fatalf("Publish returned before the reconnect timeout: %v", err)
	default:
	}
	start := time.Now()
	s.Abort()
	select {
	case err := <-published:
		if !errors.Is(err, ErrClosed) {
			t.Errorf("aborted Publish: %v, want ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Publish still waiting 5s after Abort")
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close after Abort with nothing kept: %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Abort and Close took %v", d)
	}
}

// TestAbortedCloseReportsKept: messages written just before the receiver
// died are kept for a resend; Close would try to deliver them for
// WriteTimeout (30s here). Aborted before Close, or while Close is trying
// (the shutdown deadline passing during the drain), Close returns at once
// and reports how many it kept.
func TestAbortedCloseReportsKept(t *testing.T) {
	for _, during := range []bool{false, true} {
		t.Run(map[bool]string{false: "before-close", true: "while-closing"}[during], func(t *testing.T) {
			srv := rsyslog.Start(t, rsyslog.Options{TCP: true})
			h, p := hostPort(t, srv.TCPAddr)
			// a long resend window: the 5 messages stay kept however slow the machine
			s := newSink(t, Config{Host: h, Port: p, ResendWindow: time.Minute, WriteTimeout: 30 * time.Second})
			if err := s.Publish("", batch(0, 5)); err != nil {
				t.Fatal(err)
			}
			if err := srv.Kill(); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			closed := make(chan error, 1)
			if during {
				draining := make(chan struct{})
				s.drainHook = func() { close(draining) }
				go func() { closed <- s.Close() }()
				<-draining
				s.Abort()
			} else {
				s.Abort()
				closed <- s.Close()
			}
			var err error
			select {
			case err = <-closed:
			case <-time.After(20 * time.Second):
				t.Fatal("Close still running 20s after Abort")
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("Close with Abort took %v", d)
			}
			if err == nil || !strings.Contains(err.Error(), "aborted with 5 messages not proven delivered") {
				t.Errorf("Close: %v; want the 5 kept messages reported", err)
			}
		})
	}
}
