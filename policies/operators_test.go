package policies_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/sfconnector/sfconnector/policies"
	"github.com/sfconnector/sfconnector/policies/policytest"
	"github.com/sfconnector/sfconnector/sysflow"
	"github.com/sfconnector/sfconnector/testenv/shared"
)

var (
	extTraceOnce sync.Once
	extTraces    map[string][]*sysflow.Event
	extTraceErr  error
)

func allTraceEvents(t *testing.T) map[string][]*sysflow.Event {
	t.Helper()
	paths := shared.Traces(t)
	extTraceOnce.Do(func() {
		extTraces = map[string][]*sysflow.Event{}
		for _, p := range paths {
			evs, err := policytest.ReadTrace(context.Background(), p)
			if err != nil {
				extTraceErr = err
				return
			}
			extTraces[shared.TraceName(p)] = evs
		}
	})
	if extTraceErr != nil {
		t.Fatal(extTraceErr)
	}
	return extTraces
}

// plain reads the event's records directly, without the field registry or
// the policy engine, to work out the expected matches independently.
type plain struct{ ev *sysflow.Event }

func (p plain) exe() string {
	if p.ev.Proc == nil {
		return ""
	}
	return p.ev.Proc.Exe
}

func (p plain) args() string {
	if p.ev.Proc == nil {
		return ""
	}
	return strings.TrimSpace(p.ev.Proc.ExeArgs)
}

func (p plain) name() string {
	if p.exe() == "" {
		return ""
	}
	return filepath.Base(p.exe())
}

func (p plain) container() string {
	if p.ev.Container == nil {
		return ""
	}
	return p.ev.Container.Name
}

func (p plain) parentName() string {
	if p.ev.Parent == nil || p.ev.Parent.Exe == "" {
		return ""
	}
	return filepath.Base(p.ev.Parent.Exe)
}

func (p plain) is(k sysflow.RecordKind) bool { return p.ev.Kind == k }

const refTS = 1548965940603299403

// TestReferenceOperatorFiles loads each per-operator policy file of the
// reference and checks, on every record of every trace, that the rules it
// matches are exactly those a plain Go reading of the record predicts.
func TestReferenceOperatorFiles(t *testing.T) {
	checkOperatorFiles(t, refTS)
}

// TestReferenceComparisonFilesAtAPivot runs the files of the integer
// comparisons again with their timestamp replaced by one taken from the
// trace (no trace record reaches the reference's own timestamp, so eq, ge
// and gt match nothing there): now the boundary is inside the data.
func TestReferenceComparisonFilesAtAPivot(t *testing.T) {
	var stamps []int64
	for _, ev := range allTraceEvents(t)["mon.1531776682"] {
		p := plain{ev}
		if strings.Contains(p.container(), "node") && p.exe() == "/usr/bin/python" {
			stamps = append(stamps, ev.TS)
		}
	}
	if len(stamps) == 0 {
		t.Fatal("no python records in containers named node")
	}
	sort.Slice(stamps, func(i, j int) bool { return stamps[i] < stamps[j] })
	checkOperatorFiles(t, stamps[len(stamps)/2])
}

func checkOperatorFiles(t *testing.T, ts int64) {
	pivotDir := ""
	if ts != refTS {
		pivotDir = t.TempDir()
	}
	node := func(p plain) bool { return strings.Contains(p.container(), "node") }
	python := func(p plain) bool { return p.exe() == "/usr/bin/python" }
	cos := func(p plain) bool { return strings.HasPrefix(p.args(), "cos-write.py") }
	binaries := func(p plain) bool { return p.exe() == "/usr/bin/python" || p.exe() == "bash" }
	pmatchBinaries := func(p plain) bool {
		return strings.Contains(p.exe(), "/usr/bin/python") || strings.Contains(p.exe(), "bash")
	}
	pe := func(p plain) bool { return p.is(sysflow.KindProcessEvent) }
	files := map[string]map[string]func(plain) bool{
		"unit_test_contains.yaml": {
			"Contains rule":  func(p plain) bool { return node(p) && strings.Contains(p.exe(), "/usr/bin/python") },
			"iContains rule": func(p plain) bool { return node(p) && strings.Contains(strings.ToLower(p.exe()), "/usr/bin/python") },
		},
		"unit_test_eq.yaml": {"Eq rule": func(p plain) bool { return node(p) && python(p) && p.ev.TS == ts }},
		"unit_test_ge.yaml": {"Ge rule": func(p plain) bool { return node(p) && python(p) && p.ev.TS >= ts }},
		"unit_test_gt.yaml": {"Gt rule": func(p plain) bool { return node(p) && python(p) && p.ev.TS > ts }},
		"unit_test_le.yaml": {"Le rule": func(p plain) bool {
			return node(p) && p.is(sysflow.KindNetworkFlow) && python(p) && p.ev.TS <= ts
		}},
		"unit_test_lt.yaml": {"Lt rule": func(p plain) bool {
			return node(p) && p.is(sysflow.KindFileFlow) && python(p) && p.ev.TS < ts
		}},
		"unit_test_in.yaml": {"In rule": func(p plain) bool {
			return node(p) && pe(p) && (binaries(p) || p.exe() == "/bin/node") && cos(p)
		}},
		"unit_test_pmatch.yaml": {"Pmatch rule": func(p plain) bool {
			return node(p) && pe(p) && (strings.Contains(p.exe(), "python") || strings.Contains(p.exe(), "bash") || strings.Contains(p.exe(), "/bin/node")) && cos(p)
		}},
		"unit_test_logic.yaml": {
			"Logic rule": func(p plain) bool {
				return node(p) && pe(p) && (python(p) || cos(p)) && (binaries(p) || pmatchBinaries(p)) && binaries(p) && cos(p)
			},
			"Pars rule": func(p plain) bool {
				return node(p) && pe(p) && (python(p) || cos(p)) && (binaries(p) || pmatchBinaries(p)) && binaries(p) && cos(p)
			},
		},
		// sf.state is not a field: the literal "sf.state" never equals CREATE.
		"unit_test_macro.yaml": {"Simple rule to test if Python process": func(plain) bool { return false }},
		"unit_test_networkflow.yaml": {"Network Flows on specific port": func(p plain) bool {
			return node(p) && p.is(sysflow.KindNetworkFlow) && strings.Contains(p.exe(), "python")
		}},
		// sf.is_open_write is not a field: the literal never equals true.
		"unit_test_fileflow.yaml": {"File Flows Open Write Access": func(plain) bool { return false }},
		"unit_test_sfmap.yaml":    {"Sf map rule": func(p plain) bool { return p.name() == "python" }},
		"unit_test_simple.yaml": {
			"Simple rule 1": func(p plain) bool { return node(p) && pe(p) && strings.Contains(p.exe(), "python") },
			"Simple rule 2": func(p plain) bool { return node(p) && pe(p) && strings.Contains(p.exe(), "python") },
			"Simple rule 3": func(p plain) bool { return node(p) && pe(p) && strings.Contains(p.exe(), "python") },
			"Simple rule 4": func(p plain) bool { return node(p) && pe(p) && python(p) },
			"Simple rule 5": func(p plain) bool { return node(p) && pe(p) && python(p) },
			"Simple rule 6": func(p plain) bool { return node(p) && pe(p) && python(p) },
		},
		"unit_test_startswith.yaml": {"Startswith rule": func(p plain) bool { return node(p) && cos(p) }},
		"unit_test_unary.yaml":      {"Exists rule": func(p plain) bool { return node(p) && p.parentName() != "" }},
	}
	dir := shared.Path(t, "policies", "sf-processor", "tests")
	traces := allTraceEvents(t)
	var traceNames []string
	for n := range traces {
		traceNames = append(traceNames, n)
	}
	sort.Strings(traceNames)
	for file, rules := range files {
		path := filepath.Join(dir, file)
		if pivotDir != "" {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			ref := strconv.FormatInt(refTS, 10)
			if !bytes.Contains(data, []byte(ref)) {
				continue
			}
			path = filepath.Join(pivotDir, file)
			if err := os.WriteFile(path, bytes.ReplaceAll(data, []byte(ref), []byte(strconv.FormatInt(ts, 10))), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		t.Run(file, func(t *testing.T) {
			set, _, err := policies.Load([]string{path}, policies.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if len(set.Rules()) != len(rules) {
				t.Fatalf("%d rules loaded, %d expected", len(set.Rules()), len(rules))
			}
			for _, r := range set.Rules() {
				if rules[r.Name] == nil {
					t.Fatalf("unexpected rule %q", r.Name)
				}
			}
			counts := map[string]map[string]int{} // rule -> trace -> matches
			for _, tn := range traceNames {
				for _, ev := range traces[tn] {
					got := map[string]bool{}
					for _, m := range set.Match(ev, nil) {
						got[m.Rule] = true
					}
					for name, pred := range rules {
						want := pred(plain{ev})
						if got[name] != want {
							t.Fatalf("%s: rule %q on %s ts %d (exe %q, args %q, container %q): matched %v, expected %v",
								tn, name, ev.Kind.TypeName(), ev.TS, plain{ev}.exe(), plain{ev}.args(), plain{ev}.container(), got[name], want)
						}
						if want {
							if counts[name] == nil {
								counts[name] = map[string]int{}
							}
							counts[name][tn]++
						}
					}
				}
			}
			for name := range rules {
				t.Logf("%s: matches per trace %v", name, counts[name])
			}
		})
	}
}
