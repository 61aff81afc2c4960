package policy

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/sfconnector/sfconnector/policies"
	"github.com/sfconnector/sfconnector/sysflow"
)

// Mode says what the transform emits.
type Mode string

// Modes.
const (
	ModeAlert  Mode = "alert"
	ModeEnrich Mode = "enrich"
	ModeFilter Mode = "filter"
)

// Config configures a Transform.
type Config struct {
	// Mode: alert (default), enrich or filter.
	Mode Mode
	// Workers evaluating one batch in parallel (default GOMAXPROCS).
	Workers int
	// MinParallel is the smallest batch split across workers; smaller ones
	// are evaluated on the calling goroutine, where starting goroutines
	// would cost more than it saves (default 256).
	MinParallel int
	// Logger (default slog.Default()).
	Logger *slog.Logger
}

func (c *Config) setDefaults() {
	if c.Mode == "" {
		c.Mode = ModeAlert
	}
	if c.Workers <= 0 {
		c.Workers = runtime.GOMAXPROCS(0)
	}
	if c.MinParallel <= 0 {
		c.MinParallel = 256
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Validate reports a bad mode or negative counts.
func (c Config) Validate() error {
	switch c.Mode {
	case "", ModeAlert, ModeEnrich, ModeFilter:
	default:
		return fmt.Errorf("policy mode %q: want alert, enrich or filter", c.Mode)
	}
	if c.Workers < 0 {
		return fmt.Errorf("policy workers %d: must not be negative", c.Workers)
	}
	if c.MinParallel < 0 {
		return fmt.Errorf("policy min parallel %d: must not be negative", c.MinParallel)
	}
	return nil
}

// Stats are the transform's counters since it was created.
type Stats struct {
	Records uint64 // events received
	Dropped uint64 // removed by drop filters
	Matched uint64 // events matching at least one rule
	Emitted uint64 // events returned
	Swaps   uint64 // policy sets installed by Swap
}

// RuleCount is how many events a rule matched.
type RuleCount struct {
	Rule    string
	Matches uint64
}

// active is a policy set with its per-set state.
type active struct {
	set     *policies.Set
	evals   sync.Pool
	matches []atomic.Uint64 // per rule index
}

func newActive(set *policies.Set) *active {
	a := &active{set: set}
	if set != nil {
		a.matches = make([]atomic.Uint64, len(set.Rules()))
	}
	return a
}

func (a *active) evaluator() *policies.Evaluator {
	if e, ok := a.evals.Get().(*policies.Evaluator); ok {
		return e
	}
	return a.set.NewEvaluator()
}

// Transform runs a policy set over batches of events.
type Transform struct {
	cfg Config

	// mu is held for reading by every batch in progress and for writing by
	// Swap, so a set is replaced only between batches.
	mu  sync.RWMutex
	cur *active

	// Counts of retired sets, by rule name (guarded by countMu).
	countMu sync.Mutex
	retired map[string]uint64

	records, dropped, matched, emitted, swaps atomic.Uint64
}

// New returns a transform running set (nil: no rules and no filters).
func New(cfg Config, set *policies.Set) (*Transform, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	return &Transform{cfg: cfg, cur: newActive(set), retired: map[string]uint64{}}, nil
}

// Mode returns the transform's mode.
func (t *Transform) Mode() Mode { return t.cfg.Mode }

// Set returns the running policy set.
func (t *Transform) Set() *policies.Set {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.cur.set
}

// Swap installs set and returns the one it replaces. It waits for the
// batches in progress, which finish with the old set.
func (t *Transform) Swap(set *policies.Set) *policies.Set {
	next := newActive(set)
	t.mu.Lock()
	old := t.cur
	t.cur = next
	t.mu.Unlock()
	t.countMu.Lock()
	if old.set != nil {
		for i, r := range old.set.Rules() {
			if n := old.matches[i].Load(); n > 0 {
				t.retired[r.Name] += n
			}
		}
	}
	t.countMu.Unlock()
	t.swaps.Add(1)
	return old.set
}

// Stats returns the counters.
func (t *Transform) Stats() Stats {
	return Stats{Records: t.records.Load(), Dropped: t.dropped.Load(), Matched: t.matched.Load(),
		Emitted: t.emitted.Load(), Swaps: t.swaps.Load()}
}

// RuleMatches returns, per rule name, how many events it matched since the
// transform was created (across reloads), in the running set's rule order
// followed by rules only older sets had.
func (t *Transform) RuleMatches() []RuleCount {
	t.mu.RLock()
	cur := t.cur
	t.mu.RUnlock()
	t.countMu.Lock()
	defer t.countMu.Unlock()
	var out []RuleCount
	seen := map[string]int{}
	if cur.set != nil {
		for i, r := range cur.set.Rules() {
			n := cur.matches[i].Load()
			if j, dup := seen[r.Name]; dup {
				out[j].Matches += n
				continue
			}
			seen[r.Name] = len(out)
			out = append(out, RuleCount{Rule: r.Name, Matches: n + t.retired[r.Name]})
		}
	}
	for name, n := range t.retired {
		if _, ok := seen[name]; !ok {
			out = append(out, RuleCount{Rule: name, Matches: n})
		}
	}
	return out
}

// Process applies the mode to events and returns the events to emit, in
// their order. It reuses the backing array of events for the result and
// sets Matches and Tags on the events it evaluates.
func (t *Transform) Process(ctx context.Context, events []*sysflow.Event) ([]*sysflow.Event, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	a := t.cur
	keep := make([]bool, len(events))
	n := len(events)
	workers := t.cfg.Workers
	if n < t.cfg.MinParallel || workers == 1 {
		if err := t.run(ctx, a, events, keep); err != nil {
			return nil, err
		}
	} else {
		if workers > n {
			workers = n
		}
		var wg sync.WaitGroup
		errs := make([]error, workers)
		per := (n + workers - 1) / workers
		for w := 0; w < workers; w++ {
			lo, hi := w*per, min((w+1)*per, n)
			if lo >= hi {
				break
			}
			wg.Add(1)
			go func(w, lo, hi int) {
				defer wg.Done()
				errs[w] = t.run(ctx, a, events[lo:hi], keep[lo:hi])
			}(w, lo, hi)
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				return nil, err
			}
		}
	}
	out := events[:0]
	for i, ev := range events {
		if keep[i] {
			out = append(out, ev)
		}
	}
	clear(events[len(out):]) // no stale pointers past the result
	t.records.Add(uint64(n))
	t.emitted.Add(uint64(len(out)))
	return out, nil
}

// run evaluates events on one goroutine, marking the ones to keep.
func (t *Transform) run(ctx context.Context, a *active, events []*sysflow.Event, keep []bool) error {
	var e *policies.Evaluator
	if a.set != nil {
		e = a.evaluator()
		defer a.evals.Put(e)
	}
	var dropped, matched uint64
	for i, ev := range events {
		if i&1023 == 1023 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if e != nil && e.Drop(ev) {
			dropped++
			continue
		}
		if t.cfg.Mode == ModeFilter || e == nil {
			keep[i] = t.cfg.Mode != ModeAlert
			continue
		}
		ev.Matches = ev.Matches[:0]
		ev.Tags = ev.Tags[:0]
		e.MatchRules(ev, func(r *policies.Rule) {
			ev.Matches = append(ev.Matches, sysflow.Match{Rule: r.Name, Desc: r.Desc, Priority: r.Priority, Tags: r.Tags, Output: r.FormatOutput(ev), Meta: r.Meta})
			ev.Tags = mergeTags(ev.Tags, r.Tags)
			a.matches[r.Index()].Add(1)
		})
		if len(ev.Matches) > 0 {
			matched++
			keep[i] = true
		} else {
			ev.Matches, ev.Tags = nil, nil
			keep[i] = t.cfg.Mode == ModeEnrich
		}
	}
	t.dropped.Add(dropped)
	t.matched.Add(matched)
	return nil
}

// mergeTags appends the tags not yet in dst.
func mergeTags(dst, tags []string) []string {
next:
	for _, tag := range tags {
		for _, have := range dst {
			if have == tag {
				continue next
			}
		}
		dst = append(dst, tag)
	}
	return dst
}
