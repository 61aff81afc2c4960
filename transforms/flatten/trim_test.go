package flatten

import (
	"strings"
	"testing"

	"github.com/sfconnector/sfconnector/sysflow"
)

func fieldStr(t *testing.T, e *sysflow.Event, name string) string {
	t.Helper()
	f, ok := sysflow.LookupField(name)
	if !ok {
		t.Fatalf("no field %s", name)
	}
	if f.Kind == sysflow.FieldList {
		return strings.Join(f.List(e, nil), "|")
	}
	return f.Str(e)
}

// TestTrimSpace sets white space around each field the reference trims and
// checks the policy fields see it trimmed, and around fields it does not
// trim and checks they are kept.
func TestTrimSpace(t *testing.T) {
	const ws = " \t\n"
	build := func(mut func(p *sysflow.Process, f, nf *sysflow.File, c *sysflow.Container, pd *sysflow.Pod)) ([]sysflow.Record, *sysflow.Event) {
		pd := &sysflow.Pod{ID: "pd1", Name: "web", NodeName: "node-a", Namespace: "prod"}
		c := &sysflow.Container{ID: "c1", Name: "nginx", Image: "nginx:1.25", ImageID: "sha", PodID: ptr("pd1")}
		parent := &sysflow.Process{OID: oid(1), Exe: "/bin/sh", ExeArgs: "-c x"}
		p := &sysflow.Process{OID: oid(2), POID: ptr(oid(1)), Exe: "/usr/bin/cat", ExeArgs: "-n", UserName: "root",
			ContainerID: ptr("c1")}
		f := &sysflow.File{OID: foid(1), Path: "/etc/passwd", Restype: 'f'}
		nf := &sysflow.File{OID: foid(2), Path: "/tmp/new", Restype: 'f'}
		mut(p, f, nf, c, pd)
		mut(parent, &sysflow.File{}, &sysflow.File{}, &sysflow.Container{}, &sysflow.Pod{})
		recs := []sysflow.Record{
			hdr("n"),
			{Kind: sysflow.KindPod, Pod: pd},
			{Kind: sysflow.KindContainer, Container: c},
			{Kind: sysflow.KindProcess, Process: parent},
			{Kind: sysflow.KindProcess, Process: p},
			{Kind: sysflow.KindFile, File: f},
			{Kind: sysflow.KindFile, File: nf},
			{Kind: sysflow.KindFileEvent, FileEvent: &sysflow.FileEvent{ProcOID: oid(2), TS: 1, OpFlags: sysflow.OpRename,
				FileOID: foid(1), NewFileOID: ptr(foid(2))}},
		}
		fl, _ := newTest(t, Config{})
		evs := fl.Flatten(recs, nil)
		if len(evs) != 1 {
			t.Fatalf("%d events", len(evs))
		}
		return recs, evs[0]
	}
	for _, tc := range []struct {
		name   string
		mut    func(p *sysflow.Process, f, nf *sysflow.File, c *sysflow.Container, pd *sysflow.Pod)
		fields map[string]string // field -> value wanted
	}{
		{"exe", func(p *sysflow.Process, _, _ *sysflow.File, _ *sysflow.Container, _ *sysflow.Pod) {
			p.Exe = ws + p.Exe + "\n"
		},
			map[string]string{"sf.proc.exe": "/usr/bin/cat", "sf.proc.name": "cat", "sf.proc.cmdline": "/usr/bin/cat -n",
				"sf.pproc.exe": "/bin/sh", "sf.pproc.name": "sh", "sf.proc.aexe": "/usr/bin/cat|/bin/sh"}},
		{"args", func(p *sysflow.Process, _, _ *sysflow.File, _ *sysflow.Container, _ *sysflow.Pod) {
			p.ExeArgs = p.ExeArgs + "   "
		},
			map[string]string{"sf.proc.args": "-n", "sf.proc.cmdline": "/usr/bin/cat -n", "sf.pproc.args": "-c x",
				"sf.pproc.cmdline": "/bin/sh -c x"}},
		{"file path", func(_ *sysflow.Process, f, _ *sysflow.File, _ *sysflow.Container, _ *sysflow.Pod) {
			f.Path = "/dev/log\n"
		},
			map[string]string{"sf.file.path": "/dev/log", "sf.file.name": "log", "sf.file.directory": "/dev", "sf.file.symlink": ""}},
		{"socket pair, path after it", func(_ *sysflow.Process, f, _ *sysflow.File, _ *sysflow.Container, _ *sysflow.Pod) {
			f.Path = "ffff88003c1d1800->ffff8800038ba000 /var/run/docker.sock\n"
		}, map[string]string{"sf.file.path": "/var/run/docker.sock", "sf.file.symlink": "ffff88003c1d1800->ffff8800038ba000"}},
		{"unnamed socket pair", func(_ *sysflow.Process, f, _ *sysflow.File, _ *sysflow.Container, _ *sysflow.Pod) {
			f.Path = "ffff88003c1d1800->ffff8800038ba000 "
		}, map[string]string{"sf.file.path": "ffff88003c1d1800->ffff8800038ba000", "sf.file.symlink": ""}},
		{"new file path", func(_ *sysflow.Process, _, nf *sysflow.File, _ *sysflow.Container, _ *sysflow.Pod) {
			nf.Path = "\t/tmp/X11-unix/X0\n"
		}, map[string]string{"sf.file.newpath": "/tmp/X11-unix/X0", "sf.file.newname": "X0", "sf.file.newdirectory": "/tmp/X11-unix"}},
		{"container", func(_ *sysflow.Process, _, _ *sysflow.File, c *sysflow.Container, _ *sysflow.Pod) {
			c.Name, c.Image, c.ImageID = c.Name+"\n", " "+c.Image, c.ImageID+" "
		}, map[string]string{"sf.container.name": "nginx", "sf.container.image": "nginx:1.25",
			"sf.container.imageid": "sha "}},
		{"pod", func(_ *sysflow.Process, _, _ *sysflow.File, _ *sysflow.Container, pd *sysflow.Pod) {
			pd.Name, pd.NodeName, pd.Namespace = pd.Name+" ", "\n"+pd.NodeName, pd.Namespace+"\r\n"
		}, map[string]string{"sf.pod.name": "web", "sf.pod.nodename": "node-a", "sf.pod.namespace": "prod"}},
		{"not trimmed: user", func(p *sysflow.Process, _, _ *sysflow.File, _ *sysflow.Container, _ *sysflow.Pod) { p.UserName += " " },
			map[string]string{"sf.proc.user": "root "}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			recs, e := build(tc.mut)
			for name, want := range tc.fields {
				if got := fieldStr(t, e, name); got != want {
					t.Errorf("%s = %q, want %q", name, got, want)
				}
			}
			// The records handed in are left as they were.
			var raw []string
			for _, r := range recs {
				switch {
				case r.Process != nil:
					raw = append(raw, r.Process.Exe, r.Process.ExeArgs)
				case r.File != nil:
					raw = append(raw, r.File.Path)
				case r.Container != nil:
					raw = append(raw, r.Container.Name, r.Container.Image)
				case r.Pod != nil:
					raw = append(raw, r.Pod.Name, r.Pod.NodeName, r.Pod.Namespace)
				}
			}
			if tc.name != "not trimmed: user" && !strings.ContainsAny(strings.Join(raw, ""), ws+"\r") {
				t.Errorf("the input records were trimmed in place: %q", raw)
			}
		})
	}
}

// TestTrimSpaceUnchangedShared: an entity without white space to lose is
// the record's own (no copy).
func TestTrimSpaceUnchangedShared(t *testing.T) {
	f, _ := newTest(t, Config{})
	recs := []sysflow.Record{hdr("n"), proc(1, 0, "/bin/sh", nil), file(1, "/etc/passwd"), ff(1, 1, 5)}
	evs := f.Flatten(recs, nil)
	if len(evs) != 1 || evs[0].Proc != recs[1].Process || evs[0].File != recs[2].File {
		t.Fatalf("events %v: want the records' own entities", evs)
	}
}

// TestTrimmedProcsCache checks the cache of trimmed process copies: a
// padded record seen again gives the copy made the first time, content
// as trimProcess makes it; other records get their own; records without
// white space to lose are passed through; and padded never misses a
// string strings.TrimSpace would change.
func TestTrimmedProcsCache(t *testing.T) {
	for _, s := range []string{"", "a", " a", "a ", "\ta\n", "\u00a0a", "a\u2003", "\u0085", "é", "aé", "x\x00", "\v", "a\fb"} {
		if strings.TrimSpace(s) != s && !padded(s) {
			t.Errorf("padded(%q) = false, but TrimSpace changes it", s)
		}
	}
	var m trimmedProcs
	a := &sysflow.Process{OID: sysflow.OID{Hpid: 1}, Exe: "/bin/sh", ExeArgs: "-c true" + strings.Repeat(" ", 300)}
	b := &sysflow.Process{OID: sysflow.OID{Hpid: 2}, Exe: " /bin/ls", ExeArgs: "-l"}
	plain := &sysflow.Process{OID: sysflow.OID{Hpid: 3}, Exe: "/bin/cat", ExeArgs: "x"}
	ca := m.process(a)
	if ca == a || ca.ExeArgs != "-c true" || ca.Exe != "/bin/sh" || a.ExeArgs == ca.ExeArgs {
		t.Fatalf("trimmed copy %+v of %+v", ca, a)
	}
	if again := m.process(a); again != ca {
		t.Fatal("the same record gave a new copy")
	}
	cb := m.process(b)
	if cb == ca || cb.Exe != "/bin/ls" || cb.OID.Hpid != 2 {
		t.Fatalf("second record: %+v", cb)
	}
	if m.process(plain) != plain {
		t.Fatal("a record without white space was copied")
	}
	for i := range 2 * maxTrimmedProcs {
		p := &sysflow.Process{OID: sysflow.OID{Hpid: int64(10 + i)}, Exe: "x "}
		if c := m.process(p); c.Exe != "x" || c.OID != p.OID {
			t.Fatalf("record %d: %+v", i, c)
		}
	}
	if len(m) > maxTrimmedProcs {
		t.Fatalf("%d cached copies over the bound %d", len(m), maxTrimmedProcs)
	}
}
