package connector

import (
	"testing"
	"time"

	"github.com/sfconnector/sfconnector/sysflow"
	"github.com/sfconnector/sfconnector/transforms/flatten"
)

// TestEvictionMetricReasons: processes that exit and are removed after
// their grace period are counted as reason="exit", apart from the entries
// pushed out of a full table (reason="capacity").
func TestEvictionMetricReasons(t *testing.T) {
	const s = int64(time.Second)
	oid := func(pid int64) sysflow.OID { return sysflow.OID{CreateTS: pid * 10, Hpid: pid} }
	proc := func(pid int64) sysflow.Record {
		return sysflow.Record{Kind: sysflow.KindProcess, Process: &sysflow.Process{OID: oid(pid), Exe: "/bin/p"}}
	}
	pe := func(pid int64, flags int32, ts int64) sysflow.Record {
		return sysflow.Record{Kind: sysflow.KindProcessEvent, ProcessEvent: &sysflow.ProcessEvent{ProcOID: oid(pid), TS: ts, TID: pid, OpFlags: flags}}
	}
	f := flatten.New(flatten.Config{MaxProcesses: 3, ExitGrace: 10 * time.Second})
	f.Flatten([]sysflow.Record{
		{Kind: sysflow.KindHeader, Header: &sysflow.Header{Version: 5, Exporter: "n"}},
		proc(1), proc(2), proc(3),
		pe(1, sysflow.OpExit, 100*s), pe(2, sysflow.OpExit, 100*s), // two normal exits
		pe(3, sysflow.OpClone, 200*s),      // stream time passes their grace: both removed
		proc(4), proc(5), proc(6), proc(7), // 3, 4, 5, 6, 7 in a table of 3: two pushed out
	}, nil)
	m := NewMetrics(nil)
	m.observeFlattener(f)
	for _, tc := range []struct {
		table, reason string
		want          float64
	}{
		{"processes", "exit", 2},
		{"processes", "capacity", 2},
		{"files", "capacity", 0},
	} {
		if got := gauge(t, m, "sfconnector_entity_evictions", tc.table, tc.reason); got != tc.want {
			t.Errorf("sfconnector_entity_evictions{table=%q,reason=%q} = %v, want %v", tc.table, tc.reason, got, tc.want)
		}
	}
}

// gauge reads the evictions gauge with the given table and reason from the
// registry, as a scrape would.
func gauge(t *testing.T, m *Metrics, name, table, reason string) float64 {
	t.Helper()
	mfs, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, s := range mf.GetMetric() {
			labels := map[string]string{}
			for _, lp := range s.GetLabel() {
				labels[lp.GetName()] = lp.GetValue()
			}
			if labels["table"] == table && labels["reason"] == reason {
				return s.GetGauge().GetValue()
			}
		}
	}
	t.Fatalf("no %s{table=%q,reason=%q} in the registry", name, table, reason)
	return 0
}
