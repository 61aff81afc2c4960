package avro

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/sfconnector/sfconnector/sysflow"
)

// Decoder reads messages in the Confluent wire format written with any of
// the package's schemas, in any version still registered, by the schema id
// each message carries. It implements the bus sources' Decoder and is safe
// for concurrent use.
type Decoder struct {
	reg   *Registry
	datum sync.Pool // *sysflow.DatumDecoder: not safe for concurrent use
}

// NewDecoder returns a decoder using reg's registry.
func NewDecoder(reg *Registry) *Decoder {
	return &Decoder{reg: reg, datum: sync.Pool{New: func() any { return sysflow.NewDatumDecoder() }}}
}

// Decode decodes one message and appends its event (FlatEvent, Alert) or
// record (SysFlow) to b.
func (d *Decoder) Decode(_ context.Context, value []byte, b *sysflow.Batch) error {
	id, body, err := ParseHeader(value)
	if err != nil {
		return fmt.Errorf("avro: %w", err)
	}
	ws, err := d.reg.schema(id)
	if err != nil {
		return fmt.Errorf("avro: %w", err)
	}
	switch ws.name {
	case nameRecord:
		var rec sysflow.Record
		if ws.text == strings.TrimSpace(recordAVSC) {
			dd := d.datum.Get().(*sysflow.DatumDecoder)
			err = dd.Decode(body, &rec)
			d.datum.Put(dd)
			if err != nil {
				return fmt.Errorf("avro: schema id %d: %w", id, err)
			}
		} else {
			return fmt.Errorf("avro: schema id %d is a SysFlow schema other than the v5 one this build forwards", id)
		}
		b.Records = append(b.Records, rec)
		return nil
	case nameEvent, nameAlert:
		native, rest, err := ws.codec.NativeFromBinary(body)
		if err != nil {
			return fmt.Errorf("avro: schema id %d (%s): %w", id, ws.name, err)
		}
		if len(rest) != 0 {
			return fmt.Errorf("avro: schema id %d (%s): %d trailing bytes", id, ws.name, len(rest))
		}
		m, ok := native.(map[string]any)
		if !ok {
			return fmt.Errorf("avro: schema id %d: the top-level value is not a record", id)
		}
		ev, err := eventFromNative(m)
		if err != nil {
			return fmt.Errorf("avro: schema id %d (%s): %w", id, ws.name, err)
		}
		b.Events = append(b.Events, ev)
		return nil
	}
	return fmt.Errorf("avro: schema id %d is %q, not one of %s, %s, %s", id, ws.name, nameEvent, nameAlert, nameRecord)
}

// DecodeEvent decodes one FlatEvent or Alert message.
func (d *Decoder) DecodeEvent(ctx context.Context, value []byte) (*sysflow.Event, error) {
	var b sysflow.Batch
	if err := d.Decode(ctx, value, &b); err != nil {
		return nil, err
	}
	if len(b.Events) != 1 {
		return nil, fmt.Errorf("avro: the message holds a raw record, not an event")
	}
	return b.Events[0], nil
}

// The inverse of the registry's derivations: eventFromNative rebuilds an
// Event whose registry fields read exactly as the encoded ones. Fields the
// writer's schema version lacks read as zero values.

type native map[string]any

func (n native) str(k string) string   { s, _ := n[k].(string); return s }
func (n native) long(k string) int64   { v, _ := n[k].(int64); return v }
func (n native) boolean(k string) bool { v, _ := n[k].(bool); return v }
func (n native) strs(k string) []string {
	a, _ := n[k].([]any)
	if len(a) == 0 {
		return nil
	}
	out := make([]string, len(a))
	for i, v := range a {
		out[i], _ = v.(string)
	}
	return out
}

// rec returns a nested record, also one inside a [null, record] union.
func (n native) rec(k string) native {
	switch v := n[k].(type) {
	case map[string]any:
		if len(v) == 1 {
			for name, inner := range v {
				if m, ok := inner.(map[string]any); ok && strings.Contains(name, ".") {
					return m
				}
			}
		}
		return v
	}
	return nil
}

var (
	kindByType = func() map[string]sysflow.RecordKind {
		m := map[string]sysflow.RecordKind{}
		for k := sysflow.KindHeader; k <= sysflow.KindK8sEvent; k++ {
			m[k.TypeName()] = k
		}
		return m
	}()
	// opBits maps an op flag name to its bit, per record kind (network
	// flows say SEND/RECV, others READ/WRITE).
	opBits = func() map[sysflow.RecordKind]map[string]int32 {
		m := map[sysflow.RecordKind]map[string]int32{}
		for k := sysflow.KindHeader; k <= sysflow.KindK8sEvent; k++ {
			names := map[string]int32{}
			for bit := 0; bit < 31; bit++ {
				for _, n := range sysflow.OpFlagNames(nil, 1<<bit, k) {
					names[n] |= 1 << bit
				}
			}
			m[k] = names
		}
		return m
	}()
	openBits = func() map[string]int32 {
		m := map[string]int32{}
		for bit := 0; bit < 31; bit++ {
			for _, n := range sysflow.OpenFlagNames(nil, 1<<bit) {
				m[n] |= 1 << bit
			}
		}
		return m
	}()
)

func indexOf(names []string, s string) int32 {
	for i, n := range names {
		if n == s {
			return int32(i)
		}
	}
	return -1
}

func parseIPv4(s string) (int32, error) {
	if s == "" {
		return 0, nil
	}
	var ip uint32
	parts := strings.Split(s, ".")
	if len(parts) != 4 {
		return 0, fmt.Errorf("address %q is not dotted IPv4", s)
	}
	for i, p := range parts {
		v, err := strconv.ParseUint(p, 10, 8)
		if err != nil {
			return 0, fmt.Errorf("address %q: %w", s, err)
		}
		ip |= uint32(v) << (8 * i) // the first octet is the lowest byte
	}
	return int32(ip), nil
}

func parseFOID(s string) (sysflow.FOID, error) {
	var f sysflow.FOID
	if s == "" {
		return f, nil
	}
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(f) {
		return f, fmt.Errorf("file oid %q is not 40 hex digits", s)
	}
	copy(f[:], b)
	return f, nil
}

// joinPath is the inverse of sysflow.SplitPath.
func joinPath(path, symlink string) string {
	if symlink == "" {
		return path
	}
	return symlink + " " + path
}

// argsOf recovers a process's arguments from its command line.
func argsOf(cmdline, exe string) string {
	if rest, ok := strings.CutPrefix(cmdline, exe+" "); ok {
		return rest
	}
	return ""
}

func eventFromNative(top native) (*sysflow.Event, error) {
	ev := &sysflow.Event{}
	typ := top.str("type")
	k, ok := kindByType[typ]
	if !ok {
		return nil, fmt.Errorf("type %q is not a record type", typ)
	}
	ev.Kind = k
	for _, n := range top.strs("opflags") {
		ev.OpFlags |= opBits[k][n]
	}
	ev.Ret = int32(top.long("ret"))
	ev.TS = top.long("ts")
	ev.EndTS = top.long("endts")
	ev.Args = top.strs("args")

	if meta := top.rec("meta"); meta != nil && meta.str("tracename") != "" {
		node := top.rec("node")
		ev.Header = &sysflow.Header{Version: meta.long("schema"), Filename: meta.str("tracename"),
			Exporter: node.str("id"), IP: node.str("ip")}
	}
	if p := top.rec("proc"); p != nil {
		ev.ProcOID = sysflow.OID{CreateTS: p.long("createts"), Hpid: p.long("pid")}
		ev.TID = p.long("tid")
		ev.Proc = &sysflow.Process{OID: ev.ProcOID, Exe: p.str("exe"), ExeArgs: p.str("args"),
			UID: int32(p.long("uid")), UserName: p.str("user"), GID: int32(p.long("gid")), GroupName: p.str("group"),
			TTY: p.boolean("tty"), Entry: p.boolean("entry"), Cwd: p.str("cwd"), Env: p.strs("env")}
		exes, cmds, pids := p.strs("aexe"), p.strs("acmdline"), p.strs("apid")
		for i, exe := range exes {
			a := &sysflow.Process{Exe: exe}
			if i < len(cmds) {
				a.ExeArgs = argsOf(cmds[i], exe)
			}
			if i < len(pids) {
				a.OID.Hpid, _ = strconv.ParseInt(pids[i], 10, 64)
			}
			ev.Ancestry = append(ev.Ancestry, a)
		}
	}
	if pp := top.rec("pproc"); pp != nil {
		ev.ParentOID = &sysflow.OID{CreateTS: pp.long("createts"), Hpid: pp.long("pid")}
		ev.Parent = &sysflow.Process{OID: *ev.ParentOID, Exe: pp.str("exe"), ExeArgs: pp.str("args"),
			UID: int32(pp.long("uid")), UserName: pp.str("user"), GID: int32(pp.long("gid")), GroupName: pp.str("group"),
			TTY: pp.boolean("tty"), Entry: pp.boolean("entry")}
	}
	if f := top.rec("file"); f != nil {
		var err error
		if ev.FileOID, err = parseFOID(f.str("oid")); err != nil {
			return nil, err
		}
		path, link, typ := f.str("path"), f.str("symlink"), f.str("type")
		if path != "" || link != "" || typ != "" {
			ev.File = &sysflow.File{OID: ev.FileOID, Path: joinPath(path, link)}
			if typ != "" {
				ev.File.Restype = int32([]rune(typ)[0])
			}
		}
		ev.FD = int32(f.long("fd"))
		for _, n := range f.strs("openflags") {
			ev.OpenFlags |= openBits[n]
		}
		if s := f.str("newoid"); s != "" {
			nf, err := parseFOID(s)
			if err != nil {
				return nil, err
			}
			ev.NewFileOID = &nf
		}
		if np, nl := f.str("newpath"), f.str("newsymlink"); np != "" || nl != "" {
			ev.NewFile = &sysflow.File{Path: joinPath(np, nl)}
			if ev.NewFileOID != nil {
				ev.NewFile.OID = *ev.NewFileOID
			}
		}
	}
	if n := top.rec("net"); n != nil {
		ev.Proto, ev.SPort, ev.DPort = int32(n.long("proto")), int32(n.long("sport")), int32(n.long("dport"))
		var err error
		if ev.SIP, err = parseIPv4(n.str("sip")); err != nil {
			return nil, err
		}
		if ev.DIP, err = parseIPv4(n.str("dip")); err != nil {
			return nil, err
		}
	}
	if f := top.rec("flow"); f != nil {
		ev.RBytes, ev.ROps, ev.WBytes, ev.WOps = f.long("rbytes"), f.long("rops"), f.long("wbytes"), f.long("wops")
	}
	if c := top.rec("container"); c != nil {
		if c.str("type") != "host" || c.str("id") != "" {
			ev.Container = &sysflow.Container{ID: c.str("id"), Name: c.str("name"), Image: c.str("image"),
				ImageID: c.str("imageid"), Privileged: c.long("privileged") != 0,
				Type: sysflow.ContainerType(indexOf(sysflow.ContainerTypeNames, "CT_"+c.str("type")))}
			if ev.Proc != nil {
				id := ev.Container.ID
				ev.Proc.ContainerID = &id
			}
		}
	} else if ev.Proc != nil {
		// The process is in a container whose record was missing.
		empty := ""
		ev.Proc.ContainerID = &empty
	}
	if p := top.rec("pod"); p != nil {
		pod := &sysflow.Pod{ID: p.str("id"), Name: p.str("name"), NodeName: p.str("nodename"),
			Namespace: p.str("namespace"), TS: p.long("ts"), RestartCount: p.long("restartcnt")}
		var err error
		if pod.HostIP, err = ipsFromJSON(p.str("hostip")); err != nil {
			return nil, fmt.Errorf("pod.hostip: %w", err)
		}
		if pod.InternalIP, err = ipsFromJSON(p.str("internalip")); err != nil {
			return nil, fmt.Errorf("pod.internalip: %w", err)
		}
		if pod.Services, err = servicesFromJSON(p.str("services")); err != nil {
			return nil, fmt.Errorf("pod.services: %w", err)
		}
		ev.Pod = pod
	}
	if k := top.rec("ke"); k != nil {
		ev.K8s = &sysflow.K8sEvent{TS: ev.TS, Message: k.str("message"),
			Action: indexOf(sysflow.K8sActionNames, k.str("action")),
			Kind:   indexOf(sysflow.K8sComponentNames, k.str("kind"))}
	}
	if rules, ok := top["rules"].([]any); ok {
		for _, r := range rules {
			m := native(asMap(r))
			ev.Matches = append(ev.Matches, sysflow.Match{Rule: m.str("rule"), Desc: m.str("desc"),
				Priority: parsePriority(m.str("priority")), Tags: m.strs("tags"), Output: m.str("output")})
		}
		ev.Tags = top.strs("tags")
	}
	return ev, nil
}

func asMap(v any) map[string]any { m, _ := v.(map[string]any); return m }

func parsePriority(s string) sysflow.Priority {
	switch s {
	case "high":
		return sysflow.PriorityHigh
	case "medium":
		return sysflow.PriorityMedium
	}
	return sysflow.PriorityLow
}

func ipsFromJSON(s string) ([]int64, error) {
	if s == "" {
		return nil, nil
	}
	var dotted []string
	if err := json.Unmarshal([]byte(s), &dotted); err != nil {
		return nil, err
	}
	out := make([]int64, len(dotted))
	for i, d := range dotted {
		ip, err := parseIPv4(d)
		if err != nil {
			return nil, err
		}
		out[i] = int64(uint32(ip))
	}
	return out, nil
}

func servicesFromJSON(s string) ([]sysflow.Service, error) {
	if s == "" {
		return nil, nil
	}
	var svcs []struct {
		ID        string   `json:"id"`
		Name      string   `json:"name"`
		Namespace string   `json:"namespace"`
		ClusterIP []string `json:"clusterIP"`
		Ports     []struct {
			Port       int32  `json:"port"`
			TargetPort int32  `json:"targetport"`
			NodePort   int32  `json:"nodeport"`
			Proto      string `json:"proto"`
		} `json:"ports"`
	}
	if err := json.Unmarshal([]byte(s), &svcs); err != nil {
		return nil, err
	}
	out := make([]sysflow.Service, len(svcs))
	for i, sv := range svcs {
		out[i] = sysflow.Service{ID: sv.ID, Name: sv.Name, Namespace: sv.Namespace}
		for _, d := range sv.ClusterIP {
			ip, err := parseIPv4(d)
			if err != nil {
				return nil, err
			}
			out[i].ClusterIP = append(out[i].ClusterIP, int64(uint32(ip)))
		}
		for _, p := range sv.Ports {
			out[i].PortList = append(out[i].PortList, sysflow.Port{Port: p.Port, TargetPort: p.TargetPort, NodePort: p.NodePort, Proto: p.Proto})
		}
	}
	return out, nil
}
