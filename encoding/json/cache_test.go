package json_test

import (
	"bytes"
	"slices"
	"strings"
	"sync"
	"testing"

	sfjson "github.com/sfconnector/sfconnector/encoding/json"
	"github.com/sfconnector/sfconnector/sysflow"
	"github.com/sfconnector/sfconnector/testenv/shared"
)

// checkAgainstUncached encodes events in order with enc and fails at the
// first one whose bytes differ from the encoder without the section cache.
func checkAgainstUncached(t *testing.T, enc *sfjson.Encoder, events []*sysflow.Event) {
	t.Helper()
	var got, want []byte
	for i, ev := range events {
		var err error
		if got, err = enc.AppendEvent(got[:0], ev); err != nil {
			t.Fatal(err)
		}
		want = sfjson.AppendNestedUncached(want[:0], ev)
		if !bytes.Equal(got, want) {
			t.Fatalf("event %d (%s ts %d): cached sections differ:\ngot  %s\nwant %s", i, ev.Kind, ev.TS, got, want)
		}
	}
}

// Every event of every real trace, and of a generated one, encodes to the
// same bytes with the cached sections as without, in trace order (the
// cache's hits as a pipeline sees them), backwards (other hits and
// evictions), and with one encoder shared by several goroutines.
func TestSectionCacheEveryEvent(t *testing.T) {
	inputs := map[string][]*sysflow.Event{}
	for _, path := range shared.Traces(t) {
		inputs[shared.TraceName(path)] = runTrace(t, path).events
	}
	inputs["synth"] = flattenSynth(t, 50_000)
	if len(inputs) < 15 {
		t.Fatalf("%d inputs, want the 14 real traces and a generated one", len(inputs))
	}
	for name, events := range inputs {
		t.Run(name, func(t *testing.T) {
			if len(events) == 0 {
				t.Fatal("no events")
			}
			enc := sfjson.New(sfjson.Options{})
			checkAgainstUncached(t, enc, events)
			checkAgainstUncached(t, enc, events) // the second pass starts with a warm cache
			back := slices.Clone(events)
			slices.Reverse(back)
			checkAgainstUncached(t, enc, back)
			shared := sfjson.New(sfjson.Options{})
			var wg sync.WaitGroup
			for w := range 3 {
				part := events[w*len(events)/3 : (w+1)*len(events)/3]
				wg.Go(func() { checkAgainstUncached(t, shared, part) })
			}
			wg.Wait()
		})
	}
}

// The cache compares values, not just which records an event points to: a
// record changed in place after its sections were cached, a different
// thread, a different parent or ancestry, all write what the uncached
// encoder writes.
func TestSectionCacheSeesChangedRecords(t *testing.T) {
	ev := hostNetworkFlow()
	parent := &sysflow.Process{OID: *ev.ParentOID, Exe: "/usr/bin/bash", ExeArgs: "-l", UserName: "root"}
	grand := &sysflow.Process{OID: sysflow.OID{Hpid: 1}, Exe: "/sbin/init"}
	ev.Parent, ev.Ancestry = parent, []*sysflow.Process{ev.Proc, parent, grand}
	ev.Container = &sysflow.Container{ID: "c", Image: "i", Name: "n"}
	enc := sfjson.New(sfjson.Options{})
	steps := []struct {
		name   string
		change func()
	}{
		{"first", func() {}},
		{"again", func() {}},
		{"tid", func() { ev.TID++ }},
		{"exe in place", func() { ev.Proc.Exe = "/usr/bin/server" }},
		{"args in place", func() { ev.Proc.ExeArgs = " --port 80 " }},
		{"uid in place", func() { ev.Proc.UID = 0 }},
		{"user in place", func() { ev.Proc.UserName = "www" }},
		{"tty in place", func() { ev.Proc.TTY = false }},
		{"entry in place", func() { ev.Proc.Entry = true }},
		{"group and gid", func() { ev.Proc.GroupName, ev.Proc.GID = "g", 7 }},
		{"proc oid", func() { ev.ProcOID.CreateTS++ }},
		{"parent user", func() { parent.UserName = "nobody" }},
		{"parent oid", func() { ev.ParentOID = &sysflow.OID{Hpid: 9, CreateTS: 3} }},
		{"parent missing", func() { ev.Parent = nil }},
		{"parent back", func() { ev.Parent = parent }},
		{"no parent", func() { ev.ParentOID, ev.Parent = nil, nil }},
		{"ancestor exe", func() { grand.Exe = "/lib/systemd/systemd" }},
		{"ancestor args", func() { grand.ExeArgs = "--user" }},
		{"ancestor pid", func() { grand.OID.Hpid = 2 }},
		{"shorter ancestry", func() { ev.Ancestry = ev.Ancestry[:2] }},
		{"empty ancestry", func() { ev.Ancestry = nil }},
		{"container image", func() { ev.Container.Image = "j" }},
		{"container privileged", func() { ev.Container.Privileged = true }},
		{"container type", func() { ev.Container.Type = 3 }},
		{"no container", func() { ev.Container = nil }},
		{"new process record", func() { p := *ev.Proc; p.Exe = "/bin/other"; ev.Proc = &p }},
		{"missing process", func() { ev.Proc = nil }},
	}
	for _, s := range steps {
		s.change()
		got, _ := enc.AppendEvent(nil, ev)
		if want := sfjson.AppendNestedUncached(nil, ev); !bytes.Equal(got, want) {
			t.Fatalf("%s: got\n%s\nwant\n%s", s.name, got, want)
		}
	}
}

// The flag names are written without escaping: every one of them must
// need none.
func TestFlagNamesNeedNoEscapes(t *testing.T) {
	check := func(names []string) {
		for _, n := range names {
			if got := string(sfjson.AppendString(nil, n)); got != `"`+n+`"` {
				t.Errorf("flag name %q escapes to %s", n, got)
			}
		}
	}
	all := int32(-1)
	for k := sysflow.KindUnknown; k <= sysflow.KindNetworkEvent+4; k++ {
		check(sysflow.OpFlagNames(nil, all, k))
	}
	check(sysflow.OpenFlagNames(nil, all))
	check(sysflow.OpenFlagNames(nil, 0))
	for bit := range 32 {
		check(sysflow.OpenFlagNames(nil, int32(1)<<bit))
	}
}

// The file section's directory, name and path are what the event's
// accessors say, for paths whose text the encoder copies from the
// directory's and name's and for those it escapes again.
func TestFileSectionPaths(t *testing.T) {
	for _, p := range []string{"/usr/lib/x.so", "/x", "x", "", "/", "//a//b", "/a/./b", "/a/b/", "./a/b",
		"/a\"b/c\td", "/dir/na\\me", "/é/ü.txt", "/bad\xff/x", "/a/\xfe", "/a/b->/c/d", "/a\nb/c"} {
		ev := &sysflow.Event{Kind: sysflow.KindFileEvent, File: &sysflow.File{Path: p}, NewFile: &sysflow.File{Path: p + "2"}}
		b, err := sfjson.New(sfjson.Options{}).AppendEvent(nil, ev)
		if err != nil {
			t.Fatal(err)
		}
		f, _ := parseJSON(t, b)["file"].(map[string]any)
		want := map[string]string{"directory": ev.FileDirectory(), "name": ev.FileName(), "path": ev.FilePath(),
			"symlink": ev.FileSymlink(), "newdirectory": ev.NewFileDirectory(), "newname": ev.NewFileName(),
			"newpath": ev.NewFilePath(), "newsymlink": ev.NewFileSymlink()}
		for k, w := range want {
			if got := f[k]; got != strings.ToValidUTF8(w, "\ufffd") {
				t.Errorf("path %q: %s = %q, want %q", p, k, got, w)
			}
		}
	}
}
