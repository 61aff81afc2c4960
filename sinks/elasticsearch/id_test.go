package elasticsearch_test

import (
	"fmt"
	"path/filepath"
	"testing"

	es "github.com/sfconnector/sfconnector/sinks/elasticsearch"
	"github.com/sfconnector/sfconnector/testenv/shared"
)

// Over every real trace, two events get the same _id exactly when they are
// the same observation: same node, record type, process, thread, time and
// operation. tcp.sf and collector-client-server-tcp-client-server.sf are
// two recordings of one capture: their common records must share ids
// (indexing both traces stores them once).
func TestDocumentID(t *testing.T) {
	byKey := map[string]string{} // observation -> id
	byID := map[string]string{}  // id -> observation
	common := 0
	traceOf := map[string]string{}
	for _, tr := range shared.Traces(t) {
		for _, ev := range traceEvents(t, filepath.Base(tr)) {
			node := ""
			if ev.Header != nil {
				node = ev.Header.Exporter
			}
			key := fmt.Sprint(node, ev.Kind, ev.ProcOID, ev.TS, ev.EndTS, ev.TID, ev.OpFlags, ev.Ret, ev.FD, ev.FileOID, ev.NewFileOID != nil,
				ev.SIP, ev.SPort, ev.DIP, ev.DPort, ev.Proto, ev.RBytes, ev.WBytes, ev.ROps, ev.WOps, ev.Args, ev.K8s)
			id := es.DocumentID(ev)
			if id != es.DocumentID(ev) || len(id) != 22 {
				t.Fatalf("id %q is not stable or not 22 characters", id)
			}
			if prev, ok := byKey[key]; ok {
				if prev != id {
					t.Fatalf("one observation, two ids: %s", key)
				}
				if traceOf[key] != filepath.Base(tr) {
					common++
				}
				continue
			}
			if other, ok := byID[id]; ok {
				t.Fatalf("two observations, one id %s:\n%s\n%s", id, other, key)
			}
			byKey[key], byID[id], traceOf[key] = id, key, filepath.Base(tr)
		}
	}
	if common == 0 {
		t.Fatal("no record is in two traces: tcp.sf and collector-client-server-tcp-client-server.sf should share some")
	}
}
