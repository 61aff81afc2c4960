package policies_test

import (
	"strings"
	"testing"
	"testing/fstest"

	"github.com/sfconnector/sfconnector/policies"
	"github.com/sfconnector/sfconnector/sysflow"
)

// hostEvent is sampleEvent's process outside any container.
func hostEvent() *sysflow.Event {
	ev := sampleEvent()
	ev.Container = nil
	ev.Proc.ContainerID = nil
	ev.Parent.ContainerID = nil
	return ev
}

// With ReferenceContainerType a host process's container type reads
// DOCKER under every name of the field, and a containerised one keeps its
// own; without it the host process reads host.
func TestReferenceContainerType(t *testing.T) {
	text := `
- rule: docker
  desc: d
  condition: sf.container.type = DOCKER
  priority: low
- rule: host
  desc: d
  condition: sf.container.type = host
  priority: low
- rule: alias docker
  desc: d
  condition: container.type in (DOCKER)
  priority: low
- rule: container macro
  desc: the reference's macro, always true there
  condition: sf.container.type != host
  priority: low
`
	plain, _, err := load(t, text, policies.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ref, _, err := load(t, text, policies.Options{ReferenceContainerType: true})
	if err != nil {
		t.Fatal(err)
	}
	crio := sampleEvent()
	crio.Container.Type = 8 // CT_CRIO
	for _, tc := range []struct {
		name string
		set  *policies.Set
		ev   *sysflow.Event
		want string
	}{
		{"host, sfconnector", plain, hostEvent(), "host"},
		{"host, reference", ref, hostEvent(), "docker,alias docker,container macro"},
		{"docker container, reference", ref, sampleEvent(), "docker,alias docker,container macro"},
		{"crio container, reference", ref, crio, "container macro"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := strings.Join(matches(tc.set, tc.ev), ","); got != tc.want {
				t.Errorf("matched %q, want %q", got, tc.want)
			}
		})
	}
}

// SFProcessorCompat switches on all three reference behaviours at once:
// a repeated rule name is listed per definition that matches, a macro
// redefined in a later file does not reach an earlier file's rule, and a
// host process is typed DOCKER.
func TestSFProcessorCompat(t *testing.T) {
	fsys := fstest.MapFS{
		"a.yaml": {Data: []byte(`
- macro: shell
  condition: sf.proc.name = perl
- rule: twice
  desc: first
  condition: sf.proc.exe = /usr/bin/python
  priority: low
- rule: twice
  desc: second
  condition: sf.container.type = DOCKER
  priority: low
- rule: scoped
  desc: d
  condition: shell
  priority: low
`)},
		"b.yaml": {Data: []byte(`
- macro: shell
  condition: sf.proc.name = python
`)},
	}
	o := policies.Options{}.SFProcessorCompat()
	if !o.KeepDuplicateRules || !o.FileScopedDefinitions || !o.ReferenceContainerType {
		t.Fatalf("SFProcessorCompat() = %+v, want the three reference behaviours on", o)
	}
	compat, _, err := policies.LoadFS(fsys, []string{"*.yaml"}, o)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(matches(compat, hostEvent()), ","); got != "twice,twice" {
		t.Errorf("compat: matched %q, want twice listed twice and scoped silent", got)
	}
	plain, _, err := policies.LoadFS(fsys, []string{"*.yaml"}, policies.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// the later "twice" replaces the first; the host is not DOCKER; the
	// repaired macro reaches "scoped"
	if got := strings.Join(matches(plain, hostEvent()), ","); got != "scoped" {
		t.Errorf("default: matched %q, want scoped only", got)
	}
}
