package conformance

import (
	"fmt"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/sfconnector/sfconnector/sysflow"
)

// Features says what a backend guarantees; the suite skips what does not apply.
type Features struct {
	// Persistent: messages published while no subscriber runs are delivered
	// to a later one (Kafka, JetStream; not core NATS).
	Persistent bool
	// Redelivery: a nacked message, or one left unacked when its subscriber
	// closes, is delivered again (Kafka, JetStream).
	Redelivery bool
	// OrderPerKey: events with the same key arrive in publish order.
	OrderPerKey bool
	// Restart stops the server and starts it again; nil skips the
	// reconnection test.
	Restart func(t *testing.T)
	// Timeout bounds each wait for delivery (default 30s).
	Timeout time.Duration
	// Only, when set, names the tests to run (e.g. "Reconnect" against a
	// server of the test's own while the rest runs against a shared one).
	Only []string
}

// Pair is one destination as a backend exposes it to the suite.
type Pair struct {
	// Publisher is the sink under test, writing with Codec.
	Publisher message.Publisher
	// NewSubscriber returns a source reading the destination with Codec.
	// Every subscriber of one Pair shares the consumer group or durable
	// consumer, so a new one resumes where a closed one stopped.
	NewSubscriber func(t *testing.T) message.Subscriber
	// Topic is passed to Publish and Subscribe.
	Topic string
}

// Setup makes a fresh Pair (a new topic or subject) for one test and
// registers its cleanup on t.
type Setup func(t *testing.T) Pair

// Run runs the suite.
func Run(t *testing.T, f Features, setup Setup) {
	if f.Timeout <= 0 {
		f.Timeout = 30 * time.Second
	}
	tests := []struct {
		name string
		need bool
		fn   func(*testing.T, Features, Setup)
	}{
		{"Delivery", true, testDelivery},
		{"OrderPerKey", f.OrderPerKey, testOrderPerKey},
		{"PublishBeforeSubscribe", f.Persistent, testPublishBeforeSubscribe},
		{"NackRedelivers", f.Redelivery, testNackRedelivers},
		{"AckedNotRedelivered", f.Redelivery, testAckedNotRedelivered},
		{"UnackedRedeliveredAfterClose", f.Redelivery, testUnackedRedeliveredAfterClose},
		{"CloseWhileBusy", true, testCloseWhileBusy},
		{"Reconnect", f.Restart != nil, testReconnect},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if len(f.Only) > 0 && !slices.Contains(f.Only, tc.name) {
				t.Skip("not selected by Features.Only")
			}
			if !tc.need {
				t.Skip("the backend does not claim this feature")
			}
			tc.fn(t, f, setup)
		})
	}
}

// keys are the (node, container) pairs events are spread over.
var keys = [][2]string{{"node-a", ""}, {"node-a", "c1"}, {"node-b", "c2"}, {"node-c", "c3"}}

// batches returns nMsgs messages of perMsg events each, numbered from
// first; event i has key keys[i%len(keys)] and TS = first+i.
func batches(first int64, nMsgs, perMsg int) []*message.Message {
	msgs := make([]*message.Message, nMsgs)
	seq := first
	for m := range msgs {
		b := &sysflow.Batch{Source: "conformance"}
		for i := 0; i < perMsg; i++ {
			k := keys[seq%int64(len(keys))]
			b.Events = append(b.Events, Event(k[0], k[1], seq))
			seq++
		}
		msgs[m] = sysflow.WithBatch(message.NewMessage(watermill.NewUUID(), nil), b)
	}
	return msgs
}

func publish(t *testing.T, p Pair, msgs []*message.Message) {
	t.Helper()
	for _, m := range msgs {
		if err := p.Publisher.Publish(p.Topic, m); err != nil {
			t.Fatalf("publish: %v", err)
		}
	}
}

// subscribe starts a subscriber and closes it at cleanup.
func subscribe(t *testing.T, p Pair) (message.Subscriber, <-chan *message.Message) {
	t.Helper()
	sub := p.NewSubscriber(t)
	ch, err := sub.Subscribe(t.Context(), p.Topic)
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	t.Cleanup(func() { _ = sub.Close() })
	return sub, ch
}

// eventsOf returns the events a delivered message carries.
func eventsOf(t *testing.T, msg *message.Message) []*sysflow.Event {
	t.Helper()
	b := sysflow.BatchOf(msg)
	if b == nil {
		t.Fatalf("message %s carries no batch", msg.UUID)
	}
	return b.Events
}

// collector receives until it has seen every wanted seq, acking each
// message, and returns the events in delivery order.
func collect(t *testing.T, ch <-chan *message.Message, want map[int64]bool, timeout time.Duration) []*sysflow.Event {
	t.Helper()
	var got []*sysflow.Event
	missing := len(want)
	seen := map[int64]bool{}
	deadline := time.After(timeout)
	for missing > 0 {
		select {
		case msg, ok := <-ch:
			if !ok {
				t.Fatalf("channel closed with %d of %d events missing", missing, len(want))
			}
			for _, ev := range eventsOf(t, msg) {
				got = append(got, ev)
				if want[ev.TS] && !seen[ev.TS] {
					seen[ev.TS] = true
					missing--
				}
			}
			msg.Ack()
		case <-deadline:
			t.Fatalf("after %s: %d of %d events missing (first missing: %d)", timeout, missing, len(want), firstMissing(want, seen))
		}
	}
	return got
}

func firstMissing(want, seen map[int64]bool) int64 {
	var miss []int64
	for s := range want {
		if !seen[s] {
			miss = append(miss, s)
		}
	}
	sort.Slice(miss, func(i, j int) bool { return miss[i] < miss[j] })
	if len(miss) == 0 {
		return -1
	}
	return miss[0]
}

func seqs(first int64, n int) map[int64]bool {
	m := make(map[int64]bool, n)
	for i := 0; i < n; i++ {
		m[first+int64(i)] = true
	}
	return m
}

// quiet asserts that nothing carrying one of the unwanted seqs arrives
// within d.
func quiet(t *testing.T, ch <-chan *message.Message, unwanted map[int64]bool, d time.Duration) {
	t.Helper()
	deadline := time.After(d)
	for {
		select {
		case msg, ok := <-ch:
			if !ok {
				return
			}
			for _, ev := range eventsOf(t, msg) {
				if unwanted[ev.TS] {
					t.Fatalf("event %d delivered again although it was acked", ev.TS)
				}
			}
			msg.Ack()
		case <-deadline:
			return
		}
	}
}

func testDelivery(t *testing.T, f Features, setup Setup) {
	p := setup(t)
	_, ch := subscribe(t, p)
	if !f.Persistent {
		time.Sleep(300 * time.Millisecond) // a core subscription must exist before publishing
	}
	const nMsgs, per = 20, 50
	publish(t, p, batches(0, nMsgs, per))
	got := collect(t, ch, seqs(0, nMsgs*per), f.Timeout)
	dups := map[int64]int{}
	for _, ev := range got {
		dups[ev.TS]++
	}
	for s, n := range dups {
		if n > 1 {
			t.Errorf("event %d delivered %d times without any fault", s, n)
		}
	}
}

func testOrderPerKey(t *testing.T, f Features, setup Setup) {
	p := setup(t)
	_, ch := subscribe(t, p)
	const nMsgs, per = 40, 25
	publish(t, p, batches(0, nMsgs, per))
	got := collect(t, ch, seqs(0, nMsgs*per), f.Timeout)
	last := map[string]int64{}
	for _, ev := range got {
		k := keyOf(ev)
		if prev, ok := last[k]; ok && ev.TS <= prev {
			t.Fatalf("key %s: event %d arrived after %d", k, ev.TS, prev)
		}
		last[k] = ev.TS
	}
	if len(last) != len(keys) {
		t.Fatalf("saw %d keys, want %d", len(last), len(keys))
	}
}

func testPublishBeforeSubscribe(t *testing.T, f Features, setup Setup) {
	p := setup(t)
	publish(t, p, batches(0, 5, 10))
	_, ch := subscribe(t, p)
	collect(t, ch, seqs(0, 50), f.Timeout)
}

func testNackRedelivers(t *testing.T, f Features, setup Setup) {
	p := setup(t)
	publish(t, p, batches(0, 1, 10))
	_, ch := subscribe(t, p)
	var first *message.Message
	select {
	case first = <-ch:
	case <-time.After(f.Timeout):
		t.Fatal("nothing delivered")
	}
	nacked := map[int64]bool{}
	for _, ev := range eventsOf(t, first) {
		nacked[ev.TS] = true
	}
	first.Nack()
	collect(t, ch, nacked, f.Timeout)
}

func testAckedNotRedelivered(t *testing.T, f Features, setup Setup) {
	p := setup(t)
	publish(t, p, batches(0, 10, 10))
	sub, ch := subscribe(t, p)
	collect(t, ch, seqs(0, 100), f.Timeout)
	if err := sub.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	publish(t, p, batches(100, 1, 10))
	_, ch2 := subscribe(t, p)
	got := collect(t, ch2, seqs(100, 10), f.Timeout)
	for _, ev := range got {
		if ev.TS < 100 {
			t.Fatalf("event %d, acked before the first subscriber closed, was delivered again", ev.TS)
		}
	}
	quiet(t, ch2, seqs(0, 100), time.Second)
}

func testUnackedRedeliveredAfterClose(t *testing.T, f Features, setup Setup) {
	p := setup(t)
	publish(t, p, batches(0, 10, 10))
	sub, ch := subscribe(t, p)
	// Take a message and leave it unacked, then close.
	select {
	case <-ch:
	case <-time.After(f.Timeout):
		t.Fatal("nothing delivered")
	}
	if err := sub.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	_, ch2 := subscribe(t, p)
	collect(t, ch2, seqs(0, 100), f.Timeout)
}

func testCloseWhileBusy(t *testing.T, f Features, setup Setup) {
	p := setup(t)
	sub, ch := subscribe(t, p)

	// Publishers keep writing while the subscriber is closed and then the
	// publisher is closed: every call must return, errors are allowed after
	// Close.
	stop := make(chan struct{})
	var wg sync.WaitGroup
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
				_ = p.Publisher.Publish(p.Topic, batches(seq, 1, 10)...)
			}
		}(w)
	}
	// Receive a little, leaving some messages unacked, then close mid-stream.
	received := 0
	deadline := time.After(f.Timeout)
	for received < 5 {
		select {
		case msg := <-ch:
			received++
			if received%2 == 0 {
				msg.Ack()
			}
		case <-deadline:
			t.Fatal("nothing delivered while publishing")
		}
	}
	closed := make(chan error, 1)
	go func() { closed <- sub.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("subscriber close: %v", err)
		}
	case <-time.After(f.Timeout):
		t.Fatal("subscriber Close did not return")
	}
	drained := time.After(f.Timeout)
	for open := true; open; {
		select {
		case _, open = <-ch:
		case <-drained:
			t.Fatal("subscriber channel not closed after Close")
		}
	}
	closePublishing(t, p.Publisher, p.Topic, stop, &wg, f.Timeout)
}

// closePublishing closes pub while the goroutines of wg are publishing to
// it: Close must return, every Publish call must return once stop is
// closed, and a Publish after Close must fail; each within timeout.
func closePublishing(t *testing.T, pub message.Publisher, topic string, stop chan struct{}, wg *sync.WaitGroup, timeout time.Duration) {
	t.Helper()
	closed := make(chan error, 1)
	go func() { closed <- pub.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("publisher close: %v", err)
		}
	case <-time.After(timeout):
		t.Fatal("publisher Close did not return while Publish calls were running")
	}
	close(stop)
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(timeout):
		t.Fatal("Publish calls did not return after Close")
	}
	if err := pub.Publish(topic, batches(9_000_000, 1, 1)...); err == nil {
		t.Fatal("Publish after Close succeeded")
	}
}

func testReconnect(t *testing.T, f Features, setup Setup) {
	p := setup(t)
	_, ch := subscribe(t, p)
	publish(t, p, batches(0, 5, 10))
	collect(t, ch, seqs(0, 50), f.Timeout)

	f.Restart(t)
	restarted := time.Now()

	// Publish like a router with a retry middleware: failures are retried
	// until the deadline.
	publishAfterRestart(t, p.Publisher, p.Topic, batches(50, 5, 10), restarted, f.Timeout)
	published := time.Since(restarted)
	collect(t, ch, seqs(50, 50), f.Timeout)
	t.Logf("after the restart: publish recovered in %s, delivery in %s", published.Round(time.Millisecond), time.Since(restarted).Round(time.Millisecond))
}

// publishAfterRestart publishes each message, retrying a failed Publish
// every 100ms (as a router's retry middleware would) until timeout has
// passed since restarted.
func publishAfterRestart(t *testing.T, pub message.Publisher, topic string, msgs []*message.Message, restarted time.Time, timeout time.Duration) {
	t.Helper()
	for _, m := range msgs {
		for {
			err := pub.Publish(topic, m)
			if err == nil {
				break
			}
			if time.Since(restarted) > timeout {
				t.Fatalf("publish still failing %s after the restart: %v", timeout, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// String names a pair in failure messages.
func (p Pair) String() string { return fmt.Sprintf("pair(%s)", p.Topic) }
