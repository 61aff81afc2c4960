package policy

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/sfconnector/sfconnector/policies"
	"github.com/sfconnector/sfconnector/policies/policytest"
	"github.com/sfconnector/sfconnector/sysflow"
	"github.com/sfconnector/sfconnector/testenv/shared"
)

// recordKey identifies a record across our events and the reference's JSON.
func recordKey(typ string, ts, endTS, pid, tid int64, opflags []string) string {
	return fmt.Sprintf("%s ts=%d endts=%d pid=%d tid=%d ops=%s", typ, ts, endTS, pid, tid, strings.Join(opflags, "|"))
}

func eventKey(ev *sysflow.Event) string {
	return recordKey(ev.Kind.TypeName(), ev.TS, ev.EndTS, ev.ProcOID.Hpid, ev.TID, sysflow.OpFlagNames(nil, ev.OpFlags, ev.Kind))
}

// refAlerts reads parity/alerts/<trace>.jsonl: per record key, the rule
// lists (one per line with that key; a rule the reference evaluated twice
// appears twice).
func refAlerts(t *testing.T, path string) map[string][][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][][]string{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var r struct {
			Type     string   `json:"type"`
			TS       int64    `json:"ts"`
			EndTS    int64    `json:"endts"`
			OpFlags  []string `json:"opflags"`
			Proc     struct{ Pid, Tid int64 }
			Policies []struct{ ID string }
		}
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		// The reference names op flags by whichever record type it met
		// first (intentional difference 6); name them by type, as we do.
		for i, o := range r.OpFlags {
			switch {
			case r.Type == "NF" && o == "READ":
				r.OpFlags[i] = "RECV"
			case r.Type == "NF" && o == "WRITE":
				r.OpFlags[i] = "SEND"
			case r.Type != "NF" && o == "RECV":
				r.OpFlags[i] = "READ"
			case r.Type != "NF" && o == "SEND":
				r.OpFlags[i] = "WRITE"
			}
		}
		var names []string
		for _, p := range r.Policies {
			names = append(names, p.ID)
		}
		sort.Strings(names)
		k := recordKey(r.Type, r.TS, r.EndTS, r.Proc.Pid, r.Proc.Tid, r.OpFlags)
		out[k] = append(out[k], names)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// referenceView is the event as the reference sees it: a process outside
// any container has container type DOCKER, its enum's zero value
// (intentional difference 1). Every other container field stays empty.
func referenceView(ev *sysflow.Event) *sysflow.Event {
	if ev.Container != nil {
		return ev
	}
	c := *ev
	c.Container = &sysflow.Container{}
	c.Matches, c.Tags = nil, nil
	return &c
}

func ruleNames(set *policies.Set, ev *sysflow.Event) []string {
	if set.Drop(ev) {
		return nil
	}
	var names []string
	for _, m := range set.Match(ev, nil) {
		names = append(names, m.Rule)
	}
	sort.Strings(names)
	return names
}

func nameSet(lists [][]string) map[string]bool {
	s := map[string]bool{}
	for _, l := range lists {
		for _, n := range l {
			s[n] = true
		}
	}
	return s
}

func canon(lists [][]string) string {
	parts := make([]string, len(lists))
	for i, l := range lists {
		parts[i] = "[" + strings.Join(l, ",") + "]"
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

// TestParityRuntimeIntegrity runs the reference's runtimeintegrity policies
// in alert mode over every trace and compares, per record, the set of rule
// names with what the reference exported. Every difference must be one of
// FIELDS.md's intentional differences, which the test identifies by
// re-evaluating the record the reference's way:
//
//   - difference 1 (host container type): the rule's outcome flips when
//     the record is given the reference's DOCKER container type;
//   - difference 3 (duplicate rule names): the rule is defined twice and
//     its outcome flips when both definitions are evaluated.
//
// With both reference behaviours switched on, the engine must reproduce
// the reference's output exactly, duplicate listings included.
func TestParityRuntimeIntegrity(t *testing.T) {
	dir := shared.Path(t, "policies", "sf-processor", "runtimeintegrity")
	ours, _, err := policies.Load([]string{dir}, policies.Options{})
	if err != nil {
		t.Fatal(err)
	}
	asRef, _, err := policies.Load([]string{dir}, policies.Options{KeepDuplicateRules: true, FileScopedDefinitions: true})
	if err != nil {
		t.Fatal(err)
	}
	bothDefinitions, _, err := policies.Load([]string{dir}, policies.Options{KeepDuplicateRules: true})
	if err != nil {
		t.Fatal(err)
	}
	fileScoped, _, err := policies.Load([]string{dir}, policies.Options{FileScopedDefinitions: true})
	if err != nil {
		t.Fatal(err)
	}
	defined := map[string]int{}
	for _, r := range asRef.Rules() {
		defined[r.Name]++
	}
	for _, trace := range shared.Traces(t) {
		name := shared.TraceName(trace)
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			events, err := policytest.ReadTrace(ctx, trace)
			if err != nil {
				t.Fatal(err)
			}
			ref := refAlerts(t, filepath.Join(shared.Path(t, "parity", "alerts"), name+".jsonl"))

			tr, err := New(Config{Mode: ModeAlert, Workers: 2, MinParallel: 1}, ours)
			if err != nil {
				t.Fatal(err)
			}
			alerted, err := tr.Process(ctx, slices.Clone(events))
			if err != nil {
				t.Fatal(err)
			}
			got := map[string][][]string{}
			for _, ev := range alerted {
				var names []string
				for _, m := range ev.Matches {
					names = append(names, m.Rule)
				}
				sort.Strings(names)
				got[eventKey(ev)] = append(got[eventKey(ev)], names)
			}

			byKey := map[string][]*sysflow.Event{}
			for _, ev := range events {
				byKey[eventKey(ev)] = append(byKey[eventKey(ev)], ev)
			}
			keys := map[string]bool{}
			for k := range got {
				keys[k] = true
			}
			for k := range ref {
				keys[k] = true
				if byKey[k] == nil {
					t.Errorf("the reference alerted on %s, which is not among our records", k)
				}
			}
			identical, diff1, diff3, scoping := 0, 0, 0, 0
			for k := range keys {
				evs := byKey[k]
				// The reference's way, reproduced: both behaviours on.
				var asRefLists [][]string
				for _, ev := range evs {
					if l := ruleNames(asRef, referenceView(ev)); len(l) > 0 {
						asRefLists = append(asRefLists, l)
					}
				}
				if canon(asRefLists) != canon(ref[k]) {
					t.Errorf("%s: with the reference's behaviours the engine gives %v, the reference %v", k, asRefLists, ref[k])
				}
				gotSet, refSet := nameSet(got[k]), nameSet(ref[k])
				if len(gotSet) == len(refSet) && len(got[k]) == len(ref[k]) {
					same := true
					for n := range gotSet {
						same = same && refSet[n]
					}
					if same {
						identical++
						continue
					}
				}
				if len(evs) != 1 {
					t.Errorf("%s: %d records share the key; cannot attribute the difference (ours %v, reference %v)", k, len(evs), got[k], ref[k])
					continue
				}
				ev := evs[0]
				plain := nameSet([][]string{ruleNames(ours, ev)})
				hostAsDocker := nameSet([][]string{ruleNames(ours, referenceView(ev))})
				bothDefs := nameSet([][]string{ruleNames(bothDefinitions, ev)})
				scopedDefs := nameSet([][]string{ruleNames(fileScoped, ev)})
				for n := range symDiff(gotSet, refSet) {
					switch {
					case ev.Container == nil && plain[n] != hostAsDocker[n]:
						diff1++
						t.Logf("difference 1 (host container type): %s rule %q: ours %v, reference %v", k, n, gotSet[n], refSet[n])
					case defined[n] > 1 && plain[n] != bothDefs[n]:
						diff3++
						t.Logf("difference 3 (duplicate rule name): %s rule %q: ours %v, reference %v", k, n, gotSet[n], refSet[n])
					case plain[n] != scopedDefs[n]:
						scoping++
						t.Logf("definition scoping (last definition wins, not the file's): %s rule %q: ours %v, reference %v", k, n, gotSet[n], refSet[n])
					default:
						t.Errorf("unexplained difference: %s rule %q: ours %v, reference %v", k, n, gotSet[n], refSet[n])
					}
				}
			}
			t.Logf("%s: %d records alerted (reference %d), %d identical; rule differences: %d host container type (1), %d duplicate rule name (3), %d definition scoping",
				name, len(got), len(ref), identical, diff1, diff3, scoping)
		})
	}
}

func symDiff(a, b map[string]bool) map[string]bool {
	out := map[string]bool{}
	for k := range a {
		if !b[k] {
			out[k] = true
		}
	}
	for k := range b {
		if !a[k] {
			out[k] = true
		}
	}
	return out
}
