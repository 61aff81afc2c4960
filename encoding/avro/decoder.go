package avro

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/sfconnector/sfconnector/sysflow"
)

// Decoder reads messages in the Confluent wire format written with any of
// the package's schemas, in any version still registered, by the schema id
// each message carries. It implements the bus sources' Decoder and is safe
// for concurrent use.
type Decoder struct {
	reg  *Registry
	pods podCache
}

// NewDecoder returns a decoder using reg's registry.
func NewDecoder(reg *Registry) *Decoder {
	return &Decoder{reg: reg}
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
		// Whatever SysFlow version the producer registered, resolved
		// against the v5 reader (sysflow.CompileDatumSchema).
		if ws.datumErr != nil {
			return fmt.Errorf("avro: schema id %d: %w", id, ws.datumErr)
		}
		var rec sysflow.Record
		dd := ws.decoders.Get().(*sysflow.DatumDecoder)
		err = dd.Decode(body, &rec)
		ws.decoders.Put(dd)
		if err != nil {
			return fmt.Errorf("avro: schema id %d: %w", id, err)
		}
		b.Records = append(b.Records, rec)
		return nil
	case nameEvent, nameAlert:
		if ws.planErr != nil {
			return fmt.Errorf("avro: schema id %d (%s): %w", id, ws.name, ws.planErr)
		}
		ff, err := readFlat(ws.plan, body)
		if err != nil {
			return fmt.Errorf("avro: schema id %d (%s): %w", id, ws.name, err)
		}
		ev, err := eventFromFlat(ff, &d.pods)
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

// The inverse of the registry's derivations: eventFromFlat rebuilds an
// Event whose registry fields read exactly as the encoded ones. Fields the
// writer's schema version lacks read as zero values.

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

func eventFromFlat(ff *flatFields, pods *podCache) (*sysflow.Event, error) {
	ev := &sysflow.Event{}
	k, ok := kindByType[ff.Type]
	if !ok {
		return nil, fmt.Errorf("type %q is not a record type", ff.Type)
	}
	ev.Kind = k
	for _, n := range ff.Opflags {
		ev.OpFlags |= opBits[k][n]
	}
	ev.Ret = int32(ff.Ret)
	ev.TS = ff.Ts
	ev.EndTS = ff.Endts
	ev.Args = ff.Args

	// A header always has a trace name ("." when the writer recorded none).
	if ff.Meta.Tracename != "" {
		ev.Header = &sysflow.Header{Version: ff.Meta.Schema, Filename: ff.Meta.Tracename,
			Exporter: ff.Node.Id, IP: ff.Node.Ip}
	}
	if p := ff.Proc; p != nil {
		ev.ProcOID = sysflow.OID{CreateTS: p.Createts, Hpid: p.Pid}
		ev.TID = p.Tid
		ev.Proc = &sysflow.Process{OID: ev.ProcOID, Exe: p.Exe, ExeArgs: p.Args,
			UID: int32(p.Uid), UserName: p.User, GID: int32(p.Gid), GroupName: p.Group,
			TTY: p.Tty, Entry: p.Entry, Cwd: p.Cwd, Env: p.Env}
		if len(p.Aexe) > 0 {
			anc := make([]sysflow.Process, len(p.Aexe))
			ev.Ancestry = make([]*sysflow.Process, len(p.Aexe))
			for i, exe := range p.Aexe {
				a := &anc[i]
				a.Exe = exe
				if i < len(p.Acmdline) {
					a.ExeArgs = argsOf(p.Acmdline[i], exe)
				}
				if i < len(p.Apid) {
					a.OID.Hpid, _ = strconv.ParseInt(p.Apid[i], 10, 64)
				}
				ev.Ancestry[i] = a
			}
		}
	}
	if pp := ff.Pproc; pp != nil {
		ev.ParentOID = &sysflow.OID{CreateTS: pp.Createts, Hpid: pp.Pid}
		ev.Parent = &sysflow.Process{OID: *ev.ParentOID, Exe: pp.Exe, ExeArgs: pp.Args,
			UID: int32(pp.Uid), UserName: pp.User, GID: int32(pp.Gid), GroupName: pp.Group,
			TTY: pp.Tty, Entry: pp.Entry}
	}
	if f := ff.File; f != nil {
		var err error
		if ev.FileOID, err = parseFOID(f.Oid); err != nil {
			return nil, err
		}
		if f.Path != "" || f.Symlink != "" || f.Type != "" {
			ev.File = &sysflow.File{OID: ev.FileOID, Path: joinPath(f.Path, f.Symlink)}
			if f.Type != "" {
				r, _ := utf8.DecodeRuneInString(f.Type)
				ev.File.Restype = r
			}
		}
		ev.FD = int32(f.Fd)
		for _, n := range f.Openflags {
			ev.OpenFlags |= openBits[n]
		}
		if f.Newoid != "" {
			nf, err := parseFOID(f.Newoid)
			if err != nil {
				return nil, err
			}
			ev.NewFileOID = &nf
		}
		if f.Newpath != "" || f.Newsymlink != "" {
			ev.NewFile = &sysflow.File{Path: joinPath(f.Newpath, f.Newsymlink)}
			if ev.NewFileOID != nil {
				ev.NewFile.OID = *ev.NewFileOID
			}
		}
	}
	ev.Proto, ev.SPort, ev.DPort = int32(ff.Net.Proto), int32(ff.Net.Sport), int32(ff.Net.Dport)
	var err error
	if ev.SIP, err = parseIPv4(ff.Net.Sip); err != nil {
		return nil, err
	}
	if ev.DIP, err = parseIPv4(ff.Net.Dip); err != nil {
		return nil, err
	}
	ev.RBytes, ev.ROps, ev.WBytes, ev.WOps = ff.Flow.Rbytes, ff.Flow.Rops, ff.Flow.Wbytes, ff.Flow.Wops
	if c := ff.Container; c != nil {
		if c.Type != "host" || c.Id != "" {
			ev.Container = &sysflow.Container{ID: c.Id, Name: c.Name, Image: c.Image, ImageID: c.Imageid,
				Privileged: c.Privileged != 0, Type: sysflow.ContainerType(indexOf(sysflow.ContainerTypeNames, "CT_"+c.Type))}
			if ev.Proc != nil {
				ev.Proc.ContainerID = &ev.Container.ID
			}
		}
	} else if ev.Proc != nil {
		// The process is in a container whose record was missing.
		ev.Proc.ContainerID = new(string)
	}
	if p := ff.Pod; p != nil {
		pod := &sysflow.Pod{ID: p.Id, Name: p.Name, NodeName: p.Nodename, Namespace: p.Namespace,
			TS: p.Ts, RestartCount: p.Restartcnt}
		if pod.HostIP, pod.InternalIP, pod.Services, err = pods.parse(p.Hostip, p.Internalip, p.Services); err != nil {
			return nil, err
		}
		ev.Pod = pod
	}
	if k := ff.Ke; k != nil {
		ev.K8s = &sysflow.K8sEvent{TS: ev.TS, Message: k.Message,
			Action: indexOf(sysflow.K8sActionNames, k.Action), Kind: indexOf(sysflow.K8sComponentNames, k.Kind)}
	}
	for _, m := range ff.Rules {
		ev.Matches = append(ev.Matches, sysflow.Match{Rule: m.Rule, Desc: m.Desc,
			Priority: parsePriority(m.Priority), Tags: m.Tags, Output: m.Output})
	}
	ev.Tags = ff.Tags
	return ev, nil
}

func parsePriority(s string) sysflow.Priority {
	switch s {
	case "high":
		return sysflow.PriorityHigh
	case "medium":
		return sysflow.PriorityMedium
	}
	return sysflow.PriorityLow
}

// podCache keeps the parsed JSON of recent pods: every event of a pod
// carries the same three texts, and parsing them is most of decoding such an
// event. The parsed values are shared between events, like the flattener's
// entity snapshots, and never modified.
type podCache struct {
	mu sync.Mutex
	m  map[[3]string]parsedPod
}

type parsedPod struct {
	hostIP, internalIP []int64
	services           []sysflow.Service
}

// maxCachedPods bounds the cache; it is cleared when full.
const maxCachedPods = 1024

func (c *podCache) parse(hostIP, internalIP, services string) ([]int64, []int64, []sysflow.Service, error) {
	key := [3]string{hostIP, internalIP, services}
	c.mu.Lock()
	p, ok := c.m[key]
	c.mu.Unlock()
	if ok {
		return p.hostIP, p.internalIP, p.services, nil
	}
	var err error
	if p.hostIP, err = ipsFromJSON(hostIP); err != nil {
		return nil, nil, nil, fmt.Errorf("pod.hostip: %w", err)
	}
	if p.internalIP, err = ipsFromJSON(internalIP); err != nil {
		return nil, nil, nil, fmt.Errorf("pod.internalip: %w", err)
	}
	if p.services, err = servicesFromJSON(services); err != nil {
		return nil, nil, nil, fmt.Errorf("pod.services: %w", err)
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxCachedPods {
		c.m = make(map[[3]string]parsedPod)
	}
	// Cloned: the texts are cut from the whole message, which the cache
	// should not keep alive.
	c.m[[3]string{strings.Clone(hostIP), strings.Clone(internalIP), strings.Clone(services)}] = p
	c.mu.Unlock()
	return p.hostIP, p.internalIP, p.services, nil
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
