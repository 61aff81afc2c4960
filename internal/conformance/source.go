package conformance

import (
	"slices"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/sfconnector/sfconnector/sysflow"
)

// The collector-facing sources (trace files, the collector's socket) run
// the suite's subscriber half: the test plays the collector, writing SysFlow
// records numbered by Records, and checks what the source delivers. Both
// sources deliver one batch at a time in stream order and redeliver a
// nacked batch, so order is total, not per key.

// SourceFeatures says what a source guarantees; RunSource skips what does
// not apply.
type SourceFeatures struct {
	// Resume: a new source on the same input delivers again what a closed
	// one left unacknowledged (trace files are read again; the socket has no
	// storage: what it read but did not deliver is gone with it).
	Resume bool
	// Reconnect: the input is a connection the collector can end and make
	// again (SourcePair.Reconnect); false skips the reconnection test.
	Reconnect bool
	// Timeout bounds each wait (default 30s).
	Timeout time.Duration
}

// SourcePair is the collector's side of a source's input and the source.
type SourcePair struct {
	// Send hands records to the source's input as the collector would: a
	// trace file rotated into a followed directory, messages on the
	// socket. It returns an error once the source is gone.
	Send func(t *testing.T, recs []sysflow.Record) error
	// NewSubscriber returns a source reading that input.
	NewSubscriber func(t *testing.T) message.Subscriber
	// Reconnect ends the collector's connection; the next Send makes a
	// new one (SourceFeatures.Reconnect).
	Reconnect func(t *testing.T)
}

// SourceSetup makes a fresh input for one test and registers its cleanup
// on t.
type SourceSetup func(t *testing.T) SourcePair

// RunSource runs the subscriber half of the suite against a source.
func RunSource(t *testing.T, f SourceFeatures, setup SourceSetup) {
	if f.Timeout <= 0 {
		f.Timeout = 30 * time.Second
	}
	tests := []struct {
		name string
		need bool
		why  string
		fn   func(*testing.T, SourceFeatures, SourceSetup)
	}{
		{"Delivery", true, "", testSourceDelivery},
		{"Order", true, "", testSourceOrder},
		{"OneBatchInFlight", true, "", testSourceOneInFlight},
		{"NackRedelivers", true, "", testSourceNack},
		{"UnackedRedeliveredAfterClose", f.Resume, "the input has no storage: a closed source's unacked records are gone", testSourceResume},
		{"CloseWhileBusy", true, "", testSourceCloseWhileBusy},
		{"Reconnect", f.Reconnect, "the input has no connection to lose", testSourceReconnect},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if !tc.need {
				t.Skip(tc.why)
			}
			tc.fn(t, f, setup)
		})
	}
}

// Records returns n file-event records numbered first..first+n-1 (the
// number is the event's TS), preceded by the header a collector sends
// first on each connection or file.
func Records(first int64, n int) []sysflow.Record {
	recs := make([]sysflow.Record, 0, n+1)
	recs = append(recs, sysflow.Record{Kind: sysflow.KindHeader, Header: &sysflow.Header{Version: 5, Exporter: "node-a", IP: "NA"}})
	for i := 0; i < n; i++ {
		recs = append(recs, sysflow.Record{Kind: sysflow.KindFileEvent, FileEvent: &sysflow.FileEvent{
			ProcOID: sysflow.OID{CreateTS: 1, Hpid: 1}, TS: first + int64(i), TID: 1}})
	}
	return recs
}

// recordSeqs returns the numbers of the file events a delivered message
// carries (headers carry none).
func recordSeqs(t *testing.T, msg *message.Message) []int64 {
	t.Helper()
	b := sysflow.BatchOf(msg)
	if b == nil {
		t.Fatalf("message %s carries no batch", msg.UUID)
	}
	var out []int64
	for _, r := range b.Records {
		if r.Kind == sysflow.KindFileEvent {
			out = append(out, r.FileEvent.TS)
		}
	}
	return out
}

func send(t *testing.T, p SourcePair, recs []sysflow.Record) {
	t.Helper()
	if err := p.Send(t, recs); err != nil {
		t.Fatalf("send: %v", err)
	}
}

func subscribeSource(t *testing.T, p SourcePair) (message.Subscriber, <-chan *message.Message) {
	t.Helper()
	src := p.NewSubscriber(t)
	ch, err := src.Subscribe(t.Context(), "")
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	t.Cleanup(func() { _ = src.Close() })
	return src, ch
}

// collectRecords acks every message until each wanted number arrived and
// returns the numbers in delivery order.
func collectRecords(t *testing.T, ch <-chan *message.Message, want map[int64]bool, timeout time.Duration) []int64 {
	t.Helper()
	var got []int64
	seen := map[int64]bool{}
	deadline := time.After(timeout)
	for len(seen) < len(want) {
		select {
		case msg, ok := <-ch:
			if !ok {
				t.Fatalf("channel closed with %d of %d records missing", len(want)-len(seen), len(want))
			}
			for _, s := range recordSeqs(t, msg) {
				got = append(got, s)
				if want[s] {
					seen[s] = true
				}
			}
			msg.Ack()
		case <-deadline:
			t.Fatalf("after %s: %d of %d records missing (first missing: %d)", timeout, len(want)-len(seen), len(want), firstMissing(want, seen))
		}
	}
	return got
}

func testSourceDelivery(t *testing.T, f SourceFeatures, setup SourceSetup) {
	p := setup(t)
	_, ch := subscribeSource(t, p)
	const nSends, per = 10, 100
	for i := 0; i < nSends; i++ {
		send(t, p, Records(int64(i*per), per))
	}
	got := collectRecords(t, ch, seqs(0, nSends*per), f.Timeout)
	n := map[int64]int{}
	for _, s := range got {
		n[s]++
	}
	for s, c := range n {
		if c != 1 {
			t.Errorf("record %d delivered %d times without any fault", s, c)
		}
	}
	if len(n) != nSends*per {
		t.Errorf("%d distinct records delivered, %d sent", len(n), nSends*per)
	}
}

func testSourceOrder(t *testing.T, f SourceFeatures, setup SourceSetup) {
	p := setup(t)
	_, ch := subscribeSource(t, p)
	const nSends, per = 5, 400
	for i := 0; i < nSends; i++ {
		send(t, p, Records(int64(i*per), per))
	}
	got := collectRecords(t, ch, seqs(0, nSends*per), f.Timeout)
	for i := 1; i < len(got); i++ {
		if got[i] <= got[i-1] {
			t.Fatalf("record %d delivered after %d", got[i], got[i-1])
		}
	}
}

// testSourceOneInFlight: the next batch waits for the ack of the previous
// one (what keeps the stream in order through the pipeline).
func testSourceOneInFlight(t *testing.T, f SourceFeatures, setup SourceSetup) {
	p := setup(t)
	_, ch := subscribeSource(t, p)
	// more records than one batch holds, so that a second batch exists
	send(t, p, Records(0, 100))
	send(t, p, Records(100, 100))
	var first *message.Message
	select {
	case first = <-ch:
	case <-time.After(f.Timeout):
		t.Fatal("nothing delivered")
	}
	if n := len(recordSeqs(t, first)); n >= 200 {
		t.Fatalf("one batch of %d records: the setup's batch size must be smaller", n)
	}
	select {
	case m := <-ch:
		t.Fatalf("records %v delivered while %v awaited its ack", recordSeqs(t, m), recordSeqs(t, first))
	case <-time.After(500 * time.Millisecond):
	}
	firstSeqs := recordSeqs(t, first)
	first.Ack()
	want := seqs(0, 200)
	for _, s := range firstSeqs {
		delete(want, s)
	}
	collectRecords(t, ch, want, f.Timeout)
}

// testSourceNack: a nacked batch comes again, whole, before anything after
// it.
func testSourceNack(t *testing.T, f SourceFeatures, setup SourceSetup) {
	p := setup(t)
	_, ch := subscribeSource(t, p)
	send(t, p, Records(0, 10))
	send(t, p, Records(10, 10))
	var first *message.Message
	select {
	case first = <-ch:
	case <-time.After(f.Timeout):
		t.Fatal("nothing delivered")
	}
	nacked := recordSeqs(t, first)
	first.Nack()
	var again *message.Message
	select {
	case again = <-ch:
	case <-time.After(f.Timeout):
		t.Fatal("the nacked batch was not delivered again")
	}
	if got := recordSeqs(t, again); !slices.Equal(got, nacked) {
		t.Fatalf("after a nack of %v, %v was delivered", nacked, got)
	}
	again.Ack()
	want := seqs(0, 20)
	for _, s := range nacked {
		delete(want, s)
	}
	collectRecords(t, ch, want, f.Timeout)
}

// testSourceResume: records left unacked by a closed source are delivered
// by the next one.
func testSourceResume(t *testing.T, f SourceFeatures, setup SourceSetup) {
	p := setup(t)
	send(t, p, Records(0, 50))
	src, ch := subscribeSource(t, p)
	var held []int64
	var heldMsg *message.Message
	select {
	case heldMsg = <-ch:
		held = recordSeqs(t, heldMsg) // never acked
	case <-time.After(f.Timeout):
		t.Fatal("nothing delivered")
	}
	// Close waits for the held batch's fate, which Watermill's router
	// settles on shutdown by a nack of what it could not finish: do as it
	// does, after Close began.
	closed := make(chan error, 1)
	go func() { closed <- src.Close() }()
	heldMsg.Nack()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatalf("close: %v", err)
		}
	case <-time.After(f.Timeout):
		t.Fatal("Close did not return after the held batch was nacked")
	}
	want := map[int64]bool{}
	for _, s := range held {
		want[s] = true
	}
	_, ch2 := subscribeSource(t, p)
	collectRecords(t, ch2, want, f.Timeout)
}

// testSourceCloseWhileBusy: Close returns while the collector keeps
// sending and a batch is unacked, the channel closes, and the collector's
// sends end (with errors) instead of hanging.
func testSourceCloseWhileBusy(t *testing.T, f SourceFeatures, setup SourceSetup) {
	p := setup(t)
	src, ch := subscribeSource(t, p)
	stop := make(chan struct{})
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		for i := int64(0); ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if p.Send(t, Records(i*20, 20)) != nil {
				return // the source is gone
			}
		}
	}()
	received := 0
	deadline := time.After(f.Timeout)
	for received < 5 {
		select {
		case msg := <-ch:
			received++
			if received%2 == 0 {
				msg.Ack()
			} else {
				msg.Nack()
			}
		case <-deadline:
			t.Fatal("nothing delivered while sending")
		}
	}
	closed := make(chan error, 1)
	go func() { closed <- src.Close() }()
	drained := time.After(f.Timeout)
	for open := true; open; {
		select {
		case m, ok := <-ch:
			open = ok
			if ok {
				m.Ack() // the source may deliver what it read before closing
			}
		case <-drained:
			t.Fatal("channel not closed after Close")
		}
	}
	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("close: %v", err)
		}
	case <-time.After(f.Timeout):
		t.Fatal("Close did not return")
	}
	close(stop)
	select {
	case <-sent:
	case <-time.After(f.Timeout):
		t.Fatal("the collector's send did not return after Close")
	}
}

// testSourceReconnect: the collector's connection ends and a new one
// starts (a collector restart); what both sent is delivered.
func testSourceReconnect(t *testing.T, f SourceFeatures, setup SourceSetup) {
	p := setup(t)
	_, ch := subscribeSource(t, p)
	send(t, p, Records(0, 50))
	collectRecords(t, ch, seqs(0, 50), f.Timeout)
	p.Reconnect(t)
	send(t, p, Records(50, 50))
	collectRecords(t, ch, seqs(50, 50), f.Timeout)
}
