package policies_test

import (
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
