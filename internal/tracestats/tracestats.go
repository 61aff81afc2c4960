// Package tracestats measures the shape of a SysFlow trace: which record
// types it holds, how its process events split by operation, how deep its
// process trees are, how fast processes come and go and how much of it runs
// in containers. The generator's tests and the benchmark report use it to
// compare `sfconnector gen` output with the real traces of ../shared/traces.
//
// It counts; it does not judge. Which differences matter, and by how much,
// is the caller's business (see sysflow/synth's realism test).
package tracestats

import (
	"errors"
	"fmt"
	"io"

	"github.com/sfconnector/sfconnector/sysflow"
)

// Process event operation flags as the collector writes them.
const (
	opClone  = 1 << 0
	opExec   = 1 << 1
	opExit   = 1 << 2
	opSetuid = 1 << 3
	opSetns  = 1 << 4
)

// maxDepth bounds the parent walk, so that a trace whose parent links form
// a cycle cannot stall the count.
const maxDepth = 64

// Stats are the counts of one trace or of several added together.
type Stats struct {
	Records int                           // every record, entities included
	Kinds   [sysflow.KindK8sEvent + 1]int // records per kind

	// Process events by operation: a record counts once per flag it has.
	Clone, Exec, Exit, Setuid, Setns int

	// Events that name a process (every event but k8s events), those whose
	// process is known and runs in a container, and the sum and maximum of
	// their processes' ancestry length (the process itself, its parent,
	// and so on while the trace defines them).
	ProcEvents, ContainerEvents int
	AncestrySum, MaxAncestry    int

	// Distinct processes and files defined (per stream: a header starts
	// new tables) and distinct containers.
	Processes, Files, Containers int

	procs map[sysflow.OID]procInfo
	files map[sysflow.FOID]bool
	conts map[string]bool
}

// procInfo is what the counts need of a process, copied: a reader may
// reuse the records it hands out.
type procInfo struct {
	parent    sysflow.OID
	hasParent bool
	container bool
}

// Add counts one record, in stream order.
func (s *Stats) Add(r *sysflow.Record) {
	if s.procs == nil {
		s.reset()
	}
	s.Records++
	if int(r.Kind) < len(s.Kinds) {
		s.Kinds[r.Kind]++
	}
	var oid *sysflow.OID
	switch r.Kind {
	case sysflow.KindHeader:
		s.reset()
	case sysflow.KindContainer:
		if !s.conts[r.Container.ID] {
			s.conts[r.Container.ID] = true
			s.Containers++
		}
	case sysflow.KindProcess:
		if _, ok := s.procs[r.Process.OID]; !ok {
			s.Processes++
		}
		pi := procInfo{container: r.Process.ContainerID != nil && *r.Process.ContainerID != ""}
		if r.Process.POID != nil {
			pi.parent, pi.hasParent = *r.Process.POID, true
		}
		s.procs[r.Process.OID] = pi
	case sysflow.KindFile:
		if !s.files[r.File.OID] {
			s.files[r.File.OID] = true
			s.Files++
		}
	case sysflow.KindProcessEvent:
		op := r.ProcessEvent.OpFlags
		s.Clone += bit(op, opClone)
		s.Exec += bit(op, opExec)
		s.Exit += bit(op, opExit)
		s.Setuid += bit(op, opSetuid)
		s.Setns += bit(op, opSetns)
		oid = &r.ProcessEvent.ProcOID
	case sysflow.KindFileFlow:
		oid = &r.FileFlow.ProcOID
	case sysflow.KindFileEvent:
		oid = &r.FileEvent.ProcOID
	case sysflow.KindNetworkFlow:
		oid = &r.NetworkFlow.ProcOID
	case sysflow.KindNetworkEvent:
		oid = &r.NetworkEvent.ProcOID
	case sysflow.KindProcessFlow:
		oid = &r.ProcessFlow.ProcOID
	}
	if oid != nil {
		s.ProcEvents++
		p, ok := s.procs[*oid]
		if ok && p.container {
			s.ContainerEvents++
		}
		d := 0
		for ok && d < maxDepth {
			d++
			if !p.hasParent {
				break
			}
			p, ok = s.procs[p.parent]
		}
		s.AncestrySum += d
		s.MaxAncestry = max(s.MaxAncestry, d)
	}
}

func bit(op int32, flag int32) int {
	if op&flag != 0 {
		return 1
	}
	return 0
}

func (s *Stats) reset() {
	s.procs = map[sysflow.OID]procInfo{}
	s.files = map[sysflow.FOID]bool{}
	if s.conts == nil {
		s.conts = map[string]bool{}
	}
}

// Merge adds o's counts to s, as if o's trace followed s's in its own
// stream.
func (s *Stats) Merge(o *Stats) {
	s.Records += o.Records
	for i := range s.Kinds {
		s.Kinds[i] += o.Kinds[i]
	}
	s.Clone += o.Clone
	s.Exec += o.Exec
	s.Exit += o.Exit
	s.Setuid += o.Setuid
	s.Setns += o.Setns
	s.ProcEvents += o.ProcEvents
	s.ContainerEvents += o.ContainerEvents
	s.AncestrySum += o.AncestrySum
	s.MaxAncestry = max(s.MaxAncestry, o.MaxAncestry)
	s.Processes += o.Processes
	s.Files += o.Files
	s.Containers += o.Containers
}

// Events is the number of flat events: process, file and network events
// and flows, process flows and k8s events.
func (s *Stats) Events() int {
	return s.Kinds[sysflow.KindProcessEvent] + s.Kinds[sysflow.KindFileFlow] + s.Kinds[sysflow.KindFileEvent] +
		s.Kinds[sysflow.KindNetworkFlow] + s.Kinds[sysflow.KindNetworkEvent] + s.Kinds[sysflow.KindProcessFlow] +
		s.Kinds[sysflow.KindK8sEvent]
}

// Metric is one derived figure.
type Metric struct {
	Name  string
	Value float64
}

// Metric names, in the order Metrics lists them.
const (
	FileFlowShare     = "file flows / events"
	NetworkFlowShare  = "network flows / events"
	ProcessEventShare = "process events / events"
	FileEventShare    = "file events / events"
	K8sEventShare     = "k8s events / events"
	ClonePerK         = "clones per 1k events"
	ExecPerK          = "execs per 1k events"
	ExitPerK          = "exits per 1k events"
	SetuidPerK        = "setuids per 1k events"
	ProcessesPerK     = "new processes per 1k events"
	ProcRecordsPerK   = "process records per 1k events"
	FileRecordsPerK   = "file records per 1k events"
	ContainerShare    = "events in containers"
	MeanAncestry      = "mean ancestry length"
	MaxAncestry       = "max ancestry length"
)

// Metrics derives the figures the realism test compares: shares of events
// are fractions, rates are per thousand events.
func (s *Stats) Metrics() []Metric {
	ev := float64(max(1, s.Events()))
	share := func(k sysflow.RecordKind) float64 { return float64(s.Kinds[k]) / ev }
	perK := func(n int) float64 { return 1000 * float64(n) / ev }
	pe := float64(max(1, s.ProcEvents))
	return []Metric{
		{FileFlowShare, share(sysflow.KindFileFlow)},
		{NetworkFlowShare, share(sysflow.KindNetworkFlow)},
		{ProcessEventShare, share(sysflow.KindProcessEvent)},
		{FileEventShare, share(sysflow.KindFileEvent)},
		{K8sEventShare, share(sysflow.KindK8sEvent)},
		{ClonePerK, perK(s.Clone)},
		{ExecPerK, perK(s.Exec)},
		{ExitPerK, perK(s.Exit)},
		{SetuidPerK, perK(s.Setuid)},
		{ProcessesPerK, perK(s.Processes)},
		{ProcRecordsPerK, perK(s.Kinds[sysflow.KindProcess])},
		{FileRecordsPerK, perK(s.Kinds[sysflow.KindFile])},
		{ContainerShare, float64(s.ContainerEvents) / pe},
		{MeanAncestry, float64(s.AncestrySum) / pe},
		{MaxAncestry, float64(s.MaxAncestry)},
	}
}

// Get returns the named metric.
func (s *Stats) Get(name string) (float64, bool) {
	for _, m := range s.Metrics() {
		if m.Name == name {
			return m.Value, true
		}
	}
	return 0, false
}

// Read counts every record of a SysFlow stream.
func Read(r io.Reader, name string) (*Stats, error) {
	sr, err := sysflow.NewReader(r, name)
	if err != nil {
		return nil, err
	}
	return count(sr, name)
}

// File counts every record of a SysFlow trace file.
func File(path string) (*Stats, error) {
	sr, c, err := sysflow.OpenFile(path)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return count(sr, path)
}

func count(sr *sysflow.Reader, name string) (*Stats, error) {
	s := &Stats{}
	var recs []sysflow.Record
	for {
		var err error
		recs, err = sr.Next(recs[:0])
		for i := range recs {
			s.Add(&recs[i])
		}
		if errors.Is(err, io.EOF) {
			return s, nil
		}
		if err != nil {
			return s, fmt.Errorf("tracestats: %s: %w", name, err)
		}
	}
}
