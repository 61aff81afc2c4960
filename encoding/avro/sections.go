package avro

import (
	"sync/atomic"
	"unsafe"

	"github.com/sfconnector/sfconnector/sysflow"
)

// The proc and pproc sections of a flat event are most of its bytes and of
// the encoder's work (the environment, the ancestors' names, executables,
// command lines and pids, two OID hashes), and they are the same for every
// event of one process but for the thread id. sectionCache keeps the bytes
// of recently written sections, with the thread id cut out, and copies
// them.
//
// An entry is used only when every value the section's steps read is equal
// to the value the entry was written from, compared field by field
// (strings mostly compare by pointer: events of one process share its
// records). The copied bytes are then byte for byte what the steps would
// write, whoever built the event and whatever was done to its records
// since; pointers only choose the slot. Entries hold copies of what they
// compare (the environment and ancestry slices too), so an event whose
// records were changed in place misses. Entries are immutable once stored
// and slots are swapped atomically: one encoder serves concurrent callers.
//
// The cache is used only for a section whose fields all are in the sets
// below (whose steps read nothing but what the keys hold); a schema with
// another field there is written by its steps alone.

const (
	cacheBits  = 8
	cacheSlots = 1 << cacheBits
)

// procSectionFields are the proc fields whose steps read only ProcOID, TID,
// Proc and Ancestry; pprocSectionFields those of pproc, which read only
// ParentOID and Parent.
var (
	procSectionFields = map[string]bool{"pid": true, "tid": true, "createts": true, "oid": true,
		"exe": true, "args": true, "name": true, "cmdline": true, "uid": true, "user": true,
		"gid": true, "group": true, "tty": true, "entry": true, "cwd": true, "env": true,
		"aname": true, "aexe": true, "acmdline": true, "apid": true}
	pprocSectionFields = map[string]bool{"pid": true, "createts": true, "oid": true,
		"exe": true, "args": true, "name": true, "cmdline": true, "uid": true, "user": true,
		"gid": true, "group": true, "tty": true, "entry": true}
)

// procValues are the scalar values of a process record the sections read.
type procValues struct {
	present                     bool // the record is not nil
	exe, args, user, group, cwd string
	uid, gid                    int32
	tty, entry                  bool
}

func valuesOf(p *sysflow.Process) procValues {
	if p == nil {
		return procValues{}
	}
	return procValues{present: true, exe: p.Exe, args: p.ExeArgs, user: p.UserName, group: p.GroupName,
		cwd: p.Cwd, uid: p.UID, gid: p.GID, tty: p.TTY, entry: p.Entry}
}

type ancestorValues struct {
	exe, args string
	pid       int64
}

// sectionKey is what a section is written from but for the slices.
type sectionKey struct {
	oid    sysflow.OID
	hasOID bool // pproc: ParentOID != nil; proc: always true
	proc   procValues
}

type sectionEntry struct {
	key sectionKey
	env []string         // proc: a copy of Proc.Env
	anc []ancestorValues // proc: the ancestry
	// text is the section's bytes with the thread id cut out (proc):
	// text[:tidAt] comes before it, text[tidAt:] after it.
	text  []byte
	tidAt int
}

// sectionCache writes one section (its steps given, the union branch byte
// left to the caller).
type sectionCache struct {
	proc  bool // the proc section (else pproc)
	steps []step
	tid   int // index of the tid step in steps; -1 when there is none
	slots [cacheSlots]atomic.Pointer[sectionEntry]
}

// newSectionCache returns the cache for section ("proc" or "pproc") whose
// fields, in order, are names and steps, or nil when the section has a
// field the cache does not know the inputs of.
func newSectionCache(section string, names []string, steps []step) *sectionCache {
	var known map[string]bool
	switch section {
	case "proc":
		known = procSectionFields
	case "pproc":
		known = pprocSectionFields
	default:
		return nil
	}
	c := &sectionCache{proc: section == "proc", steps: steps, tid: -1}
	for i, n := range names {
		if !known[n] {
			return nil
		}
		if n == "tid" {
			c.tid = i
		}
	}
	return c
}

func (c *sectionCache) keyOf(e *sysflow.Event) sectionKey {
	if c.proc {
		return sectionKey{oid: e.ProcOID, hasOID: true, proc: valuesOf(e.Proc)}
	}
	k := sectionKey{proc: valuesOf(e.Parent)}
	if e.ParentOID != nil {
		k.oid, k.hasOID = *e.ParentOID, true
	}
	return k
}

func (x *sectionEntry) matches(k *sectionKey, e *sysflow.Event, proc bool) bool {
	if x.key != *k {
		return false
	}
	if !proc {
		return true
	}
	var env []string
	if e.Proc != nil {
		env = e.Proc.Env
	}
	if len(env) != len(x.env) || len(e.Ancestry) != len(x.anc) {
		return false
	}
	for i, s := range env {
		if s != x.env[i] {
			return false
		}
	}
	for i, p := range e.Ancestry {
		a := &x.anc[i]
		if p.Exe != a.exe || p.ExeArgs != a.args || p.OID.Hpid != a.pid {
			return false
		}
	}
	return true
}

// slotOf spreads record addresses over the slots (Fibonacci hashing; the
// low bits of an address are alignment).
func slotOf(p unsafe.Pointer) uintptr {
	return (uintptr(p) * 0x9E3779B97F4A7C15) >> (64 - cacheBits)
}

func (c *sectionCache) slot(e *sysflow.Event) *atomic.Pointer[sectionEntry] {
	p := e.Parent
	if c.proc {
		p = e.Proc
	}
	if p != nil {
		return &c.slots[slotOf(unsafe.Pointer(p))]
	}
	return &c.slots[0]
}

// appendSection writes the section's fields of e (the section is present).
func (c *sectionCache) appendSection(dst []byte, e *sysflow.Event, scratch *[]string) []byte {
	if c.proc {
		for _, p := range e.Ancestry {
			if p == nil { // not something the key can hold: write it plainly
				return runSection(dst, c.steps, e, scratch)
			}
		}
	}
	k := c.keyOf(e)
	slot := c.slot(e)
	if x := slot.Load(); x != nil && x.matches(&k, e, c.proc) {
		if c.tid < 0 {
			return append(dst, x.text...)
		}
		dst = append(dst, x.text[:x.tidAt]...)
		dst = appendLong(dst, e.TID)
		return append(dst, x.text[x.tidAt:]...)
	}
	start := len(dst)
	tidAt, tidEnd := -1, -1
	for i, s := range c.steps {
		if i == c.tid {
			tidAt = len(dst)
		}
		dst = s(dst, e, scratch)
		if i == c.tid {
			tidEnd = len(dst)
		}
	}
	x := &sectionEntry{key: k}
	if tidAt >= 0 {
		x.text = make([]byte, 0, len(dst)-start-(tidEnd-tidAt))
		x.text = append(append(x.text, dst[start:tidAt]...), dst[tidEnd:]...)
		x.tidAt = tidAt - start
	} else {
		x.text = append([]byte(nil), dst[start:]...)
	}
	if c.proc {
		if e.Proc != nil {
			x.env = append([]string(nil), e.Proc.Env...)
		}
		x.anc = make([]ancestorValues, len(e.Ancestry))
		for i, p := range e.Ancestry {
			x.anc[i] = ancestorValues{exe: p.Exe, args: p.ExeArgs, pid: p.OID.Hpid}
		}
	}
	slot.Store(x)
	return dst
}

func runSection(dst []byte, steps []step, e *sysflow.Event, scratch *[]string) []byte {
	for _, s := range steps {
		dst = s(dst, e, scratch)
	}
	return dst
}
