package ecs

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/sfconnector/sfconnector/encoding"
	"github.com/sfconnector/sfconnector/sysflow"
)

var _ encoding.Encoder = (*Encoder)(nil)

// ip builds a collector address from its dotted octets (first octet in the
// lowest byte).
func ip(a, b, c, d byte) int32 {
	return int32(uint32(a) | uint32(b)<<8 | uint32(c)<<16 | uint32(d)<<24)
}

func strp(s string) *string { return &s }

const ts0 = int64(1588262426778731436) // 2020-04-30T16:00:26.778731436Z

func baseEvent(kind sysflow.RecordKind) *sysflow.Event {
	parentOID := sysflow.OID{CreateTS: 0, Hpid: 13823}
	return &sysflow.Event{
		Kind:    kind,
		Header:  &sysflow.Header{Version: 5, Exporter: "node-1", IP: "10.1.2.3"},
		ProcOID: sysflow.OID{CreateTS: ts0 - 1000, Hpid: 120839},
		Proc: &sysflow.Process{
			OID: sysflow.OID{CreateTS: ts0 - 1000, Hpid: 120839}, POID: &parentOID,
			Exe: "/bin/touch", ExeArgs: " test2  x ", UID: 1000, UserName: "alice", GID: 100, GroupName: "users",
			TTY: true, ContainerID: strp("c010f5a08549"), Cwd: "/root",
		},
		ParentOID: &parentOID,
		Parent:    &sysflow.Process{OID: parentOID, Exe: "/bin/busybox"},
		Container: &sysflow.Container{ID: "c010f5a08549", Name: "alpine", Image: "alpine:latest", ImageID: "f70734b6", Type: 0, Privileged: true},
		TS:        ts0,
		TID:       120839,
	}
}

// field walks a decoded document along a dotted path.
func field(doc map[string]any, p string) any {
	var cur any = doc
	for _, k := range strings.Split(p, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[k]
	}
	return cur
}

func encode(t *testing.T, enc *Encoder, ev *sysflow.Event) map[string]any {
	t.Helper()
	out, err := enc.AppendEvent([]byte("prefix"), ev)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(out), "prefix{") {
		t.Fatalf("did not append to dst: %q", out)
	}
	out = out[len("prefix"):]
	var doc map[string]any
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatalf("invalid JSON %s: %v", out, err)
	}
	return doc
}

func TestEncode(t *testing.T) {
	enc, err := New(Config{AgentVersion: "1.2.3"})
	if err != nil {
		t.Fatal(err)
	}

	alert := baseEvent(sysflow.KindProcessEvent)
	alert.OpFlags = opExec
	alert.Pod = &sysflow.Pod{TS: ts0, ID: "pod-id", Name: "web-0", NodeName: "n1", Namespace: "prod",
		HostIP: []int64{int64(uint32(ip(10, 0, 0, 1)))}, RestartCount: 2,
		Services: []sysflow.Service{{Name: "web", ID: "svc", Namespace: "prod", ClusterIP: []int64{int64(uint32(ip(10, 96, 0, 1)))},
			PortList: []sysflow.Port{{Port: 80, TargetPort: 8080, Proto: "TCP"}}}}}
	alert.Matches = []sysflow.Match{
		{Rule: "Low rule", Desc: "low", Priority: sysflow.PriorityLow, Tags: []string{"a"}},
		{Rule: "High \"rule\"", Desc: "the high one", Priority: sysflow.PriorityHigh, Tags: []string{"b", "a"}},
		{Rule: "Other high", Desc: "second high", Priority: sysflow.PriorityHigh},
	}

	ff := baseEvent(sysflow.KindFileFlow)
	ff.Container, ff.Proc.ContainerID, ff.Parent = nil, nil, nil
	ff.OpFlags = 1<<7 | opReadRecv | opWriteSend | 1<<10
	ff.File = &sysflow.File{Path: "/etc/passwd", Restype: 'f'}
	ff.EndTS, ff.RBytes, ff.ROps, ff.WBytes, ff.WOps = ts0+5000, 10, 1, 20, 2
	ff.Tags = []string{"enriched"}

	rename := baseEvent(sysflow.KindFileEvent)
	rename.OpFlags = opRename
	rename.File = &sysflow.File{Path: "/tmp/a", Restype: 'f'}
	rename.NewFile = &sysflow.File{Path: "/tmp/b", Restype: 'f'}

	unlink := baseEvent(sysflow.KindFileEvent)
	unlink.OpFlags, unlink.Ret = opUnlink, -2
	unlink.File = nil
	unlink.FD = 7

	mkdir := baseEvent(sysflow.KindFileEvent)
	mkdir.OpFlags = opMkdir
	mkdir.File = &sysflow.File{Path: "/var/x", Restype: 'd'}

	nf := baseEvent(sysflow.KindNetworkFlow)
	nf.SIP, nf.SPort, nf.DIP, nf.DPort, nf.Proto = ip(128, 232, 110, 120), 34855, ip(66, 35, 250, 204), 80, 6
	nf.RBytes, nf.ROps, nf.WBytes, nf.WOps = 100, 3, 40, 2

	udp := baseEvent(sysflow.KindNetworkFlow)
	udp.SIP, udp.SPort, udp.DIP, udp.DPort, udp.Proto = ip(8, 8, 8, 8), 53, ip(192, 168, 1, 52), 54585, 17

	exit := baseEvent(sysflow.KindProcessEvent)
	exit.OpFlags, exit.TID = opExit, 5 // a thread, not the process

	ke := &sysflow.Event{Kind: sysflow.KindK8sEvent, TS: ts0, Header: &sysflow.Header{Exporter: "node-1", IP: "NA"},
		K8s: &sysflow.K8sEvent{Kind: 2, Action: 0, Message: `{"kind":"Pod","items":[{"namespace":"prod","name":"web-0"}]}`}}

	bare := &sysflow.Event{Kind: sysflow.KindProcessEvent, TS: ts0, ProcOID: sysflow.OID{Hpid: 13823}}

	tests := []struct {
		name   string
		ev     *sysflow.Event
		want   map[string]any
		absent []string
	}{
		{"alert", alert, map[string]any{
			"@timestamp":                  "2020-04-30T16:00:26.778731436Z",
			"agent.type":                  "SysFlow",
			"agent.version":               "1.2.3",
			"ecs.version":                 DefaultECSVersion,
			"event.kind":                  "alert",
			"event.category":              "process",
			"event.type":                  "start",
			"event.action":                "process-start",
			"event.module":                "sysflow",
			"event.dataset":               "sysflow.alerts",
			"event.sf_type":               "PE",
			"event.start":                 "2020-04-30T16:00:26.778731436Z",
			"event.end":                   "2020-04-30T16:00:26.778731436Z",
			"event.duration":              0.0,
			"event.outcome":               "success",
			"event.sf_ret":                0.0,
			"event.reason":                `Low rule, High "rule", Other high`,
			"event.severity":              2.0,
			"rule.name":                   `High "rule"`,
			"rule.description":            "the high one",
			"host.id":                     "node-1",
			"host.ip":                     []any{"10.1.2.3"},
			"container.id":                "c010f5a08549",
			"container.name":              "alpine",
			"container.runtime":           "docker",
			"container.sf_privileged":     true,
			"container.image.name":        "alpine:latest",
			"container.image.id":          "f70734b6",
			"orchestrator.type":           "kubernetes",
			"orchestrator.namespace":      "prod",
			"orchestrator.resource":       map[string]any{"type": "pod", "name": "web-0"},
			"pod.hostip":                  []any{"10.0.0.1"},
			"pod.restartcnt":              2.0,
			"process.pid":                 120839.0,
			"process.executable":          "/bin/touch",
			"process.name":                "touch",
			"process.args":                []any{"/bin/touch", "test2", "x"},
			"process.args_count":          3.0,
			"process.command_line":        "/bin/touch test2  x",
			"process.working_directory":   "/root",
			"process.interactive":         true,
			"process.thread.id":           120839.0,
			"process.start":               "2020-04-30T16:00:26.778730436Z",
			"process.parent.pid":          13823.0,
			"process.parent.entity_id":    "c2f5f8c25e766cd4", // FIELDS.md's example of sf.pproc.oid
			"process.parent.executable":   "/bin/busybox",
			"process.parent.args":         []any{"/bin/busybox"},
			"process.parent.command_line": "/bin/busybox",
			"user.id":                     "1000",
			"user.name":                   "alice",
			"user.group.id":               "100",
			"user.group.name":             "users",
			"tags":                        []any{"a", "b"},
		}, []string{"file", "network", "process.env", "process.env_vars"}},
		{"file flow on the host", ff, map[string]any{
			"event.kind":                "event",
			"event.dataset":             "sysflow.events",
			"event.category":            "file",
			"event.type":                "change",
			"event.action":              "file-access-read-write",
			"event.duration":            5000.0,
			"event.end":                 "2020-04-30T16:00:26.778736436Z",
			"file.type":                 "file",
			"file.name":                 "passwd",
			"file.directory":            "/etc",
			"file.path":                 "/etc/passwd",
			"sf_file_action.bytes_read": 10.0,
			"sf_file_action.write_ops":  2.0,
			"tags":                      []any{"enriched"},
		}, []string{"container", "rule", "event.outcome", "event.reason", "process.parent.executable", "pod"}},
		{"rename", rename, map[string]any{
			"event.action": "file-rename", "event.type": "change", "file.path": "/tmp/a", "file.target_path": "/tmp/b",
		}, nil},
		{"failed unlink without a file record", unlink, map[string]any{
			"event.action": "file-delete", "event.type": "deletion", "event.outcome": "failure", "event.sf_ret": -2.0,
			"file.path": "/proc/120839/fd/7", "file.name": "7", "file.type": "unknown",
		}, nil},
		{"mkdir", mkdir, map[string]any{
			"event.category": "directory", "event.type": "creation", "event.action": "directory-create",
			"file.type": "dir", "file.directory": "/var/x",
		}, []string{"file.name"}},
		{"tcp flow", nf, map[string]any{
			"event.category":       "network",
			"event.action":         "network-connection-traffic",
			"network.transport":    "tcp",
			"network.iana_number":  "6",
			"network.bytes":        140.0,
			"network.community_id": "1:LQU9qZlK+B5F3KDmev6m5PMibrg=", // the Community ID specification's example
			"source.ip":            "128.232.110.120",
			"source.port":          34855.0,
			"source.bytes":         40.0,
			"source.packets":       2.0,
			"destination.ip":       "66.35.250.204",
			"destination.port":     80.0,
			"destination.bytes":    100.0,
			"destination.packets":  3.0,
		}, []string{"file"}},
		{"udp flow, reversed endpoints", udp, map[string]any{
			"network.transport":    "udp",
			"network.community_id": "1:d/FP5EW3wiY1vCndhwleRRKHowQ=", // published vector for 192.168.1.52:54585 -> 8.8.8.8:53
		}, nil},
		{"thread exit", exit, map[string]any{"event.type": "thread-exit", "event.action": "process-thread-exit"}, nil},
		{"k8s event", ke, map[string]any{
			"event.category":         "orchestration",
			"event.type":             "creation",
			"event.action":           "K8S_COMPONENT_ADDED",
			"event.sf_type":          "KE",
			"event.original":         `{"kind":"Pod","items":[{"namespace":"prod","name":"web-0"}]}`,
			"orchestrator.namespace": "prod",
			"orchestrator.resource":  map[string]any{"type": "pod", "name": "web-0"},
			"host.id":                "node-1",
		}, []string{"process", "user", "container", "host.ip"}},
		{"missing entities", bare, map[string]any{
			"process.pid":       13823.0,
			"process.entity_id": "c2f5f8c25e766cd4",
		}, []string{"host", "user", "container", "process.executable", "process.parent", "process.thread"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := encode(t, enc, tt.ev)
			for k, want := range tt.want {
				var got any
				if strings.HasPrefix(k, "@") {
					got = doc[k]
				} else {
					got = field(doc, k)
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("%s = %#v, want %#v", k, got, want)
				}
			}
			for _, k := range tt.absent {
				if got := field(doc, k); got != nil {
					t.Errorf("%s = %#v, want it absent", k, got)
				}
			}
		})
	}
}

func TestTimestampAgreesWithTimePackage(t *testing.T) {
	enc, _ := New(Config{})
	for _, ns := range []int64{0, 1, 999_999_999, ts0, time.Date(2038, 1, 19, 3, 14, 8, 5, time.UTC).UnixNano()} {
		doc := encode(t, enc, &sysflow.Event{Kind: sysflow.KindProcessFlow, TS: ns})
		got, err := time.Parse(time.RFC3339Nano, doc["@timestamp"].(string))
		if err != nil || got.UnixNano() != ns {
			t.Errorf("ts %d: @timestamp %v parses to %v (%v)", ns, doc["@timestamp"], got.UnixNano(), err)
		}
	}
}

func TestNilEvent(t *testing.T) {
	enc, _ := New(Config{})
	if _, err := enc.AppendEvent(nil, nil); err != ErrNilEvent {
		t.Fatalf("got %v", err)
	}
	if _, err := New(Config{ECSVersion: `8"`}); err == nil {
		t.Fatal("a quote in the version was accepted")
	}
}

// FuzzAppendEvent feeds arbitrary strings into every text field: the
// output must be valid JSON and carry the text back exactly (or with
// U+FFFD for invalid UTF-8).
func FuzzAppendEvent(f *testing.F) {
	f.Add("/bin/sh", "-c 'echo \"hi\"'", "/tmp/a\tb", "rule\n", "c\x00")
	f.Add("\xff\xfe", "\u2028", "\\", "\"", "")
	enc, _ := New(Config{})
	f.Fuzz(func(t *testing.T, exe, args, path, rule, cname string) {
		for _, kind := range []sysflow.RecordKind{sysflow.KindFileFlow, sysflow.KindFileEvent, sysflow.KindNetworkFlow, sysflow.KindK8sEvent} {
			ev := baseEvent(kind)
			ev.Proc.Exe, ev.Proc.ExeArgs, ev.Container.Name = exe, args, cname
			ev.File = &sysflow.File{Path: path, Restype: 'f'}
			ev.K8s = &sysflow.K8sEvent{Message: args}
			ev.Matches = []sysflow.Match{{Rule: rule, Desc: rule}}
			out, err := enc.AppendEvent(nil, ev)
			if err != nil {
				t.Fatal(err)
			}
			var doc map[string]any
			if err := json.Unmarshal(out, &doc); err != nil {
				t.Fatalf("invalid JSON %q: %v", out, err)
			}
			if kind != sysflow.KindK8sEvent {
				if got := field(doc, "process.executable"); got != strings.ToValidUTF8(exe, "\uFFFD") && utf8.ValidString(exe) {
					t.Fatalf("executable %q, want %q", got, exe)
				}
			}
			if got := field(doc, "rule.name"); utf8.ValidString(rule) && got != rule {
				t.Fatalf("rule.name %q, want %q", got, rule)
			}
		}
	})
}

func BenchmarkAppendEvent(b *testing.B) {
	enc, _ := New(Config{})
	evs := []*sysflow.Event{baseEvent(sysflow.KindProcessEvent), baseEvent(sysflow.KindFileFlow), baseEvent(sysflow.KindNetworkFlow)}
	evs[1].File = &sysflow.File{Path: "/usr/lib/x86_64-linux-gnu/libc.so.6", Restype: 'f'}
	evs[0].Matches = []sysflow.Match{{Rule: "Suspicious process spawned", Desc: "d", Priority: 1, Tags: []string{"mitre:T1106"}}}
	evs[0].Tags = []string{"mitre:T1106"}
	var buf []byte
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		var err error
		buf, err = enc.AppendEvent(buf[:0], evs[i%len(evs)])
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
	_ = fmt.Sprint(len(buf))
}

func TestRuntimeNames(t *testing.T) {
	if len(runtimes) != len(sysflow.ContainerTypeNames) {
		t.Fatalf("%d runtimes, %d container types", len(runtimes), len(sysflow.ContainerTypeNames))
	}
	for i, n := range sysflow.ContainerTypeNames {
		if want := strings.ToLower(strings.TrimPrefix(n, "CT_")); runtimes[i] != want {
			t.Errorf("runtime %d = %q, want %q", i, runtimes[i], want)
		}
	}
}
