package sysflow

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sfconnector/sfconnector/testenv/shared"
)

// splitPathByIndex is SplitPath as first written, with strings.Index: the
// oracle for the faster search.
func splitPathByIndex(p string) (string, string) {
	arrow := strings.Index(p, "->")
	if arrow < 0 {
		return p, ""
	}
	sp := strings.IndexByte(p[arrow:], ' ')
	if sp < 0 {
		return p, ""
	}
	sp += arrow
	return strings.TrimSpace(p[sp+1:]), p[:sp]
}

func checkPath(t *testing.T, p string) {
	t.Helper()
	if got, want := baseName(p), filepath.Base(p); got != want {
		t.Errorf("baseName(%q) = %q, filepath.Base says %q", p, got, want)
	}
	if got, want := dirName(p), filepath.Dir(p); got != want {
		t.Errorf("dirName(%q) = %q, filepath.Dir says %q", p, got, want)
	}
	gp, gl := SplitPath(p)
	wp, wl := splitPathByIndex(p)
	if gp != wp || gl != wl {
		t.Errorf("SplitPath(%q) = %q, %q; want %q, %q", p, gp, gl, wp, wl)
	}
}

var pathCases = []string{
	"", "/", "//", "///", ".", "..", "./", "../", "a", "a/", "a//", "a/b", "a//b", "a/./b", "a/../b", "./a/b", "../a/b",
	"/a", "/a/", "/a/b", "/a/b/", "/a/b/.", "/a/b/..", "/a/./b", "/a/../b", "/./a", "/../a", "/a//b", "//a/b",
	"/usr/bin/python3", "/home/user/.bashrc", "/home/user/.cache/x", "/tmp/..data/f", "/a/b.c/d", "/proc/self/fd/3",
	"->", "a->b", "-> /x", "a->b /tmp/s", "a->b  /tmp/s ", ">->x y", "a>b->c d", "--> x", "->-> x", "a-b>c", "a->", "x->y",
	"ffff9b5b1c3f8000->ffff9b5b1c3fc400 /var/run/docker.sock",
}

func TestPathShortcutsMatchFilepath(t *testing.T) {
	for _, p := range pathCases {
		checkPath(t, p)
	}
	// every executable and file path of the real traces
	for _, tr := range shared.Traces(t) {
		data, err := os.ReadFile(tr)
		if err != nil {
			t.Fatal(err)
		}
		r, err := NewReader(bytes.NewReader(data), tr)
		if err != nil {
			t.Fatal(err)
		}
		var recs []Record
		for err == nil {
			recs, err = r.Next(recs[:0])
			for i := range recs {
				switch recs[i].Kind {
				case KindFile:
					checkPath(t, recs[i].File.Path)
					p, _ := SplitPath(recs[i].File.Path)
					checkPath(t, p)
				case KindProcess:
					checkPath(t, recs[i].Process.Exe)
				case KindHeader:
					checkPath(t, recs[i].Header.Filename)
				}
			}
		}
		if !errors.Is(err, io.EOF) {
			t.Fatal(err)
		}
	}
}

func FuzzPathShortcuts(f *testing.F) {
	for _, p := range pathCases {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, p string) { checkPath(t, p) })
}

func BenchmarkPathShortcuts(b *testing.B) {
	p := "/usr/lib/python3/dist-packages/requests/adapters.py"
	b.ReportAllocs()
	for b.Loop() {
		_ = baseName(p)
		_ = dirName(p)
		_, _ = SplitPath(p)
	}
}
