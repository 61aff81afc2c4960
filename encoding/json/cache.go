package json

import (
	"sync/atomic"
	"unsafe"

	"github.com/sfconnector/sfconnector/sysflow"
)

// The pproc and proc sections are more than half of a typical record's
// bytes (a 2.6 KB record of mon.1531776682 has a 1.4 KB proc section, most
// of it the ancestors' command lines) and the same for every event of one
// process but for the thread id: a profile of enrich mode writing to
// /dev/null spent 42% of its CPU writing them again. sectionCache keeps the
// text of recently written sections and copies it.
//
// An entry is used only when the values the sections are written from are
// equal to those the entry was written from, compared field by field (the
// strings mostly compare by pointer, as events of one process share its
// record): the cached text is then byte for byte what the encoder would
// write, whoever built the event and whatever it did to its records since.
// Pointers only choose the slot. Entries keep what they were written from
// alive, so the memory a key refers to cannot be reused while it is cached.
//
// Entries are immutable once stored and slots are swapped atomically, so
// one Encoder still serves concurrent callers.

// sectionSlots is the number of cached processes: direct-mapped by the
// address of the event's process record. A stream interleaves events of a
// few busy processes; 256 slots of ~1.5 KB bound the cache to ~400 KB.
const (
	sectionBits  = 8
	sectionSlots = 1 << sectionBits
)

type sectionCache struct {
	procs [sectionSlots]atomic.Pointer[procEntry]
	conts [sectionSlots]atomic.Pointer[contEntry]
}

// procFields are the values of a process record the sections are written
// from (its OID is not one: the event's ProcOID and ParentOID are).
type procFields struct {
	exe, args, user, group string
	uid, gid               int32
	tty, entry             bool
}

func fieldsOf(p *sysflow.Process) procFields {
	return procFields{exe: p.Exe, args: p.ExeArgs, user: p.UserName, group: p.GroupName,
		uid: p.UID, gid: p.GID, tty: p.TTY, entry: p.Entry}
}

// ancestor is what the proc section writes of an ancestor.
type ancestor struct {
	exe, args string
	pid       int64
}

// procKey is everything of an event the two sections depend on but for
// the thread id and the ancestry.
type procKey struct {
	procOID   sysflow.OID
	proc      procFields // the event's process; never missing in the cache
	hasParent bool       // ParentOID != nil: the pproc section is written
	parentOID sysflow.OID
	parentNil bool // Parent == nil: written with empty values
	parent    procFields
}

type procEntry struct {
	key procKey
	anc []ancestor
	// text is the sections with the tid value cut out: text[:tidAt] comes
	// before it, text[tidAt:] after it.
	text  []byte
	tidAt int
}

func keyOf(ev *sysflow.Event) procKey {
	k := procKey{procOID: ev.ProcOID, proc: fieldsOf(ev.Proc)}
	if ev.ParentOID != nil {
		k.hasParent, k.parentOID = true, *ev.ParentOID
		if ev.Parent == nil {
			k.parentNil = true
		} else {
			k.parent = fieldsOf(ev.Parent)
		}
	}
	return k
}

func (e *procEntry) matches(ev *sysflow.Event) bool {
	if len(e.anc) != len(ev.Ancestry) || e.key != keyOf(ev) {
		return false
	}
	for i, p := range ev.Ancestry {
		a := &e.anc[i]
		if p.Exe != a.exe || p.ExeArgs != a.args || p.OID.Hpid != a.pid {
			return false
		}
	}
	return true
}

// slotOf spreads record addresses over the slots (Fibonacci hashing; the
// low bits of an address are alignment).
func slotOf(p unsafe.Pointer) uintptr {
	return (uintptr(p) * 0x9E3779B97F4A7C15) >> (64 - sectionBits)
}

// appendProcSections writes the pproc and proc sections of ev, as
// appendParent and appendProc do, from the cache when it holds them.
func (c *sectionCache) appendProcSections(b []byte, ev *sysflow.Event) []byte {
	if c == nil || ev.Proc == nil || !ev.HasProcess() {
		return appendProcSectionsUncached(b, ev)
	}
	for _, p := range ev.Ancestry {
		if p == nil {
			return appendProcSectionsUncached(b, ev)
		}
	}
	slot := &c.procs[slotOf(unsafe.Pointer(ev.Proc))]
	if e := slot.Load(); e != nil && e.matches(ev) {
		b = append(b, e.text[:e.tidAt]...)
		b = sysflow.AppendInt(b, ev.TID)
		return append(b, e.text[e.tidAt:]...)
	}
	start := len(b)
	if ev.ParentOID != nil {
		b = appendParent(b, ev)
	}
	b = appendProcHeadTID(b, ev)
	tidAt := len(b)
	b = sysflow.AppendInt(b, ev.TID)
	tidEnd := len(b)
	b = appendProcTail(b, ev.Proc)
	text := make([]byte, 0, tidAt-start+len(b)-tidEnd)
	text = append(text, b[start:tidAt]...)
	text = append(text, b[tidEnd:]...)
	e := &procEntry{key: keyOf(ev), anc: make([]ancestor, len(ev.Ancestry)), text: text, tidAt: tidAt - start}
	for i, p := range ev.Ancestry {
		e.anc[i] = ancestor{exe: p.Exe, args: p.ExeArgs, pid: p.OID.Hpid}
	}
	slot.Store(e)
	return b
}

func appendProcSectionsUncached(b []byte, ev *sysflow.Event) []byte {
	if ev.ParentOID != nil {
		b = appendParent(b, ev)
	}
	if ev.HasProcess() {
		b = appendProc(b, ev)
	}
	return b
}

// contFields are the values the container section is written from.
type contFields struct {
	id, name, image, imageID string
	typ                      sysflow.ContainerType
	privileged               bool
}

type contEntry struct {
	key  contFields
	text []byte
}

func contFieldsOf(c *sysflow.Container) contFields {
	return contFields{id: c.ID, name: c.Name, image: c.Image, imageID: c.ImageID,
		typ: c.Type, privileged: c.Privileged}
}

// appendContainerSection writes the container section of ev (which has a
// container), from the cache when it holds it.
func (c *sectionCache) appendContainerSection(b []byte, ct *sysflow.Container) []byte {
	if c == nil {
		return appendContainer(b, ct)
	}
	slot := &c.conts[slotOf(unsafe.Pointer(ct))]
	k := contFieldsOf(ct)
	if e := slot.Load(); e != nil && e.key == k {
		return append(b, e.text...)
	}
	start := len(b)
	b = appendContainer(b, ct)
	slot.Store(&contEntry{key: k, text: append([]byte(nil), b[start:]...)})
	return b
}
