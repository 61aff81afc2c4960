package policies

import (
	"context"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"unsafe"

	"github.com/sfconnector/sfconnector/policies/condition"
	"github.com/sfconnector/sfconnector/policies/internal/tracefile"
	"github.com/sfconnector/sfconnector/sysflow"
	"github.com/sfconnector/sfconnector/testenv/shared"
)

var (
	traceOnce  sync.Once
	traceCache map[string][]*sysflow.Event
	traceErr   error
)

// traceEvents flattens every shared trace once per test binary.
func traceEvents(t *testing.T) map[string][]*sysflow.Event {
	t.Helper()
	paths := shared.Traces(t)
	traceOnce.Do(func() {
		traceCache = map[string][]*sysflow.Event{}
		for _, p := range paths {
			evs, err := tracefile.Read(context.Background(), p)
			if err != nil {
				traceErr = err
				return
			}
			traceCache[shared.TraceName(p)] = evs
		}
	})
	if traceErr != nil {
		t.Fatal(traceErr)
	}
	return traceCache
}

// TestConstantFor checks the facts the record-kind index relies on: on every
// event of every trace, a field ConstantFor its kind has the value of an
// empty event of that kind.
func TestConstantFor(t *testing.T) {
	checked := 0
	for name, evs := range traceEvents(t) {
		for _, fname := range sysflow.FieldNames() {
			f, _ := sysflow.LookupField(fname)
			for _, ev := range evs {
				if !ConstantFor(fname, ev.Kind) {
					continue
				}
				checked++
				if got, want := f.Text(ev), f.Text(&sysflow.Event{Kind: ev.Kind}); got != want {
					t.Fatalf("%s: %s on a %s event is %q, but ConstantFor says it is always %q", name, fname, ev.Kind.TypeName(), got, want)
				}
			}
		}
	}
	if checked == 0 {
		t.Fatal("nothing checked")
	}
}

// TestAppendersMatchAccessors checks that the allocation-free appenders give
// the registry accessors' values on every trace event.
func TestAppendersMatchAccessors(t *testing.T) {
	for fname, app := range appenders {
		f, ok := sysflow.LookupField(fname)
		if !ok {
			t.Fatalf("appender for unknown field %s", fname)
		}
		for name, evs := range traceEvents(t) {
			for _, ev := range evs {
				b := app(nil, ev)
				if got, want := unsafe.String(unsafe.SliceData(b), len(b)), f.Str(ev); got != want {
					t.Fatalf("%s: %s: appender gives %q, accessor %q", name, fname, got, want)
				}
			}
		}
	}
}

// TestPrecheckAgreesWithGovaluate evaluates every rule and filter of the
// reference's policy sets on every trace event both ways, the direct walk
// of the compiled tree and the govaluate expression, and requires the same
// answer. It also checks the record-kind index: a rule left out for a kind
// its prefilter allows must not match any event of that kind.
func TestPrecheckAgreesWithGovaluate(t *testing.T) {
	root := shared.Path(t, "policies", "sf-processor")
	sets := map[string][]string{
		"runtimeintegrity": {filepath.Join(root, "runtimeintegrity")},
		"distribution":     {filepath.Join(root, "distribution")},
		"falco":            {filepath.Join(root, "tests", "falco.yaml")},
	}
	for label, paths := range sets {
		set, _, err := Load(paths, Options{})
		if err != nil {
			t.Fatalf("%s: %v", label, err)
		}
		e := set.NewEvaluator()
		evaluated, matched := 0, 0
		for name, evs := range traceEvents(t) {
			for _, ev := range evs {
				e.begin(ev)
				for _, r := range append(append([]*Rule(nil), set.rules...), set.filters...) {
					v, err := r.expr.Eval(e)
					if err != nil {
						t.Fatalf("%s: %s: rule %q: govaluate: %v", label, name, r.Name, err)
					}
					gv := v == true
					if direct := e.node(r.root); direct != gv {
						t.Fatalf("%s: %s: rule %q on %s ts %d: direct %v, govaluate %v", label, name, r.Name, ev.Kind.TypeName(), ev.TS, direct, gv)
					}
					evaluated++
					if gv {
						matched++
					}
					if gv && !r.kinds.has(ev.Kind) && prefilterAllows(r, ev.Kind) {
						t.Fatalf("%s: %s: rule %q matches a %s event but the index leaves it out", label, name, r.Name, ev.Kind.TypeName())
					}
				}
			}
		}
		t.Logf("%s: %d evaluations agree, %d true", label, evaluated, matched)
	}
}

func prefilterAllows(r *Rule, k sysflow.RecordKind) bool {
	if len(r.Prefilter) == 0 {
		return true
	}
	for _, p := range r.Prefilter {
		if pk, ok := prefilterKind(p); ok && pk == k {
			return true
		}
	}
	return false
}

// TestOpFlagsBitTest checks the bit-test compilation of sf.opflags = / in
// against the names the registry gives, on every trace event.
func TestOpFlagsBitTest(t *testing.T) {
	names := []string{"CLONE", "EXEC", "EXIT", "SETUID", "SETNS", "ACCEPT", "CONNECT", "OPEN", "READ", "RECV",
		"WRITE", "SEND", "CLOSE", "TRUNCATE", "SHUTDOWN", "MMAP", "DIGEST", "MKDIR", "RMDIR", "LINK", "UNLINK",
		"SYMLINK", "RENAME", "NOPE"}
	var sets [][]string
	for i, n := range names {
		sets = append(sets, []string{n}, []string{n, names[(i+7)%len(names)]})
	}
	f, _ := sysflow.LookupField("sf.opflags")
	l := &loader{}
	evals := make([]func(*Evaluator) bool, len(sets))
	for i, vals := range sets {
		rhs := make([]opnd, len(vals))
		for j, v := range vals {
			rhs[j] = opnd{lit: v}
		}
		ev, err := l.makeEval(condition.OpIn, opnd{field: f}, rhs)
		if err != nil || ev == nil {
			t.Fatal(err)
		}
		evals[i] = ev
	}
	p := &Evaluator{set: &Set{}}
	checked := 0
	for name, evs := range traceEvents(t) {
		for _, ev := range evs {
			p.begin(ev)
			have := f.List(ev, nil)
			for i, vals := range sets {
				want := false
				for _, h := range have {
					want = want || slices.Contains(vals, h)
				}
				if got := evals[i](p); got != want {
					t.Fatalf("%s: %s event with %v: sf.opflags in %v gave %v", name, ev.Kind.TypeName(), have, vals, got)
				}
				checked++
			}
		}
	}
	if checked == 0 {
		t.Fatal("nothing checked")
	}
}
