package sysflow

import (
	"strings"
	"unsafe"
)

// The decoders carve records from shared slabs (64 records of a type) and
// strings from shared 4 KiB chunks, which makes decoding cheap but means
// that one kept record keeps its whole slab and the chunks of its strings
// alive. That is right for events, which die with their batch, and wrong
// for the processes and files that the flattener's tables keep for the life
// of a stream: with tens of thousands of files in a table, the chunks they
// pinned held most of the strings ever decoded (29 MB live after 4M records
// of a generated trace; 12 MB with the entities detached). So the decoders
// decode a process or file into scratch space and detach it: a copy in
// memory of its own, one allocation for the struct and one for all its
// strings.

// detach returns a copy of p that shares no memory with the decoder's
// slabs and chunks.
func (p *Process) detach() *Process {
	d := &struct {
		p    Process
		poid OID
		cid  string
	}{p: *p}
	n := len(p.Exe) + len(p.ExeArgs) + len(p.UserName) + len(p.GroupName) + len(p.Cwd)
	if p.ContainerID != nil {
		n += len(*p.ContainerID)
	}
	for _, e := range p.Env {
		n += len(e)
	}
	k := packer{buf: make([]byte, 0, n)}
	c := &d.p
	c.Exe, c.ExeArgs, c.UserName, c.GroupName, c.Cwd = k.str(p.Exe), k.str(p.ExeArgs), k.str(p.UserName), k.str(p.GroupName), k.str(p.Cwd)
	if p.POID != nil {
		d.poid = *p.POID
		c.POID = &d.poid
	}
	if p.ContainerID != nil {
		d.cid = k.str(*p.ContainerID)
		c.ContainerID = &d.cid
	}
	if p.Env != nil {
		c.Env = make([]string, len(p.Env))
		for i, e := range p.Env {
			c.Env[i] = k.str(e)
		}
	}
	return c
}

// detachProcess detaches the decoder's scratch process, leaving alone an
// Env already detached by envArrF.
func detachProcess(d *dec, p *Process) *Process {
	if !d.scratch.envOwned {
		return p.detach()
	}
	env := p.Env
	p.Env = nil
	c := p.detach()
	c.Env = env
	return c
}

// size is about the memory a detached process holds, for cache budgets.
func (p *Process) size() int {
	n := int(unsafe.Sizeof(*p)) + len(p.Exe) + len(p.ExeArgs) + len(p.UserName) + len(p.GroupName) + len(p.Cwd)
	if p.ContainerID != nil {
		n += len(*p.ContainerID)
	}
	for _, e := range p.Env {
		n += 16 + len(e)
	}
	return n
}

// size is about the memory a detached file holds, for cache budgets.
func (f *File) size() int {
	n := int(unsafe.Sizeof(*f)) + len(f.Path)
	if f.ContainerID != nil {
		n += len(*f.ContainerID)
	}
	return n
}

// detach returns a copy of f that shares no memory with the decoder's
// slabs and chunks.
func (f *File) detach() *File {
	d := &struct {
		f   File
		cid string
	}{f: *f}
	n := len(f.Path)
	if f.ContainerID != nil {
		n += len(*f.ContainerID)
	}
	k := packer{buf: make([]byte, 0, n)}
	d.f.Path = k.str(f.Path)
	if f.ContainerID != nil {
		d.cid = k.str(*f.ContainerID)
		d.f.ContainerID = &d.cid
	}
	return &d.f
}

// packer carves strings from one buffer sized for all of them, so that
// appending never moves what was already handed out.
type packer struct{ buf []byte }

// unsafeString views b as a string, for packer.str, which copies it.
func unsafeString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

func (k *packer) str(s string) string {
	if s == "" {
		return ""
	}
	start := len(k.buf)
	if start+len(s) > cap(k.buf) {
		return strings.Clone(s) // not sized for it: a copy of its own
	}
	k.buf = append(k.buf, s...)
	return unsafe.String(&k.buf[start], len(s))
}
