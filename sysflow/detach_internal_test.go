package sysflow

import (
	"bytes"
	"errors"
	"io"
	"os"
	"reflect"
	"testing"
	"unsafe"

	"github.com/sfconnector/sfconnector/testenv/shared"
)

// sharesMemory reports whether two non-empty strings have the same bytes
// in memory.
func sharesMemory(a, b string) bool {
	return a != "" && unsafe.StringData(a) == unsafe.StringData(b)
}

func TestDetachCopiesEverything(t *testing.T) {
	cid, poid := "c0ffee", OID{CreateTS: 1, Hpid: 2}
	p := &Process{State: StateModified, OID: OID{CreateTS: 3, Hpid: 4}, POID: &poid, TS: 5, Exe: "/usr/bin/python3",
		ExeArgs: "-m http.server", UID: 1000, UserName: "alice", GID: 100, GroupName: "users", TTY: true,
		ContainerID: &cid, Entry: true, Cwd: "/home/alice", Env: []string{"HOME=/home/alice", "", "LANG=C"}}
	d := p.detach()
	if !reflect.DeepEqual(d, p) {
		t.Fatalf("detached process differs:\n%+v\n%+v", d, p)
	}
	if d.POID == p.POID || d.ContainerID == p.ContainerID || &d.Env[0] == &p.Env[0] {
		t.Error("detached process shares a pointer with the original")
	}
	for i, pair := range [][2]string{{d.Exe, p.Exe}, {d.ExeArgs, p.ExeArgs}, {d.UserName, p.UserName},
		{d.GroupName, p.GroupName}, {d.Cwd, p.Cwd}, {*d.ContainerID, *p.ContainerID}, {d.Env[0], p.Env[0]}, {d.Env[2], p.Env[2]}} {
		if sharesMemory(pair[0], pair[1]) {
			t.Errorf("string %d (%q) shares memory with the original", i, pair[0])
		}
	}
	// nil pointers and slices stay nil
	bare := (&Process{Exe: "/bin/sh"}).detach()
	if bare.POID != nil || bare.ContainerID != nil || bare.Env != nil || bare.Exe != "/bin/sh" {
		t.Errorf("bare process detached as %+v", bare)
	}

	f := &File{State: StateReup, OID: FOID{1, 2, 3}, TS: 9, Restype: 102, Path: "/etc/passwd", ContainerID: &cid}
	df := f.detach()
	if !reflect.DeepEqual(df, f) {
		t.Fatalf("detached file differs:\n%+v\n%+v", df, f)
	}
	if df.ContainerID == f.ContainerID || sharesMemory(df.Path, f.Path) || sharesMemory(*df.ContainerID, *f.ContainerID) {
		t.Error("detached file shares memory with the original")
	}
	if bare := (&File{Path: "/x"}).detach(); bare.ContainerID != nil || bare.Path != "/x" {
		t.Errorf("bare file detached as %+v", bare)
	}
}

// The processes and files a reader returns hold no string in the
// decoder's shared chunk, while other records' strings do.
func TestReaderDetachesEntities(t *testing.T) {
	inChunk := func(a *arena, s string) bool {
		if s == "" || cap(a.buf) == 0 {
			return false
		}
		lo := uintptr(unsafe.Pointer(unsafe.SliceData(a.buf)))
		p := uintptr(unsafe.Pointer(unsafe.StringData(s)))
		return p >= lo && p < lo+uintptr(cap(a.buf))
	}
	entities, others := 0, 0
	for _, path := range shared.Traces(t) {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		r, err := NewReader(bytes.NewReader(data), path)
		if err != nil {
			t.Fatal(err)
		}
		var recs []Record
		for err == nil {
			n := len(recs)
			recs, err = r.Next(recs)
			// the block just decoded: its strings went to the current chunk
			for i := n; i < len(recs); i++ {
				var strs []string
				switch rec := &recs[i]; rec.Kind {
				case KindFile:
					strs = []string{rec.File.Path}
				case KindProcess:
					strs = append([]string{rec.Process.Exe, rec.Process.ExeArgs, rec.Process.UserName}, rec.Process.Env...)
				case KindContainer:
					if inChunk(&r.d.strs, rec.Container.Name) {
						others++
					}
				}
				for _, s := range strs {
					if inChunk(&r.d.strs, s) {
						t.Fatalf("%s: record %d (%s): %q is in the decoder's shared chunk", shared.TraceName(path), i, recs[i].Kind, s)
					}
					entities++
				}
			}
		}
		if !errors.Is(err, io.EOF) {
			t.Fatal(err)
		}
	}
	if entities == 0 || others == 0 {
		t.Fatalf("checked %d entity strings, %d others in the chunk: the test sees nothing", entities, others)
	}
}
