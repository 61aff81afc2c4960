package json_test

import (
	"bytes"
	stdjson "encoding/json"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/sfconnector/sfconnector/encoding"
	sfjson "github.com/sfconnector/sfconnector/encoding/json"
	"github.com/sfconnector/sfconnector/sysflow"
)

var _ encoding.Encoder = (*sfjson.Encoder)(nil)

func ptr[T any](v T) *T { return &v }

// mustEqualJSON compares got with the hand-written want as JSON values.
func mustEqualJSON(t *testing.T, got []byte, want string) {
	t.Helper()
	g := parseJSON(t, got)
	w := parseJSON(t, []byte(want))
	if !reflect.DeepEqual(g, w) {
		t.Errorf("JSON differs:\n  %s\ngot  %s\nwant %s", strings.Join(diffPaths(g, w, "", nil), "\n  "), got, want)
	}
}

func hostNetworkFlow() *sysflow.Event {
	p := &sysflow.Process{OID: sysflow.OID{Hpid: 13823, CreateTS: 0}, POID: &sysflow.OID{Hpid: 7955, CreateTS: 0}, Exe: "./server",
		UID: -1, GID: -1, TTY: true}
	return &sysflow.Event{
		Kind:    sysflow.KindNetworkFlow,
		Header:  &sysflow.Header{Version: 1000, Exporter: "tests", IP: "NA"},
		ProcOID: p.OID, Proc: p, ParentOID: p.POID, Ancestry: []*sysflow.Process{p},
		TS: 10, EndTS: 20, TID: 13824, OpFlags: sysflow.OpReadRecv | sysflow.OpWriteSend,
		SIP: 16777343, DIP: 16777343, SPort: 40556, DPort: 8080, Proto: 6, FD: 4,
		RBytes: 160, ROps: 2, WBytes: 80, WOps: 1,
	}
}

// TestNestedNetworkFlow: a host process's network flow whose parent record
// is missing (only its OID known), written the way tcp.sf's records are in
// the reference output.
func TestNestedNetworkFlow(t *testing.T) {
	b, err := sfjson.New(sfjson.Options{}).AppendEvent([]byte("prefix"), hostNetworkFlow())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte("prefix{")) {
		t.Fatalf("did not append: %s", b)
	}
	mustEqualJSON(t, b[len("prefix"):], `{"version":5,"endts":20,"opflags":["SEND","RECV"],"ret":0,"ts":10,"type":"NF",
		"flow":{"rbytes":160,"rops":2,"wbytes":80,"wops":1},
		"meta":{"schema":1000,"tracename":"."},
		"net":{"dip":"127.0.0.1","dport":8080,"ip":["127.0.0.1","127.0.0.1"],"port":[40556,8080],"proto":6,"sip":"127.0.0.1","sport":40556},
		"node":{"id":"tests","ip":"NA"},
		"pproc":{"args":"","cmdline":"","createts":0,"entry":false,"exe":"","gid":0,"group":"","name":"","oid":"d98bb3dff5aeffc9","pid":7955,"tty":false,"uid":0,"user":""},
		"proc":{"acmdline":["./server"],"aexe":["./server"],"aname":["server"],"apid":[13823],"args":"","cmdline":"./server ",
			"createts":0,"entry":false,"exe":"./server","gid":-1,"group":"","name":"server","oid":"c2f5f8c25e766cd4","pid":13823,
			"tid":13824,"tty":true,"uid":-1,"user":""}}`)
}

// TestNestedFileEvent: a rename in a container of a pod, with the second
// file; the process record itself is missing.
func TestNestedFileEvent(t *testing.T) {
	var a, b sysflow.FOID
	a[0], b[19] = 0xab, 0x01
	ev := &sysflow.Event{
		Kind:    sysflow.KindFileEvent,
		Header:  &sysflow.Header{Version: 4, Exporter: "minikube", IP: "192.168.59.100", Filename: "/d/1647544455"},
		ProcOID: sysflow.OID{Hpid: 57312, CreateTS: 1647543894672412244}, TID: 57582, TS: 5, Ret: -1,
		OpFlags: sysflow.OpRename, FD: 0,
		Container: &sysflow.Container{ID: "4269f06be75a", Name: "k8s_mongo", Image: "mongo:latest", ImageID: "621d", Type: 8, Privileged: true},
		Pod: &sysflow.Pod{ID: "4233", Name: "mongodb", NodeName: "minikube", Namespace: "robot-shop", RestartCount: 1, TS: 9,
			HostIP: []int64{1681631424}, InternalIP: nil,
			Services: []sysflow.Service{{ID: "s1", Name: "mongo", Namespace: "robot-shop", ClusterIP: []int64{16777343},
				PortList: []sysflow.Port{{Port: 27017, TargetPort: 27018, NodePort: 3, Proto: "TCP"}}}}},
		File:    &sysflow.File{OID: a, Restype: 'f', Path: "/data/db/WiredTiger.turtle.set"},
		NewFile: &sysflow.File{OID: b, Restype: 'f', Path: "ffff->eeee /run/x.sock"},
		FileOID: a, NewFileOID: &b,
	}
	out, _ := sfjson.New(sfjson.Options{}).AppendEvent(nil, ev)
	mustEqualJSON(t, out, `{"version":5,"endts":0,"opflags":["RENAME"],"ret":-1,"ts":5,"type":"FE",
		"container":{"id":"4269f06be75a","image":"mongo:latest","imageid":"621d","name":"k8s_mongo","privileged":1,"type":"CRIO"},
		"file":{"directory":"/data/db","fd":0,"is_open_read":false,"is_open_write":false,"name":"WiredTiger.turtle.set",
			"newdirectory":"/run","newname":"x.sock","newoid":"0000000000000000000000000000000000000001","newpath":"/run/x.sock",
			"newsymlink":"ffff->eeee","oid":"ab00000000000000000000000000000000000000","openflags":["NONE"],
			"path":"/data/db/WiredTiger.turtle.set","symlink":"","type":"f"},
		"meta":{"schema":4,"tracename":"1647544455"},
		"node":{"id":"minikube","ip":"192.168.59.100"},
		"pod":{"hostip":["192.168.59.100"],"id":"4233","internalip":[],"name":"mongodb","namespace":"robot-shop","nodename":"minikube",
			"restartcnt":1,"services":[{"id":"s1","name":"mongo","namespace":"robot-shop","clusterIP":["127.0.0.1"],
			"ports":[{"port":27017,"targetport":27018,"nodeport":3,"proto":"TCP"}]}],"ts":9},
		"proc":{"acmdline":[],"aexe":[],"aname":[],"apid":[],"args":"","cmdline":"","createts":1647543894672412244,"entry":false,
			"exe":"","gid":0,"group":"","name":"","oid":"4c8c009569735d39","pid":57312,"tid":57582,"tty":false,"uid":0,"user":""}}`)
}

func TestNestedK8sEvent(t *testing.T) {
	ev := &sysflow.Event{Kind: sysflow.KindK8sEvent, TS: 3, EndTS: 3,
		Header: &sysflow.Header{Version: 4, Exporter: "minikube", IP: "192.168.59.100", Filename: "1647544455"},
		K8s:    &sysflow.K8sEvent{Kind: 2, Action: 1, TS: 3, Message: "{\"kind\":\"Pod\"}\n\x00"}}
	out, _ := sfjson.New(sfjson.Options{}).AppendEvent(nil, ev)
	mustEqualJSON(t, out, `{"version":5,"endts":3,"opflags":[],"ret":0,"ts":3,"type":"KE",
		"k8s":{"action":"K8S_COMPONENT_MODIFIED","kind":"K8S_PODS","message":"{\"kind\":\"Pod\"}"},
		"meta":{"schema":4,"tracename":"1647544455"},"node":{"id":"minikube","ip":"192.168.59.100"}}`)
}

func TestAlerts(t *testing.T) {
	ev := hostNetworkFlow()
	ev.Matches = []sysflow.Match{
		{Rule: "Interactive login detected", Desc: "Interactive login to container detected", Priority: sysflow.PriorityHigh},
		{Rule: "Interactive shell", Desc: "Interactive shell detected", Priority: sysflow.PriorityLow},
		{Rule: "m", Desc: "", Priority: sysflow.PriorityMedium},
	}
	ev.Tags = []string{"actionable-offense", "mitre:T1059", "actionable-offense", "a\"b"}
	out, _ := sfjson.New(sfjson.Options{}).AppendEvent(nil, ev)
	got := parseJSON(t, out)
	// tcp.jsonl: high is written 3, low 1; medium is 2.
	wantPolicies := parseJSON(t, []byte(`{"p":[{"id":"Interactive login detected","desc":"Interactive login to container detected","priority":3},
		{"id":"Interactive shell","desc":"Interactive shell detected","priority":1},{"id":"m","desc":"","priority":2}]}`))["p"]
	if !reflect.DeepEqual(got["policies"], wantPolicies) {
		t.Errorf("policies %v", got["policies"])
	}
	if want := []any{"actionable-offense", "mitre:T1059", `a"b`}; !reflect.DeepEqual(got["tags"], want) {
		t.Errorf("tags %v, want %v", got["tags"], want)
	}
	// Without matches and tags neither key appears (telemetry), and a
	// match without tags has no "tags" key (k8s_small's KE alert).
	ev.Tags = nil
	out, _ = sfjson.New(sfjson.Options{}).AppendEvent(nil, ev)
	if _, ok := parseJSON(t, out)["tags"]; ok {
		t.Errorf("tags written without tags: %s", out)
	}
	ev.Matches = nil
	out, _ = sfjson.New(sfjson.Options{}).AppendEvent(nil, ev)
	if m := parseJSON(t, out); m["policies"] != nil || m["tags"] != nil {
		t.Errorf("telemetry record with alert keys: %s", out)
	}
}

func TestFlat(t *testing.T) {
	ev := hostNetworkFlow()
	ev.Matches = []sysflow.Match{{Rule: "r", Desc: "d", Priority: sysflow.PriorityMedium}}
	out, err := sfjson.New(sfjson.Options{Flat: true}).AppendEvent(nil, ev)
	if err != nil {
		t.Fatal(err)
	}
	m := parseJSON(t, out)
	for k, want := range map[string]any{
		"sf.type":           "NF",
		"sf.ts":             stdjson.Number("10"),
		"sf.opflags":        []any{"SEND", "RECV"},
		"sf.proc.exe":       "./server",
		"sf.proc.tty":       true,
		"sf.proc.oid":       "c2f5f8c25e766cd4",
		"sf.pproc.pid":      stdjson.Number("7955"),
		"sf.net.ip":         []any{"127.0.0.1", "127.0.0.1"},
		"sf.net.dport":      stdjson.Number("8080"),
		"sf.flow.rbytes":    stdjson.Number("160"),
		"sf.meta.tracename": ".",
		"sf.node.id":        "tests",
		"policies":          []any{map[string]any{"id": "r", "desc": "d", "priority": stdjson.Number("2")}},
	} {
		if !reflect.DeepEqual(m[k], want) {
			t.Errorf("%s = %#v, want %#v", k, m[k], want)
		}
	}
	for _, absent := range []string{"sf.file.path", "sf.container.id", "sf.pod.name", "sf.ke.kind", "version", "proc"} {
		if _, ok := m[absent]; ok {
			t.Errorf("%s present in a host network flow", absent)
		}
	}
	// Every key is a field name (or an alert key).
	for k := range m {
		if _, ok := sysflow.LookupField(k); !ok && k != "policies" && k != "tags" {
			t.Errorf("key %q is not a field name", k)
		}
	}
	// A pod's json-valued fields are embedded as JSON.
	ev2 := hostNetworkFlow()
	ev2.Pod = &sysflow.Pod{ID: "p", HostIP: []int64{16777343}}
	out, _ = sfjson.New(sfjson.Options{Flat: true}).AppendEvent(nil, ev2)
	if got := parseJSON(t, out)["sf.pod.hostip"]; !reflect.DeepEqual(got, []any{"127.0.0.1"}) {
		t.Errorf("sf.pod.hostip = %#v", got)
	}
}

func TestAppendString(t *testing.T) {
	cases := map[string]string{
		"":                 `""`,
		"plain /usr/bin":   `"plain /usr/bin"`,
		"q\"b\\s":          `"q\"b\\s"`,
		"\n\r\t\x00\x1f":   `"\n\r\t\u0000\u001f"`,
		"<a>&é€𝄞":          `"<a>&é€𝄞"`,
		"bad\xffutf8\xc3":  `"bad\ufffdutf8\ufffd"`,
		"\u2028 separator": "\"\u2028 separator\"",
	}
	for in, want := range cases {
		if got := string(sfjson.AppendString(nil, in)); got != want {
			t.Errorf("AppendString(%q) = %s, want %s", in, got, want)
		}
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "a\"b", "\x00\xff", "é\u2028", "{\"kind\":\"Pod\"}\n\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b := sfjson.AppendString(nil, s)
		var back string
		if err := stdjson.Unmarshal(b, &back); err != nil {
			t.Fatalf("AppendString(%q) = %s: invalid JSON: %v", s, b, err)
		}
		if utf8.ValidString(s) && back != s {
			t.Fatalf("AppendString(%q) round-trips to %q", s, back)
		}
		if !utf8.ValidString(s) && back != strings.ToValidUTF8(s, "\ufffd") && !utf8.ValidString(back) {
			t.Fatalf("AppendString(%q) round-trips to invalid %q", s, back)
		}
	})
}

// TestNoAllocations: the nested encoding of a full event allocates nothing.
func TestNoAllocations(t *testing.T) {
	ev := hostNetworkFlow()
	parent := &sysflow.Process{OID: *ev.ParentOID, Exe: "/usr/bin/bash", ExeArgs: "-l"}
	ev.Parent, ev.Ancestry = parent, []*sysflow.Process{ev.Proc, parent}
	ev.Container = &sysflow.Container{ID: "c", Image: "i"}
	ev.Matches = []sysflow.Match{{Rule: "r", Desc: "d"}}
	ev.Tags = []string{"a", "b", "a"}
	enc := sfjson.New(sfjson.Options{})
	buf := make([]byte, 0, 8192)
	allocs := testing.AllocsPerRun(200, func() {
		buf, _ = enc.AppendEvent(buf[:0], ev)
	})
	if allocs != 0 {
		t.Errorf("%v allocations per event", allocs)
	}
}
