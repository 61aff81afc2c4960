package policies

import (
	"testing"

	"github.com/sfconnector/sfconnector/sysflow"
)

// TestProcessFieldsReadOnlyTheKey checks the per-process memo's premise:
// every field it treats as a process field gives, on every event of the
// real traces, the same value on an event that shares only the memo key
// with it (all other members taken from events of other kinds, times,
// files, flows and flags). A field reading anything outside the key would
// differ on some hybrid.
func TestProcessFieldsReadOnlyTheKey(t *testing.T) {
	var fields []*sysflow.Field
	names := append(sysflow.FieldNames(), sysflow.FieldAliases()...)
	for _, name := range names {
		f, ok := sysflow.LookupField(name)
		if ok && isProcField(f) {
			fields = append(fields, f)
		}
	}
	if len(fields) < len(procFields)-1 {
		t.Fatalf("only %d of the %d process fields found in the registry", len(fields), len(procFields))
	}
	var others []*sysflow.Event // events of every kind, as donors of the non-key members
	seenKind := map[sysflow.RecordKind]int{}
	for _, evs := range traceEvents(t) {
		for _, ev := range evs {
			if seenKind[ev.Kind] < 4 {
				seenKind[ev.Kind]++
				others = append(others, ev)
			}
		}
	}
	checked := 0
	for name, evs := range traceEvents(t) {
		for i, ev := range evs {
			o := others[i%len(others)]
			h := *o
			h.Header, h.ProcOID, h.Proc, h.ParentOID, h.Parent = ev.Header, ev.ProcOID, ev.Proc, ev.ParentOID, ev.Parent
			h.Ancestry, h.Container, h.Pod = ev.Ancestry, ev.Container, ev.Pod
			if keyOf(&h) != keyOf(ev) {
				t.Fatal("the hybrid event does not share the key")
			}
			for _, f := range fields {
				if got, want := f.Text(&h), f.Text(ev); got != want {
					t.Fatalf("%s: %s on %s ts %d: %q, on a %s event with the same key %q: not a process field",
						name, f.Name, ev.Kind.TypeName(), ev.TS, want, o.Kind.TypeName(), got)
				}
				checked++
			}
		}
	}
	if checked == 0 {
		t.Fatal("nothing checked")
	}
	t.Logf("%d field values on %d process fields agree", checked, len(fields))
}

// TestProcessMemoUsed makes sure the plans of the Falco-style sets have
// process subtrees, so that TestPlanMatchesDirectWalk exercises the memo.
func TestProcessMemoUsed(t *testing.T) {
	set, _, err := LoadDefault(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if set.pslots == 0 {
		t.Fatal("the bundled set's plan has no process subtree")
	}
	unmemo, _, err := LoadDefault(Options{noSubtreeMemo: true})
	if err != nil {
		t.Fatal(err)
	}
	if unmemo.pslots != 0 {
		t.Fatalf("%d process slots without memo", unmemo.pslots)
	}
}
