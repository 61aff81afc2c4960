package synth_test

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/sfconnector/sfconnector/internal/tracestats"
	"github.com/sfconnector/sfconnector/policies"
	"github.com/sfconnector/sfconnector/policies/policytest"
	"github.com/sfconnector/sfconnector/sysflow"
	"github.com/sfconnector/sfconnector/sysflow/synth"
	"github.com/sfconnector/sfconnector/testenv/shared"
)

// realSeeds are the seeds the realism and alert-rate tests generate with:
// the benchmark's (42), the demo's (7) and two others.
var realSeeds = []uint64{1, 7, 42, 1234}

// tolerance is how far a generated figure may be from the real traces':
// within abs, or within rel times the real value, whichever is wider.
type tolerance struct{ abs, rel float64 }

// realismTolerances are the stated tolerances of the generated mix against
// the 14 real traces of ../shared/traces taken together (docs/generator.md
// lists them too). Shares are fractions of flat events, rates per thousand
// events. They are wide enough for the sampling noise of 200,000 generated
// events and of the 24,778 real ones (the real traces hold 37 setuids and
// 41 file events in all), and tight enough that the old generator (host
// shell traffic, 28% of events in containers, 2.4% file events, 0.65% k8s
// events, ancestry 3.7) fails 14 of the 15.
var realismTolerances = map[string]tolerance{
	tracestats.FileFlowShare:     {abs: 0.02},
	tracestats.NetworkFlowShare:  {abs: 0.015},
	tracestats.ProcessEventShare: {abs: 0.008},
	tracestats.FileEventShare:    {abs: 0.001},
	tracestats.K8sEventShare:     {abs: 0.0005},
	tracestats.ClonePerK:         {rel: 0.15},
	tracestats.ExecPerK:          {rel: 0.15},
	tracestats.ExitPerK:          {rel: 0.20},
	tracestats.SetuidPerK:        {rel: 0.35},
	tracestats.ProcessesPerK:     {rel: 0.25},
	tracestats.ProcRecordsPerK:   {rel: 0.25},
	tracestats.FileRecordsPerK:   {rel: 0.20},
	tracestats.ContainerShare:    {abs: 0.02},
	tracestats.MeanAncestry:      {abs: 0.5},
	tracestats.MaxAncestry:       {abs: 5}, // the real maximum (12) is one collector test's shell pipeline
}

func (tol tolerance) allows(got, want float64) bool {
	return math.Abs(got-want) <= max(tol.abs, tol.rel*math.Abs(want))
}

// realStats pools the statistics of every real trace, as if they were one
// stream (each keeps its own entity tables).
func realStats(t *testing.T) *tracestats.Stats {
	t.Helper()
	var all tracestats.Stats
	for _, p := range shared.Traces(t) {
		s, err := tracestats.File(p)
		if err != nil {
			t.Fatal(err)
		}
		all.Merge(s)
	}
	if all.Events() == 0 {
		t.Fatal("the real traces hold no events")
	}
	return &all
}

func realismEvents() int {
	if testing.Short() {
		return 100_000
	}
	return 200_000
}

// TestRealism compares the mix of generated traces, for several seeds,
// with the statistics of the real traces, metric by metric, within the
// stated tolerances.
func TestRealism(t *testing.T) {
	real := realStats(t)
	if len(real.Metrics()) != len(realismTolerances) {
		t.Fatalf("%d metrics but %d tolerances: state a tolerance for every metric", len(real.Metrics()), len(realismTolerances))
	}
	for _, seed := range realSeeds {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			data, _ := generate(t, synth.Options{Seed: seed, Records: realismEvents()})
			got, err := tracestats.Read(bytes.NewReader(data), "synth.sf")
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range real.Metrics() {
				g, _ := got.Get(m.Name)
				tol := realismTolerances[m.Name]
				if !tol.allows(g, m.Value) {
					t.Errorf("%s: generated %.4f, real %.4f, tolerance ±%g abs / ±%g%%", m.Name, g, m.Value, tol.abs, 100*tol.rel)
				} else {
					t.Logf("%-30s generated %9.4f  real %9.4f", m.Name, g, m.Value)
				}
			}
		})
	}
}

// alertSets loads the bundled policies and the reference's 79 runtime-
// integrity rules as the reference evaluates them (every definition kept,
// macros scoped to their file).
func alertSets(t *testing.T) map[string]*policies.Set {
	t.Helper()
	bundled, _, err := policies.LoadDefault(policies.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ref, _, err := policies.Load([]string{shared.Path(t, "policies", "sf-processor", "runtimeintegrity")},
		policies.Options{KeepDuplicateRules: true, FileScopedDefinitions: true})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(ref.Rules()); n != 79 {
		t.Fatalf("the reference set has %d rules, want 79", n)
	}
	return map[string]*policies.Set{"bundled": bundled, "reference-79": ref}
}

// alertShare flattens a generated trace and returns the share of its flat
// events at least one rule of set matches, drop filters applied first as
// in alert mode.
func alertShare(t *testing.T, data []byte, sets map[string]*policies.Set) map[string]float64 {
	t.Helper()
	path := filepath.Join(t.TempDir(), "synth.sf")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	evs, err := policytest.ReadTrace(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for name, set := range sets {
		e := set.NewEvaluator()
		alerted := 0
		for _, ev := range evs {
			if !e.Drop(ev) && len(e.Match(ev, nil)) > 0 {
				alerted++
			}
		}
		out[name] = float64(alerted) / float64(len(evs))
	}
	return out
}

// TestAlertRate checks that attacks are rare events: at the default attack
// rate under 1% of the events of a generated trace alert, with the bundled
// policies and with the reference's 79 rules, for several seeds; and that
// the share rises with the attack rate.
func TestAlertRate(t *testing.T) {
	sets := alertSets(t)
	n := realismEvents()
	for _, seed := range realSeeds {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			data, st := generate(t, synth.Options{Seed: seed, Records: n})
			if len(st.Attacks) == 0 {
				t.Fatal("no attack played at the default rate")
			}
			for name, share := range alertShare(t, data, sets) {
				t.Logf("%s: %.3f%% of events alerted, %d attack scenarios", name, 100*share, len(st.Attacks))
				if share >= 0.01 {
					t.Errorf("%s: %.3f%% of events alerted at the default attack rate, want under 1%%", name, 100*share)
				}
				if share == 0 {
					t.Errorf("%s: no event alerted, though %d attacks were played", name, len(st.Attacks))
				}
			}
		})
	}
	t.Run("rises with --attack-rate", func(t *testing.T) {
		last := map[string]float64{}
		for i, opts := range []synth.Options{
			{NoAttacks: true},
			{AttackRate: synth.DefaultAttackRate},
			{AttackRate: 0.002},
			{AttackRate: 0.01},
		} {
			opts.Seed, opts.Records = 42, n
			data, _ := generate(t, opts)
			for name, share := range alertShare(t, data, sets) {
				t.Logf("rate %g (no attacks: %v): %s %.3f%%", opts.AttackRate, opts.NoAttacks, name, 100*share)
				if i > 0 && share <= last[name] {
					t.Errorf("%s: %.3f%% alerted at attack rate %g, not above %.3f%% at the rate before", name, 100*share, opts.AttackRate, 100*last[name])
				}
				last[name] = share
			}
		}
	})
}

// TestFileTableBounded checks that a long trace re-sends the entities of
// its fresh files instead of defining ever more of them: the files it
// defines stay far below the flattener's table cap (262,144), so that no
// event of a benchmark-sized trace refers to an evicted file.
func TestFileTableBounded(t *testing.T) {
	n := 600_000
	if testing.Short() {
		n = 200_000
	}
	data, _ := generate(t, synth.Options{Seed: 42, Records: n})
	st, err := tracestats.Read(bytes.NewReader(data), "synth.sf")
	if err != nil {
		t.Fatal(err)
	}
	const bound = 32_768
	t.Logf("%d events: %d file records, %d distinct files", st.Events(), st.Kinds[sysflow.KindFile], st.Files)
	if st.Files > bound {
		t.Fatalf("%d events define %d distinct files, want at most %d", st.Events(), st.Files, bound)
	}
	// Written once each, records would equal files; re-sent, they pass
	// them by more the longer the trace (1.6 times at 200,000 events, 3.2
	// at 600,000).
	if 4*st.Kinds[sysflow.KindFile] < 5*st.Files {
		t.Fatalf("%d file records for %d distinct files: fresh files are not re-sent", st.Kinds[sysflow.KindFile], st.Files)
	}
}
