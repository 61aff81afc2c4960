package flatten

import (
	"strings"
	"unicode/utf8"

	"github.com/sfconnector/sfconnector/sysflow"
)

// The collector records some strings with surrounding white space: socket
// paths end in "\n" ("/var/run/docker.sock\n"), unnamed socket pairs in a
// space ("ffff...->ffff... "), rewritten argv is padded with spaces. The
// reference trims exactly these fields (strings.TrimSpace) when it reads an
// entity, before a path is split into path and symlink, and so do we: file
// paths (both files of a rename), exe and args, container name and image,
// pod name, node name and namespace. Nothing else is trimmed (user and
// group names, cwd, env and image ids are exported as recorded).
//
// The record handed in is never modified: a source may share it (the raw
// encoding forwards it as read), so a copy is trimmed, and only when a field
// actually has white space to lose.

func trimmed(s string) (string, bool) {
	t := strings.TrimSpace(s)
	return t, len(t) != len(s)
}

func trimProcess(p *sysflow.Process) *sysflow.Process {
	exe, e := trimmed(p.Exe)
	args, a := trimmed(p.ExeArgs)
	if !e && !a {
		return p
	}
	c := *p
	c.Exe, c.ExeArgs = exe, args
	return &c
}

// trimmedProcs remembers the trimmed copies of recent process records by
// the record they were made from. The decoder hands out the same immutable
// *Process for a process re-sent byte for byte, and rewritten argv can be
// hundreds of bytes of padding: the copy made the first time serves again
// (a key is held, so its address cannot be reused by another record).
type trimmedProcs map[*sysflow.Process]*sysflow.Process

const maxTrimmedProcs = 256

// process is trimProcess through the cache; only records that need a
// copy are looked up.
func (m *trimmedProcs) process(p *sysflow.Process) *sysflow.Process {
	if !padded(p.Exe) && !padded(p.ExeArgs) {
		return p
	}
	if c, ok := (*m)[p]; ok {
		return c
	}
	c := trimProcess(p)
	if *m == nil || len(*m) >= maxTrimmedProcs {
		*m = make(trimmedProcs, maxTrimmedProcs)
	}
	(*m)[p] = c
	return c
}

// padded tells whether strings.TrimSpace would change s, without scanning
// the white space.
func padded(s string) bool {
	if s == "" {
		return false
	}
	first, last := s[0], s[len(s)-1]
	return first >= utf8.RuneSelf || last >= utf8.RuneSelf || asciiSpace[first] || asciiSpace[last]
}

var asciiSpace = [256]bool{'\t': true, '\n': true, '\v': true, '\f': true, '\r': true, ' ': true}

func trimFile(f *sysflow.File) *sysflow.File {
	path, ok := trimmed(f.Path)
	if !ok {
		return f
	}
	c := *f
	c.Path = path
	return &c
}

func trimContainer(ct *sysflow.Container) *sysflow.Container {
	name, n := trimmed(ct.Name)
	image, i := trimmed(ct.Image)
	if !n && !i {
		return ct
	}
	c := *ct
	c.Name, c.Image = name, image
	return &c
}

func trimPod(p *sysflow.Pod) *sysflow.Pod {
	name, n := trimmed(p.Name)
	node, o := trimmed(p.NodeName)
	ns, s := trimmed(p.Namespace)
	if !n && !o && !s {
		return p
	}
	c := *p
	c.Name, c.NodeName, c.Namespace = name, node, ns
	return &c
}
