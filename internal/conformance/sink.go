package conformance

import (
	"bytes"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/sfconnector/sfconnector/sysflow"
)

// The sinks without a subscriber of their own (file, syslog, terminal) run
// the suite's publisher half: their destination is read back by the test
// (the file, what rsyslogd received, the pipe), not by a source. A sink has
// no ack of its own: Publish returning nil is its ack (the records are in
// the destination) and an error its nack (the caller retries), so the ack
// and nack tests become "a failed write is reported and a retry after
// recovery delivers".

// SinkFeatures says what a sink guarantees; RunSink skips what does not
// apply.
type SinkFeatures struct {
	// ExactlyOnceRetry: a batch whose write failed leaves nothing behind,
	// so its retry delivers each event once (the file sink undoes a partial
	// write); without it a retry may repeat events (syslog resends what the
	// receiver might not have read), never lose them.
	ExactlyOnceRetry bool
	// Timeout bounds each wait (default 30s).
	Timeout time.Duration
}

// SinkPair is a sink and the reader of its destination.
type SinkPair struct {
	// Publisher is the sink under test, writing with Codec.
	Publisher message.Publisher
	// Received returns every event the destination holds so far, decoded
	// with Codec, in the order the destination holds them.
	Received func(t *testing.T) []*sysflow.Event
	// Topic is passed to Publish.
	Topic string
	// Fail makes the destination refuse writes (a full device, a stopped
	// receiver, a closed pipe) and returns a function that makes it accept
	// them again, or nil when it cannot recover (the write error is still
	// checked). A nil Fail skips FailureReported.
	Fail func(t *testing.T) (recover func())
	// Restart stops the receiver and starts it again; nil skips Reconnect.
	Restart func(t *testing.T)
}

// SinkSetup makes a fresh sink and destination for one test and registers
// their cleanup on t.
type SinkSetup func(t *testing.T) SinkPair

// RunSink runs the publisher half of the suite against a sink.
func RunSink(t *testing.T, f SinkFeatures, setup SinkSetup) {
	if f.Timeout <= 0 {
		f.Timeout = 30 * time.Second
	}
	tests := []struct {
		name string
		fn   func(*testing.T, SinkFeatures, SinkSetup)
	}{
		{"Delivery", testSinkDelivery},
		{"Order", testSinkOrder},
		{"FailureReported", testSinkFailure},
		{"CloseWhileBusy", testSinkCloseWhileBusy},
		{"Reconnect", testSinkReconnect},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, f, setup) })
	}
}

// DecodeLines decodes Codec lines (the file and terminal sinks' output).
func DecodeLines(t *testing.T, data []byte) []*sysflow.Event {
	t.Helper()
	var b sysflow.Batch
	for _, line := range bytes.Split(data, []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		if err := (Codec{}).Decode(t.Context(), line, &b); err != nil {
			t.Fatalf("destination holds a line the codec did not write: %v", err)
		}
	}
	return b.Events
}

// waitReceived polls the destination until every wanted seq is there. The
// destinations are files written by other processes or goroutines, which
// signal nothing: polling with a deadline is the only way to wait.
func waitReceived(t *testing.T, p SinkPair, want map[int64]bool, timeout time.Duration) []*sysflow.Event {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := p.Received(t)
		seen := map[int64]bool{}
		for _, ev := range got {
			if want[ev.TS] {
				seen[ev.TS] = true
			}
		}
		if len(seen) == len(want) {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %d of %d events in the destination (first missing: %d)", timeout, len(seen), len(want), firstMissing(want, seen))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func counts(evs []*sysflow.Event) map[int64]int {
	n := map[int64]int{}
	for _, ev := range evs {
		n[ev.TS]++
	}
	return n
}

func testSinkDelivery(t *testing.T, f SinkFeatures, setup SinkSetup) {
	p := setup(t)
	const nMsgs, per = 20, 50
	publish(t, Pair{Publisher: p.Publisher, Topic: p.Topic}, batches(0, nMsgs, per))
	got := waitReceived(t, p, seqs(0, nMsgs*per), f.Timeout)
	for s, n := range counts(got) {
		if n != 1 {
			t.Errorf("event %d in the destination %d times without any fault", s, n)
		}
		if s < 0 || s >= nMsgs*per {
			t.Errorf("event %d in the destination was never published", s)
		}
	}
}

// testSinkOrder: one publisher's events arrive in publish order, across
// messages and within each.
func testSinkOrder(t *testing.T, f SinkFeatures, setup SinkSetup) {
	p := setup(t)
	const nMsgs, per = 40, 25
	pair := Pair{Publisher: p.Publisher, Topic: p.Topic}
	for i := 0; i < nMsgs; i++ {
		// one message per Publish, then several per call: both keep order
		if i < nMsgs/2 {
			publish(t, pair, batches(int64(i*per), 1, per))
			continue
		}
		msgs := batches(int64(i*per), 4, per)
		if err := p.Publisher.Publish(p.Topic, msgs...); err != nil {
			t.Fatalf("publish: %v", err)
		}
		i += 3
	}
	got := waitReceived(t, p, seqs(0, nMsgs*per), f.Timeout)
	for i := 1; i < len(got); i++ {
		if got[i].TS <= got[i-1].TS {
			t.Fatalf("event %d arrived after %d", got[i].TS, got[i-1].TS)
		}
	}
}

// testSinkFailure: while the destination refuses writes, Publish returns
// an error (never nil for events it did not write, never a hang); after
// recovery the same messages published again arrive, with nothing lost.
func testSinkFailure(t *testing.T, f SinkFeatures, setup SinkSetup) {
	p := setup(t)
	if p.Fail == nil {
		t.Skip("the destination cannot be made to fail (SinkPair.Fail is nil)")
	}
	pair := Pair{Publisher: p.Publisher, Topic: p.Topic}
	publish(t, pair, batches(0, 2, 10))
	waitReceived(t, p, seqs(0, 20), f.Timeout)

	recover := p.Fail(t)
	failed := batches(20, 1, 10)
	// A sink may accept a first write into a buffer the kernel holds (a
	// TCP send buffer) before it sees the failure: publish until an error
	// comes, and count those accepted as written: they must arrive.
	accepted := 0
	var err error
	start := time.Now()
	for next := int64(20); ; next += 10 {
		failed = batches(next, 1, 10)
		done := make(chan error, 1)
		go func() { done <- p.Publisher.Publish(p.Topic, failed...) }()
		select {
		case err = <-done:
		case <-time.After(f.Timeout):
			t.Fatal("Publish did not return while the destination refused writes")
		}
		if err != nil {
			break
		}
		accepted++
		if time.Since(start) > f.Timeout {
			t.Fatalf("Publish kept succeeding for %s while the destination refused writes", f.Timeout)
		}
	}
	t.Logf("the failure was reported on write %d: %v", accepted+1, err)
	if recover == nil {
		return
	}
	recover()
	failedFirst := failed[0]
	firstSeq := sysflow.BatchOf(failedFirst).Events[0].TS
	retried := time.Now()
	for {
		// the retry a router makes: the same message, until it is written
		if err = p.Publisher.Publish(p.Topic, failed...); err == nil {
			break
		}
		if time.Since(retried) > f.Timeout {
			t.Fatalf("Publish still failing %s after the destination recovered: %v", f.Timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	publish(t, pair, batches(firstSeq+10, 1, 10))
	want := seqs(0, int(firstSeq)+20)
	got := waitReceived(t, p, want, f.Timeout)
	dups := 0
	for s, n := range counts(got) {
		if !want[s] {
			t.Errorf("event %d in the destination was never published", s)
		}
		if n > 1 {
			dups++
			if f.ExactlyOnceRetry {
				t.Errorf("event %d in the destination %d times", s, n)
			}
		}
	}
	t.Logf("%d events repeated by the recovery (allowed: %v)", dups, !f.ExactlyOnceRetry)
}

// testSinkCloseWhileBusy: Close returns while Publish calls run, every
// Publish call returns, every event of a Publish that returned nil is in
// the destination, and Publish after Close fails.
func testSinkCloseWhileBusy(t *testing.T, f SinkFeatures, setup SinkSetup) {
	p := setup(t)
	stop := make(chan struct{})
	var (
		mu      sync.Mutex
		written = map[int64]bool{}
		wg      sync.WaitGroup
		calls   sync.WaitGroup
	)
	calls.Add(3)
	for w := 0; w < 3; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := int64(0); ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				seq := int64(w)*1_000_000 + i*10
				// Errors are expected once Close began; hanging is not.
				if p.Publisher.Publish(p.Topic, batches(seq, 1, 10)...) == nil {
					mu.Lock()
					for s := seq; s < seq+10; s++ {
						written[s] = true
					}
					mu.Unlock()
				}
				if i == 5 {
					calls.Done()
				}
			}
		}(w)
	}
	calls.Wait() // each publisher is under way
	closePublishing(t, p.Publisher, p.Topic, stop, &wg, f.Timeout)
	mu.Lock()
	defer mu.Unlock()
	if len(written) == 0 {
		t.Fatal("no Publish succeeded before Close")
	}
	got := waitReceived(t, p, written, f.Timeout)
	if slices.ContainsFunc(got, func(ev *sysflow.Event) bool { return ev.TS == 9_000_000 }) {
		t.Error("the event published after Close reached the destination")
	}
}

// testSinkReconnect: the receiver restarts; Publish fails while it is down
// or succeeds into the resend buffer, and a retrying caller's events all
// arrive once it is back.
func testSinkReconnect(t *testing.T, f SinkFeatures, setup SinkSetup) {
	p := setup(t)
	if p.Restart == nil {
		t.Skip("the destination is not a server that restarts (SinkPair.Restart is nil)")
	}
	pair := Pair{Publisher: p.Publisher, Topic: p.Topic}
	publish(t, pair, batches(0, 5, 10))
	waitReceived(t, p, seqs(0, 50), f.Timeout)

	p.Restart(t)
	restarted := time.Now()
	publishAfterRestart(t, p.Publisher, p.Topic, batches(50, 5, 10), restarted, f.Timeout)
	published := time.Since(restarted)
	waitReceived(t, p, seqs(0, 100), f.Timeout)
	t.Logf("after the restart: publish recovered in %s, delivery in %s", published.Round(time.Millisecond), time.Since(restarted).Round(time.Millisecond))
}
