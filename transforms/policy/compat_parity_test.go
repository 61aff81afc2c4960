package policy

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/sfconnector/sfconnector/policies"
	"github.com/sfconnector/sfconnector/policies/policytest"
	"github.com/sfconnector/sfconnector/testenv/shared"
)

// exactKey identifies a record by what the collector recorded and both
// processors export unchanged: type, times, pid and tid. Op flags are left
// out on purpose: the reference names them by the first record type it met
// (FIELDS.md difference 6), and an exact comparison may not rename them.
func exactKey(typ string, ts, endTS, pid, tid int64) string {
	return fmt.Sprintf("%s ts=%d endts=%d pid=%d tid=%d", typ, ts, endTS, pid, tid)
}

// exactRefAlerts reads parity/alerts/<trace>.jsonl as it is: per record
// key, one entry per alerted record, each the record's policy ids sorted
// (a rule listed twice stays twice).
func exactRefAlerts(t *testing.T, path string) map[string][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]string{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var r struct {
			Type     string `json:"type"`
			TS       int64  `json:"ts"`
			EndTS    int64  `json:"endts"`
			Proc     struct{ Pid, Tid int64 }
			Policies []struct{ ID string }
		}
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		ids := make([]string, 0, len(r.Policies))
		for _, p := range r.Policies {
			ids = append(ids, p.ID)
		}
		k := exactKey(r.Type, r.TS, r.EndTS, r.Proc.Pid, r.Proc.Tid)
		out[k] = append(out[k], idList(ids))
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// idList renders a record's policy ids as a multiset: sorted, repeats kept.
func idList(ids []string) string {
	s := append([]string(nil), ids...)
	sort.Strings(s)
	return "[" + strings.Join(s, ", ") + "]"
}

// diffAlerts compares two alert maps exactly (each key's records as a
// multiset of id lists) and describes every key that differs.
func diffAlerts(got, want map[string][]string) []string {
	keys := map[string]bool{}
	for k := range got {
		keys[k] = true
	}
	for k := range want {
		keys[k] = true
	}
	var diffs []string
	for k := range keys {
		g, w := append([]string(nil), got[k]...), append([]string(nil), want[k]...)
		sort.Strings(g)
		sort.Strings(w)
		if strings.Join(g, " ") != strings.Join(w, " ") {
			diffs = append(diffs, fmt.Sprintf("%s: sfconnector %v, reference %v", k, g, w))
		}
	}
	sort.Strings(diffs)
	return diffs
}

// TestParityCompatSFProcessor runs the reference's runtimeintegrity
// policies in alert mode with compat sf-processor over every trace and
// requires the alerts to equal what the reference exported exactly: the
// same records, each with the same policy ids as a multiset. Nothing is
// normalised, and the records are given to the engine as the flattener
// made them (no reference view): compat mode must do that itself. In the
// default mode the same comparison must find differences, the ones
// TestParityRuntimeIntegrity attributes to FIELDS.md.
func TestParityCompatSFProcessor(t *testing.T) {
	dir := shared.Path(t, "policies", "sf-processor", "runtimeintegrity")
	compat, _, err := policies.Load([]string{dir}, policies.Options{}.SFProcessorCompat())
	if err != nil {
		t.Fatal(err)
	}
	ours, _, err := policies.Load([]string{dir}, policies.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defaultDiffers := 0
	for _, trace := range shared.Traces(t) {
		name := shared.TraceName(trace)
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			want := exactRefAlerts(t, filepath.Join(shared.Path(t, "parity", "alerts"), name+".jsonl"))
			alerts := func(set *policies.Set) map[string][]string {
				tr, err := New(Config{Mode: ModeAlert, Workers: 2, MinParallel: 1}, set)
				if err != nil {
					t.Fatal(err)
				}
				// read afresh for each mode: Process attaches matches to the events
				evs, err := policytest.ReadTrace(ctx, trace)
				if err != nil {
					t.Fatal(err)
				}
				alerted, err := tr.Process(ctx, evs)
				if err != nil {
					t.Fatal(err)
				}
				out := map[string][]string{}
				for _, ev := range alerted {
					ids := make([]string, 0, len(ev.Matches))
					for _, m := range ev.Matches {
						ids = append(ids, m.Rule)
					}
					k := exactKey(ev.Kind.TypeName(), ev.TS, ev.EndTS, ev.ProcOID.Hpid, ev.TID)
					out[k] = append(out[k], idList(ids))
				}
				return out
			}
			got := alerts(compat)
			n := count(want)
			for _, d := range diffAlerts(got, want) {
				t.Errorf("compat sf-processor: %s", d)
			}
			t.Logf("%s: compat mode alerted %d records, the reference %d: identical", name, count(got), n)
			if d := diffAlerts(alerts(ours), want); len(d) > 0 {
				defaultDiffers++
				t.Logf("%s: default mode: %d record keys differ from the reference (FIELDS.md differences, attributed by TestParityRuntimeIntegrity)", name, len(d))
			}
		})
	}
	if defaultDiffers == 0 {
		t.Error("the default mode gives the reference's alerts on every trace: FIELDS.md's differences 1, 3 and 12 no longer show")
	}
}

func count(m map[string][]string) int {
	n := 0
	for _, l := range m {
		n += len(l)
	}
	return n
}
