package policies

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/sfconnector/sfconnector/policies/internal/tracefile"
	"github.com/sfconnector/sfconnector/sysflow"
	"github.com/sfconnector/sfconnector/sysflow/synth"
	"github.com/sfconnector/sfconnector/testenv/shared"
)

// generatedEvents flattens a trace of sfconnector gen (seed 7, attacks at
// the default rate).
func generatedEvents(t *testing.T) []*sysflow.Event {
	t.Helper()
	records := 200_000
	if testing.Short() {
		records = 20_000
	}
	path := filepath.Join(t.TempDir(), "gen.sf")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := synth.Generate(f, synth.Options{Seed: 7, Records: records}); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	evs, err := tracefile.Read(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// TestPlanMatchesDirectWalk checks the evaluation plan against the walk of
// each rule's own compiled tree (Options.NoMemo, the evaluation before
// plans, itself checked against govaluate by
// TestPrecheckAgreesWithGovaluate), for the reference's 79 rules (loaded
// both ways), the bundled set and the shipped Sigma rules, on every event
// of every real trace and of a generated trace. Per event it requires:
//
//   - the same matches, in the same order, with the same outputs, and the
//     same drop decision, from the planned set with memo slots and the
//     per-process memo, the planned set without either and the unplanned
//     set (events in trace order, one evaluator per set, so the process
//     memo is filled and reused as in the pipeline);
//   - for every rule the index tries on the event's kind, the planned
//     check (op flags test, then the folded tree, memo slots filled by the
//     rules before it) gives the value of the rule's own tree.
func TestPlanMatchesDirectWalk(t *testing.T) {
	root := shared.Path(t, "policies", "sf-processor")
	sigmaDir := filepath.Join(root, "sigma")
	ri := []string{filepath.Join(root, "runtimeintegrity")}
	type setDef struct {
		name  string
		load  func(Options) (*Set, []Diagnostic, error)
		slots bool // the set has subtrees shared by several rules
	}
	defs := []setDef{
		{"runtimeintegrity", func(o Options) (*Set, []Diagnostic, error) { return Load(ri, o) }, true},
		{"runtimeintegrity-79-definitions", func(o Options) (*Set, []Diagnostic, error) {
			o.KeepDuplicateRules, o.FileScopedDefinitions = true, true
			return Load(ri, o)
		}, true},
		{"default", LoadDefault, true},
		{"sigma-shipped", func(o Options) (*Set, []Diagnostic, error) {
			o.SigmaConfig = filepath.Join(sigmaDir, "config", "sysflow.yml")
			return Load([]string{filepath.Join(sigmaDir, "rules")}, o)
		}, false},
	}
	inputs := map[string][]*sysflow.Event{}
	for name, evs := range traceEvents(t) {
		inputs[name] = evs
	}
	inputs["gen-seed7"] = generatedEvents(t)

	for _, d := range defs {
		t.Run(d.name, func(t *testing.T) {
			load := func(o Options) *Set {
				s, _, err := d.load(o)
				if err != nil {
					t.Fatal(err)
				}
				return s
			}
			planned, unmemo, direct := load(Options{}), load(Options{noSubtreeMemo: true}), load(Options{NoMemo: true})
			if d.slots && planned.slots == 0 {
				t.Fatal("no memo slots: the plan shares no subtree")
			}
			if planned.pslots == 0 {
				t.Fatal("no process subtrees: the per-process memo is not exercised")
			}
			if unmemo.slots != 0 || direct.slots != 0 || unmemo.pslots != 0 || direct.pslots != 0 {
				t.Fatalf("memo slots without memo: %d, %d", unmemo.slots, direct.slots)
			}
			for _, k := range eventKinds {
				if got, want := len(direct.checks[k]), len(direct.byKind[k]); got != want {
					t.Fatalf("%s: unplanned set tries %d rules, its index has %d", k.TypeName(), got, want)
				}
			}
			pe, ue, de := planned.NewEvaluator(), unmemo.NewEvaluator(), direct.NewEvaluator()
			var pm, um, dm []sysflow.Match
			events, matches, compared := 0, 0, 0
			for name, evs := range inputs {
				for _, ev := range evs {
					pm, um, dm = pe.Match(ev, pm[:0]), ue.Match(ev, um[:0]), de.Match(ev, dm[:0])
					if !matchesEqual(pm, dm) || !matchesEqual(um, dm) {
						t.Fatalf("%s: %s ts %d: planned %v, planned without memo %v, rules' own trees %v",
							name, ev.Kind.TypeName(), ev.TS, ruleNames(pm), ruleNames(um), ruleNames(dm))
					}
					if p, u, dd := pe.Drop(ev), ue.Drop(ev), de.Drop(ev); p != dd || u != dd {
						t.Fatalf("%s: %s ts %d: drop planned %v, without memo %v, own trees %v", name, ev.Kind.TypeName(), ev.TS, p, u, dd)
					}
					events++
					matches += len(dm)
					compared += comparePlan(t, name, pe, ev)
				}
			}
			if events == 0 || compared == 0 {
				t.Fatalf("nothing compared (%d events, %d rule evaluations)", events, compared)
			}
			if d.name != "sigma-shipped" && matches == 0 {
				t.Fatal("no rule matched anything: the comparison of matches proves nothing")
			}
			t.Logf("%d events, %d matches, %d rule evaluations agree; %d memo slots, %d process subtrees", events, matches, compared, planned.slots, planned.pslots)
		})
	}
}

// comparePlan evaluates, on ev, every rule and filter the index tries on
// its kind, through the plan and through the rule's own tree, and fails on
// a difference. It returns the number of comparisons.
func comparePlan(t *testing.T, trace string, e *Evaluator, ev *sysflow.Event) int {
	t.Helper()
	s := e.set
	k := ev.Kind & 31
	n := 0
	for _, pair := range []struct {
		rules  []*Rule
		checks []check
	}{{s.byKind[k], s.checks[k]}, {s.dropByKind[k], s.dropChecks[k]}} {
		e.begin(ev)
		// A rule the plan leaves out of the kind must be false on it.
		planned := make(map[*Rule]*check, len(pair.checks))
		for i := range pair.checks {
			planned[pair.checks[i].rule] = &pair.checks[i]
		}
		for _, r := range pair.rules {
			want := e.node(r.root)
			got := false
			if c := planned[r]; c != nil {
				got = (c.need == 0 || ev.OpFlags&c.need != 0) && e.node(c.root)
			}
			if got != want {
				t.Fatalf("%s: rule %q on %s ts %d: plan %v, own tree %v", trace, r.Name, ev.Kind.TypeName(), ev.TS, got, want)
			}
			n++
		}
	}
	e.ev = nil
	return n
}

func matchesEqual(a, b []sysflow.Match) bool {
	return slices.EqualFunc(a, b, func(x, y sysflow.Match) bool {
		return x.Rule == y.Rule && x.Output == y.Output && x.Priority == y.Priority
	})
}

func ruleNames(ms []sysflow.Match) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Rule)
	}
	return out
}
