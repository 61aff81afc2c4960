package sysflow_test

import (
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/sfconnector/sfconnector/sysflow"
)

// The expected values in these tests come from FIELDS.md and from the
// reference processor's own output in ../shared/parity (quoted next to the
// cases), not from this code.

func ptr[T any](v T) *T { return &v }

// fieldValue renders a field the way a test can compare it.
func fieldValue(t *testing.T, name string, e *sysflow.Event) any {
	t.Helper()
	f, ok := sysflow.LookupField(name)
	if !ok {
		t.Fatalf("field %q does not resolve", name)
	}
	switch f.Kind {
	case sysflow.FieldInt:
		return f.Int(e)
	case sysflow.FieldStr:
		return f.Str(e)
	case sysflow.FieldBool:
		return f.Bool(e)
	case sysflow.FieldList:
		return f.List(e, nil)
	}
	t.Fatalf("field %q has kind %v", name, f.Kind)
	return nil
}

// sample builds a file flow of a containerised process with a parent, as
// the flattener would, from records shaped like the k8s_small trace.
func sample() *sysflow.Event {
	pod := &sysflow.Pod{ID: "b1d713a8", Name: "rabbitmq-785b678f74-mhhtg", NodeName: "minikube", Namespace: "robot-shop",
		TS: 1647543075117498000, RestartCount: 2, HostIP: []int64{1681631424}, InternalIP: []int64{83890604},
		Services: []sysflow.Service{{ID: "9a209f55", Name: "rabbitmq", Namespace: "robot-shop", ClusterIP: []int64{2732748042},
			PortList: []sysflow.Port{{Port: 5672, TargetPort: 5672, Proto: "TCP"}, {Port: 15672, TargetPort: 15672, Proto: "TCP"}}}}}
	cont := &sysflow.Container{ID: "27a319d7a44d", Name: "k8s_rabbitmq", Image: "rabbitmq:3.7-management-alpine", ImageID: "f6219c41",
		Type: 0, Privileged: true, PodID: ptr("b1d713a8")}
	grand := &sysflow.Process{OID: sysflow.OID{CreateTS: 0, Hpid: 1}, Exe: "/lib/systemd/systemd", ExeArgs: "--system --deserialize 27"}
	parent := &sysflow.Process{OID: sysflow.OID{CreateTS: 0, Hpid: 1887}, POID: &sysflow.OID{Hpid: 1}, Exe: "/bin/bash",
		ExeArgs: "   ", UID: 500, GID: 500, UserName: "<NA>", GroupName: "<NA>", TTY: true, ContainerID: ptr("27a319d7a44d")}
	proc := &sysflow.Process{OID: sysflow.OID{CreateTS: 0, Hpid: 21847}, POID: &sysflow.OID{Hpid: 1887}, Exe: "./filer",
		UID: -1, GID: -1, UserName: "root", GroupName: "wheel", TTY: true, Entry: true, ContainerID: ptr("27a319d7a44d"),
		Cwd: "/home", Env: []string{"HOME=/", "TERM=linux"}}
	var foid sysflow.FOID
	copy(foid[:], []byte{0x2a, 0x90, 0x71, 0x5d, 0xe0, 0x4f, 0x0a, 0xe4, 0x8b, 0xaa, 0xb3, 0x99, 0x2e, 0x22, 0x9d, 0xc5, 0xf6, 0x37, 0x7c, 0xd2})
	return &sysflow.Event{
		Kind:    sysflow.KindFileFlow,
		Header:  &sysflow.Header{Version: 4, Exporter: "minikube", IP: "192.168.59.100", Filename: "/mnt/data/1647544455"},
		ProcOID: proc.OID, Proc: proc, ParentOID: proc.POID, Parent: parent, Ancestry: []*sysflow.Process{proc, parent, grand},
		Container: cont, Pod: pod,
		File:    &sysflow.File{OID: foid, Restype: 'f', Path: "/tmp/tested_file.txt"},
		FileOID: foid,
		TS:      1554914834718098123, EndTS: 1554914834718128404, TID: 21848,
		OpFlags: sysflow.OpOpen | sysflow.OpClose | sysflow.OpWriteSend, OpenFlags: 0x107, FD: 3,
		RBytes: 1, ROps: 2, WBytes: 62, WOps: 3,
	}
}

func TestFieldValues(t *testing.T) {
	e := sample()
	cases := []struct {
		field string
		want  any
	}{
		{"sf.type", "FF"},
		// files.sf: an FF with flags 0x680 says ["OPEN","CLOSE","WRITE"].
		{"sf.opflags", []string{"OPEN", "CLOSE", "WRITE"}},
		{"sf.ret", int64(0)},
		{"sf.ts", int64(1554914834718098123)},
		{"sf.endts", int64(1554914834718128404)},
		// files.sf: pid 21847, createts 0 has oid "eb1285b10f9187ea".
		{"sf.proc.oid", "eb1285b10f9187ea"},
		{"sf.proc.pid", int64(21847)},
		{"sf.proc.tid", int64(21848)},
		{"sf.proc.createts", int64(0)},
		{"sf.proc.name", "filer"},
		{"sf.proc.exe", "./filer"},
		{"sf.proc.args", ""},
		// files.sf: "cmdline":"./filer " (exe + " " + args, even without args).
		{"sf.proc.cmdline", "./filer "},
		{"sf.proc.uid", int64(-1)},
		{"sf.proc.gid", int64(-1)},
		{"sf.proc.user", "root"},
		{"sf.proc.group", "wheel"},
		{"sf.proc.tty", true},
		{"sf.proc.entry", true},
		{"sf.proc.cwd", "/home"},
		{"sf.proc.env", []string{"HOME=/", "TERM=linux"}},
		{"sf.proc.aname", []string{"filer", "bash", "systemd"}},
		{"sf.proc.aexe", []string{"./filer", "/bin/bash", "/lib/systemd/systemd"}},
		// Ancestors' command lines have no trailing space; padded args are trimmed.
		{"sf.proc.acmdline", []string{"./filer", "/bin/bash", "/lib/systemd/systemd --system --deserialize 27"}},
		{"sf.proc.apid", []string{"21847", "1887", "1"}},
		// files.sf: the parent pid 1887, createts 0 has oid "4d59f2143d4cc079".
		{"sf.pproc.oid", "4d59f2143d4cc079"},
		{"sf.pproc.pid", int64(1887)},
		{"sf.pproc.createts", int64(0)},
		{"sf.pproc.name", "bash"},
		{"sf.pproc.exe", "/bin/bash"},
		{"sf.pproc.args", ""},
		{"sf.pproc.cmdline", "/bin/bash"},
		{"sf.pproc.uid", int64(500)},
		{"sf.pproc.gid", int64(500)},
		{"sf.pproc.user", "<NA>"},
		{"sf.pproc.group", "<NA>"},
		{"sf.pproc.tty", true},
		{"sf.pproc.entry", false},
		{"sf.file.path", "/tmp/tested_file.txt"},
		{"sf.file.name", "tested_file.txt"},
		{"sf.file.directory", "/tmp"},
		{"sf.file.symlink", ""},
		{"sf.file.oid", "2a90715de04f0ae48baab3992e229dc5f6377cd2"},
		{"sf.file.type", "f"},
		{"sf.file.fd", int64(3)},
		// files.sf: a flow with no second file says newname "." and newdirectory ".".
		{"sf.file.newpath", ""},
		{"sf.file.newname", "."},
		{"sf.file.newdirectory", "."},
		{"sf.file.newsymlink", ""},
		{"sf.file.newoid", ""},
		// files.sf: open flags 0x107 are ["RDONLY","WRONLY","RDWR","CREAT","TRUNC"].
		{"sf.file.openflags", []string{"RDONLY", "WRONLY", "RDWR", "CREAT", "TRUNC"}},
		{"sf.file.is_open_read", true},
		{"sf.file.is_open_write", true},
		{"sf.net.sip", ""},
		{"sf.net.ip", []string(nil)},
		{"sf.flow.rbytes", int64(1)},
		{"sf.flow.rops", int64(2)},
		{"sf.flow.wbytes", int64(62)},
		{"sf.flow.wops", int64(3)},
		{"sf.container.id", "27a319d7a44d"},
		{"sf.container.name", "k8s_rabbitmq"},
		{"sf.container.image", "rabbitmq:3.7-management-alpine"},
		{"sf.container.imageid", "f6219c41"},
		{"sf.container.type", "DOCKER"},
		{"sf.container.privileged", int64(1)},
		{"sf.pod.id", "b1d713a8"},
		{"sf.pod.name", "rabbitmq-785b678f74-mhhtg"},
		{"sf.pod.nodename", "minikube"},
		{"sf.pod.namespace", "robot-shop"},
		{"sf.pod.ts", int64(1647543075117498000)},
		{"sf.pod.restartcnt", int64(2)},
		// k8s_small: hostIP 1681631424 is 192.168.59.100.
		{"sf.pod.hostip", `["192.168.59.100"]`},
		{"sf.pod.internalip", `["172.17.0.5"]`},
		{"sf.pod.services", `[{"id":"9a209f55","name":"rabbitmq","namespace":"robot-shop","clusterIP":["10.109.218.162"],` +
			`"ports":[{"port":5672,"targetport":5672,"nodeport":0,"proto":"TCP"},{"port":15672,"targetport":15672,"nodeport":0,"proto":"TCP"}]}]`},
		{"sf.pod.services[0.clusterip.0]", "10.109.218.162"},
		{"sf.pod.services[0.ports.1.port]", "15672"},
		{"sf.pod.services[0.ports]", `[{"port":5672,"targetport":5672,"nodeport":0,"proto":"TCP"},{"port":15672,"targetport":15672,"nodeport":0,"proto":"TCP"}]`},
		{"sf.pod.services[1.name]", ""},
		{"sf.pod.internalip[0]", "172.17.0.5"},
		{"sf.ke.action", ""},
		{"sf.node.id", "minikube"},
		{"sf.node.ip", "192.168.59.100"},
		{"sf.meta.schema", int64(4)},
		{"sf.meta.tracename", "1647544455"},
		// Falco aliases and index suffixes.
		{"proc.name", "filer"},
		{"proc.pname", "bash"},
		{"proc.aname", []string{"filer", "bash", "systemd"}},
		{"proc.aname[1]", "bash"},
		{"proc.aname[2]", "systemd"},
		{"proc.aname[3]", ""},
		{"sf.proc.apid[0]", "21847"},
		{"proc.cmdline", "./filer "},
		{"proc.pcmdline", "/bin/bash"},
		{"proc.ppid", int64(1887)},
		{"proc.tty", true},
		{"user.name", "root"},
		{"group.name", "wheel"},
		{"fd.name", "/tmp/tested_file.txt"},
		{"fd.filename", "tested_file.txt"},
		{"fd.directory", "/tmp"},
		{"fd.typechar", "f"},
		{"fd.num", int64(3)},
		{"evt.type", []string{"OPEN", "CLOSE", "WRITE"}},
		{"evt.dir", []string{">", "<"}},
		{"evt.rawres", int64(0)},
		{"container.id", "27a319d7a44d"},
		{"container.image", "rabbitmq:3.7-management-alpine"},
		{"container.image.repository", "rabbitmq"},
		{"container.image.tag", "3.7-management-alpine"},
		{"container.privileged", int64(1)},
		{"k8s.ns.name", "robot-shop"},
	}
	// 2732748042 is 0xa2e26d0a: bytes 0a 6d e2 a2 -> 10.109.226.162? Compute
	// the dotted form from the bytes independently of the code under test.
	ip := uint32(2732748042)
	want := strings.Join([]string{itoa(ip & 0xff), itoa(ip >> 8 & 0xff), itoa(ip >> 16 & 0xff), itoa(ip >> 24)}, ".")
	for i := range cases {
		switch s := cases[i].want.(type) {
		case string:
			cases[i].want = strings.ReplaceAll(s, "10.109.218.162", want)
		}
	}
	for _, c := range cases {
		t.Run(c.field, func(t *testing.T) {
			got := fieldValue(t, c.field, e)
			if l, ok := got.([]string); ok && len(l) == 0 {
				got = []string(nil)
			}
			if !equalAny(got, c.want) {
				t.Errorf("%s = %#v, want %#v", c.field, got, c.want)
			}
		})
	}
}

func itoa(v uint32) string {
	if v == 0 {
		return "0"
	}
	var b []byte
	for ; v > 0; v /= 10 {
		b = append([]byte{byte('0' + v%10)}, b...)
	}
	return string(b)
}

func equalAny(a, b any) bool {
	la, aok := a.([]string)
	lb, bok := b.([]string)
	if aok || bok {
		return aok && bok && slices.Equal(la, lb)
	}
	return a == b
}

func TestOIDHash(t *testing.T) {
	// FIELDS.md: pid 13823, createts 0 -> XXH64("138230") = c2f5f8c25e766cd4.
	if got := sysflow.OIDHash(sysflow.OID{Hpid: 13823, CreateTS: 0}); got != "c2f5f8c25e766cd4" {
		t.Errorf("OIDHash(13823, 0) = %s, want c2f5f8c25e766cd4", got)
	}
	// k8s_small: pid 57312 created 1647543894672412244 has oid 4c8c009569735d39.
	if got := sysflow.OIDHash(sysflow.OID{Hpid: 57312, CreateTS: 1647543894672412244}); got != "4c8c009569735d39" {
		t.Errorf("OIDHash(57312, ...) = %s, want 4c8c009569735d39", got)
	}
}

func TestNetworkFields(t *testing.T) {
	// client-server.sf: sip 16777343 is 127.0.0.1; flags 0x740 on a network
	// flow say ["CONNECT","CLOSE","SEND","RECV"] (k8s_small).
	e := &sysflow.Event{Kind: sysflow.KindNetworkFlow, SIP: 16777343, DIP: 1681631424, SPort: 40556, DPort: 8080, Proto: 6,
		OpFlags: 0x740}
	cases := []struct {
		field string
		want  any
	}{
		{"sf.net.sip", "127.0.0.1"},
		{"sf.net.dip", "192.168.59.100"},
		{"sf.net.ip", []string{"127.0.0.1", "192.168.59.100"}},
		{"sf.net.port", []string{"40556", "8080"}},
		{"sf.net.sport", int64(40556)},
		{"sf.net.dport", int64(8080)},
		{"sf.net.proto", int64(6)},
		{"sf.opflags", []string{"CONNECT", "CLOSE", "SEND", "RECV"}},
		{"fd.sip", "127.0.0.1"},
		{"fd.l4proto", int64(6)},
		{"sf.file.name", ""},
		{"sf.file.openflags", []string(nil)},
		// No process record: the OID-derived fields still hold, the rest are empty.
		{"sf.proc.exe", ""},
		{"sf.container.type", ""},
	}
	for _, c := range cases {
		got := fieldValue(t, c.field, e)
		if l, ok := got.([]string); ok && len(l) == 0 {
			got = []string(nil)
		}
		if !equalAny(got, c.want) {
			t.Errorf("%s = %#v, want %#v", c.field, got, c.want)
		}
	}
}

func TestOpFlagNames(t *testing.T) {
	// Orders and names as the reference's JSON output lists them.
	cases := []struct {
		flags int32
		kind  sysflow.RecordKind
		want  []string
	}{
		{0x2580, sysflow.KindFileFlow, []string{"OPEN", "CLOSE", "READ", "MMAP"}},
		{0x720, sysflow.KindFileFlow, []string{"ACCEPT", "CLOSE", "WRITE", "READ"}},
		{0x490, sysflow.KindFileFlow, []string{"OPEN", "CLOSE", "SETNS"}},
		{0x1b00, sysflow.KindNetworkFlow, []string{"SEND", "RECV", "SHUTDOWN", "TRUNCATE"}},
		{0x300, sysflow.KindFileFlow, []string{"WRITE", "READ"}}, // difference 6: the reference says SEND/RECV here
		{0x100000, sysflow.KindFileEvent, []string{"RENAME"}},
		{sysflow.OpClone, sysflow.KindProcessEvent, []string{"CLONE"}},
		{0, sysflow.KindK8sEvent, nil},
	}
	for _, c := range cases {
		if got := sysflow.OpFlagNames(nil, c.flags, c.kind); !slices.Equal(got, c.want) {
			t.Errorf("OpFlagNames(%#x, %v) = %v, want %v", c.flags, c.kind, got, c.want)
		}
	}
}

func TestOpenFlagNames(t *testing.T) {
	cases := []struct {
		flags int32
		want  []string
	}{
		{0, []string{"NONE"}},
		{0x1, []string{"RDONLY"}},
		{0x6, []string{"WRONLY", "CREAT"}},
		{0xe, []string{"WRONLY", "CREAT", "APPEND"}},
		{0x1027, []string{"RDONLY", "WRONLY", "RDWR", "CREAT", "EXCL", "CLOEXEC"}},
		{0x3441, []string{"RDONLY", "NONBLOCK", "DIRECTORY", "CLOEXEC"}},
	}
	for _, c := range cases {
		if got := sysflow.OpenFlagNames(nil, c.flags); !slices.Equal(got, c.want) {
			t.Errorf("OpenFlagNames(%#x) = %v, want %v", c.flags, got, c.want)
		}
	}
}

func TestContainerType(t *testing.T) {
	host := &sysflow.Process{Exe: "/bin/sh"}
	inCont := &sysflow.Process{Exe: "/bin/sh", ContainerID: ptr("abc")}
	cases := []struct {
		name string
		ev   sysflow.Event
		want string
	}{
		{"host process (difference 1)", sysflow.Event{Kind: sysflow.KindProcessEvent, Proc: host}, "host"},
		{"docker", sysflow.Event{Kind: sysflow.KindProcessEvent, Proc: inCont, Container: &sysflow.Container{Type: 0}}, "DOCKER"},
		{"cri-o", sysflow.Event{Kind: sysflow.KindProcessEvent, Proc: inCont, Container: &sysflow.Container{Type: 8}}, "CRIO"},
		{"container record missing", sysflow.Event{Kind: sysflow.KindProcessEvent, Proc: inCont}, ""},
		{"process record missing", sysflow.Event{Kind: sysflow.KindProcessEvent}, ""},
	}
	for _, c := range cases {
		if got := fieldValue(t, "sf.container.type", &c.ev); got != c.want {
			t.Errorf("%s: sf.container.type = %q, want %q", c.name, got, c.want)
		}
	}
}

func TestFilePaths(t *testing.T) {
	cases := []struct {
		path, wantPath, wantLink, wantName, wantDir string
		restype                                     int32
		wantType                                    string
	}{
		// k8s/nginx traces: a unix socket "src->dst path".
		{"ffff88003c1d1800->ffff8800038ba000 /dev/log", "/dev/log", "ffff88003c1d1800->ffff8800038ba000", "log", "/dev", 'u', "u"},
		{"/tmp/testing_dir", "/tmp/testing_dir", "", "testing_dir", "/tmp", 'd', "d"},
		{"./tested_file.txt", "./tested_file.txt", "", "tested_file.txt", ".", '?', "?"},
		{"ffff->eeee", "ffff->eeee", "", "ffff->eeee", ".", 'u', "u"},
		{"pipe:[1234]", "pipe:[1234]", "", "pipe:[1234]", ".", 'p', "p"},
	}
	for _, c := range cases {
		e := &sysflow.Event{Kind: sysflow.KindFileEvent, File: &sysflow.File{Path: c.path, Restype: c.restype},
			NewFile: &sysflow.File{Path: c.path}}
		got := []string{e.FilePath(), e.FileSymlink(), e.FileName(), e.FileDirectory(), e.FileType(),
			e.NewFilePath(), e.NewFileSymlink(), e.NewFileName(), e.NewFileDirectory()}
		want := []string{c.wantPath, c.wantLink, c.wantName, c.wantDir, c.wantType, c.wantPath, c.wantLink, c.wantName, c.wantDir}
		if !slices.Equal(got, want) {
			t.Errorf("%q: got %q, want %q", c.path, got, want)
		}
	}
}

func TestProcessEventFields(t *testing.T) {
	// A parent known only by its OID: pid, createts and oid hold, the rest is empty.
	e := &sysflow.Event{Kind: sysflow.KindProcessEvent, ProcOID: sysflow.OID{Hpid: 13823},
		Proc:      &sysflow.Process{OID: sysflow.OID{Hpid: 13823}, Exe: "/usr/bin/awk", ExeArgs: ` -F: '{print $1}' `, POID: &sysflow.OID{Hpid: 7955, CreateTS: 5}},
		ParentOID: &sysflow.OID{Hpid: 7955, CreateTS: 5}, Ret: 2, OpFlags: sysflow.OpExit}
	for field, want := range map[string]any{
		"sf.ret":            int64(2),
		"sf.opflags":        []string{"EXIT"},
		"sf.proc.args":      `-F: '{print $1}'`, // trimmed of spaces, quotes kept
		"sf.proc.cmdline":   `/usr/bin/awk -F: '{print $1}'`,
		"sf.pproc.pid":      int64(7955),
		"sf.pproc.createts": int64(5),
		"sf.pproc.exe":      "",
		"sf.pproc.cmdline":  "",
		"sf.pproc.tty":      false,
		"sf.file.path":      "",
		"sf.file.newname":   "",
		"sf.endts":          int64(0),
	} {
		if got := fieldValue(t, field, e); !equalAny(got, want) {
			t.Errorf("%s = %#v, want %#v", field, got, want)
		}
	}
	if got, want := fieldValue(t, "sf.pproc.oid", e), sysflow.OIDHash(sysflow.OID{Hpid: 7955, CreateTS: 5}); got != want || len(want) != 16 {
		t.Errorf("sf.pproc.oid = %v, want %v", got, want)
	}
}

func TestK8sEventFields(t *testing.T) {
	// k8s_small: the collector ends the message with "\n\x00"; the reference drops both.
	msg := `{"apiVersion":"v1","items":[{"name":"user-899b6c7ff-c7wnj","namespace":"robot-shop","ports":[8080, 9090],"labels":{"a.b":"c"},"empty":null}],"kind":"Pod"}` + "\n\x00"
	e := &sysflow.Event{Kind: sysflow.KindK8sEvent, K8s: &sysflow.K8sEvent{Kind: 2, Action: 0, TS: 7, Message: msg}, TS: 7, EndTS: 7,
		Header: &sysflow.Header{Filename: ""}}
	for field, want := range map[string]any{
		"sf.type":                            "KE",
		"sf.ke.kind":                         "K8S_PODS",
		"sf.ke.action":                       "K8S_COMPONENT_ADDED",
		"sf.ke.message":                      strings.TrimSuffix(msg, "\n\x00"),
		"sf.ke.message[items.0.namespace]":   "robot-shop",
		"sf.ke.message[ITEMS.0.Name]":        "user-899b6c7ff-c7wnj",
		"sf.ke.message[items.0.ports.1]":     "9090",
		"sf.ke.message[items.0.ports]":       "[8080, 9090]",
		`sf.ke.message[items.0.labels.a\.b]`: "c",
		"sf.ke.message[items.0.empty]":       "",
		"sf.ke.message[items.1.name]":        "",
		"sf.ke.message[kind]":                "Pod",
		"sf.ke.message[kind.x]":              "",
		"sf.proc.oid":                        "",
		"sf.proc.pid":                        int64(0),
		"sf.opflags":                         []string(nil),
		"sf.endts":                           int64(7),
		"sf.meta.tracename":                  ".",
	} {
		got := fieldValue(t, field, e)
		if l, ok := got.([]string); ok && len(l) == 0 {
			got = []string(nil)
		}
		if !equalAny(got, want) {
			t.Errorf("%s = %#v, want %#v", field, got, want)
		}
	}
}

// TestFieldsOfFieldsMD checks that every field FIELDS.md documents exists
// with the documented type.
func TestFieldsOfFieldsMD(t *testing.T) {
	want := map[string]sysflow.FieldKind{}
	add := func(kind sysflow.FieldKind, names ...string) {
		for _, n := range names {
			want[n] = kind
		}
	}
	add(sysflow.FieldStr, "sf.type", "sf.proc.oid", "sf.proc.exe", "sf.proc.args", "sf.proc.name", "sf.proc.cmdline",
		"sf.proc.user", "sf.proc.group", "sf.proc.cwd", "sf.pproc.oid", "sf.pproc.name", "sf.pproc.exe", "sf.pproc.args",
		"sf.pproc.cmdline", "sf.pproc.user", "sf.pproc.group", "sf.file.path", "sf.file.name", "sf.file.directory",
		"sf.file.symlink", "sf.file.oid", "sf.file.type", "sf.file.newpath", "sf.file.newname", "sf.file.newdirectory",
		"sf.file.newsymlink", "sf.file.newoid", "sf.net.sip", "sf.net.dip", "sf.container.id", "sf.container.name",
		"sf.container.image", "sf.container.imageid", "sf.container.type", "sf.pod.id", "sf.pod.name", "sf.pod.nodename",
		"sf.pod.namespace", "sf.pod.hostip", "sf.pod.internalip", "sf.pod.services", "sf.ke.action", "sf.ke.kind",
		"sf.ke.message", "sf.node.id", "sf.node.ip", "sf.meta.tracename")
	add(sysflow.FieldList, "sf.opflags", "sf.proc.env", "sf.proc.aname", "sf.proc.aexe", "sf.proc.acmdline", "sf.proc.apid",
		"sf.file.openflags", "sf.net.ip", "sf.net.port")
	add(sysflow.FieldInt, "sf.ret", "sf.ts", "sf.endts", "sf.proc.pid", "sf.proc.tid", "sf.proc.createts", "sf.proc.uid",
		"sf.proc.gid", "sf.pproc.pid", "sf.pproc.createts", "sf.pproc.uid", "sf.pproc.gid", "sf.file.fd", "sf.net.proto",
		"sf.net.sport", "sf.net.dport", "sf.flow.rbytes", "sf.flow.rops", "sf.flow.wbytes", "sf.flow.wops",
		"sf.container.privileged", "sf.pod.ts", "sf.pod.restartcnt", "sf.meta.schema")
	add(sysflow.FieldBool, "sf.proc.tty", "sf.proc.entry", "sf.pproc.tty", "sf.pproc.entry", "sf.file.is_open_read",
		"sf.file.is_open_write")
	names := sysflow.FieldNames()
	if !sort.StringsAreSorted(names) {
		t.Errorf("FieldNames is not sorted")
	}
	for n, kind := range want {
		f, ok := sysflow.LookupField(n)
		if !ok {
			t.Errorf("%s: not a field", n)
			continue
		}
		if f.Kind != kind || f.Name != n {
			t.Errorf("%s: kind %v name %q, want %v", n, f.Kind, f.Name, kind)
		}
		if !slices.Contains(names, n) {
			t.Errorf("%s missing from FieldNames", n)
		}
	}
	for _, n := range names {
		if _, ok := want[n]; !ok {
			t.Errorf("FieldNames has %s, which FIELDS.md does not document", n)
		}
	}
}

// TestReferenceAliases checks that every Falco name the reference resolves
// resolves here too (the list is the reference's own).
func TestReferenceAliases(t *testing.T) {
	reference := []string{"evt.type", "evt.rawres", "evt.rawtime", "evt.dir", "evt.is_open_read", "evt.is_open_write",
		"evt.arg.uid", "fd.typechar", "fd.directory", "fd.name", "fd.filename", "fd.proto", "fd.lproto", "fd.l4proto",
		"fd.rproto", "fd.sproto", "fd.cproto", "fd.sport", "fd.dport", "fd.sip", "fd.dip", "fd.ip", "fd.port", "fd.num",
		"user.name", "proc.pid", "proc.tid", "proc.gid", "proc.uid", "proc.group", "proc.tty", "proc.user", "proc.exe",
		"proc.name", "proc.args", "proc.createtime", "proc.cmdline", "proc.aname", "proc.apid", "proc.ppid", "proc.pgid",
		"proc.puid", "proc.pgroup", "proc.ptty", "proc.puser", "proc.pexe", "proc.pargs", "proc.pcreatetime",
		"proc.pname", "proc.pcmdline", "container.id", "container.image.id", "container.image", "container.name",
		"container.type", "container.privileged"}
	aliases := sysflow.FieldAliases()
	for _, n := range reference {
		if _, ok := sysflow.LookupField(n); !ok {
			t.Errorf("Falco name %s does not resolve", n)
		}
		if !slices.Contains(aliases, n) {
			t.Errorf("Falco name %s missing from FieldAliases", n)
		}
	}
	for _, bad := range []string{"sf.proc.username", "proc.nme", "sf.pod.services[", "sf.proc.exe[0]", "sf.proc.aname[x]", "[x]", ""} {
		if _, ok := sysflow.LookupField(bad); ok {
			t.Errorf("LookupField(%q) resolved", bad)
		}
	}
}

func TestClosestField(t *testing.T) {
	cases := map[string]string{
		"sf.proc.username":           "sf.proc.user", // FIELDS.md's example (sf.proc.name is as near; the longer shared prefix wins)
		"sf.poc.name":                "sf.proc.name",
		"sf.file.typechar":           "sf.file.type",
		"sf.is_open_write":           "sf.file.is_open_write",
		"proc.nmae":                  "proc.name",
		"sf.container.imgid":         "sf.container.imageid",
		"completely.unrelated.thing": "",
		"x":                          "",
	}
	for in, want := range cases {
		if got := sysflow.ClosestField(in); got != want {
			t.Errorf("ClosestField(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestFieldsOnEmptyEvents evaluates every field on events with nothing
// resolved: accessors must return zero values, never panic.
func TestFieldsOnEmptyEvents(t *testing.T) {
	kinds := []sysflow.RecordKind{sysflow.KindProcessEvent, sysflow.KindFileEvent, sysflow.KindFileFlow,
		sysflow.KindNetworkFlow, sysflow.KindK8sEvent, sysflow.KindUnknown}
	names := append(sysflow.FieldNames(), sysflow.FieldAliases()...)
	names = append(names, "sf.pod.services[0.clusterip.0]", "sf.ke.message[a.b]", "proc.aname[3]")
	for _, k := range kinds {
		e := &sysflow.Event{Kind: k}
		for _, n := range names {
			f, _ := sysflow.LookupField(n)
			_ = f.Text(e)
		}
	}
}

func TestFieldText(t *testing.T) {
	e := sample()
	for field, want := range map[string]string{
		"sf.proc.aname": "filer,bash,systemd",
		"sf.proc.tty":   "true",
		"sf.proc.pid":   "21847",
		"sf.proc.exe":   "./filer",
		"sf.ret":        "0",
	} {
		f, _ := sysflow.LookupField(field)
		if got := f.Text(e); got != want {
			t.Errorf("%s.Text = %q, want %q", field, got, want)
		}
	}
}
