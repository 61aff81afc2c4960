package policies_test

import (
	"context"
	"fmt"
	"github.com/sfconnector/sfconnector/policies/policytest"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/sfconnector/sfconnector/policies"
	"github.com/sfconnector/sfconnector/sysflow"
	"github.com/sfconnector/sfconnector/testenv/shared"
	"gopkg.in/yaml.v3"
)

// This file holds a second, deliberately naive Sigma evaluator: it reads
// the rule YAML into plain maps and interprets it on each event, with its
// own wildcard matcher, condition evaluator and value handling, sharing
// nothing with the compiler but the event's field values. The engine's
// alerts on the real traces are checked against it.

type naiveRule struct {
	title     string
	category  string
	detection map[string]any
	condition string
	skip      string // why the rule cannot run (an unmapped field)
}

type naiveMapping map[string][]string

func readNaiveMapping(t *testing.T, path string) naiveMapping {
	t.Helper()
	m := naiveMapping{}
	if path == "" { // the built-in mapping, as docs/policies.md lists it
		for k, v := range map[string]string{"Image": "sf.proc.exe", "CommandLine": "sf.proc.cmdline", "ProcessId": "sf.proc.pid",
			"ParentImage": "sf.pproc.exe", "ParentCommandLine": "sf.pproc.cmdline", "ParentProcessId": "sf.pproc.pid",
			"CurrentDirectory": "sf.proc.cwd", "User": "sf.proc.user", "TargetFilename": "sf.file.path",
			"DestinationIp": "sf.net.dip", "DestinationPort": "sf.net.dport", "SourceIp": "sf.net.sip", "SourcePort": "sf.net.sport"} {
			m[k] = []string{v}
		}
		return m
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Fieldmappings map[string]any `yaml:"fieldmappings"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	for k, v := range doc.Fieldmappings {
		switch v := v.(type) {
		case string:
			m[k] = []string{strings.TrimSpace(v)}
		case []any:
			for _, x := range v {
				m[k] = append(m[k], fmt.Sprint(x))
			}
		}
	}
	return m
}

func readNaiveRules(t *testing.T, dir string, m naiveMapping) []naiveRule {
	t.Helper()
	var out []naiveRule
	err := filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() || !strings.HasSuffix(p, ".yml") {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		var doc map[string]any
		if err := yaml.Unmarshal(data, &doc); err != nil {
			return fmt.Errorf("%s: %v", p, err)
		}
		ls, _ := doc["logsource"].(map[string]any)
		det, _ := doc["detection"].(map[string]any)
		r := naiveRule{title: fmt.Sprint(doc["title"]), category: fmt.Sprint(ls["category"]), detection: det, condition: fmt.Sprint(det["condition"])}
		for name, v := range det {
			if name == "condition" {
				continue
			}
			for _, fm := range asMaps(v) {
				for key := range fm {
					field := strings.Split(key, "|")[0]
					if m[field] == nil {
						r.skip = "field " + field + " is not mapped"
					}
				}
			}
		}
		out = append(out, r)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// asMaps returns a search identifier as its list of field maps (one map,
// or the maps of a list, any of which may match).
func asMaps(v any) []map[string]any {
	switch v := v.(type) {
	case map[string]any:
		return []map[string]any{v}
	case []any:
		var out []map[string]any
		for _, x := range v {
			if m, ok := x.(map[string]any); ok {
				out = append(out, m)
			}
		}
		return out
	}
	return nil
}

// naiveValues reads a SysFlow field's values (list fields give their
// elements) from the event.
func naiveValues(ev *sysflow.Event, name string) []string {
	f, ok := sysflow.LookupField(name)
	if !ok {
		return nil
	}
	if f.Kind == sysflow.FieldList {
		return f.List(ev, nil)
	}
	return []string{f.Text(ev)}
}

// wildMatch matches s against a Sigma pattern: * any run, ? one
// character, backslash escaping *, ? and itself. Both are lower-cased by
// the caller.
func wildMatch(p, s []rune) bool {
	for len(p) > 0 {
		switch {
		case p[0] == '\\' && len(p) > 1 && (p[1] == '*' || p[1] == '?' || p[1] == '\\'):
			if len(s) == 0 || s[0] != p[1] {
				return false
			}
			p, s = p[2:], s[1:]
		case p[0] == '*':
			for i := 0; i <= len(s); i++ {
				if wildMatch(p[1:], s[i:]) {
					return true
				}
			}
			return false
		case p[0] == '?':
			if len(s) == 0 {
				return false
			}
			p, s = p[1:], s[1:]
		default:
			if len(s) == 0 || s[0] != p[0] {
				return false
			}
			p, s = p[1:], s[1:]
		}
	}
	return len(s) == 0
}

func naiveValueMatch(mods []string, want string, got string) bool {
	has := func(m string) bool {
		for _, x := range mods {
			if x == m {
				return true
			}
		}
		return false
	}
	switch {
	case has("re"):
		ok, _ := regexp.MatchString(want, got)
		return ok
	case has("cidr"):
		_, n, err := net.ParseCIDR(want)
		ip := net.ParseIP(got)
		return err == nil && ip != nil && n.Contains(ip)
	}
	p := strings.ToLower(want)
	switch {
	case has("contains"):
		p = "*" + p + "*"
	case has("startswith"):
		p = p + "*"
	case has("endswith"):
		p = "*" + p
	}
	return wildMatch([]rune(p), []rune(strings.ToLower(got)))
}

func (r naiveRule) fieldHolds(ev *sysflow.Event, m naiveMapping, key string, val any) bool {
	parts := strings.Split(key, "|")
	var wants []string
	switch v := val.(type) {
	case []any:
		for _, x := range v {
			wants = append(wants, fmt.Sprint(x))
		}
	default:
		wants = []string{fmt.Sprint(v)}
	}
	one := func(w string) bool {
		for _, sf := range m[parts[0]] {
			for _, got := range naiveValues(ev, sf) {
				if naiveValueMatch(parts[1:], w, got) {
					return true
				}
			}
		}
		return false
	}
	all := strings.Contains(key, "|all")
	for _, w := range wants {
		ok := one(w)
		if all && !ok {
			return false
		}
		if !all && ok {
			return true
		}
	}
	return all
}

func (r naiveRule) identHolds(ev *sysflow.Event, m naiveMapping, name string) bool {
	for _, fm := range asMaps(r.detection[name]) {
		ok := true
		for k, v := range fm {
			if !r.fieldHolds(ev, m, k, v) {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// evalCond evaluates the condition over words: or of ands of nots of
// identifiers, parentheses and quantifiers.
func (r naiveRule) evalCond(ev *sysflow.Event, m naiveMapping) bool {
	text := strings.NewReplacer("(", " ( ", ")", " ) ").Replace(r.condition)
	words := strings.Fields(text)
	pos := 0
	var or func() bool
	ident := func(n string) bool { return r.identHolds(ev, m, n) }
	var unary func() bool
	unary = func() bool {
		w := words[pos]
		pos++
		switch {
		case w == "not":
			return !unary()
		case w == "(":
			v := or()
			pos++ // )
			return v
		case pos < len(words) && words[pos] == "of":
			pat := words[pos+1]
			pos += 2
			var names []string
			for n := range r.detection {
				if n == "condition" {
					continue
				}
				if ok, _ := filepath.Match(pat, n); ok || pat == "them" && !strings.HasPrefix(n, "_") {
					names = append(names, n)
				}
			}
			sort.Strings(names)
			count := 0
			for _, n := range names {
				if ident(n) {
					count++
				}
			}
			if w == "all" {
				return count == len(names)
			}
			return count > 0
		}
		return ident(w)
	}
	and := func() bool {
		v := unary()
		for pos < len(words) && words[pos] == "and" {
			pos++
			x := unary()
			v = v && x
		}
		return v
	}
	or = func() bool {
		v := and()
		for pos < len(words) && words[pos] == "or" {
			pos++
			x := and()
			v = v || x
		}
		return v
	}
	return or()
}

func (r naiveRule) holds(ev *sysflow.Event, m naiveMapping) bool {
	switch r.category {
	case "process_creation":
		if ev.Kind != sysflow.KindProcessEvent || ev.OpFlags&sysflow.OpExec == 0 {
			return false
		}
	case "file_event":
		if ev.Kind != sysflow.KindFileFlow && ev.Kind != sysflow.KindFileEvent {
			return false
		}
	case "network_connection":
		if ev.Kind != sysflow.KindNetworkFlow {
			return false
		}
	default:
		return false
	}
	return r.evalCond(ev, m)
}

// checkAgainstNaive loads rules with a mapping, runs them over every trace
// event and compares each event's alerts with the naive evaluator's. It
// returns, per rule, the traces it fired on.
func checkAgainstNaive(t *testing.T, rulesDir, mappingPath string) (map[string]map[string]int, *policies.Set) {
	t.Helper()
	set, diags, err := policies.Load([]string{rulesDir}, policies.Options{SigmaConfig: mappingPath})
	if err != nil {
		t.Fatal(err)
	}
	m := readNaiveMapping(t, mappingPath)
	rules := readNaiveRules(t, rulesDir, m)
	var runnable []naiveRule
	skipped := map[string]bool{}
	for _, r := range rules {
		if r.skip != "" {
			skipped[r.title] = true
			continue
		}
		runnable = append(runnable, r)
	}
	loaded := map[string]bool{}
	for _, r := range set.Rules() {
		loaded[r.Name] = true
	}
	if len(loaded) != len(set.Rules()) {
		t.Fatal("two rules share a title: the comparison needs them unique")
	}
	for _, r := range runnable {
		if !loaded[r.title] {
			t.Errorf("rule %q has only mapped fields but was not loaded", r.title)
		}
	}
	for title := range skipped {
		if loaded[title] {
			t.Errorf("rule %q uses an unmapped field but was loaded", title)
		}
	}
	warned := 0
	for _, d := range diags {
		if strings.Contains(d.Msg, "rule skipped") {
			warned++
		}
	}
	if warned != len(skipped) {
		t.Errorf("%d skip warnings for %d rules with unmapped fields: %v", warned, len(skipped), diags)
	}
	fired := map[string]map[string]int{}
	traces := allTraceEvents(t)
	checked := 0
	for tn, evs := range traces {
		for _, ev := range evs {
			got := map[string]bool{}
			for _, mt := range set.Match(ev, nil) {
				got[mt.Rule] = true
			}
			for _, r := range runnable {
				want := r.holds(ev, m)
				checked++
				if got[r.title] != want {
					s := readSev(ev)
					t.Fatalf("%s: rule %q on %s (exe %q, cmdline %q, parent %q): engine %v, naive evaluator %v",
						tn, r.title, ev.Kind.TypeName(), s.exe, s.cmd(), s.pexe, got[r.title], want)
				}
				if want {
					if fired[r.title] == nil {
						fired[r.title] = map[string]int{}
					}
					fired[r.title][tn]++
				}
			}
		}
	}
	t.Logf("%d rules loaded, %d skipped; %d rule-event pairs agree; fired: %v", len(set.Rules()), len(skipped), checked, fired)
	return fired, set
}

// TestShippedSigmaRulesOnTraces loads every Sigma rule the reference ships
// with its mapping and checks the alerts on every trace record against the
// naive evaluator. The two rules using LogonId (which the mapping lacks)
// are skipped with a warning.
func TestShippedSigmaRulesOnTraces(t *testing.T) {
	dir := shared.Path(t, "policies", "sf-processor", "sigma")
	fired, set := checkAgainstNaive(t, filepath.Join(dir, "rules"), filepath.Join(dir, "config", "sysflow.yml"))
	n := 0
	_ = filepath.Walk(filepath.Join(dir, "rules"), func(p string, info os.FileInfo, err error) error {
		if err == nil && strings.HasSuffix(p, ".yml") {
			n++
		}
		return nil
	})
	if len(set.Rules()) != n-2 {
		t.Errorf("%d of %d shipped rules loaded; all but the two LogonId rules should", len(set.Rules()), n)
	}
	total := 0
	for _, per := range fired {
		for _, c := range per {
			total += c
		}
	}
	if total == 0 {
		t.Error("no shipped rule fired on any trace: the comparison proves little")
	}
	// The built-in mapping (ParentImage is the direct parent) agrees with
	// the naive evaluator too.
	if _, set := checkAgainstNaive(t, filepath.Join(dir, "rules"), ""); len(set.Rules()) != n-2 {
		t.Errorf("built-in mapping: %d of %d shipped rules loaded", len(set.Rules()), n)
	}
	_, _, err := policies.Load([]string{filepath.Join(dir, "rules")}, policies.Options{SigmaConfig: filepath.Join(dir, "config", "sysflow.yml"), Strict: true})
	le, ok := err.(*policies.LoadError)
	if !ok || len(le.Diagnostics) != 2 || !strings.Contains(le.Diagnostics[0].Msg, "LogonId") || !strings.Contains(le.Diagnostics[1].Msg, "LogonId") {
		t.Errorf("strict mode: %v; expected the two LogonId rules refused", err)
	}
}

// TestAttackSigmaRulesOnTraces runs the Sigma rules of testdata/sigma,
// written for the attacks in the traces, with the built-in mapping and
// with the reference's: each fires on the traces holding its attack and
// nowhere else, and agrees with the naive evaluator on every record.
func TestAttackSigmaRulesOnTraces(t *testing.T) {
	want := map[string][]string{
		"Shell spawned by a CGI program":                       {"shellshock"},
		"Account database read below a CGI program":            {"shellshock"},
		"Node.js service runs an interpreter through a shell":  {"mon.1531776682"},
		"Python connects outside the private networks":         {"mon.1531776682"},
		"Shadow password file opened by an unexpected program": nil, // no trace reads it: tests.yaml has the cases
		"Reverse shell command line":                           nil,
	}
	ref := shared.Path(t, "policies", "sf-processor", "sigma", "config", "sysflow.yml")
	for _, mapping := range []string{"", ref} {
		name := "built-in mapping"
		if mapping != "" {
			name = "reference mapping"
		}
		t.Run(name, func(t *testing.T) {
			fired, set := checkAgainstNaive(t, "testdata/sigma/rules", mapping)
			if len(set.Rules()) != len(want) {
				t.Fatalf("%d rules loaded, %d expected", len(set.Rules()), len(want))
			}
			for rule, traces := range want {
				var got []string
				for tn := range fired[rule] {
					got = append(got, tn)
				}
				sort.Strings(got)
				if strings.Join(got, ",") != strings.Join(traces, ",") {
					t.Errorf("rule %q fired on %v, expected %v", rule, got, traces)
				}
			}
		})
	}
}

// TestSigmaPolicyTestFile runs testdata/sigma/tests.yaml, the policy unit
// tests of the attack rules (inline events for the attacks no trace has).
func TestSigmaPolicyTestFile(t *testing.T) {
	var out strings.Builder
	passed, failed, err := policytest.Run(context.Background(), []string{"testdata/sigma/tests.yaml"}, &out)
	if err != nil || failed != 0 || passed != 3 {
		t.Fatalf("passed %d, failed %d, err %v:\n%s", passed, failed, err, out.String())
	}
}

// TestSigmaEvaluationAllocatesNothing: evaluating the shipped Sigma rules
// with the reference's mapping (whose ParentCommandLine is the ancestry's
// command lines) allocates nothing per record.
func TestSigmaEvaluationAllocatesNothing(t *testing.T) {
	dir := shared.Path(t, "policies", "sf-processor", "sigma")
	set, _, err := policies.Load([]string{filepath.Join(dir, "rules")}, policies.Options{SigmaConfig: filepath.Join(dir, "config", "sysflow.yml")})
	if err != nil {
		t.Fatal(err)
	}
	var evs []*sysflow.Event
	for _, x := range allTraceEvents(t) {
		evs = append(evs, x...)
	}
	e := set.NewEvaluator()
	matched := 0
	allocs := testing.AllocsPerRun(3, func() {
		for _, ev := range evs {
			e.MatchRules(ev, func(*policies.Rule) { matched++ })
		}
	})
	if allocs != 0 || matched == 0 {
		t.Fatalf("%v allocations per pass over %d events (%d matches)", allocs, len(evs), matched)
	}
}
