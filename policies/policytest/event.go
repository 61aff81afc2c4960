package policytest

import (
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/sfconnector/sfconnector/sysflow"
	"gopkg.in/yaml.v3"
)

// Values are flat-event field values by field name (sf.* or a Falco alias):
// a string, or a list of strings for list fields.
type Values map[string]any

// UnmarshalYAML reads a mapping of field names to scalars or lists of
// scalars, keeping each scalar as written ("0755" stays 0755).
func (v *Values) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: an event is a mapping of field names to values", n.Line)
	}
	out := Values{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		switch val.Kind {
		case yaml.ScalarNode:
			out[k.Value] = val.Value
		case yaml.SequenceNode:
			list := make([]string, 0, len(val.Content))
			for _, e := range val.Content {
				if e.Kind != yaml.ScalarNode {
					return fmt.Errorf("line %d: field %s: list entries must be scalars", e.Line, k.Value)
				}
				list = append(list, e.Value)
			}
			out[k.Value] = list
		default:
			return fmt.Errorf("line %d: field %s: want a value or a list of values", val.Line, k.Value)
		}
	}
	*v = out
	return nil
}

// NewEvent builds a flat event holding the given field values, for policy
// tests that need no trace. Values are set on the underlying records
// (process, parent, file, container...), and derived fields follow: set
// sf.proc.exe and sf.proc.name reads its base name. A derived field may be
// given instead of its source when the source can be worked out
// (sf.proc.name alone sets the exe, sf.proc.cmdline splits into exe and
// args). Every given value is then read back through the field registry,
// and a value the event does not hold is an error, so a test never runs on
// an event other than the one it describes.
//
// The record type is sf.type, or else FF when a file field is given, NF for
// network or flow fields, KE for Kubernetes event fields and PE otherwise.
// A process is in a container when a container field is given, else on the
// host.
func NewEvent(v Values) (*sysflow.Event, error) {
	b := &builder{ev: &sysflow.Event{}, vals: map[string]any{}}
	names := make([]string, 0, len(v))
	for name, val := range v {
		f, ok := sysflow.LookupField(name)
		if !ok {
			hint := ""
			if c := sysflow.ClosestField(name); c != "" {
				hint = fmt.Sprintf(" (did you mean %s?)", c)
			}
			return nil, fmt.Errorf("unknown field %s%s", name, hint)
		}
		if _, dup := b.vals[f.Name]; dup {
			return nil, fmt.Errorf("field %s given twice (as %s and an alias)", f.Name, name)
		}
		b.vals[f.Name] = val
		names = append(names, f.Name)
	}
	sort.Strings(names)
	if err := b.kind(); err != nil {
		return nil, err
	}
	for _, n := range names {
		if err := b.set(n, b.vals[n]); err != nil {
			return nil, fmt.Errorf("field %s: %w", n, err)
		}
	}
	b.finish()
	for _, n := range names {
		if err := check(b.ev, n, b.vals[n]); err != nil {
			return nil, err
		}
	}
	return b.ev, nil
}

type builder struct {
	ev   *sysflow.Event
	vals map[string]any
}

func (b *builder) kind() error {
	t, _ := b.vals["sf.type"].(string)
	if t == "" {
		t = "PE"
		for n := range b.vals {
			switch {
			case strings.HasPrefix(n, "sf.file."):
				t = "FF"
			case strings.HasPrefix(n, "sf.net.") || strings.HasPrefix(n, "sf.flow."):
				if t != "FF" {
					t = "NF"
				}
			case strings.HasPrefix(n, "sf.ke."):
				t = "KE"
			}
		}
	}
	for k := sysflow.KindHeader; k <= sysflow.KindK8sEvent; k++ {
		if k.TypeName() == t {
			b.ev.Kind = k
			return nil
		}
	}
	return fmt.Errorf("sf.type %q: want PE, FE, FF, NF, NE, PF or KE", t)
}

func (b *builder) proc() *sysflow.Process {
	if b.ev.Proc == nil {
		b.ev.Proc = &sysflow.Process{}
	}
	return b.ev.Proc
}

func (b *builder) parent() *sysflow.Process {
	if b.ev.Parent == nil {
		b.ev.Parent = &sysflow.Process{}
	}
	return b.ev.Parent
}

func (b *builder) file() *sysflow.File {
	if b.ev.File == nil {
		b.ev.File = &sysflow.File{Restype: 'f'}
	}
	return b.ev.File
}

func (b *builder) newFile() *sysflow.File {
	if b.ev.NewFile == nil {
		b.ev.NewFile = &sysflow.File{Restype: 'f'}
	}
	return b.ev.NewFile
}

func (b *builder) container() *sysflow.Container {
	if b.ev.Container == nil {
		b.ev.Container = &sysflow.Container{}
	}
	return b.ev.Container
}

func (b *builder) header() *sysflow.Header {
	if b.ev.Header == nil {
		b.ev.Header = &sysflow.Header{Version: 5}
	}
	return b.ev.Header
}

// set applies one value. Fields derived from others are skipped when their
// source is given too (the check afterwards compares them).
func (b *builder) set(name string, val any) error {
	list, isList := val.([]string)
	if !isList {
		if l, ok := val.([]any); ok {
			for _, x := range l {
				list = append(list, fmt.Sprint(x))
			}
			isList = true
		}
	}
	s := fmt.Sprint(val)
	given := func(n string) bool { _, ok := b.vals[n]; return ok }
	num := func() (int64, error) {
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%q is not an integer", s)
		}
		return n, nil
	}
	flag := func() (bool, error) {
		v, err := strconv.ParseBool(strings.TrimSpace(s))
		if err != nil {
			return false, fmt.Errorf("%q is not true or false", s)
		}
		return v, nil
	}
	var err error
	var n int64
	var t bool
	switch name {
	case "sf.type":
	case "sf.opflags":
		if !isList {
			list = splitList(s)
		}
		for _, f := range list {
			bit, ok := opFlag(f, b.ev.Kind)
			if !ok {
				return fmt.Errorf("unknown op flag %q for a %s record", f, b.ev.Kind.TypeName())
			}
			b.ev.OpFlags |= bit
		}
	case "sf.ret":
		n, err = num()
		b.ev.Ret = int32(n)
	case "sf.ts":
		n, err = num()
		b.ev.TS = n
	case "sf.endts":
		n, err = num()
		b.ev.EndTS = n
	case "sf.proc.pid":
		n, err = num()
		b.ev.ProcOID.Hpid = n
	case "sf.proc.tid":
		n, err = num()
		b.ev.TID = n
	case "sf.proc.createts":
		n, err = num()
		b.ev.ProcOID.CreateTS = n
	case "sf.proc.exe":
		b.proc().Exe = s
	case "sf.proc.name":
		if !given("sf.proc.exe") && !given("sf.proc.cmdline") {
			b.proc().Exe = s
		}
	case "sf.proc.args":
		b.proc().ExeArgs = s
	case "sf.proc.cmdline":
		if !given("sf.proc.exe") {
			exe, args, _ := strings.Cut(s, " ")
			b.proc().Exe = exe
			if !given("sf.proc.args") {
				b.proc().ExeArgs = args
			}
		}
	case "sf.proc.uid":
		n, err = num()
		b.proc().UID = int32(n)
	case "sf.proc.gid":
		n, err = num()
		b.proc().GID = int32(n)
	case "sf.proc.user":
		b.proc().UserName = s
	case "sf.proc.group":
		b.proc().GroupName = s
	case "sf.proc.tty":
		t, err = flag()
		b.proc().TTY = t
	case "sf.proc.entry":
		t, err = flag()
		b.proc().Entry = t
	case "sf.proc.cwd":
		b.proc().Cwd = s
	case "sf.proc.env":
		if !isList {
			list = splitList(s)
		}
		b.proc().Env = list
	case "sf.proc.aname", "sf.proc.aexe":
		if !isList {
			list = splitList(s)
		}
		if given("sf.proc.aname") && given("sf.proc.aexe") && name == "sf.proc.aname" {
			return nil // the exes make the names
		}
		b.ancestry(list)
	case "sf.pproc.pid":
		n, err = num()
		b.parentOID().Hpid = n
	case "sf.pproc.createts":
		n, err = num()
		b.parentOID().CreateTS = n
	case "sf.pproc.exe":
		b.parent().Exe = s
	case "sf.pproc.name":
		if !given("sf.pproc.exe") && !given("sf.pproc.cmdline") {
			b.parent().Exe = s
		}
	case "sf.pproc.args":
		b.parent().ExeArgs = s
	case "sf.pproc.cmdline":
		if !given("sf.pproc.exe") {
			exe, args, _ := strings.Cut(s, " ")
			b.parent().Exe = exe
			if !given("sf.pproc.args") {
				b.parent().ExeArgs = args
			}
		}
	case "sf.pproc.uid":
		n, err = num()
		b.parent().UID = int32(n)
	case "sf.pproc.gid":
		n, err = num()
		b.parent().GID = int32(n)
	case "sf.pproc.user":
		b.parent().UserName = s
	case "sf.pproc.group":
		b.parent().GroupName = s
	case "sf.pproc.tty":
		t, err = flag()
		b.parent().TTY = t
	case "sf.file.path":
		b.file().Path = s
	case "sf.file.name", "sf.file.directory":
		if !given("sf.file.path") {
			dir, _ := b.vals["sf.file.directory"].(string)
			base, _ := b.vals["sf.file.name"].(string)
			b.file().Path = path.Join(dir, base)
		}
	case "sf.file.newpath":
		b.newFile().Path = s
	case "sf.file.newname", "sf.file.newdirectory":
		if !given("sf.file.newpath") {
			dir, _ := b.vals["sf.file.newdirectory"].(string)
			base, _ := b.vals["sf.file.newname"].(string)
			b.newFile().Path = path.Join(dir, base)
		}
	case "sf.file.type":
		if len(s) != 1 {
			return fmt.Errorf("%q: the type is one character (f, d, u, p, 4, 6...)", s)
		}
		b.file().Restype = int32(s[0])
	case "sf.file.fd":
		n, err = num()
		b.ev.FD = int32(n)
	case "sf.file.openflags":
		if !isList {
			list = splitList(s)
		}
		for _, f := range list {
			bits, ok := openFlag(f)
			if !ok {
				return fmt.Errorf("unknown open flag %q", f)
			}
			b.ev.OpenFlags |= bits
		}
	case "sf.file.is_open_read", "sf.file.is_open_write":
		t, err = flag()
		if t && !given("sf.file.openflags") {
			if name == "sf.file.is_open_read" {
				b.ev.OpenFlags |= sysflow.OpenRdonly
			} else {
				b.ev.OpenFlags |= sysflow.OpenWronly
			}
		}
		b.file()
	case "sf.net.proto":
		n, err = num()
		b.ev.Proto = int32(n)
	case "sf.net.sport":
		n, err = num()
		b.ev.SPort = int32(n)
	case "sf.net.dport":
		n, err = num()
		b.ev.DPort = int32(n)
	case "sf.net.sip", "sf.net.dip":
		ip, ok := parseIPv4(s)
		if !ok {
			return fmt.Errorf("%q is not a dotted IPv4 address", s)
		}
		if name == "sf.net.sip" {
			b.ev.SIP = int32(ip)
		} else {
			b.ev.DIP = int32(ip)
		}
	case "sf.flow.rbytes":
		n, err = num()
		b.ev.RBytes = n
	case "sf.flow.rops":
		n, err = num()
		b.ev.ROps = n
	case "sf.flow.wbytes":
		n, err = num()
		b.ev.WBytes = n
	case "sf.flow.wops":
		n, err = num()
		b.ev.WOps = n
	case "sf.container.id":
		b.container().ID = s
	case "sf.container.name":
		b.container().Name = s
	case "sf.container.image":
		b.container().Image = s
	case "sf.container.imageid":
		b.container().ImageID = s
	case "sf.container.type":
		if s == "host" {
			return nil
		}
		found := false
		for i, tn := range sysflow.ContainerTypeNames {
			if tn == "CT_"+s {
				b.container().Type = sysflow.ContainerType(i)
				found = true
			}
		}
		if !found {
			return fmt.Errorf("unknown container type %q", s)
		}
	case "sf.container.privileged":
		b.container().Privileged = s == "1" || s == "true"
	case "sf.node.id":
		b.header().Exporter = s
	case "sf.node.ip":
		b.header().IP = s
	case "sf.meta.tracename":
		b.header().Filename = s
	default:
		return fmt.Errorf("cannot be set in an inline event (set the fields it is made from)")
	}
	return err
}

func (b *builder) parentOID() *sysflow.OID {
	if b.ev.ParentOID == nil {
		b.ev.ParentOID = &sysflow.OID{}
	}
	return b.ev.ParentOID
}

// ancestry builds the chain: the process itself, its parent, then one
// process per further entry.
func (b *builder) ancestry(exes []string) {
	b.ev.Ancestry = b.ev.Ancestry[:0]
	for i, exe := range exes {
		var p *sysflow.Process
		switch i {
		case 0:
			p = b.proc()
		case 1:
			p = b.parent()
		default:
			p = &sysflow.Process{}
		}
		if p.Exe == "" || (i > 1) {
			p.Exe = exe
		}
		b.ev.Ancestry = append(b.ev.Ancestry, p)
	}
}

// finish links the records the way the flattener does.
func (b *builder) finish() {
	ev := b.ev
	if ev.Kind == sysflow.KindK8sEvent {
		return
	}
	p := b.proc()
	p.OID = ev.ProcOID
	if ev.Parent != nil && ev.ParentOID == nil {
		ev.ParentOID = &sysflow.OID{Hpid: ev.Parent.OID.Hpid}
	}
	if ev.ParentOID != nil {
		p.POID = ev.ParentOID
		if ev.Parent != nil {
			ev.Parent.OID = *ev.ParentOID
		}
	}
	if len(ev.Ancestry) == 0 {
		ev.Ancestry = append(ev.Ancestry, p)
		if ev.Parent != nil {
			ev.Ancestry = append(ev.Ancestry, ev.Parent)
		}
	}
	if ev.Container != nil {
		id := ev.Container.ID
		p.ContainerID = &id
		if ev.Parent != nil {
			ev.Parent.ContainerID = &id
		}
	}
	if ev.TID == 0 {
		ev.TID = ev.ProcOID.Hpid
	}
}

// check reads a given value back through the registry.
func check(ev *sysflow.Event, name string, val any) error {
	f, _ := sysflow.LookupField(name)
	if f.Kind == sysflow.FieldList {
		var want []string
		switch v := val.(type) {
		case []string:
			want = v
		case []any:
			for _, x := range v {
				want = append(want, fmt.Sprint(x))
			}
		default:
			want = splitList(fmt.Sprint(v))
		}
		have := f.List(ev, nil)
		if name == "sf.proc.aname" || name == "sf.proc.aexe" || name == "sf.proc.acmdline" || name == "sf.proc.apid" || name == "sf.proc.env" {
			if strings.Join(have, "\x00") != strings.Join(want, "\x00") {
				return fmt.Errorf("field %s: given %v, the event reads %v", name, want, have)
			}
			return nil
		}
		for _, w := range want {
			found := false
			for _, h := range have {
				found = found || h == w
			}
			if !found {
				return fmt.Errorf("field %s: given %v, the event reads %v", name, want, have)
			}
		}
		return nil
	}
	want := strings.TrimSpace(fmt.Sprint(val))
	if got := f.Text(ev); got != want {
		return fmt.Errorf("field %s: given %q, the event reads %q (derived fields must agree with what they derive from)", name, want, got)
	}
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// opFlag finds the bit that a flag name stands for on a record kind.
func opFlag(name string, k sysflow.RecordKind) (int32, bool) {
	for bit := 0; bit < 31; bit++ {
		names := sysflow.OpFlagNames(nil, 1<<bit, k)
		if len(names) == 1 && names[0] == name {
			return 1 << bit, true
		}
	}
	return 0, false
}

func openFlag(name string) (int32, bool) {
	if name == "NONE" {
		return 0, true
	}
	if name == "RDWR" {
		return sysflow.OpenRdwr, true
	}
	for bit := 0; bit < 31; bit++ {
		names := sysflow.OpenFlagNames(nil, 1<<bit)
		if len(names) == 1 && names[0] == name {
			return 1 << bit, true
		}
	}
	return 0, false
}

// parseIPv4 finds the address value that prints as s.
func parseIPv4(s string) (uint32, bool) {
	parts := strings.Split(s, ".")
	if len(parts) != 4 {
		return 0, false
	}
	var oct [4]uint32
	for i, p := range parts {
		n, err := strconv.ParseUint(p, 10, 8)
		if err != nil {
			return 0, false
		}
		oct[i] = uint32(n)
	}
	for _, v := range []uint32{
		oct[0] | oct[1]<<8 | oct[2]<<16 | oct[3]<<24,
		oct[0]<<24 | oct[1]<<16 | oct[2]<<8 | oct[3],
	} {
		if sysflow.IPv4(v) == s {
			return v, true
		}
	}
	return 0, false
}
