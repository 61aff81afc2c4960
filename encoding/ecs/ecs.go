package ecs

import (
	"crypto/sha1" //nolint:gosec // Community ID v1 is defined over SHA-1; it is an identifier, not a security measure
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"path"
	"strconv"
	"strings"

	"github.com/cespare/xxhash/v2"

	"github.com/sfconnector/sfconnector/sysflow"
)

// DefaultECSVersion is the ECS version the documents declare by default.
const DefaultECSVersion = "8.11.0"

// Config configures the encoder.
type Config struct {
	// AgentVersion is written to agent.version (the connector's version);
	// empty leaves it out.
	AgentVersion string
	// ECSVersion is written to ecs.version; default DefaultECSVersion.
	ECSVersion string
}

func (c *Config) setDefaults() {
	if c.ECSVersion == "" {
		c.ECSVersion = DefaultECSVersion
	}
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	if strings.ContainsAny(c.ECSVersion, "\"\\") || strings.ContainsAny(c.AgentVersion, "\"\\") {
		return errors.New("ecs: versions must not contain quotes or backslashes")
	}
	return nil
}

// Encoder writes ECS documents. It holds no mutable state: one Encoder may
// serve many goroutines.
type Encoder struct {
	cfg Config
}

// New returns an encoder for cfg.
func New(cfg Config) (*Encoder, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Encoder{cfg: cfg}, nil
}

// ErrNilEvent is returned for a nil event.
var ErrNilEvent = errors.New("ecs: nil event")

// Operation bits of the SysFlow opflags field.
const (
	opClone     = 1 << 0
	opExec      = 1 << 1
	opExit      = 1 << 2
	opSetuid    = 1 << 3
	opAccept    = 1 << 5
	opConnect   = 1 << 6
	opReadRecv  = 1 << 8
	opWriteSend = 1 << 9
	opMkdir     = 1 << 15
	opRmdir     = 1 << 16
	opLink      = 1 << 17
	opUnlink    = 1 << 18
	opSymlink   = 1 << 19
	opRename    = 1 << 20
)

// AppendEvent appends the ECS document of ev to dst (no trailing newline).
func (e *Encoder) AppendEvent(dst []byte, ev *sysflow.Event) ([]byte, error) {
	if ev == nil {
		return dst, ErrNilEvent
	}
	b := append(dst, '{')
	b = timeField(b, "@timestamp", ev.TS)
	b = append(key(b, "agent"), '{')
	b = strField(b, "type", "SysFlow")
	if e.cfg.AgentVersion != "" {
		b = strField(b, "version", e.cfg.AgentVersion)
	}
	b = append(b, '}')
	b = append(key(b, "ecs"), '{')
	b = strField(b, "version", e.cfg.ECSVersion)
	b = append(b, '}')

	b = appendEventObject(b, ev)
	if len(ev.Matches) > 0 {
		top := &ev.Matches[0]
		for i := range ev.Matches {
			if ev.Matches[i].Priority > top.Priority {
				top = &ev.Matches[i]
			}
		}
		b = append(key(b, "rule"), '{')
		b = strField(b, "name", top.Rule)
		if top.Desc != "" {
			b = strField(b, "description", top.Desc)
		}
		b = append(b, '}')
	}
	if h := ev.Header; h != nil {
		b = append(key(b, "host"), '{')
		b = strField(b, "id", h.Exporter)
		if validIP(h.IP) {
			b = stringsField(b, "ip", []string{h.IP})
		}
		b = append(b, '}')
	}

	if ev.Kind == sysflow.KindK8sEvent {
		b = appendK8sOrchestrator(b, ev.K8s)
	} else {
		b = appendContainer(b, ev.Container)
		if ev.Pod != nil {
			b = appendPod(b, ev.Pod)
		}
		b = appendProcess(b, ev)
		b = appendUser(b, ev.Proc)
	}
	switch ev.Kind {
	case sysflow.KindFileFlow, sysflow.KindFileEvent:
		b = appendFile(b, ev)
	case sysflow.KindNetworkFlow, sysflow.KindNetworkEvent:
		b = appendNetwork(b, ev)
	}
	b = appendTags(b, ev)
	return append(b, '}'), nil
}

func typeName(k sysflow.RecordKind) string { return k.TypeName() }

// classify returns event.category, event.type and event.action the way
// the reference's encoder derives them from the record type and op flags.
func classify(ev *sysflow.Event) (category, typ, action string) {
	f := ev.OpFlags
	switch ev.Kind {
	case sysflow.KindProcessEvent:
		thread := ev.ProcOID.Hpid != ev.TID
		switch {
		case f&opExit != 0 && thread:
			return "process", "thread-exit", "process-thread-exit"
		case f&opExit != 0:
			return "process", "exit", "process-exit"
		case f&(opClone|opExec) != 0 && thread:
			return "process", "thread-start", "process-thread-start"
		case f&(opClone|opExec) == 0 && f&opSetuid != 0:
			return "process", "change", "process-change"
		}
		return "process", "start", "process-start"
	case sysflow.KindFileFlow:
		read := f&opReadRecv != 0 && (ev.RBytes > 0 || ev.ROps > 0)
		write := f&opWriteSend != 0 && (ev.WBytes > 0 || ev.WOps > 0)
		switch {
		case read && write:
			return "file", "change", "file-access-read-write"
		case write:
			return "file", "change", "file-access-write"
		case read:
			return "file", "access", "file-access-read"
		}
		return "file", "access", "file-access"
	case sysflow.KindFileEvent:
		switch {
		case f&opMkdir != 0:
			return "directory", "creation", "directory-create"
		case f&opRmdir != 0:
			return "directory", "deletion", "directory-delete"
		case f&opUnlink != 0:
			return "file", "deletion", "file-delete"
		case f&(opSymlink|opLink) != 0:
			return "file", "change", "file-link"
		case f&opRename != 0:
			return "file", "change", "file-rename"
		}
		return "file", "change", "file-change"
	case sysflow.KindNetworkFlow:
		return "network", "connection", "network-connection-traffic"
	case sysflow.KindNetworkEvent:
		switch {
		case f&opConnect != 0:
			return "network", "connection", "network-connect"
		case f&opAccept != 0:
			return "network", "connection", "network-accept"
		}
		return "network", "connection", "network-connection"
	case sysflow.KindProcessFlow:
		return "process", "info", "process-threads"
	case sysflow.KindK8sEvent:
		typ = "info"
		if ev.K8s != nil {
			switch k8sAction(ev.K8s) {
			case "K8S_COMPONENT_ADDED":
				typ = "creation"
			case "K8S_COMPONENT_DELETED":
				typ = "deletion"
			case "K8S_COMPONENT_MODIFIED":
				typ = "change"
			case "K8S_COMPONENT_ERROR":
				typ = "error"
			}
			return "orchestration", typ, k8sAction(ev.K8s)
		}
		return "orchestration", typ, ""
	}
	return "", "", ""
}

func k8sAction(k *sysflow.K8sEvent) string {
	if k.Action < 0 || int(k.Action) >= len(sysflow.K8sActionNames) {
		return ""
	}
	return sysflow.K8sActionNames[k.Action]
}

func appendEventObject(b []byte, ev *sysflow.Event) []byte {
	category, typ, action := classify(ev)
	alert := len(ev.Matches) > 0
	b = append(key(b, "event"), '{')
	if alert {
		b = strField(b, "kind", "alert")
	} else {
		b = strField(b, "kind", "event")
	}
	b = strField(b, "category", category)
	b = strField(b, "type", typ)
	b = strField(b, "action", action)
	b = strField(b, "module", "sysflow")
	if alert {
		b = strField(b, "dataset", "sysflow.alerts")
	} else {
		b = strField(b, "dataset", "sysflow.events")
	}
	b = strField(b, "sf_type", typeName(ev.Kind))
	end := ev.EndTS
	if end == 0 {
		end = ev.TS
	}
	b = timeField(b, "start", ev.TS)
	b = timeField(b, "end", end)
	b = intField(b, "duration", end-ev.TS)
	if ev.Kind == sysflow.KindProcessEvent || ev.Kind == sysflow.KindFileEvent {
		if ev.Ret < 0 {
			b = strField(b, "outcome", "failure")
		} else {
			b = strField(b, "outcome", "success")
		}
		b = intField(b, "sf_ret", int64(ev.Ret))
	}
	if ev.Kind == sysflow.KindK8sEvent && ev.K8s != nil {
		b = strField(b, "original", ev.K8s.Message)
	}
	if alert {
		b = append(key(b, "reason"), '"')
		for i := range ev.Matches {
			if i > 0 {
				b = append(b, ',', ' ')
			}
			b = appendEscaped(b, ev.Matches[i].Rule)
		}
		b = append(b, '"')
		b = intField(b, "severity", int64(ev.MaxPriority()))
	}
	return append(b, '}')
}

// runtimes are the container types in schema order (sysflow.ContainerTypeNames
// without CT_, lower case), as ECS writes container.runtime.
var runtimes = [...]string{"docker", "lxc", "libvirt_lxc", "mesos", "rkt", "custom", "cri", "containerd", "crio", "bpm"}

func appendContainer(b []byte, c *sysflow.Container) []byte {
	if c == nil {
		return b
	}
	b = append(key(b, "container"), '{')
	b = strField(b, "id", c.ID)
	b = strField(b, "name", c.Name)
	if c.Type >= 0 && int(c.Type) < len(runtimes) {
		b = strField(b, "runtime", runtimes[c.Type])
	}
	b = boolField(b, "sf_privileged", c.Privileged)
	if c.Image != "" || c.ImageID != "" {
		b = append(key(b, "image"), '{')
		b = strField(b, "name", c.Image)
		if c.ImageID != "" {
			b = strField(b, "id", c.ImageID)
		}
		b = append(b, '}')
	}
	return append(b, '}')
}

func appendPod(b []byte, p *sysflow.Pod) []byte {
	b = append(key(b, "orchestrator"), '{')
	b = strField(b, "type", "kubernetes")
	b = strField(b, "namespace", p.Namespace)
	b = append(key(b, "resource"), '{')
	b = strField(b, "type", "pod")
	b = strField(b, "name", p.Name)
	b = append(b, '}', '}')

	b = append(key(b, "pod"), '{')
	b = timeField(b, "ts", p.TS)
	b = strField(b, "id", p.ID)
	b = strField(b, "name", p.Name)
	b = strField(b, "nodename", p.NodeName)
	b = strField(b, "namespace", p.Namespace)
	b = ipsField(b, "hostip", p.HostIP)
	b = ipsField(b, "internalip", p.InternalIP)
	b = intField(b, "restartcnt", p.RestartCount)
	b = append(b, '}')
	if len(p.Services) == 0 {
		return b
	}
	b = append(key(b, "service"), '[')
	for i := range p.Services {
		s := &p.Services[i]
		b = append(sep(b), '{')
		b = strField(b, "id", s.ID)
		b = strField(b, "name", s.Name)
		b = strField(b, "namespace", s.Namespace)
		b = ipsField(b, "clusterip", s.ClusterIP)
		b = append(key(b, "ports"), '[')
		for _, pt := range s.PortList {
			b = append(sep(b), '{')
			b = intField(b, "port", int64(pt.Port))
			b = intField(b, "targetport", int64(pt.TargetPort))
			b = intField(b, "nodeport", int64(pt.NodePort))
			b = strField(b, "proto", pt.Proto)
			b = append(b, '}')
		}
		b = append(b, ']', '}')
	}
	return append(b, ']')
}

func ipsField(b []byte, k string, ips []int64) []byte {
	b = append(key(b, k), '[')
	for _, ip := range ips {
		b = append(sep(b), '"')
		b = appendIPv4(b, uint32(ip))
		b = append(b, '"')
	}
	return append(b, ']')
}

// appendK8sOrchestrator describes the resource a Kubernetes event is about,
// read from the event's JSON message (kind, items[0].namespace/name).
func appendK8sOrchestrator(b []byte, k *sysflow.K8sEvent) []byte {
	var msg struct {
		Kind  string `json:"kind"`
		Items []struct {
			Namespace string `json:"namespace"`
			Name      string `json:"name"`
		} `json:"items"`
	}
	if k != nil {
		_ = json.Unmarshal([]byte(k.Message), &msg) // a malformed message leaves the fields empty
	}
	var ns, name string
	if len(msg.Items) > 0 {
		ns, name = msg.Items[0].Namespace, msg.Items[0].Name
	}
	b = append(key(b, "orchestrator"), '{')
	b = strField(b, "type", "kubernetes")
	b = strField(b, "namespace", ns)
	b = append(key(b, "resource"), '{')
	b = strField(b, "type", strings.ToLower(msg.Kind))
	b = strField(b, "name", name)
	return append(b, '}', '}')
}

func appendProcess(b []byte, ev *sysflow.Event) []byte {
	b = append(key(b, "process"), '{')
	b = intField(b, "pid", ev.ProcOID.Hpid)
	b = append(key(b, "entity_id"), '"')
	b = appendOIDHash(b, ev.ProcOID)
	b = append(b, '"')
	b = timeField(b, "start", ev.ProcOID.CreateTS)
	if ev.TID != 0 {
		b = append(key(b, "thread"), '{')
		b = intField(b, "id", ev.TID)
		b = append(b, '}')
	}
	if p := ev.Proc; p != nil {
		b = appendExe(b, p, true)
		if p.Cwd != "" {
			b = strField(b, "working_directory", p.Cwd)
		}
		b = boolField(b, "interactive", p.TTY)
		b = boolField(b, "sf_entry", p.Entry)
	}
	var poid *sysflow.OID
	switch {
	case ev.ParentOID != nil:
		poid = ev.ParentOID
	case ev.Parent != nil:
		poid = &ev.Parent.OID
	case ev.Proc != nil && ev.Proc.POID != nil:
		poid = ev.Proc.POID
	}
	if poid != nil {
		b = append(key(b, "parent"), '{')
		b = intField(b, "pid", poid.Hpid)
		b = append(key(b, "entity_id"), '"')
		b = appendOIDHash(b, *poid)
		b = append(b, '"')
		b = timeField(b, "start", poid.CreateTS)
		if ev.Parent != nil {
			b = appendExe(b, ev.Parent, false)
		}
		b = append(b, '}')
	}
	return append(b, '}')
}

// appendExe writes executable, name, args, args_count and command_line.
// The command line is exe + " " + args, always with the space for the
// process itself (sf.proc.cmdline) and only before arguments for the parent
// (sf.pproc.cmdline), as the policy fields define them.
func appendExe(b []byte, p *sysflow.Process, alwaysSpace bool) []byte {
	args := strings.TrimSpace(p.ExeArgs)
	b = strField(b, "executable", p.Exe)
	if p.Exe != "" {
		b = strField(b, "name", path.Base(p.Exe))
	}
	b = append(key(b, "args"), '[')
	n := 0
	if p.Exe != "" {
		b = appendString(sep(b), p.Exe)
		n++
	}
	for f := range strings.FieldsSeq(args) {
		b = appendString(sep(b), f)
		n++
	}
	b = append(b, ']')
	b = intField(b, "args_count", int64(n))
	b = append(key(b, "command_line"), '"')
	b = appendEscaped(b, p.Exe)
	if alwaysSpace || args != "" {
		b = append(b, ' ')
		b = appendEscaped(b, args)
	}
	return append(b, '"')
}

func appendUser(b []byte, p *sysflow.Process) []byte {
	if p == nil {
		return b
	}
	b = append(key(b, "user"), '{')
	b = append(key(b, "id"), '"')
	b = strconv.AppendInt(b, int64(p.UID), 10)
	b = append(b, '"')
	if p.UserName != "" {
		b = strField(b, "name", p.UserName)
	}
	b = append(key(b, "group"), '{')
	b = append(key(b, "id"), '"')
	b = strconv.AppendInt(b, int64(p.GID), 10)
	b = append(b, '"')
	if p.GroupName != "" {
		b = strField(b, "name", p.GroupName)
	}
	return append(b, '}', '}')
}

// splitPath removes the socket endpoint part of a collector path: unix
// socket ends are named "src->dst path", whose path is the part after the
// space that follows the arrow.
func splitPath(p string) string {
	arrow := strings.Index(p, "->")
	if arrow < 0 {
		return p
	}
	sp := strings.IndexByte(p[arrow:], ' ')
	if sp < 0 {
		return p
	}
	return strings.TrimSpace(p[arrow+sp+1:])
}

func fileType(restype int32) string {
	switch restype {
	case 'f':
		return "file"
	case 'd':
		return "dir"
	case 'u':
		return "socket"
	case 'p':
		return "pipe"
	}
	return "unknown"
}

func appendFile(b []byte, ev *sysflow.Event) []byte {
	var fpath string
	var restype int32
	if ev.File != nil {
		fpath = splitPath(ev.File.Path)
		restype = ev.File.Restype
	}
	typ := fileType(restype)
	if ev.Kind == sysflow.KindFileEvent && ev.OpFlags&opSymlink != 0 {
		typ = "symlink"
	}
	var name string
	if fpath != "" {
		name = path.Base(fpath)
	} else {
		// No path: name the descriptor, as the reference does.
		fd := strconv.FormatInt(int64(ev.FD), 10)
		fpath = "/proc/" + strconv.FormatInt(ev.ProcOID.Hpid, 10) + "/fd/" + fd
		name = fd
	}
	b = append(key(b, "file"), '{')
	b = strField(b, "type", typ)
	if typ == "dir" {
		b = strField(b, "directory", fpath)
	} else {
		b = strField(b, "name", name)
		b = strField(b, "directory", path.Dir(fpath))
	}
	b = strField(b, "path", fpath)
	if ev.Kind == sysflow.KindFileEvent && ev.OpFlags&(opLink|opSymlink|opRename) != 0 && ev.NewFile != nil {
		b = strField(b, "target_path", splitPath(ev.NewFile.Path))
	}
	b = append(b, '}')
	if ev.Kind == sysflow.KindFileFlow && (ev.RBytes > 0 || ev.ROps > 0 || ev.WBytes > 0 || ev.WOps > 0) {
		b = append(key(b, "sf_file_action"), '{')
		b = intField(b, "bytes_read", ev.RBytes)
		b = intField(b, "read_ops", ev.ROps)
		b = intField(b, "bytes_written", ev.WBytes)
		b = intField(b, "write_ops", ev.WOps)
		b = append(b, '}')
	}
	return b
}

func transport(proto int32) string {
	switch proto {
	case 6:
		return "tcp"
	case 17:
		return "udp"
	case 1:
		return "icmp"
	case 132:
		return "sctp"
	}
	return ""
}

func appendNetwork(b []byte, ev *sysflow.Event) []byte {
	flow := ev.Kind == sysflow.KindNetworkFlow
	b = append(key(b, "network"), '{')
	if t := transport(ev.Proto); t != "" {
		b = strField(b, "transport", t)
	}
	b = append(key(b, "iana_number"), '"')
	b = strconv.AppendInt(b, int64(ev.Proto), 10)
	b = append(b, '"')
	if flow {
		b = intField(b, "bytes", ev.RBytes+ev.WBytes)
	}
	if ev.Proto == 6 || ev.Proto == 17 || ev.Proto == 132 {
		b = append(key(b, "community_id"), '"')
		b = appendCommunityID(b, uint32(ev.SIP), uint32(ev.DIP), uint16(ev.SPort), uint16(ev.DPort), uint8(ev.Proto))
		b = append(b, '"')
	}
	b = append(b, '}')
	b = appendEndpoint(b, "source", uint32(ev.SIP), ev.SPort, flow, ev.WBytes, ev.WOps)
	return appendEndpoint(b, "destination", uint32(ev.DIP), ev.DPort, flow, ev.RBytes, ev.ROps)
}

// appendEndpoint writes source or destination. The source sent what the
// process wrote; the destination what it read.
func appendEndpoint(b []byte, k string, ip uint32, port int32, flow bool, bytes, packets int64) []byte {
	b = append(key(b, k), '{')
	b = append(key(b, "ip"), '"')
	b = appendIPv4(b, ip)
	b = append(b, '"')
	b = intField(b, "port", int64(port))
	b = append(key(b, "address"), '"')
	b = appendIPv4(b, ip)
	b = append(b, '"')
	if flow {
		b = intField(b, "bytes", bytes)
		b = intField(b, "packets", packets)
	}
	return append(b, '}')
}

// appendIPv4 writes a collector address: network byte order held in a
// little-endian integer, so the first octet is the lowest byte.
func appendIPv4(b []byte, ip uint32) []byte {
	for i := range 4 {
		if i > 0 {
			b = append(b, '.')
		}
		b = strconv.AppendUint(b, uint64(ip>>(8*i)&0xff), 10)
	}
	return b
}

// appendCommunityID appends the Community ID v1 (seed 0) of a flow, the
// hash Zeek, Suricata and Elastic use to join records of one connection:
// base64 of SHA-1 over seed, the ordered endpoints, protocol, a zero byte
// and the ports.
func appendCommunityID(b []byte, sip, dip uint32, sport, dport uint16, proto uint8) []byte {
	var s, d [4]byte
	binary.LittleEndian.PutUint32(s[:], sip) // first octet first: network order
	binary.LittleEndian.PutUint32(d[:], dip)
	if c := compare4(s, d); c > 0 || (c == 0 && sport > dport) {
		s, d = d, s
		sport, dport = dport, sport
	}
	var in [2 + 4 + 4 + 2 + 4]byte // seed, saddr, daddr, proto, pad, sport, dport
	copy(in[2:6], s[:])
	copy(in[6:10], d[:])
	in[10] = proto
	binary.BigEndian.PutUint16(in[12:14], sport)
	binary.BigEndian.PutUint16(in[14:16], dport)
	sum := sha1.Sum(in[:]) //nolint:gosec // see import
	b = append(b, '1', ':')
	return base64.StdEncoding.AppendEncode(b, sum[:])
}

func compare4(a, b [4]byte) int {
	for i := range 4 {
		if a[i] != b[i] {
			if a[i] < b[i] {
				return -1
			}
			return 1
		}
	}
	return 0
}

// appendOIDHash writes sf.proc.oid: XXH64 of the decimal pid followed by
// the decimal create time, as 16 lowercase hex digits.
func appendOIDHash(b []byte, o sysflow.OID) []byte {
	var buf [40]byte
	in := strconv.AppendInt(buf[:0], o.Hpid, 10)
	in = strconv.AppendInt(in, o.CreateTS, 10)
	h := xxhash.Sum64(in)
	for shift := 60; shift >= 0; shift -= 4 {
		b = append(b, hexDigits[(h>>uint(shift))&0xf])
	}
	return b
}

// validIP accepts a dotted IPv4 or an IPv6 address; the collector writes
// "NA" or "" when it has none.
func validIP(s string) bool {
	if s == "" || s == "NA" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' || c == '.' || c == ':') {
			return false
		}
	}
	return strings.ContainsAny(s, ".:")
}

// appendTags writes the event's tags, or for an alert whose tags were not
// merged yet, the de-duplicated tags of its matches.
func appendTags(b []byte, ev *sysflow.Event) []byte {
	if len(ev.Tags) > 0 {
		return stringsField(b, "tags", ev.Tags)
	}
	n := 0
	for i := range ev.Matches {
		n += len(ev.Matches[i].Tags)
	}
	if n == 0 {
		return b
	}
	b = append(key(b, "tags"), '[')
	for i := range ev.Matches {
	next:
		for k, t := range ev.Matches[i].Tags {
			// Seen in an earlier match, or earlier in this one?
			for j := range i {
				for _, have := range ev.Matches[j].Tags {
					if have == t {
						continue next
					}
				}
			}
			for _, have := range ev.Matches[i].Tags[:k] {
				if have == t {
					continue next
				}
			}
			b = appendString(sep(b), t)
		}
	}
	return append(b, ']')
}
