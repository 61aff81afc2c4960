package policies

import (
	"strconv"
	"strings"
	"unsafe"

	"github.com/sfconnector/sfconnector/sysflow"
)

// The per-process memo. Most comparisons of the reference's rules read the
// process, its parent, its ancestry or its container (sf.proc.aname pmatch
// a list of shells, sf.pproc.exe in a list of package managers,
// container.id = host), and a process sends many events in a row: the
// flattener hands every event of one process the same entity snapshots
// (immutable, see sysflow.Event). A plan subtree whose comparisons all read
// such fields (a process subtree) therefore has one value per process
// snapshot, and the evaluator computes it once per snapshot instead of once
// per event.
//
// The memo key is everything those fields read: the header, the event's
// process OID, and the Proc, ParentOID, Parent, Ancestry (array and
// length), Container and Pod pointers. The flattener replaces a pointer
// whenever the entity behind it is re-sent or re-resolved (a new Process
// snapshot, a new ancestry slice), so a changed entity is a new key; the
// memo keeps the pointers it was filled for, so no address is reused while
// an entry names it. TestProcessFieldsReadOnlyTheKey checks, on every event
// of the real traces, that the fields listed here give the same value on an
// event that shares only the key.

// procFields are the fields whose value depends on the memo key alone.
// sf.proc.oid is not one: it depends on the record kind too.
var procFields = set(
	"sf.proc.pid", "sf.proc.createts", "sf.proc.name", "sf.proc.exe", "sf.proc.args", "sf.proc.cmdline",
	"sf.proc.uid", "sf.proc.gid", "sf.proc.user", "sf.proc.group", "sf.proc.tty", "sf.proc.entry",
	"sf.proc.cwd", "sf.proc.env", "sf.proc.aname", "sf.proc.aexe", "sf.proc.acmdline", "sf.proc.apid",
	"sf.pproc.oid", "sf.pproc.pid", "sf.pproc.createts", "sf.pproc.name", "sf.pproc.exe", "sf.pproc.args",
	"sf.pproc.cmdline", "sf.pproc.uid", "sf.pproc.gid", "sf.pproc.user", "sf.pproc.group", "sf.pproc.tty",
	"sf.pproc.entry",
	"sf.container.id", "sf.container.name", "sf.container.image", "sf.container.imageid",
	"sf.container.type", "sf.container.privileged", "container.image.repository", "container.image.tag",
	"sf.pod.id", "sf.pod.name", "sf.pod.nodename", "sf.pod.namespace", "sf.pod.ts", "sf.pod.restartcnt",
	"sf.pod.hostip", "sf.pod.internalip", "sf.pod.services",
	"sf.node.id", "sf.node.ip", "sf.meta.schema", "sf.meta.tracename",
	"evt.dir",
)

// isProcField reports whether f reads only the memo key (a JSON field
// with a path suffix reads what the field without it reads).
func isProcField(f *sysflow.Field) bool {
	name := f.Name
	if i := strings.IndexByte(name, '['); i >= 0 {
		name = name[:i]
	}
	return procFields[name]
}

// setProc marks the leaf a process leaf when every field it reads is a
// process field.
func (lf *leaf) setProc() {
	lf.proc = len(lf.fields) > 0
	for _, f := range lf.fields {
		if !isProcField(f) {
			lf.proc = false
		}
	}
}

// procKey is what a process subtree's value depends on.
type procKey struct {
	hdr    *sysflow.Header
	oid    sysflow.OID
	proc   *sysflow.Process
	poid   *sysflow.OID
	parent *sysflow.Process
	anc    **sysflow.Process
	ancLen int
	cont   *sysflow.Container
	pod    *sysflow.Pod
}

func keyOf(ev *sysflow.Event) procKey {
	return procKey{hdr: ev.Header, oid: ev.ProcOID, proc: ev.Proc, poid: ev.ParentOID, parent: ev.Parent,
		anc: unsafe.SliceData(ev.Ancestry), ancLen: len(ev.Ancestry), cont: ev.Container, pod: ev.Pod}
}

// procEntry holds the process subtrees' values for one key: bit 2i says
// that subtree i (cnode.pslot-1) is known, bit 2i+1 its value.
type procEntry struct {
	key   procKey
	epoch uint32 // the evaluator's epoch when the entry was filled
	bits  []uint64
}

// procWays is the number of entries of an evaluator's process memo, direct
// mapped by the process pointer: enough for the processes that interleave
// their events in a batch.
const procWays = 256

// procEntry returns the memo entry of the current event, emptied when it
// held another key.
func (e *Evaluator) procEntry() *procEntry {
	ev := e.ev
	h := uint64(uintptr(unsafe.Pointer(ev.Proc)))>>4 ^ uint64(ev.ProcOID.Hpid)
	h = (h * 0x9E3779B97F4A7C15) >> (64 - 8)
	pe := &e.procs[h&(procWays-1)]
	if k := keyOf(ev); pe.key != k || pe.epoch != e.epoch {
		pe.key, pe.epoch = k, e.epoch
		clear(pe.bits)
	}
	e.cur = pe
	return pe
}

// Forget empties the evaluator's per-process memo. The memo relies on the
// entities an event points to being immutable snapshots (sysflow.Event):
// a caller that modifies a Process, Container or Pod in place between
// evaluations must call Forget first. Set.Match and Set.Drop forget on
// every call.
func (e *Evaluator) Forget() {
	e.epoch++
	if e.epoch == 0 { // wrapped: an entry of epoch 0 could look current
		for i := range e.procs {
			e.procs[i].key, e.procs[i].epoch = procKey{}, 0
			clear(e.procs[i].bits)
		}
		e.epoch = 1
	}
}

// procNode evaluates a process subtree through the memo.
func (e *Evaluator) procNode(n *cnode) bool {
	pe := e.cur
	if pe == nil {
		pe = e.procEntry()
	}
	i := uint(n.pslot-1) * 2
	w, b := i/64, i%64
	if x := pe.bits[w]; x&(1<<b) != 0 {
		return x&(2<<b) != 0
	}
	v := e.walk(n)
	if v {
		pe.bits[w] |= 3 << b
	} else {
		pe.bits[w] |= 1 << b
	}
	return v
}

// assignProcSlots gives a process slot to every process subtree of the
// plan reached from a node that is not one (or at the root): the largest
// such subtrees, whose insides are walked only when the memo misses. Equal
// subtrees of different record kinds share a slot.
func (s *Set) assignProcSlots() {
	proc := map[*cnode]bool{}
	var isProc func(n *cnode) bool
	isProc = func(n *cnode) bool {
		if v, ok := proc[n]; ok {
			return v
		}
		v := false
		switch n.op {
		case cLeaf:
			v = s.leaves[n.leaf].proc
		case cAnd, cOr, cNot:
			v = true
			for _, c := range n.kids {
				if !isProc(c) {
					v = false
				}
			}
		}
		proc[n] = v
		return v
	}
	keys := map[string]int32{}
	var key func(n *cnode) string
	key = func(n *cnode) string {
		if n.op == cLeaf {
			return "p" + strconv.Itoa(int(n.leaf))
		}
		var b strings.Builder
		b.WriteByte("cLAON"[n.op])
		b.WriteByte('(')
		for i, c := range n.kids {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(key(c))
		}
		b.WriteByte(')')
		return b.String()
	}
	seen := map[*cnode]bool{}
	var visit func(n *cnode)
	visit = func(n *cnode) {
		if seen[n] {
			return
		}
		seen[n] = true
		if isProc(n) {
			if n.pslot == 0 {
				k := key(n)
				if _, ok := keys[k]; !ok {
					keys[k] = int32(len(keys) + 1)
				}
				n.pslot = keys[k]
			}
			return
		}
		for _, c := range n.kids {
			visit(c)
		}
	}
	for _, k := range eventKinds {
		for _, cs := range [][]check{s.checks[k], s.dropChecks[k]} {
			for _, c := range cs {
				visit(c.root)
			}
		}
	}
	s.pslots = len(keys)
}
