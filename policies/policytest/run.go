package policytest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/sfconnector/sfconnector/policies"
	"github.com/sfconnector/sfconnector/sysflow"
	"gopkg.in/yaml.v3"
)

// File is a test file as written.
type File struct {
	Policies []string `yaml:"policies"`
	// SigmaConfig is the Sigma field mapping for the Sigma rules among the
	// policies, relative to this file ("" means the built-in mapping).
	SigmaConfig string `yaml:"sigma_config"`
	Strict      bool   `yaml:"strict"`
	Tests       []Test `yaml:"tests"`
}

// Test is one test case.
type Test struct {
	Name        string            `yaml:"name"`
	Policies    []string          `yaml:"policies"`
	SigmaConfig string            `yaml:"sigma_config"`
	Trace       string            `yaml:"trace"`
	Events      []Values          `yaml:"events"`
	Expect      [][]string        `yaml:"expect"`
	Counts      map[string]uint64 `yaml:"counts"`
	OnlyListed  bool              `yaml:"only_listed"`
	Alerted     *uint64           `yaml:"alerted"`
	line        int
}

// Run runs the tests of every file, printing one line per test (PASS or
// FAIL with the reason) and finally "N passed, N failed". A test file that
// cannot be read or parsed counts as one failed test. The error is
// non-nil only when writing to w fails or ctx ends.
func Run(ctx context.Context, files []string, w io.Writer) (passed, failed int, err error) {
	r := &runner{sets: map[string]*loaded{}}
	for _, file := range files {
		if err := ctx.Err(); err != nil {
			return passed, failed, err
		}
		results := r.file(ctx, file)
		for _, res := range results {
			if res.err == nil {
				passed++
				if _, err := fmt.Fprintf(w, "PASS %s: %s\n", file, res.name); err != nil {
					return passed, failed, err
				}
				continue
			}
			failed++
			msg := strings.ReplaceAll(res.err.Error(), "\n", "\n    ")
			if _, err := fmt.Fprintf(w, "FAIL %s: %s: %s\n", file, res.name, msg); err != nil {
				return passed, failed, err
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return passed, failed, err
	}
	_, err = fmt.Fprintf(w, "%d passed, %d failed\n", passed, failed)
	return passed, failed, err
}

type result struct {
	name string
	err  error
}

type loaded struct {
	set *policies.Set
	err error
}

type runner struct {
	sets map[string]*loaded // by resolved paths and strictness
}

func (r *runner) file(ctx context.Context, file string) []result {
	data, err := os.ReadFile(file)
	if err != nil {
		return []result{{name: "(file)", err: err}}
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return []result{{name: "(file)", err: fmt.Errorf("invalid YAML: %w", err)}}
	}
	var f File
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && err != io.EOF {
		return []result{{name: "(file)", err: fmt.Errorf("invalid test file: %w", err)}}
	}
	if len(f.Tests) == 0 {
		return []result{{name: "(file)", err: fmt.Errorf("no tests")}}
	}
	lines := testLines(&doc)
	out := make([]result, 0, len(f.Tests))
	for i, t := range f.Tests {
		if i < len(lines) {
			t.line = lines[i]
		}
		name := t.Name
		if name == "" {
			name = fmt.Sprintf("test %d (line %d)", i+1, t.line)
		}
		paths := t.Policies
		if len(paths) == 0 {
			paths = f.Policies
		}
		if t.SigmaConfig == "" {
			t.SigmaConfig = f.SigmaConfig
		}
		out = append(out, result{name: name, err: r.test(ctx, file, paths, f.Strict, t)})
	}
	return out
}

// testLines finds the line of each entry of tests, for unnamed tests.
func testLines(doc *yaml.Node) []int {
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil
	}
	m := doc.Content[0]
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == "tests" && m.Content[i+1].Kind == yaml.SequenceNode {
			var out []int
			for _, e := range m.Content[i+1].Content {
				out = append(out, e.Line)
			}
			return out
		}
	}
	return nil
}

func resolve(base, p string) string {
	p = os.ExpandEnv(p)
	if p == "default" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(filepath.Dir(base), p)
}

func (r *runner) set(file string, paths []string, strict bool, sigmaConfig string) (*policies.Set, error) {
	if len(paths) == 0 {
		return nil, fmt.Errorf("no policies given (policies: [...] in the file or the test)")
	}
	resolved := make([]string, len(paths))
	for i, p := range paths {
		resolved[i] = resolve(file, p)
	}
	if sigmaConfig != "" {
		sigmaConfig = resolve(file, sigmaConfig)
	}
	key := fmt.Sprint(strict, resolved, sigmaConfig)
	if l, ok := r.sets[key]; ok {
		return l.set, l.err
	}
	var set *policies.Set
	var err error
	opts := policies.Options{Strict: strict, SigmaConfig: sigmaConfig}
	if len(resolved) == 1 && resolved[0] == "default" {
		set, _, err = policies.LoadDefault(opts)
	} else {
		for _, p := range resolved {
			if p == "default" {
				return nil, fmt.Errorf(`"default" cannot be combined with other policy paths`)
			}
		}
		set, _, err = policies.Load(resolved, opts)
	}
	r.sets[key] = &loaded{set, err}
	return set, err
}

func (r *runner) test(ctx context.Context, file string, paths []string, strict bool, t Test) error {
	set, err := r.set(file, paths, strict, t.SigmaConfig)
	if err != nil {
		return err
	}
	switch {
	case t.Trace != "" && len(t.Events) > 0:
		return fmt.Errorf("give either trace or events, not both")
	case t.Trace == "" && len(t.Events) == 0:
		return fmt.Errorf("no input: give trace or events")
	case t.Expect == nil && t.Counts == nil && t.Alerted == nil:
		return fmt.Errorf("nothing expected: give expect, counts or alerted")
	case t.Expect != nil && len(t.Expect) != len(t.Events):
		return fmt.Errorf("expect lists %d records but there are %d events (expect needs inline events)", len(t.Expect), len(t.Events))
	}
	for _, names := range t.Expect {
		for _, n := range names {
			if !hasRule(set, n) {
				return fmt.Errorf("expected rule %q is not in the policies", n)
			}
		}
	}
	for n := range t.Counts {
		if !hasRule(set, n) {
			return fmt.Errorf("counted rule %q is not in the policies", n)
		}
	}
	var events []*sysflow.Event
	if t.Trace != "" {
		events, err = ReadTrace(ctx, resolve(file, t.Trace))
		if err != nil {
			return err
		}
	} else {
		for i, v := range t.Events {
			ev, err := NewEvent(v)
			if err != nil {
				return fmt.Errorf("event %d: %w", i+1, err)
			}
			events = append(events, ev)
		}
	}
	e := set.NewEvaluator()
	counts := map[string]uint64{}
	var alerted uint64
	var problems []string
	for i, ev := range events {
		var names []string
		if !e.Drop(ev) {
			for _, m := range e.Match(ev, nil) {
				names = append(names, m.Rule)
				counts[m.Rule]++
			}
		}
		if len(names) > 0 {
			alerted++
		}
		if t.Expect != nil {
			want := append([]string(nil), t.Expect[i]...)
			sort.Strings(want)
			sort.Strings(names)
			if strings.Join(want, "\x00") != strings.Join(names, "\x00") {
				problems = append(problems, fmt.Sprintf("event %d: matched %s, expected %s", i+1, show(names), show(want)))
			}
		}
	}
	var rules []string
	for n := range t.Counts {
		rules = append(rules, n)
	}
	sort.Strings(rules)
	for _, n := range rules {
		if counts[n] != t.Counts[n] {
			problems = append(problems, fmt.Sprintf("rule %q matched %d records, expected %d", n, counts[n], t.Counts[n]))
		}
	}
	if t.OnlyListed {
		var extra []string
		for n, c := range counts {
			if _, listed := t.Counts[n]; !listed && c > 0 {
				extra = append(extra, fmt.Sprintf("%q (%d)", n, c))
			}
		}
		sort.Strings(extra)
		if len(extra) > 0 {
			problems = append(problems, "rules not listed matched: "+strings.Join(extra, ", "))
		}
	}
	if t.Alerted != nil && alerted != *t.Alerted {
		problems = append(problems, fmt.Sprintf("%d records alerted, expected %d", alerted, *t.Alerted))
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s", strings.Join(problems, "\n"))
	}
	return nil
}

func hasRule(set *policies.Set, name string) bool {
	for _, r := range set.Rules() {
		if r.Name == name {
			return true
		}
	}
	return false
}

func show(names []string) string {
	if len(names) == 0 {
		return "nothing"
	}
	return "[" + strings.Join(names, ", ") + "]"
}
