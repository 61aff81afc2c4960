package connector_test

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/sfconnector/sfconnector/connector"
	sfjson "github.com/sfconnector/sfconnector/encoding/json"
	"github.com/sfconnector/sfconnector/policies"
	filesrc "github.com/sfconnector/sfconnector/sources/file"
	"github.com/sfconnector/sfconnector/sysflow"
	"github.com/sfconnector/sfconnector/transforms/flatten"
	"github.com/sfconnector/sfconnector/transforms/policy"
)

// nilCheckingDeadLetters records the events handed to the dead-letter sink
// and counts the nil ones.
type nilCheckingDeadLetters struct {
	mu     sync.Mutex
	events []*sysflow.Event
	nils   int
}

func (d *nilCheckingDeadLetters) Publish(_ string, msgs ...*message.Message) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, m := range msgs {
		b := sysflow.BatchOf(m)
		if b == nil {
			d.nils++
			continue
		}
		for _, ev := range b.Events {
			if ev == nil {
				d.nils++
				continue
			}
			c := *ev
			d.events = append(d.events, &c)
		}
	}
	return nil
}

func (d *nilCheckingDeadLetters) Close() error { return nil }

// runBehindPolicy runs the small real traces through the bundled policies
// in alert mode (which drops every event no rule matches, compacting the
// batch) into sink, and returns the policy stage's statistics.
func runBehindPolicy(t *testing.T, in string, sink message.Publisher, retryMax int, dead message.Publisher) policy.Stats {
	t.Helper()
	set, _, err := policies.LoadDefault(policies.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// evaluated on worker goroutines, as with the defaults on large batches
	pol, err := policy.New(policy.Config{Mode: policy.ModeAlert, Workers: 2, MinParallel: 1, Logger: quietLog()}, set)
	if err != nil {
		t.Fatal(err)
	}
	src, err := filesrc.New(filesrc.Config{Paths: []string{in}, BatchSize: 1, Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	root := &connector.Stage{Name: "flatten", Children: []*connector.Stage{{Name: "policy", Transform: pol,
		Sinks: []*connector.Sink{{Name: "alerts", Pub: sink}}}}}
	settings := connector.Settings{RetryMax: retryMax, RetryInitial: time.Millisecond, Logger: quietLog()}
	if dead != nil {
		settings.DeadLetter = dead
	}
	p := connector.New(src, root, flatten.Config{Logger: quietLog()}, settings)
	runToEnd(t, p)
	return pol.Stats()
}

// TestRetryBehindDroppingPolicy: a sink behind a policy stage in alert mode
// fails and the batch is retried. The policy stage compacts the slice it is
// given; a retry must still see every event of the first attempt, so each
// alert is delivered exactly once (as with a healthy sink) and the dead
// letters of a sink that never recovers hold every event, none nil.
func TestRetryBehindDroppingPolicy(t *testing.T) {
	in, _, _ := deliveryInput(t)
	healthy := newFlakySink(func(int) bool { return false })
	ref := runBehindPolicy(t, in, healthy, 0, nil)
	want, _, _ := healthy.result()
	if len(want) == 0 || ref.Emitted == 0 || ref.Emitted >= ref.Records {
		t.Fatalf("the bundled policies alerted on %d of %d events: the test wants some alerts and some events dropped", ref.Emitted, ref.Records)
	}

	t.Run("recovering sink", func(t *testing.T) {
		flaky := newFlakySink(func(c int) bool { return c <= 3 })
		runBehindPolicy(t, in, flaky, 5, nil)
		got, _, failures := flaky.result()
		if failures != 3 {
			t.Errorf("the sink failed %d writes, want 3", failures)
		}
		if len(got) != len(want) {
			t.Fatalf("%d alerts delivered, a healthy sink got %d", len(got), len(want))
		}
		for i := range want {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("alert %d:\n got %.300s\nwant %.300s", i+1, got[i], want[i])
			}
		}
	})
	for _, retryMax := range []int{0, 2} {
		t.Run("failing sink, dead letters, retry.max "+string(rune('0'+retryMax)), func(t *testing.T) {
			failing := newFlakySink(func(int) bool { return true })
			dead := &nilCheckingDeadLetters{}
			runBehindPolicy(t, in, failing, retryMax, dead)
			if dead.nils > 0 {
				t.Errorf("%d nil events or batches in the dead letters", dead.nils)
			}
			// the dead letters hold the poisoned batches' events as
			// flattened, before the policy stage: evaluated again, they
			// give every alert of the healthy run, in order
			if len(dead.events) < len(want) {
				t.Fatalf("%d events dead-lettered, fewer than the %d alerts", len(dead.events), len(want))
			}
			set, _, err := policies.LoadDefault(policies.Options{})
			if err != nil {
				t.Fatal(err)
			}
			pol, err := policy.New(policy.Config{Mode: policy.ModeAlert, Logger: quietLog()}, set)
			if err != nil {
				t.Fatal(err)
			}
			alerts, err := pol.Process(context.Background(), dead.events)
			if err != nil {
				t.Fatal(err)
			}
			enc := sfjson.New(sfjson.Options{})
			if len(alerts) != len(want) {
				t.Fatalf("the dead letters make %d alerts, a healthy sink got %d", len(alerts), len(want))
			}
			for i, ev := range alerts {
				line, err := enc.AppendEvent(nil, ev)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(line, want[i]) {
					t.Fatalf("alert %d from the dead letters:\n got %.300s\nwant %.300s", i+1, line, want[i])
				}
			}
			_, calls, _ := failing.result()
			if batches := calls / (retryMax + 1); calls != batches*(retryMax+1) || batches == 0 {
				t.Errorf("%d writes with retry.max %d", calls, retryMax)
			}
		})
	}
}
