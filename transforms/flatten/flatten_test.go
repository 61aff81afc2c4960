package flatten

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sfconnector/sfconnector/sysflow"
)

func ptr[T any](v T) *T { return &v }

// capture is a slog handler that keeps the messages it receives.
type capture struct {
	mu   sync.Mutex
	msgs []string
}

func (c *capture) Enabled(context.Context, slog.Level) bool { return true }
func (c *capture) Handle(_ context.Context, r slog.Record) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var b strings.Builder
	b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool {
		b.WriteString(" " + a.Key + "=" + a.Value.String())
		return true
	})
	c.msgs = append(c.msgs, b.String())
	return nil
}
func (c *capture) WithAttrs([]slog.Attr) slog.Handler { return c }
func (c *capture) WithGroup(string) slog.Handler      { return c }

func newTest(t *testing.T, cfg Config) (*Flattener, *capture) {
	t.Helper()
	c := &capture{}
	cfg.Logger = slog.New(c)
	return New(cfg), c
}

// Record builders.
func hdr(node string) sysflow.Record {
	return sysflow.Record{Kind: sysflow.KindHeader, Header: &sysflow.Header{Version: 5, Exporter: node, IP: "10.0.0.1", Filename: "/x/t.sf"}}
}

func proc(pid int64, ppid int64, exe string, cont *string) sysflow.Record {
	p := &sysflow.Process{OID: sysflow.OID{CreateTS: pid * 10, Hpid: pid}, Exe: exe, ContainerID: cont}
	if ppid != 0 {
		p.POID = &sysflow.OID{CreateTS: ppid * 10, Hpid: ppid}
	}
	return sysflow.Record{Kind: sysflow.KindProcess, Process: p}
}

func oid(pid int64) sysflow.OID { return sysflow.OID{CreateTS: pid * 10, Hpid: pid} }

func foid(b byte) sysflow.FOID {
	var f sysflow.FOID
	f[0] = b
	return f
}

func file(b byte, path string) sysflow.Record {
	return sysflow.Record{Kind: sysflow.KindFile, File: &sysflow.File{OID: foid(b), Path: path, Restype: 'f'}}
}

func container(id string, pod *string) sysflow.Record {
	return sysflow.Record{Kind: sysflow.KindContainer, Container: &sysflow.Container{ID: id, Name: "c-" + id, PodID: pod}}
}

func pod(id string) sysflow.Record {
	return sysflow.Record{Kind: sysflow.KindPod, Pod: &sysflow.Pod{ID: id, Name: "pod-" + id}}
}

func ff(pid int64, f byte, ts int64) sysflow.Record {
	return sysflow.Record{Kind: sysflow.KindFileFlow, FileFlow: &sysflow.FileFlow{ProcOID: oid(pid), TS: ts, TID: pid + 1,
		OpFlags: sysflow.OpOpen | sysflow.OpReadRecv, OpenFlags: 1, EndTS: ts + 5, FileOID: foid(f), FD: 3,
		NumRRecvOps: 1, NumWSendOps: 2, NumRRecvBytes: 3, NumWSendBytes: 4}}
}

func pe(pid, tid int64, flags int32, ts int64) sysflow.Record {
	return sysflow.Record{Kind: sysflow.KindProcessEvent, ProcessEvent: &sysflow.ProcessEvent{ProcOID: oid(pid), TS: ts, TID: tid,
		OpFlags: flags, Args: []string{"-x"}, Ret: 7}}
}

func exes(ps []*sysflow.Process) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Exe)
	}
	return out
}

func TestResolve(t *testing.T) {
	f, _ := newTest(t, Config{})
	recs := []sysflow.Record{
		hdr("node1"),
		pod("p1"),
		container("c1", ptr("p1")),
		proc(1, 0, "/sbin/init", nil),
		proc(10, 1, "/bin/bash", ptr("c1")),
		proc(20, 10, "/usr/bin/cat", ptr("c1")),
		file(1, "/etc/passwd"),
		file(2, "/tmp/new"),
		ff(20, 1, 100),
		{Kind: sysflow.KindFileEvent, FileEvent: &sysflow.FileEvent{ProcOID: oid(20), TS: 101, TID: 21,
			OpFlags: sysflow.OpRename, FileOID: foid(1), NewFileOID: ptr(foid(2)), Ret: -2}},
		{Kind: sysflow.KindNetworkFlow, NetworkFlow: &sysflow.NetworkFlow{ProcOID: oid(10), TS: 102, EndTS: 103, SIP: 1, DIP: 2,
			SPort: 3, DPort: 4, Proto: 6, FD: 5, NumRRecvOps: 6, NumWSendOps: 7, NumRRecvBytes: 8, NumWSendBytes: 9}},
		pe(1, 1, sysflow.OpExec, 104),
		{Kind: sysflow.KindK8sEvent, K8sEvent: &sysflow.K8sEvent{Kind: 2, TS: 105, Message: "{}"}},
	}
	events := f.Flatten(recs, nil)
	if len(events) != 5 {
		t.Fatalf("%d events, want 5", len(events))
	}
	h := recs[0].Header

	e := events[0]
	if e.Kind != sysflow.KindFileFlow || e.Header != h || e.TS != 100 || e.EndTS != 105 || e.TID != 21 || e.FD != 3 ||
		e.OpenFlags != 1 || e.ROps != 1 || e.WOps != 2 || e.RBytes != 3 || e.WBytes != 4 || e.FileOID != foid(1) {
		t.Errorf("file flow fields: %+v", e)
	}
	if e.Proc != recs[5].Process || e.Parent != recs[4].Process || e.ParentOID != recs[5].Process.POID {
		t.Errorf("process %v parent %v", e.Proc, e.Parent)
	}
	if got := exes(e.Ancestry); !slices.Equal(got, []string{"/usr/bin/cat", "/bin/bash", "/sbin/init"}) {
		t.Errorf("ancestry %v", got)
	}
	if e.Container != recs[2].Container || e.Pod != recs[1].Pod || e.File != recs[6].File || e.NewFile != nil {
		t.Errorf("container %v pod %v file %v", e.Container, e.Pod, e.File)
	}

	e = events[1]
	if e.Kind != sysflow.KindFileEvent || e.File != recs[6].File || e.NewFile != recs[7].File || e.Ret != -2 ||
		e.NewFileOID == nil || *e.NewFileOID != foid(2) || e.EndTS != 0 {
		t.Errorf("file event: %+v", e)
	}
	e = events[2]
	if e.Kind != sysflow.KindNetworkFlow || e.SIP != 1 || e.DIP != 2 || e.SPort != 3 || e.DPort != 4 || e.Proto != 6 ||
		e.FD != 5 || e.ROps != 6 || e.WOps != 7 || e.RBytes != 8 || e.WBytes != 9 || e.EndTS != 103 || e.File != nil {
		t.Errorf("network flow: %+v", e)
	}
	if got := exes(e.Ancestry); !slices.Equal(got, []string{"/bin/bash", "/sbin/init"}) {
		t.Errorf("bash ancestry %v", got)
	}
	e = events[3]
	if e.Kind != sysflow.KindProcessEvent || e.Ret != 7 || !slices.Equal(e.Args, []string{"-x"}) || e.Parent != nil ||
		e.ParentOID != nil || e.Container != nil || len(e.Ancestry) != 1 {
		t.Errorf("init's process event: %+v", e)
	}
	e = events[4]
	if e.Kind != sysflow.KindK8sEvent || e.K8s != recs[12].K8sEvent || e.TS != 105 || e.EndTS != 105 || e.Proc != nil {
		t.Errorf("k8s event: %+v", e)
	}
	s := f.Stats()
	if s.Missing != (MissingCounts{}) || s.Events != 5 || s.Records != uint64(len(recs)) || s.Headers != 1 ||
		s.Tables != (TableCounts{Processes: 3, Files: 2, Containers: 1, Pods: 1}) {
		t.Errorf("stats %+v", s)
	}
}

// TestSnapshots: an event keeps the entity records current when it arrived.
func TestSnapshots(t *testing.T) {
	f, _ := newTest(t, Config{})
	before := f.Flatten([]sysflow.Record{hdr("n"), proc(1, 0, "/sbin/init", nil), proc(5, 1, "/bin/sh", nil), pe(5, 5, sysflow.OpClone, 1)}, nil)
	after := f.Flatten([]sysflow.Record{proc(5, 1, "/usr/bin/python3", nil), proc(1, 0, "/sbin/init2", nil), pe(5, 5, sysflow.OpExec, 2)}, nil)
	if got := exes(before[0].Ancestry); !slices.Equal(got, []string{"/bin/sh", "/sbin/init"}) || before[0].Proc.Exe != "/bin/sh" {
		t.Errorf("first event changed: %v", got)
	}
	if got := exes(after[0].Ancestry); !slices.Equal(got, []string{"/usr/bin/python3", "/sbin/init2"}) ||
		after[0].Proc.Exe != "/usr/bin/python3" || after[0].Parent.Exe != "/sbin/init2" {
		t.Errorf("second event: %v", got)
	}
}

func TestHeaderResets(t *testing.T) {
	f, logs := newTest(t, Config{})
	f.Flatten([]sysflow.Record{hdr("a"), proc(1, 0, "/sbin/init", nil), file(1, "/x"), container("c", nil), pod("p")}, nil)
	events := f.Flatten([]sysflow.Record{hdr("b"), ff(1, 1, 10), ff(1, 1, 11)}, nil)
	if len(events) != 2 {
		t.Fatalf("%d events, want 2 (missing references do not drop events)", len(events))
	}
	e := events[0]
	if e.Proc != nil || e.File != nil || e.Header.Exporter != "b" || e.ProcOID != oid(1) || e.FileOID != foid(1) || e.TS != 10 {
		t.Errorf("event after reset: %+v", e)
	}
	s := f.Stats()
	if s.Tables != (TableCounts{}) || s.Missing.Process != 2 || s.Missing.File != 2 || s.Headers != 2 {
		t.Errorf("stats %+v", s)
	}
	// Logged once per id, counted per event.
	if len(logs.msgs) != 2 || !strings.Contains(logs.msgs[0], "unknown process") || !strings.Contains(logs.msgs[0], "pid=1") ||
		!strings.Contains(logs.msgs[1], "unknown file") || !strings.Contains(logs.msgs[1], "foid=01000000") {
		t.Errorf("logs %q", logs.msgs)
	}
}

func TestMissingReferences(t *testing.T) {
	f, logs := newTest(t, Config{})
	events := f.Flatten([]sysflow.Record{
		hdr("n"),
		container("c1", ptr("nopod")),
		proc(5, 4, "/bin/a", ptr("nocont")),
		proc(6, 4, "/bin/b", ptr("c1")),
		pe(5, 5, 0, 1), pe(5, 5, 0, 2), pe(6, 6, 0, 3),
		{Kind: sysflow.KindFileEvent, FileEvent: &sysflow.FileEvent{ProcOID: oid(6), FileOID: foid(9), NewFileOID: ptr(foid(8))}},
	}, nil)
	if len(events) != 4 {
		t.Fatalf("%d events", len(events))
	}
	if e := events[0]; e.Proc == nil || e.Parent != nil || e.ParentOID == nil || e.ParentOID.Hpid != 4 || e.Container != nil {
		t.Errorf("event 0: %+v", e)
	}
	if e := events[2]; e.Container == nil || e.Pod != nil {
		t.Errorf("event 2: %+v", e)
	}
	want := MissingCounts{Parent: 4, Container: 2, Pod: 2, File: 1, NewFile: 1}
	if got := f.Stats().Missing; got != want {
		t.Errorf("missing %+v, want %+v", got, want)
	}
	// One line per id: parent 4, container nocont, pod nopod, files 09 and 08.
	if len(logs.msgs) != 5 {
		t.Errorf("%d log lines, want 5: %q", len(logs.msgs), logs.msgs)
	}
}

func TestLoggedIDsBounded(t *testing.T) {
	f, logs := newTest(t, Config{MaxLoggedIDs: 2})
	var recs []sysflow.Record
	for _, pid := range []int64{1, 2, 3, 1} {
		recs = append(recs, pe(pid, pid, 0, pid))
	}
	f.Flatten(recs, nil)
	// 1, 2 logged; 3 clears the full set; 1 is logged again.
	if len(logs.msgs) != 4 || len(f.logged.procs.m) != 2 {
		t.Errorf("%d log lines, set of %d: %q", len(logs.msgs), len(f.logged.procs.m), logs.msgs)
	}
}

func TestAncestryCyclesAndDepth(t *testing.T) {
	f, _ := newTest(t, Config{MaxAncestry: 10})
	recs := []sysflow.Record{hdr("n"), proc(2, 3, "/a", nil), proc(3, 2, "/b", nil), proc(4, 4, "/self", nil)}
	for pid := int64(100); pid < 150; pid++ {
		recs = append(recs, proc(pid, pid-1, "/chain", nil))
	}
	recs = append(recs, pe(2, 2, 0, 1), pe(4, 4, 0, 2), pe(149, 149, 0, 3))
	events := f.Flatten(recs, nil)
	if got := exes(events[0].Ancestry); !slices.Equal(got, []string{"/a", "/b"}) || events[0].Parent.Exe != "/b" {
		t.Errorf("cycle: ancestry %v", got)
	}
	if got := exes(events[1].Ancestry); !slices.Equal(got, []string{"/self"}) || events[1].Parent == nil {
		t.Errorf("self parent: ancestry %v parent %v", got, events[1].Parent)
	}
	if n := len(events[2].Ancestry); n != 10 || events[2].Ancestry[9].OID.Hpid != 140 {
		t.Errorf("chain: %d ancestors", n)
	}
	// The chain's root (pid 100) has an unknown parent 99; 149 resolves its
	// parent, so nothing is missing.
	if m := f.Stats().Missing; m.Parent != 0 {
		t.Errorf("missing %+v", m)
	}
}

func TestExitGrace(t *testing.T) {
	const s = int64(time.Second)
	f, _ := newTest(t, Config{ExitGrace: 30 * time.Second})
	f.Flatten([]sysflow.Record{hdr("n"), proc(1, 0, "/a", nil), proc(2, 0, "/b", nil), proc(3, 0, "/c", nil),
		pe(1, 1, sysflow.OpExit, 100*s),                        // the process exits
		pe(2, 7, sysflow.OpExit, 100*s),                        // a thread of 2 exits: 2 keeps running
		pe(3, 3, sysflow.OpExit, 100*s), proc(3, 0, "/c", nil), // 3 is re-sent after its exit: running again
	}, nil)
	within := f.Flatten([]sysflow.Record{ff(1, 0, 129*s)}, nil)
	if within[0].Proc == nil {
		t.Fatalf("process evicted within the grace period")
	}
	after := f.Flatten([]sysflow.Record{ff(2, 0, 131*s), ff(1, 0, 131*s), ff(3, 0, 131*s)}, nil)
	if after[0].Proc == nil || after[1].Proc != nil || after[2].Proc == nil {
		t.Errorf("after the grace period: procs %v %v %v", after[0].Proc, after[1].Proc, after[2].Proc)
	}
	s2 := f.Stats()
	if s2.Exited != 1 || s2.Evicted.Processes != 1 || s2.Tables.Processes != 2 {
		t.Errorf("stats %+v", s2)
	}
}

func TestTableCaps(t *testing.T) {
	f, _ := newTest(t, Config{MaxFiles: 3, MaxProcesses: 2, MaxContainers: 1, MaxPods: 1})
	recs := []sysflow.Record{hdr("n"), file(1, "/1"), file(2, "/2"), file(3, "/3"), file(1, "/1b"), file(4, "/4"), file(5, "/5"),
		proc(1, 0, "/a", nil), proc(2, 0, "/b", nil), proc(3, 0, "/c", nil),
		container("x", nil), container("y", nil), pod("p"), pod("q"),
		ff(3, 1, 1), ff(3, 2, 2), ff(3, 3, 3), ff(1, 4, 4)}
	events := f.Flatten(recs, nil)
	// Files: 1 was updated after 2 and 3 were inserted, so when 4 and 5
	// push the table over its cap of 3, 2 and 3 go and 1b, 4, 5 stay.
	if events[0].File == nil || events[0].File.Path != "/1b" || events[1].File != nil || events[2].File != nil {
		t.Errorf("files after eviction: %v %v %v", events[0].File, events[1].File, events[2].File)
	}
	if events[3].Proc != nil || events[0].Proc == nil {
		t.Errorf("oldest process should be gone, newest kept")
	}
	s := f.Stats()
	want := TableCounts{Processes: 1, Files: 2, Containers: 1, Pods: 1}
	if s.Evicted != want || s.Tables != (TableCounts{Processes: 2, Files: 3, Containers: 1, Pods: 1}) {
		t.Errorf("evicted %+v tables %+v", s.Evicted, s.Tables)
	}
}

// TestQueuesBounded: re-sending the same entity forever must not grow memory.
func TestQueuesBounded(t *testing.T) {
	f, _ := newTest(t, Config{})
	f.Flatten([]sysflow.Record{hdr("n")}, nil)
	for i := 0; i < 20000; i++ {
		f.Flatten([]sysflow.Record{proc(1, 0, "/a", nil), file(1, "/x"), container("c", nil), pod("p")}, nil)
	}
	if n := f.procQ.len() + f.fileQ.len() + f.contQ.len() + f.podQ.len(); n > 4*(2*1+64) {
		t.Errorf("queues hold %d items for 4 live entries", n)
	}
	if s := f.Stats(); s.Tables != (TableCounts{1, 1, 1, 1}) || s.Evicted != (TableCounts{}) {
		t.Errorf("stats %+v", s)
	}
}

func TestSkippedKinds(t *testing.T) {
	f, _ := newTest(t, Config{})
	events := f.Flatten([]sysflow.Record{hdr("n"),
		{Kind: sysflow.KindNetworkEvent, NetworkEvent: &sysflow.NetworkEvent{}},
		{Kind: sysflow.KindProcessFlow, ProcessFlow: &sysflow.ProcessFlow{}},
		{Kind: sysflow.KindUnknown},
		{Kind: sysflow.KindFileFlow}, // malformed: no payload
	}, nil)
	if len(events) != 0 {
		t.Errorf("%d events, want none", len(events))
	}
	if s := f.Stats(); s.Skipped != 3 || s.Events != 0 {
		t.Errorf("stats %+v", s)
	}
}

func TestAppendsToDst(t *testing.T) {
	f, _ := newTest(t, Config{})
	dst := []*sysflow.Event{{Kind: sysflow.KindK8sEvent}}
	dst = f.Flatten([]sysflow.Record{hdr("n"), pe(1, 1, 0, 1), pe(1, 1, 0, 2)}, dst)
	dst = f.Flatten([]sysflow.Record{pe(1, 1, 0, 3)}, dst)
	if len(dst) != 4 || dst[1] == dst[2] || dst[1].TS != 1 || dst[2].TS != 2 || dst[3].TS != 3 {
		t.Errorf("dst %v", dst)
	}
	if got := f.Flatten(nil, nil); got != nil {
		t.Errorf("no records: %v", got)
	}
}

func TestConfig(t *testing.T) {
	if err := (Config{}).Validate(); err != nil {
		t.Errorf("zero config: %v", err)
	}
	err := (Config{ExitGrace: -1, MaxFiles: -2, MaxPods: -3}).Validate()
	if err == nil || !strings.Contains(err.Error(), "exit grace") || !strings.Contains(err.Error(), "max files -2") ||
		!strings.Contains(err.Error(), "max pods -3") {
		t.Errorf("Validate: %v", err)
	}
	c := Config{MaxAncestry: 1}
	c.setDefaults()
	if c.MaxAncestry != 2 || c.ExitGrace != DefaultExitGrace || c.MaxFiles != DefaultMaxFiles || c.Logger == nil {
		t.Errorf("defaults %+v", c)
	}
}
