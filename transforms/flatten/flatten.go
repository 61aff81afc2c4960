package flatten

import (
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/sfconnector/sfconnector/sysflow"
)

// Config configures a Flattener. Zero values take the defaults.
type Config struct {
	// Logger receives one warning per missing reference id (default slog.Default()).
	Logger *slog.Logger
	// ExitGrace is how long, in stream time (event timestamps), a process
	// stays in the table after its exit event: flows that close after the
	// exit still find it. Default 30s.
	ExitGrace time.Duration
	// Table caps: when a table grows past its cap, its oldest-inserted
	// (or oldest-updated) entries are evicted.
	MaxProcesses  int // default 65536
	MaxFiles      int // default 262144
	MaxContainers int // default 16384
	MaxPods       int // default 16384
	// MaxAncestry bounds the ancestry walk (default 64, at least 2).
	MaxAncestry int
	// MaxLoggedIDs bounds the memory of ids already logged as missing; when
	// full it is cleared, so an id may be logged again. Default 4096.
	MaxLoggedIDs int
}

// Defaults.
const (
	DefaultExitGrace     = 30 * time.Second
	DefaultMaxProcesses  = 1 << 16
	DefaultMaxFiles      = 1 << 18
	DefaultMaxContainers = 1 << 14
	DefaultMaxPods       = 1 << 14
	DefaultMaxAncestry   = 64
	DefaultMaxLoggedIDs  = 4096
)

// WithDefaults returns c with the defaults New applies filled in: what the
// component uses for a setting left zero. A test compares them with the
// defaults config.Specs documents.
func (c Config) WithDefaults() Config {
	c.setDefaults()
	return c
}

func (c *Config) setDefaults() {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.ExitGrace <= 0 {
		c.ExitGrace = DefaultExitGrace
	}
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.MaxProcesses, DefaultMaxProcesses)
	def(&c.MaxFiles, DefaultMaxFiles)
	def(&c.MaxContainers, DefaultMaxContainers)
	def(&c.MaxPods, DefaultMaxPods)
	def(&c.MaxAncestry, DefaultMaxAncestry)
	def(&c.MaxLoggedIDs, DefaultMaxLoggedIDs)
	if c.MaxAncestry < 2 {
		c.MaxAncestry = 2
	}
}

// Validate rejects negative settings (zero means "default"). New does not
// validate: configuration loaders call Validate to report bad values with
// their key.
func (c Config) Validate() error {
	var errs []error
	if c.ExitGrace < 0 {
		errs = append(errs, fmt.Errorf("exit grace %v: must not be negative", c.ExitGrace))
	}
	for _, v := range []struct {
		name string
		val  int
	}{
		{"max processes", c.MaxProcesses}, {"max files", c.MaxFiles}, {"max containers", c.MaxContainers},
		{"max pods", c.MaxPods}, {"max ancestry", c.MaxAncestry}, {"max logged ids", c.MaxLoggedIDs},
	} {
		if v.val < 0 {
			errs = append(errs, fmt.Errorf("%s %d: must not be negative", v.name, v.val))
		}
	}
	return errors.Join(errs...)
}

// Stats are the flattener's counters.
type Stats struct {
	Records uint64 // records handed to Flatten
	Events  uint64 // flat events emitted
	Headers uint64 // SFHeader records (each reset the tables)
	// Skipped counts NetworkEvent, ProcessFlow and unknown records: the
	// reference processor emits no flat record for them, and neither do we.
	Skipped uint64
	Tables  TableCounts // current table sizes
	Evicted TableCounts // entries evicted over a cap or after the exit grace
	Exited  uint64      // processes evicted after their exit grace (part of Evicted.Processes)
	Missing MissingCounts
}

// TableCounts has one number per entity table.
type TableCounts struct {
	Processes, Files, Containers, Pods uint64
}

// MissingCounts counts events whose reference could not be resolved, per
// kind of reference (each event counts once per missing reference).
type MissingCounts struct {
	Process   uint64 // the event's process
	Parent    uint64 // the process's parent (its POID names no known process)
	Container uint64 // the process's container
	Pod       uint64 // the container's pod
	File      uint64 // the file of a file event or flow
	NewFile   uint64 // the second file of a rename/link/symlink
}

type procEntry struct {
	p        *sysflow.Process
	seq      uint64
	exitedAt int64 // eviction deadline in stream time; 0 while running

	// Resolved references, valid while gen equals the flattener's gen:
	// any change to the process, container or pod tables invalidates them.
	gen    uint64
	parent *sysflow.Process
	anc    []*sysflow.Process
	cont   *sysflow.Container
	pod    *sysflow.Pod
}

type fileEntry struct {
	f   *sysflow.File
	seq uint64
}

type contEntry struct {
	c   *sysflow.Container
	seq uint64
}

type podEntry struct {
	p   *sysflow.Pod
	seq uint64
}

// Flattener turns one stream of SysFlow records into flat events. It keeps
// the entity tables of that stream (processes by OID, files by FOID,
// containers and pods by id).
//
// Concurrency: a Flattener belongs to one stream and is used by one
// goroutine at a time; it has no locks. Flatten never blocks, and every
// table, queue and log-once set it keeps is bounded by Config.
type Flattener struct {
	cfg Config
	log *slog.Logger

	hdr   *sysflow.Header
	clock int64  // stream time: the largest event timestamp seen
	seq   uint64 // insertion counter for oldest-first eviction
	gen   uint64 // bumped on any process/container/pod table change

	procs map[sysflow.OID]*procEntry
	files map[sysflow.FOID]fileEntry
	conts map[string]contEntry
	pods  map[string]podEntry

	procQ   fifo[sysflow.OID]
	fileQ   fifo[sysflow.FOID]
	contQ   fifo[string]
	podQ    fifo[string]
	exitQ   fifo[sysflow.OID] // seq holds the eviction deadline
	logged  loggedIDs
	ancBuf  []*sysflow.Process // scratch for refresh
	trimmed trimmedProcs       // trimmed copies of recent process records
	last    struct {           // resolveProc's last lookup, valid while gen is
		oid   sysflow.OID
		gen   uint64
		entry *procEntry
	}

	stats Stats
}

// New returns a Flattener for one stream.
func New(cfg Config) *Flattener {
	cfg.setDefaults()
	return &Flattener{
		cfg:    cfg,
		log:    cfg.Logger,
		procs:  make(map[sysflow.OID]*procEntry),
		files:  make(map[sysflow.FOID]fileEntry),
		conts:  make(map[string]contEntry),
		pods:   make(map[string]podEntry),
		logged: newLoggedIDs(cfg.MaxLoggedIDs),
	}
}

// Stats returns the counters and the current table sizes.
func (f *Flattener) Stats() Stats {
	s := f.stats
	s.Tables = TableCounts{
		Processes: uint64(len(f.procs)), Files: uint64(len(f.files)),
		Containers: uint64(len(f.conts)), Pods: uint64(len(f.pods)),
	}
	return s
}

// Flatten applies recs in order and appends one flat event per
// ProcessEvent, FileEvent, FileFlow, NetworkFlow and K8sEvent to dst.
// Entity records update the tables and are not emitted; an SFHeader resets
// every table. The events of one call are allocated together; they point
// at the (immutable) records and entity snapshots current when each event
// arrived, and stay valid after later calls.
func (f *Flattener) Flatten(recs []sysflow.Record, dst []*sysflow.Event) []*sysflow.Event {
	n := 0
	for i := range recs {
		switch recs[i].Kind {
		case sysflow.KindProcessEvent, sysflow.KindFileEvent, sysflow.KindFileFlow,
			sysflow.KindNetworkFlow, sysflow.KindK8sEvent:
			n++
		}
	}
	var slab []sysflow.Event
	if n > 0 {
		slab = make([]sysflow.Event, n)
		dst = slices.Grow(dst, n)
	}
	f.stats.Records += uint64(len(recs))
	k := 0
	for i := range recs {
		r := &recs[i]
		switch r.Kind {
		case sysflow.KindHeader:
			if r.Header != nil {
				f.reset(r.Header)
			}
		case sysflow.KindProcess:
			if r.Process != nil {
				f.putProcess(f.trimmed.process(r.Process))
			}
		case sysflow.KindFile:
			if r.File != nil {
				f.putFile(trimFile(r.File))
			}
		case sysflow.KindContainer:
			if r.Container != nil {
				f.putContainer(trimContainer(r.Container))
			}
		case sysflow.KindPod:
			if r.Pod != nil {
				f.putPod(trimPod(r.Pod))
			}
		case sysflow.KindProcessEvent, sysflow.KindFileEvent, sysflow.KindFileFlow,
			sysflow.KindNetworkFlow, sysflow.KindK8sEvent:
			ev := &slab[k]
			k++
			if f.event(r, ev) {
				dst = append(dst, ev)
				f.stats.Events++
			}
		default:
			f.stats.Skipped++
		}
	}
	return dst
}

func (f *Flattener) reset(h *sysflow.Header) {
	f.stats.Headers++
	f.hdr = h
	f.clock = 0
	f.gen++
	clear(f.procs)
	clear(f.files)
	clear(f.conts)
	clear(f.pods)
	f.procQ.reset()
	f.fileQ.reset()
	f.contQ.reset()
	f.podQ.reset()
	f.exitQ.reset()
}

func (f *Flattener) putProcess(p *sysflow.Process) {
	f.seq++
	f.gen++
	if e, ok := f.procs[p.OID]; ok {
		// A re-sent or modified process: same identity, new snapshot; it
		// is running again if it had exited (pid reuse keeps the OID apart
		// through createTS, so this is the same process).
		e.p, e.seq, e.exitedAt = p, f.seq, 0
	} else {
		f.procs[p.OID] = &procEntry{p: p, seq: f.seq}
	}
	f.procQ.push(p.OID, f.seq)
	for len(f.procs) > f.cfg.MaxProcesses {
		it, ok := f.procQ.pop()
		if !ok {
			break
		}
		if e, live := f.procs[it.key]; live && e.seq == it.seq {
			delete(f.procs, it.key)
			f.stats.Evicted.Processes++
		}
	}
	f.procQ.compact(len(f.procs), func(k sysflow.OID, seq uint64) bool {
		e, ok := f.procs[k]
		return ok && e.seq == seq
	})
}

func (f *Flattener) putFile(file *sysflow.File) {
	f.seq++
	f.files[file.OID] = fileEntry{f: file, seq: f.seq}
	f.fileQ.push(file.OID, f.seq)
	for len(f.files) > f.cfg.MaxFiles {
		it, ok := f.fileQ.pop()
		if !ok {
			break
		}
		if e, live := f.files[it.key]; live && e.seq == it.seq {
			delete(f.files, it.key)
			f.stats.Evicted.Files++
		}
	}
	f.fileQ.compact(len(f.files), func(k sysflow.FOID, seq uint64) bool {
		e, ok := f.files[k]
		return ok && e.seq == seq
	})
}

func (f *Flattener) putContainer(c *sysflow.Container) {
	f.seq++
	f.gen++
	f.conts[c.ID] = contEntry{c: c, seq: f.seq}
	f.contQ.push(c.ID, f.seq)
	for len(f.conts) > f.cfg.MaxContainers {
		it, ok := f.contQ.pop()
		if !ok {
			break
		}
		if e, live := f.conts[it.key]; live && e.seq == it.seq {
			delete(f.conts, it.key)
			f.stats.Evicted.Containers++
		}
	}
	f.contQ.compact(len(f.conts), func(k string, seq uint64) bool {
		e, ok := f.conts[k]
		return ok && e.seq == seq
	})
}

func (f *Flattener) putPod(p *sysflow.Pod) {
	f.seq++
	f.gen++
	f.pods[p.ID] = podEntry{p: p, seq: f.seq}
	f.podQ.push(p.ID, f.seq)
	for len(f.pods) > f.cfg.MaxPods {
		it, ok := f.podQ.pop()
		if !ok {
			break
		}
		if e, live := f.pods[it.key]; live && e.seq == it.seq {
			delete(f.pods, it.key)
			f.stats.Evicted.Pods++
		}
	}
	f.podQ.compact(len(f.pods), func(k string, seq uint64) bool {
		e, ok := f.pods[k]
		return ok && e.seq == seq
	})
}

// advance moves stream time to ts and evicts the processes whose exit
// grace has run out.
func (f *Flattener) advance(ts int64) {
	if ts <= f.clock {
		return
	}
	f.clock = ts
	for {
		it, ok := f.exitQ.peek()
		if !ok || int64(it.seq) > f.clock {
			return
		}
		f.exitQ.pop()
		if e, live := f.procs[it.key]; live && e.exitedAt == int64(it.seq) {
			delete(f.procs, it.key)
			f.gen++
			f.stats.Evicted.Processes++
			f.stats.Exited++
		}
	}
}

// exited schedules the process's eviction after the grace period. The
// deadlines are taken from the stream clock, so the queue stays in order.
func (f *Flattener) exited(oid sysflow.OID) {
	e, ok := f.procs[oid]
	if !ok || e.exitedAt != 0 {
		return
	}
	deadline := f.clock + int64(f.cfg.ExitGrace)
	if deadline <= 0 { // a clock near zero: keep deadlines positive, 0 means running
		deadline = 1
	}
	e.exitedAt = deadline
	f.exitQ.push(oid, uint64(deadline))
}

// event fills ev from the event record r; false for a malformed record.
func (f *Flattener) event(r *sysflow.Record, ev *sysflow.Event) bool {
	ev.Kind = r.Kind
	ev.Header = f.hdr
	switch r.Kind {
	case sysflow.KindProcessEvent:
		pe := r.ProcessEvent
		if pe == nil {
			return false
		}
		f.advance(pe.TS)
		ev.ProcOID, ev.TS, ev.TID, ev.OpFlags, ev.Ret, ev.Args = pe.ProcOID, pe.TS, pe.TID, pe.OpFlags, pe.Ret, pe.Args
		f.resolveProc(ev)
		// Threads report their exits too; only the main thread's exit
		// (tid == pid) ends the process.
		if pe.OpFlags&sysflow.OpExit != 0 && pe.TID == pe.ProcOID.Hpid {
			f.exited(pe.ProcOID)
		}
	case sysflow.KindFileEvent:
		fe := r.FileEvent
		if fe == nil {
			return false
		}
		f.advance(fe.TS)
		ev.ProcOID, ev.TS, ev.TID, ev.OpFlags, ev.Ret = fe.ProcOID, fe.TS, fe.TID, fe.OpFlags, fe.Ret
		ev.FileOID, ev.NewFileOID = fe.FileOID, fe.NewFileOID
		f.resolveProc(ev)
		ev.File = f.file(fe.FileOID, false, ev)
		if fe.NewFileOID != nil {
			ev.NewFile = f.file(*fe.NewFileOID, true, ev)
		}
	case sysflow.KindFileFlow:
		ff := r.FileFlow
		if ff == nil {
			return false
		}
		f.advance(ff.TS)
		ev.ProcOID, ev.TS, ev.TID, ev.OpFlags, ev.EndTS = ff.ProcOID, ff.TS, ff.TID, ff.OpFlags, ff.EndTS
		ev.OpenFlags, ev.FD, ev.FileOID = ff.OpenFlags, ff.FD, ff.FileOID
		ev.ROps, ev.WOps, ev.RBytes, ev.WBytes = ff.NumRRecvOps, ff.NumWSendOps, ff.NumRRecvBytes, ff.NumWSendBytes
		f.resolveProc(ev)
		ev.File = f.file(ff.FileOID, false, ev)
	case sysflow.KindNetworkFlow:
		nf := r.NetworkFlow
		if nf == nil {
			return false
		}
		f.advance(nf.TS)
		ev.ProcOID, ev.TS, ev.TID, ev.OpFlags, ev.EndTS = nf.ProcOID, nf.TS, nf.TID, nf.OpFlags, nf.EndTS
		ev.SIP, ev.SPort, ev.DIP, ev.DPort, ev.Proto, ev.FD = nf.SIP, nf.SPort, nf.DIP, nf.DPort, nf.Proto, nf.FD
		ev.ROps, ev.WOps, ev.RBytes, ev.WBytes = nf.NumRRecvOps, nf.NumWSendOps, nf.NumRRecvBytes, nf.NumWSendBytes
		f.resolveProc(ev)
	case sysflow.KindK8sEvent:
		ke := r.K8sEvent
		if ke == nil {
			return false
		}
		f.advance(ke.TS)
		ev.K8s, ev.TS, ev.EndTS = ke, ke.TS, ke.TS
	default:
		return false
	}
	return true
}

// resolveProc fills the process, parent, ancestry, container and pod of
// ev from the tables, recomputing the process's cached references when a
// table changed since they were last resolved.
func (f *Flattener) resolveProc(ev *sysflow.Event) {
	// In the real traces 85% of events come from the process of the
	// event before: remember the last lookup while no table changed (any
	// change bumps gen, so the entry is still the map's).
	e := f.last.entry
	if e == nil || f.last.gen != f.gen || f.last.oid != ev.ProcOID {
		var ok bool
		e, ok = f.procs[ev.ProcOID]
		if !ok {
			f.stats.Missing.Process++
			if f.logged.procs.add(ev.ProcOID) {
				f.log.Warn("flatten: event refers to an unknown process",
					"pid", ev.ProcOID.Hpid, "createts", ev.ProcOID.CreateTS,
					"type", ev.Kind.TypeName(), "ts", ev.TS)
			}
			return
		}
		f.last.entry, f.last.oid, f.last.gen = e, ev.ProcOID, f.gen
	}
	if e.gen != f.gen {
		f.refresh(e)
	}
	p := e.p
	ev.Proc, ev.ParentOID, ev.Parent, ev.Ancestry = p, p.POID, e.parent, e.anc
	ev.Container, ev.Pod = e.cont, e.pod
	if p.POID != nil && e.parent == nil {
		f.stats.Missing.Parent++
		if f.logged.parents.add(*p.POID) {
			f.log.Warn("flatten: process refers to an unknown parent",
				"pid", p.OID.Hpid, "ppid", p.POID.Hpid, "pcreatets", p.POID.CreateTS)
		}
	}
	if p.ContainerID != nil && e.cont == nil {
		f.stats.Missing.Container++
		if f.logged.conts.add(*p.ContainerID) {
			f.log.Warn("flatten: process refers to an unknown container",
				"pid", p.OID.Hpid, "container", *p.ContainerID)
		}
	}
	if e.cont != nil && e.cont.PodID != nil && e.pod == nil {
		f.stats.Missing.Pod++
		if f.logged.pods.add(*e.cont.PodID) {
			f.log.Warn("flatten: container refers to an unknown pod",
				"container", e.cont.ID, "pod", *e.cont.PodID)
		}
	}
}

func (f *Flattener) refresh(e *procEntry) {
	e.gen = f.gen
	p := e.p
	e.parent, e.cont, e.pod = nil, nil, nil
	if p.POID != nil {
		if pe, ok := f.procs[*p.POID]; ok {
			e.parent = pe.p
		}
	}
	// The ancestry starts with the process itself and follows POIDs until
	// a missing parent, a repeated process (a cycle) or the depth bound.
	// It is built in scratch space and kept only when it changed: every
	// process record invalidates every cached entry (gen), and on a
	// stream with many short-lived processes most refreshes find the same
	// ancestry (a profile showed one slice allocation per record there).
	anc := append(f.ancBuf[:0], p)
	for cur := p; cur.POID != nil && len(anc) < f.cfg.MaxAncestry; {
		next, ok := f.procs[*cur.POID]
		if !ok || slices.Contains(anc, next.p) || next.p.OID == cur.OID {
			break
		}
		anc = append(anc, next.p)
		cur = next.p
	}
	f.ancBuf = anc
	if !slices.Equal(anc, e.anc) {
		// events keep the old slice: never modify it, make a new one
		e.anc = slices.Clip(slices.Clone(anc))
	}
	if p.ContainerID != nil {
		if c, ok := f.conts[*p.ContainerID]; ok {
			e.cont = c.c
			if c.c.PodID != nil {
				if pd, ok := f.pods[*c.c.PodID]; ok {
					e.pod = pd.p
				}
			}
		}
	}
}

func (f *Flattener) file(oid sysflow.FOID, second bool, ev *sysflow.Event) *sysflow.File {
	if e, ok := f.files[oid]; ok {
		return e.f
	}
	if second {
		f.stats.Missing.NewFile++
	} else {
		f.stats.Missing.File++
	}
	if f.logged.files.add(oid) {
		f.log.Warn("flatten: event refers to an unknown file",
			"foid", hex.EncodeToString(oid[:]), "type", ev.Kind.TypeName(), "ts", ev.TS, "pid", ev.ProcOID.Hpid)
	}
	return nil
}
