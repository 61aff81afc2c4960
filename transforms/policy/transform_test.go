package policy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/sfconnector/sfconnector/policies"
	"github.com/sfconnector/sfconnector/policies/policytest"
	"github.com/sfconnector/sfconnector/sysflow"
)

func loadText(t testing.TB, text string) *policies.Set {
	t.Helper()
	set, _, err := policies.LoadFS(fstest.MapFS{"p.yaml": {Data: []byte(text)}}, []string{"p.yaml"}, policies.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return set
}

func event(t testing.TB, v policytest.Values) *sysflow.Event {
	t.Helper()
	ev, err := policytest.NewEvent(v)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

const modesPolicy = `
- filter: drop batch user
  condition: sf.proc.user = batch
- rule: shell
  desc: a shell
  condition: sf.proc.name in (bash, sh)
  priority: medium
  tags: [t1, shared]
- rule: exec
  desc: an exec
  condition: sf.opflags = EXEC
  priority: high
  tags: [shared, t2]
`

func modeEvents(t *testing.T) []*sysflow.Event {
	return []*sysflow.Event{
		event(t, policytest.Values{"sf.opflags": "EXEC", "sf.proc.exe": "/bin/bash"}),                           // shell, exec
		event(t, policytest.Values{"sf.opflags": "CLONE", "sf.proc.exe": "/bin/ls"}),                            // nothing
		event(t, policytest.Values{"sf.opflags": "EXEC", "sf.proc.exe": "/bin/sh", "sf.proc.user": "batch"}),    // dropped
		event(t, policytest.Values{"sf.opflags": "CLONE", "sf.proc.exe": "/bin/sh"}),                            // shell
		event(t, policytest.Values{"sf.type": "FF", "sf.file.path": "/etc/hosts", "sf.proc.exe": "/usr/bin/x"}), // nothing
	}
}

func describe(evs []*sysflow.Event) string {
	var parts []string
	for _, ev := range evs {
		var rules []string
		for _, m := range ev.Matches {
			rules = append(rules, m.Rule)
		}
		parts = append(parts, fmt.Sprintf("%s%v%v", ev.Proc.Exe, rules, ev.Tags))
	}
	return strings.Join(parts, " ")
}

func TestModes(t *testing.T) {
	set := loadText(t, modesPolicy)
	tests := []struct {
		mode Mode
		want string
	}{
		{ModeAlert, "/bin/bash[shell exec][t1 shared t2] /bin/sh[shell][t1 shared]"},
		{ModeEnrich, "/bin/bash[shell exec][t1 shared t2] /bin/ls[][] /bin/sh[shell][t1 shared] /usr/bin/x[][]"},
		{ModeFilter, "/bin/bash[][] /bin/ls[][] /bin/sh[][] /usr/bin/x[][]"},
	}
	for _, tt := range tests {
		for _, workers := range []int{1, 3} {
			t.Run(fmt.Sprintf("%s/workers=%d", tt.mode, workers), func(t *testing.T) {
				tr, err := New(Config{Mode: tt.mode, Workers: workers, MinParallel: 1}, set)
				if err != nil {
					t.Fatal(err)
				}
				evs := modeEvents(t)
				out, err := tr.Process(context.Background(), evs)
				if err != nil {
					t.Fatal(err)
				}
				if got := describe(out); got != tt.want {
					t.Fatalf("got  %s\nwant %s", got, tt.want)
				}
				st := tr.Stats()
				if st.Records != 5 || st.Dropped != 1 || st.Emitted != uint64(len(out)) {
					t.Fatalf("stats %+v", st)
				}
			})
		}
	}
}

func TestMatchDetails(t *testing.T) {
	set := loadText(t, modesPolicy)
	tr, err := New(Config{}, set)
	if err != nil {
		t.Fatal(err)
	}
	out, err := tr.Process(context.Background(), modeEvents(t)[:1])
	if err != nil || len(out) != 1 {
		t.Fatal(out, err)
	}
	m := out[0].Matches
	if m[0].Desc != "a shell" || m[0].Priority != sysflow.PriorityMedium || m[1].Priority != sysflow.PriorityHigh || out[0].MaxPriority() != sysflow.PriorityHigh {
		t.Fatalf("matches %+v", m)
	}
	counts := tr.RuleMatches()
	if len(counts) != 2 || counts[0] != (RuleCount{"shell", 1}) || counts[1] != (RuleCount{"exec", 1}) {
		t.Fatalf("counts %+v", counts)
	}
}

// TestParallelKeepsOrder compares a parallel run with a sequential one on
// many events.
func TestParallelKeepsOrder(t *testing.T) {
	set := loadText(t, modesPolicy)
	var evs []*sysflow.Event
	for i := 0; i < 5000; i++ {
		exe := []string{"/bin/bash", "/bin/ls", "/bin/sh", "/usr/bin/python"}[i%4]
		op := []string{"EXEC", "CLONE", "EXIT"}[i%3]
		user := ""
		if i%7 == 0 {
			user = "batch"
		}
		evs = append(evs, event(t, policytest.Values{"sf.opflags": op, "sf.proc.exe": exe, "sf.proc.user": user, "sf.proc.pid": fmt.Sprint(i + 1)}))
	}
	for _, mode := range []Mode{ModeAlert, ModeEnrich, ModeFilter} {
		seq, _ := New(Config{Mode: mode, Workers: 1}, set)
		par, _ := New(Config{Mode: mode, Workers: 4, MinParallel: 16}, set)
		a, err := seq.Process(context.Background(), slices.Clone(evs))
		if err != nil {
			t.Fatal(err)
		}
		want := describe(a)
		b, err := par.Process(context.Background(), slices.Clone(evs))
		if err != nil {
			t.Fatal(err)
		}
		if len(a) == 0 || len(a) != len(b) || describe(b) != want {
			t.Fatalf("%s: parallel output differs from sequential (%d vs %d events)", mode, len(b), len(a))
		}
		for i := range a {
			if a[i] != b[i] {
				t.Fatalf("%s: event %d differs", mode, i)
			}
		}
	}
}

// TestSwapBetweenBatches swaps sets while batches run: every batch must be
// evaluated by exactly one set, and every record must come out once.
func TestSwapBetweenBatches(t *testing.T) {
	setA := loadText(t, "- rule: a\n  desc: d\n  condition: sf.opflags = EXEC\n  priority: low\n")
	setB := loadText(t, "- rule: b\n  desc: d\n  condition: sf.opflags = EXEC\n  priority: low\n")
	tr, err := New(Config{Mode: ModeEnrich, Workers: 2, MinParallel: 8}, setA)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ctx.Err() == nil; i++ {
			if i%2 == 0 {
				tr.Swap(setB)
			} else {
				tr.Swap(setA)
			}
		}
	}()
	const batches, size = 300, 64
	total := 0
	for b := 0; b < batches; b++ {
		evs := make([]*sysflow.Event, size)
		for i := range evs {
			evs[i] = event(t, policytest.Values{"sf.opflags": "EXEC", "sf.proc.exe": "/bin/true", "sf.proc.pid": fmt.Sprint(b*size + i + 1)})
		}
		out, err := tr.Process(context.Background(), evs)
		if err != nil {
			t.Fatal(err)
		}
		if len(out) != size {
			t.Fatalf("batch %d: %d of %d records", b, len(out), size)
		}
		first := out[0].Matches[0].Rule
		for i, ev := range out {
			if len(ev.Matches) != 1 || ev.Matches[0].Rule != first {
				t.Fatalf("batch %d record %d evaluated by another set (%v vs %s)", b, i, ev.Matches, first)
			}
			if ev.ProcOID.Hpid != int64(b*size+i+1) {
				t.Fatalf("batch %d: record %d out of order", b, i)
			}
		}
		total += len(out)
	}
	cancel()
	wg.Wait()
	var sum uint64
	for _, c := range tr.RuleMatches() {
		sum += c.Matches
	}
	if total != batches*size || sum != uint64(total) {
		t.Fatalf("%d records out, %d matches counted across swaps, want %d", total, sum, batches*size)
	}
	if tr.Stats().Swaps == 0 {
		t.Fatal("no swaps happened")
	}
}

func TestNilSetAndCancel(t *testing.T) {
	tr, err := New(Config{Mode: ModeEnrich}, nil)
	if err != nil {
		t.Fatal(err)
	}
	out, err := tr.Process(context.Background(), modeEvents(t))
	if err != nil || len(out) != 5 {
		t.Fatalf("enrich without policies: %d events, %v", len(out), err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := tr.Process(ctx, modeEvents(t)); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled context: %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, c := range []Config{{Mode: "tee"}, {Workers: -1}, {MinParallel: -2}} {
		if _, err := New(c, nil); err == nil {
			t.Errorf("config %+v accepted", c)
		}
	}
	tr, err := New(Config{}, nil)
	if err != nil || tr.Mode() != ModeEnrich {
		t.Fatalf("default mode %v, %v", tr.Mode(), err)
	}
}
