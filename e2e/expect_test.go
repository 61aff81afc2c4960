//go:build e2e

package e2e

import (
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/linkedin/goavro/v2"
)

// The expected flat events are derived from the raw trace records read
// with goavro's OCF reader and each file's own writer schema: neither our
// sysflow decoder (which the replay tool also uses) nor our flattener has
// a say in what the test expects.

// flatID is the identity of one flat event: the fields of its record that
// the flat event carries unchanged. Built the same way from a raw record
// and from a decoded Avro flat event, so the two can be compared.
type flatID struct {
	node, typ                  string
	ts, endts                  int64
	pid, tid, createts         int64
	ret                        int64
	rops, wops, rbytes, wbytes int64
	fileOID, newFileOID        string
	sport, dport, proto        int64
	args                       string // PE arguments, KE message
}

func (f flatID) String() string {
	return fmt.Sprintf("%s|%s|ts=%d|end=%d|pid=%d|tid=%d|ct=%d|ret=%d|r=%d/%d|w=%d/%d|f=%s|nf=%s|p=%d>%d/%d|%q",
		f.node, f.typ, f.ts, f.endts, f.pid, f.tid, f.createts, f.ret, f.rops, f.rbytes, f.wops, f.wbytes,
		f.fileOID, f.newFileOID, f.sport, f.dport, f.proto, f.args)
}

// wantEvent is one flat event a trace must produce and the Kafka key the
// edge must give it.
type wantEvent struct {
	key string
	id  string
}

// traceEvents is a trace's expected events in record order.
type traceEvents struct {
	name   string
	events []wantEvent
}

// expectFromTraces reads every trace with goavro. Each PE, FE, FF, NF and
// KE becomes one flat event (FIELDS.md). Its key follows the edge's
// default key template "{node}:{container}" (internal/bus/template.go):
// node is the header's exporter, container the id of the container the
// event's process belongs to, "host" when the process has none or the
// trace never described that container.
func expectFromTraces(t *testing.T, files []string) []traceEvents {
	var out []traceEvents
	for _, path := range files {
		te, err := expectFromTrace(path)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, te)
	}
	return out
}

func expectFromTrace(path string) (traceEvents, error) {
	te := traceEvents{name: filepath.Base(path)}
	f, err := os.Open(path)
	if err != nil {
		return te, err
	}
	defer f.Close()
	ocf, err := goavro.NewOCFReader(f)
	if err != nil {
		return te, fmt.Errorf("goavro OCF reader: %w", err)
	}
	node := ""
	procCont := map[[2]int64]string{} // process OID -> container id ("" for none)
	conts := map[string]bool{}        // containers described since the header
	n := 0
	for ocf.Scan() {
		datum, err := ocf.Read()
		if err != nil {
			return te, fmt.Errorf("record %d: %w", n, err)
		}
		n++
		top, _ := datum.(map[string]any)
		union, _ := top["rec"].(map[string]any)
		for branch, v := range union {
			r, _ := v.(map[string]any)
			typ := branch[strings.LastIndexByte(branch, '.')+1:]
			switch typ {
			case "SFHeader":
				node = str(r["exporter"])
				clear(procCont)
				clear(conts)
			case "Container":
				conts[str(r["id"])] = true
			case "Process":
				procCont[oidOf(r["oid"])] = str(unwrap(r["containerId"]))
			case "ProcessEvent", "FileEvent", "FileFlow", "NetworkFlow", "K8sEvent":
				id := flatID{node: node, ts: num(r["ts"])}
				key := node + ":host"
				if typ != "K8sEvent" {
					oid := oidOf(r["procOID"])
					id.createts, id.pid, id.tid = oid[0], oid[1], num(r["tid"])
					if c := procCont[oid]; c != "" && conts[c] {
						key = node + ":" + c
					}
				}
				switch typ {
				case "ProcessEvent":
					id.typ, id.ret = "PE", num(r["ret"])
					id.args = strings.Join(strs(r["args"]), "\x00")
				case "FileEvent":
					id.typ, id.ret = "FE", num(r["ret"])
					id.fileOID = hexOf(r["fileOID"])
					id.newFileOID = hexOf(unwrap(r["newFileOID"]))
				case "FileFlow":
					id.typ, id.endts = "FF", num(r["endTs"])
					id.fileOID = hexOf(r["fileOID"])
					id.rops, id.wops = num(r["numRRecvOps"]), num(r["numWSendOps"])
					id.rbytes, id.wbytes = num(r["numRRecvBytes"]), num(r["numWSendBytes"])
				case "NetworkFlow":
					id.typ, id.endts = "NF", num(r["endTs"])
					id.rops, id.wops = num(r["numRRecvOps"]), num(r["numWSendOps"])
					id.rbytes, id.wbytes = num(r["numRRecvBytes"]), num(r["numWSendBytes"])
					id.sport, id.dport, id.proto = num(r["sport"]), num(r["dport"]), num(r["proto"])
				case "K8sEvent":
					// A Kubernetes event has no end; the flat event repeats ts.
					id.typ, id.endts = "KE", id.ts
					// The collector writes the message as a C string with a
					// newline; sf.ke.message is the JSON without them.
					id.args = strings.TrimRight(str(r["message"]), "\x00\n")
				}
				te.events = append(te.events, wantEvent{key: key, id: id.String()})
			}
		}
	}
	if err := ocf.Err(); err != nil {
		return te, fmt.Errorf("after record %d: %w", n, err)
	}
	return te, nil
}

// unwrap returns the value of a goavro union datum (nil for null).
func unwrap(v any) any {
	if m, ok := v.(map[string]any); ok && len(m) == 1 {
		for _, x := range m {
			return x
		}
	}
	return v
}

func oidOf(v any) [2]int64 {
	m, _ := unwrap(v).(map[string]any)
	return [2]int64{num(m["createTS"]), num(m["hpid"])}
}

func num(v any) int64 {
	switch x := v.(type) {
	case int32:
		return int64(x)
	case int64:
		return x
	case int:
		return int64(x)
	case time.Time:
		// goavro turns a timestamp-millis long (older writers declare ts
		// fields so, although they hold nanoseconds) into a time; this is
		// its own inverse, exact for every long.
		return x.Unix()*1e3 + int64(x.Nanosecond()/1e6)
	}
	return 0
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func strs(v any) []string {
	a, _ := v.([]any)
	out := make([]string, 0, len(a))
	for _, x := range a {
		out = append(out, str(x))
	}
	return out
}

func hexOf(v any) string {
	b, _ := v.([]byte)
	return hex.EncodeToString(b)
}
