package policies_test

import (
	"strings"
	"testing"
	"testing/fstest"

	"github.com/sfconnector/sfconnector/policies"
	"github.com/sfconnector/sfconnector/sysflow"
)

// FuzzLoad feeds arbitrary policy files to the loader: it must never panic,
// must report an error with positions inside the file, and a set it accepts
// must evaluate any event.
func FuzzLoad(f *testing.F) {
	for _, s := range []string{
		"- rule: r\n  desc: d\n  condition: sf.opflags = EXEC and sf.proc.name in (bash, sh)\n  priority: high\n",
		"- list: l\n  items: [a, l2]\n- list: l2\n  items: [b]\n- macro: m\n  condition: sf.proc.name pmatch (l)\n- rule: r\n  condition: m and not sf.pproc.pid exists\n  desc: d\n",
		" - rule: r\n  desc: d\n  condition: a =\tb\n",
		"- filter: f\n  condition: sf.file.path glob '/etc/*' or sf.proc.exe regex '.*sh'\n",
		"- rule: r\n  desc: d\n  condition: sf.opflags = EXEC\n  exceptions:\n    - name: e\n      fields: [sf.proc.name]\n      values: [[bash]]\n",
		"- rule: a: b\n  desc: x\n  condition: >\n    (sf.ret < 0\n",
		"- macro: m\n  condition: m\n- rule: r\n  desc: d\n  condition: m\n",
		"- required_engine_version: 3\n- rule: r\n  desc: d\n  condition: sf.proc.aname[1] = bash\n  output: '%sf.proc.name %%'\n",
		"[1, 2", "{}", "", "- 1\n- [a]\n",
	} {
		f.Add(s)
	}
	events := []*sysflow.Event{
		{Kind: sysflow.KindProcessEvent},
		{Kind: sysflow.KindFileFlow, File: &sysflow.File{Path: "/etc/passwd", Restype: 'f'}, Proc: &sysflow.Process{Exe: "/bin/bash"}},
		{Kind: sysflow.KindK8sEvent, K8s: &sysflow.K8sEvent{Message: `{"items":[{"namespace":"x"}]}`}},
	}
	f.Fuzz(func(t *testing.T, text string) {
		set, diags, err := policies.LoadFS(fstest.MapFS{"p.yaml": {Data: []byte(text)}}, []string{"p.yaml"}, policies.Options{})
		lines := 1
		for i := 0; i < len(text); i++ {
			if text[i] == '\n' || text[i] == '\r' && (i+1 == len(text) || text[i+1] != '\n') {
				lines++
			}
		}
		for _, d := range diags {
			if d.Pos.File != "p.yaml" || d.Pos.Line < 0 || d.Pos.Line > lines+1 {
				t.Fatalf("diagnostic outside the file: %s", d)
			}
			_ = d.Snippet()
		}
		if err != nil {
			if set != nil {
				t.Fatal("a set and an error")
			}
			return
		}
		for _, ev := range events {
			set.Drop(ev)
			set.Match(ev, nil)
		}
	})
}

// FuzzSigma feeds arbitrary Sigma rules to the loader: it must never
// panic, every diagnostic must point inside the file, and a rule it accepts
// must evaluate any event.
func FuzzSigma(f *testing.F) {
	head := "title: t\nlogsource:\n    product: linux\n    category: process_creation\ndetection:\n"
	for _, s := range []string{
		head + "    sel:\n        Image|endswith: /bash\n    condition: sel\n",
		head + "    a:\n        CommandLine|contains|all: [x, 'y*z', 'q\\\\*']\n    b:\n        - User: null\n        - ParentImage|re|i: 'ja.a$'\n    condition: (a or not b) and 1 of them\n",
		head + "    sel_1:\n        CommandLine|base64offset|contains: sh\n    sel_2:\n        CommandLine|windash|startswith: '-x /y'\n    condition: all of sel_*\n",
		"title: n\nlogsource:\n    category: network_connection\ndetection:\n    s:\n        DestinationIp|cidr: [10.0.0.0/8, '::1/128']\n        DestinationPort|gte: 1024\n        ProcessId|fieldref: ParentProcessId\n    condition: s | count() > 3\n",
		head + "    k:\n        - foo\n    condition: k\n",
		head + "    s:\n        Image|exists: true\n    condition: [s, not s]\n",
		head + "    condition: (\n", "detection: 1\n", "detection: {}\ntitle: [x]\n",
	} {
		f.Add(s)
	}
	events := []*sysflow.Event{
		{Kind: sysflow.KindProcessEvent, OpFlags: sysflow.OpExec, Proc: &sysflow.Process{Exe: "/bin/bash", ExeArgs: "-c x"}, Parent: &sysflow.Process{Exe: "/usr/bin/java"}},
		{Kind: sysflow.KindNetworkFlow, DIP: 0x0100000a, Proc: &sysflow.Process{Exe: "/usr/bin/nc"}},
		{Kind: sysflow.KindProcessEvent},
	}
	f.Fuzz(func(t *testing.T, text string) {
		set, diags, err := policies.LoadFS(fstest.MapFS{"r.yml": {Data: []byte(text)}}, []string{"r.yml"}, policies.Options{})
		lines := strings.Count(text, "\n") + strings.Count(text, "\r") + 1
		for _, d := range diags {
			if d.Pos.File != "r.yml" || d.Pos.Line < 0 || d.Pos.Line > lines+1 {
				t.Fatalf("diagnostic outside the file: %s", d)
			}
			_ = d.Snippet()
		}
		if err != nil {
			if set != nil {
				t.Fatal("a set and an error")
			}
			return
		}
		for _, ev := range events {
			set.Match(ev, nil)
		}
	})
}
