package policies_test

import (
	"strings"
	"testing"
	"testing/fstest"

	"github.com/sfconnector/sfconnector/policies"
	"github.com/sfconnector/sfconnector/sysflow"
)

// load compiles the given policy text as one file.
func load(t *testing.T, text string, opts policies.Options) (*policies.Set, []policies.Diagnostic, error) {
	t.Helper()
	return policies.LoadFS(fstest.MapFS{"p.yaml": {Data: []byte(text)}}, []string{"p.yaml"}, opts)
}

func mustLoad(t *testing.T, text string) *policies.Set {
	t.Helper()
	set, diags, err := load(t, text, policies.Options{})
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	for _, d := range diags {
		t.Logf("%s", d)
	}
	return set
}

func matches(set *policies.Set, ev *sysflow.Event) []string {
	var names []string
	for _, m := range set.Match(ev, nil) {
		names = append(names, m.Rule)
	}
	return names
}

// sampleEvent is a python process exec in a container, built by hand from
// the record types (not through the package under test).
func sampleEvent() *sysflow.Event {
	cid := "cafe01"
	parent := &sysflow.Process{OID: sysflow.OID{Hpid: 100, CreateTS: 5}, Exe: "/bin/bash", UID: 1000, UserName: "alice", ContainerID: &cid}
	proc := &sysflow.Process{OID: sysflow.OID{Hpid: 101, CreateTS: 7}, POID: &parent.OID, Exe: "/usr/bin/python",
		ExeArgs: "cos-write.py -p x", UID: 0, UserName: "root", TTY: true, ContainerID: &cid}
	grand := &sysflow.Process{OID: sysflow.OID{Hpid: 1}, Exe: "/usr/bin/containerd-shim"}
	return &sysflow.Event{
		Kind: sysflow.KindProcessEvent, ProcOID: proc.OID, Proc: proc, ParentOID: &parent.OID, Parent: parent,
		Ancestry:  []*sysflow.Process{proc, parent, grand},
		Container: &sysflow.Container{ID: cid, Name: "node-app", Image: "node:20", Type: 0},
		TS:        1548965940603299403, TID: 101, OpFlags: sysflow.OpExec, Ret: 0,
	}
}

func TestOperatorSemantics(t *testing.T) {
	tests := []struct {
		cond string
		want bool
	}{
		// = and != compare text; != is not =.
		{"sf.proc.exe = /usr/bin/python", true},
		{"sf.proc.exe = /usr/bin/pytho", false},
		{"sf.proc.exe != /usr/bin/python", false},
		{"sf.proc.exe == '/usr/bin/python'", true},
		{"sf.proc.uid = 0", true},
		{"sf.proc.uid = 00", false}, // text comparison: 0 prints as 0
		{"sf.proc.tty = true", true},
		{"sf.proc.tty = false", false},
		{"sf.ts = 1548965940603299403", true},
		// On a list field, = holds when any element equals; != when none does.
		{"sf.proc.aname = bash", true},
		{"sf.proc.aname != bash", false},
		{"sf.proc.aname != sshd", true},
		{"sf.opflags = EXEC", true},
		{"sf.opflags = CLONE", false},
		// Ordering compares integers.
		{"sf.ts < 1548965940603299404", true},
		{"sf.ts <= 1548965940603299403", true},
		{"sf.ts > 1548965940603299403", false},
		{"sf.ts >= 1548965940603299403", true},
		{"sf.pproc.uid > 999", true},
		{"sf.proc.uid < -1", false},
		{"sf.proc.uid < abc", false},
		// String operators; on lists, any element.
		{"sf.proc.exe contains bin/py", true},
		{"sf.proc.exe icontains BIN/PYTHON", true},
		{"sf.proc.exe contains BIN", false},
		{"sf.proc.exe startswith /usr/", true},
		{"sf.proc.exe endswith python", true},
		{"sf.proc.exe endswith pytho", false},
		{"sf.proc.aname startswith contain", true},
		{"sf.proc.cmdline = '/usr/bin/python cos-write.py -p x'", true},
		{"sf.proc.cmdline startswith '/usr/bin/python cos'", true},
		// in: equality with any value, lists expanded recursively.
		{"sf.proc.name in (ruby, python)", true},
		{"sf.proc.name in (interps)", true},
		{"sf.proc.name in (outer)", true},
		{"sf.proc.name in (pyth)", false},
		{"sf.proc.aname in (sshd, bash)", true},
		{"sf.proc.name in ()", false},
		// pmatch: substring containment of any value (not a path prefix).
		{"sf.proc.exe pmatch (cgi-bin, bin/py)", true},
		{"sf.proc.exe pmatch (thon)", true},
		{"sf.proc.exe pmatch (interps)", true},
		{"sf.proc.exe pmatch (/sbin)", false},
		// intersects: any element of the field in the set.
		{"sf.proc.aname intersects (sshd, containerd-shim)", true},
		{"sf.proc.aname intersects (sshd)", false},
		// exists: a non-zero value, prefix and postfix.
		{"sf.pproc.pid exists", true},
		{"exists sf.pproc.pid", true},
		{"sf.proc.uid exists", false},
		{"sf.file.path exists", false},
		{"sf.proc.aname exists", true},
		{"not sf.net.sip exists", true},
		// glob: * crosses slashes, ?, classes; regex: whole value.
		{"sf.proc.exe glob '/usr/*/py*'", true},
		{"sf.proc.exe glob '/usr/bin/pytho?'", true},
		{"sf.proc.exe glob '/usr/bin/[op]ython'", true},
		{"sf.proc.exe glob '/usr/bin/[!p]ython'", false},
		{"sf.proc.exe glob '*py'", false},
		{"sf.proc.exe regex '/usr/bin/py(thon|py)'", true},
		{"sf.proc.exe regex 'python'", false},
		{"sf.proc.exe regex '.*python'", true},
		// Fields on both sides.
		{"sf.proc.exe != sf.pproc.exe", true},
		{"sf.proc.uid < sf.pproc.uid", true},
		{"sf.container.id = sf.container.id", true},
		{"sf.proc.aname = sf.pproc.name", true},
		{"sf.proc.aname = sf.container.name", false},
		{"sf.proc.exe contains sf.proc.name", true},
		{"sf.proc.exe endswith sf.pproc.name", false},
		{"sf.pproc.uid = sf.proc.uid", false},
		// Falco aliases.
		{"proc.name = python and proc.pname = bash and container.name = node-app", true},
		{"proc.aname[2] = containerd-shim", true},
		// A misspelt field reads as its own name (the reference's behaviour).
		{"sf.proc.username != root", true},
		{"sf.proc.username = root", false},
		{"sf-process.args contains f", true},
		// Boolean structure, macros and precedence.
		{"is_python and not is_shell", true},
		{"is_shell or is_python and sf.proc.tty = true", true},
		{"(is_shell or is_python) and sf.proc.tty = false", false},
		{"not not is_python", true},
		{"sf.container.type != host", true},
	}
	base := `
- list: interps
  items: [ruby, python]
- list: outer
  items: [perl, interps]
- macro: is_python
  condition: sf.proc.name = python
- macro: is_shell
  condition: sf.proc.name in (bash, sh)
`
	ev := sampleEvent()
	for _, tt := range tests {
		t.Run(tt.cond, func(t *testing.T) {
			text := base + "- rule: r\n  desc: d\n  condition: " + yamlQuote(tt.cond) + "\n  priority: low\n"
			set, _, err := load(t, text, policies.Options{})
			if err != nil {
				t.Fatal(err)
			}
			got := len(matches(set, ev)) == 1
			if got != tt.want {
				t.Fatalf("%s: matched %v, want %v (expression %s)", tt.cond, got, tt.want, set.Rules()[0].Expression())
			}
			// The same answer with govaluate alone.
			gv, _, err := load(t, text, policies.Options{GovaluateOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			if got2 := len(matches(gv, ev)) == 1; got2 != tt.want {
				t.Fatalf("%s: govaluate alone matched %v, want %v", tt.cond, got2, tt.want)
			}
		})
	}
}

func yamlQuote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

func TestHostContainerType(t *testing.T) {
	set := mustLoad(t, `
- macro: container
  condition: sf.container.type != host
- rule: in container
  desc: d
  condition: container
  priority: low
`)
	ev := sampleEvent()
	ev.Container = nil
	ev.Proc.ContainerID = nil
	if m := matches(set, ev); len(m) != 0 {
		t.Fatalf("a host process matched %v: sf.container.type must be host (difference 1)", m)
	}
}

func TestEveryMatchingRuleListedWithTags(t *testing.T) {
	set := mustLoad(t, `
- rule: first
  desc: first rule
  condition: sf.proc.name = python
  priority: high
  tags: [a, b, a]
- rule: second
  desc: second rule
  condition: sf.opflags = EXEC
  priority: warning
  tags: [b, c]
  output: "%sf.proc.name ran %sf.proc.args as %proc.user in %container.name; 100%% sure. %sf.file.path."
- rule: third
  desc: never
  condition: sf.opflags = EXIT
  priority: low
`)
	got := set.Match(sampleEvent(), nil)
	if len(got) != 2 || got[0].Rule != "first" || got[1].Rule != "second" {
		t.Fatalf("matches %+v, want first then second", got)
	}
	if got[0].Priority != sysflow.PriorityHigh || got[1].Priority != sysflow.PriorityMedium {
		t.Fatalf("priorities %v %v", got[0].Priority, got[1].Priority)
	}
	if strings.Join(got[0].Tags, ",") != "a,b" || got[0].Desc != "first rule" {
		t.Fatalf("first match %+v", got[0])
	}
	if want := "python ran cos-write.py -p x as root in node-app; 100% sure. <NA>."; got[1].Output != want {
		t.Fatalf("output %q, want %q", got[1].Output, want)
	}
}

func TestPriorities(t *testing.T) {
	for name, want := range map[string]sysflow.Priority{
		"low": 0, "LOW": 0, "debug": 0, "informational": 0, "info": 0, "notice": 0,
		"medium": 1, "Warning": 1,
		"high": 2, "error": 2, "CRITICAL": 2, "alert": 2, "emergency": 2,
	} {
		if got, ok := policies.ParsePriority(name); !ok || got != want {
			t.Errorf("ParsePriority(%q) = %v, %v; want %v", name, got, ok, want)
		}
	}
	if _, ok := policies.ParsePriority("urgent"); ok {
		t.Error("urgent accepted")
	}
}

func TestDropFilters(t *testing.T) {
	set := mustLoad(t, `
- filter: python noise
  condition: sf.proc.name = python and sf.proc.args startswith cos
- drop: never
  condition: sf.proc.name = perl
- rule: r
  desc: d
  condition: sf.opflags = EXEC
  priority: low
`)
	ev := sampleEvent()
	if !set.Drop(ev) {
		t.Fatal("filter did not drop")
	}
	ev.Proc.ExeArgs = "other.py"
	if set.Drop(ev) {
		t.Fatal("filter dropped a record it does not match")
	}
	if len(set.Filters()) != 2 || len(set.Rules()) != 1 {
		t.Fatalf("%d filters %d rules", len(set.Filters()), len(set.Rules()))
	}
}

func TestKeysInAnyOrderAndForwardReferences(t *testing.T) {
	set := mustLoad(t, `
- rule: r
  condition: later_macro and sf.proc.name in (later_list)
  priority: medium
  desc: keys in any order
- macro: later_macro
  condition: sf.opflags = EXEC and nested
- macro: nested
  condition: sf.proc.tty = true
- list: later_list
  items: [python]
`)
	if m := matches(set, sampleEvent()); len(m) != 1 {
		t.Fatalf("matched %v", m)
	}
}

func TestAppend(t *testing.T) {
	set := mustLoad(t, `
- list: names
  items: [ruby]
- list: names
  items: [python]
  append: true
- macro: m
  condition: sf.proc.name = perl
- macro: m
  condition: or sf.proc.name in (names)
  append: true
- rule: r
  desc: d
  condition: sf.opflags = EXEC and m
  priority: low
  tags: [x]
- rule: r
  condition: and sf.proc.tty = false
  append: true
  tags: [y]
`)
	ev := sampleEvent()
	if m := matches(set, ev); len(m) != 0 {
		t.Fatalf("appended condition ignored: matched %v", m)
	}
	ev.Proc.TTY = false
	got := set.Match(ev, nil)
	if len(got) != 1 || strings.Join(got[0].Tags, ",") != "x,y" {
		t.Fatalf("matches %+v", got)
	}
	if c := set.Rules()[0].Condition; c != "sf.opflags = EXEC and m and sf.proc.tty = false" {
		t.Fatalf("condition %q", c)
	}
}

func TestExceptions(t *testing.T) {
	set := mustLoad(t, `
- list: trusted
  items: [/usr/bin/python]
- rule: r
  desc: d
  condition: sf.opflags = EXEC
  priority: low
  exceptions:
    - name: trusted exes in one container
      fields: [sf.proc.exe, sf.container.name]
      comps: [in, startswith]
      values:
        - [trusted, node-]
    - name: by user
      fields: sf.proc.user
      values: [nobody, www-data]
`)
	ev := sampleEvent()
	if m := matches(set, ev); len(m) != 0 {
		t.Fatalf("exception did not apply: %v", m)
	}
	ev.Container.Name = "db"
	if m := matches(set, ev); len(m) != 1 {
		t.Fatalf("exception applied with one field off: %v", m)
	}
	ev.Proc.UserName = "www-data"
	if m := matches(set, ev); len(m) != 0 {
		t.Fatalf("single-field exception did not apply: %v", m)
	}
}

func TestEnabledAndOverride(t *testing.T) {
	set := mustLoad(t, `
- rule: off
  desc: d
  condition: sf.opflags = EXEC
  priority: low
  enabled: false
- rule: on later off
  desc: d
  condition: sf.opflags = EXEC
  priority: low
- rule: on later off
  enabled: false
- rule: kept
  desc: d
  condition: sf.opflags = EXEC
  priority: low
`)
	if m := matches(set, sampleEvent()); strings.Join(m, ",") != "kept" {
		t.Fatalf("matched %v, want only kept", m)
	}
}

func TestDuplicateRuleReplaced(t *testing.T) {
	text := `
- rule: dup
  desc: first
  condition: sf.proc.name = python
  priority: low
- rule: other
  desc: d
  condition: sf.opflags = EXEC
  priority: low
- rule: dup
  desc: second
  condition: sf.opflags = EXEC
  priority: high
`
	set, diags, err := load(t, text, policies.Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := set.Match(sampleEvent(), nil)
	if len(got) != 2 || got[0].Rule != "dup" || got[0].Desc != "second" || got[1].Rule != "other" {
		t.Fatalf("matches %+v: the later definition replaces the earlier, in its place", got)
	}
	if !hasDiag(diags, policies.SeverityWarning, "p.yaml:10:3", `rule "dup": rule defined twice (first at p.yaml:2:3)`) {
		t.Fatalf("no duplicate warning in %v", diags)
	}
	both, _, err := load(t, text, policies.Options{KeepDuplicateRules: true})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(both.Match(sampleEvent(), nil)); n != 3 {
		t.Fatalf("KeepDuplicateRules: %d matches, want 3", n)
	}
}

func TestFileScopedDefinitions(t *testing.T) {
	fsys := fstest.MapFS{
		"a.yaml": {Data: []byte(`
- macro: m
  condition: sf.proc.name = perl
- rule: in a
  desc: d
  condition: m
  priority: low
`)},
		"b.yaml": {Data: []byte(`
- macro: m
  condition: sf.proc.name = python
- rule: in b
  desc: d
  condition: m
  priority: low
`)},
	}
	last, _, err := policies.LoadFS(fsys, []string{"*.yaml"}, policies.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if m := matches(last, sampleEvent()); strings.Join(m, ",") != "in a,in b" {
		t.Fatalf("last definition wins: matched %v", m)
	}
	scoped, _, err := policies.LoadFS(fsys, []string{"*.yaml"}, policies.Options{FileScopedDefinitions: true})
	if err != nil {
		t.Fatal(err)
	}
	if m := matches(scoped, sampleEvent()); strings.Join(m, ",") != "in b" {
		t.Fatalf("file-scoped: matched %v", m)
	}
}

func TestKindIndex(t *testing.T) {
	set := mustLoad(t, `
- rule: files only by condition
  desc: d
  condition: sf.file.path startswith /etc and sf.proc.name = cat
  priority: low
- rule: by type
  desc: d
  condition: sf.type in (NF, FE) or sf.type = KE
  priority: low
- rule: prefilter
  desc: d
  condition: sf.proc.name = cat
  priority: low
  prefilter: [PE, FF]
- rule: negation keeps everything but KE
  desc: d
  condition: not sf.file.path startswith /etc and sf.proc.name = cat
  priority: low
`)
	kinds := func(r *policies.Rule) string {
		var s []string
		for _, k := range r.Kinds() {
			s = append(s, k.TypeName())
		}
		return strings.Join(s, ",")
	}
	want := []string{"FF,FE", "FE,NF,KE", "PE,FF", "PE,FF,FE,NF,NE,PF"}
	for i, r := range set.Rules() {
		if got := kinds(r); got != want[i] {
			t.Errorf("rule %q kinds %s, want %s", r.Name, got, want[i])
		}
	}
}

func hasDiag(diags []policies.Diagnostic, sev policies.Severity, pos, msg string) bool {
	for _, d := range diags {
		if d.Severity == sev && d.Pos.String() == pos && strings.Contains(d.Item+": "+d.Msg, msg) {
			return true
		}
	}
	return false
}
