package json

import (
	"strconv"
	"strings"

	"github.com/sfconnector/sfconnector/sysflow"
)

// SchemaVersion is the "version" every record starts with: the version of
// the reference processor's JSON shape.
const SchemaVersion = 5

// Options selects the output shape.
type Options struct {
	// Flat writes one object keyed by policy field names
	// ({"sf.type":"FF","sf.proc.exe":"/usr/bin/python3",...}) instead of
	// the reference's nested sections.
	Flat bool
}

// Encoder writes flat events as JSON objects, one per event, with no
// trailing newline. It keeps no state between events and is safe for
// concurrent use.
type Encoder struct {
	opts  Options
	flat  []flatField
	cache *sectionCache // nil: every section written anew
}

type flatField struct {
	f       *sysflow.Field
	section func(*sysflow.Event) bool
	raw     bool // embed the value as JSON (texts we generate ourselves)
}

// ConcurrentSafe marks the Encoder as safe for concurrent use
// (encoding.ConcurrentEncoder).
func (*Encoder) ConcurrentSafe() {}

// New returns an Encoder.
func New(opts Options) *Encoder {
	e := &Encoder{opts: opts}
	if !opts.Flat {
		e.cache = new(sectionCache)
	}
	if opts.Flat {
		for _, name := range sysflow.FieldNames() {
			f, _ := sysflow.LookupField(name)
			e.flat = append(e.flat, flatField{f: f, section: sectionOf(name),
				raw: f.JSON && strings.HasPrefix(name, "sf.pod.")})
		}
	}
	return e
}

// sectionOf says when a field belongs to an event: the flat object lists
// exactly the fields of the sections the nested shape would write.
func sectionOf(name string) func(*sysflow.Event) bool {
	switch {
	case strings.HasPrefix(name, "sf.proc."):
		return (*sysflow.Event).HasProcess
	case strings.HasPrefix(name, "sf.pproc."):
		return func(e *sysflow.Event) bool { return e.ParentOID != nil }
	case strings.HasPrefix(name, "sf.file."):
		return (*sysflow.Event).HasFile
	case strings.HasPrefix(name, "sf.flow."):
		return (*sysflow.Event).HasFlow
	case strings.HasPrefix(name, "sf.net."):
		return (*sysflow.Event).HasNet
	case strings.HasPrefix(name, "sf.container."):
		return func(e *sysflow.Event) bool { return e.Container != nil }
	case strings.HasPrefix(name, "sf.pod."):
		return func(e *sysflow.Event) bool { return e.Pod != nil }
	case strings.HasPrefix(name, "sf.ke."):
		return func(e *sysflow.Event) bool { return e.K8s != nil }
	}
	return func(*sysflow.Event) bool { return true }
}

// AppendEvent appends the JSON object of ev to dst.
func (e *Encoder) AppendEvent(dst []byte, ev *sysflow.Event) ([]byte, error) {
	if e.opts.Flat {
		return e.appendFlat(dst, ev), nil
	}
	return e.cache.appendNested(dst, ev), nil
}

// appendNested writes the reference's shape: the event's own fields, then
// its sections in alphabetical order (container, file, flow, k8s, meta,
// net, node, pod, pproc, proc), then the policy matches.
// The cache (nil: none) only copies sections it wrote before.
func (c *sectionCache) appendNested(b []byte, ev *sysflow.Event) []byte {
	b = append(b, `{"version":`...)
	b = sysflow.AppendInt(b, SchemaVersion)
	b = append(b, `,"endts":`...)
	b = sysflow.AppendInt(b, ev.EndTS)
	b = append(b, `,"opflags":`...)
	var ops [24]string
	b = appendNames(b, sysflow.OpFlagNames(ops[:0], ev.OpFlags, ev.Kind))
	b = append(b, `,"ret":`...)
	b = sysflow.AppendInt(b, int64(ev.Ret))
	b = append(b, `,"ts":`...)
	b = sysflow.AppendInt(b, ev.TS)
	b = append(b, `,"type":`...)
	b = AppendString(b, ev.Kind.TypeName())

	if ct := ev.Container; ct != nil {
		b = c.appendContainerSection(b, ct)
	}
	if ev.HasFile() {
		b = appendFile(b, ev)
	}
	if ev.HasFlow() {
		b = append(b, `,"flow":{"rbytes":`...)
		b = sysflow.AppendInt(b, ev.RBytes)
		b = append(b, `,"rops":`...)
		b = sysflow.AppendInt(b, ev.ROps)
		b = append(b, `,"wbytes":`...)
		b = sysflow.AppendInt(b, ev.WBytes)
		b = append(b, `,"wops":`...)
		b = sysflow.AppendInt(b, ev.WOps)
		b = append(b, '}')
	}
	if ev.K8s != nil {
		b = append(b, `,"k8s":{"action":`...)
		b = AppendString(b, ev.K8sActionName())
		b = append(b, `,"kind":`...)
		b = AppendString(b, ev.K8sKindName())
		b = append(b, `,"message":`...)
		b = AppendString(b, ev.K8sMessage())
		b = append(b, '}')
	}
	var version int64
	var exporter, ip string
	if h := ev.Header; h != nil {
		version, exporter, ip = h.Version, h.Exporter, h.IP
	}
	b = append(b, `,"meta":{"schema":`...)
	b = sysflow.AppendInt(b, version)
	b = append(b, `,"tracename":`...)
	b = AppendString(b, ev.TraceName())
	b = append(b, '}')
	if ev.HasNet() {
		b = append(b, `,"net":{"dip":"`...)
		b = sysflow.AppendIPv4(b, uint32(ev.DIP))
		b = append(b, `","dport":`...)
		b = sysflow.AppendInt(b, int64(ev.DPort))
		b = append(b, `,"ip":["`...)
		b = sysflow.AppendIPv4(b, uint32(ev.SIP))
		b = append(b, `","`...)
		b = sysflow.AppendIPv4(b, uint32(ev.DIP))
		b = append(b, `"],"port":[`...)
		b = sysflow.AppendInt(b, int64(ev.SPort))
		b = append(b, ',')
		b = sysflow.AppendInt(b, int64(ev.DPort))
		b = append(b, `],"proto":`...)
		b = sysflow.AppendInt(b, int64(ev.Proto))
		b = append(b, `,"sip":"`...)
		b = sysflow.AppendIPv4(b, uint32(ev.SIP))
		b = append(b, `","sport":`...)
		b = sysflow.AppendInt(b, int64(ev.SPort))
		b = append(b, '}')
	}
	b = append(b, `,"node":{"id":`...)
	b = AppendString(b, exporter)
	b = append(b, `,"ip":`...)
	b = AppendString(b, ip)
	b = append(b, '}')
	if p := ev.Pod; p != nil {
		b = append(b, `,"pod":{"hostip":`...)
		b = sysflow.AppendPodIPsJSON(b, p.HostIP)
		b = append(b, `,"id":`...)
		b = AppendString(b, p.ID)
		b = append(b, `,"internalip":`...)
		b = sysflow.AppendPodIPsJSON(b, p.InternalIP)
		b = append(b, `,"name":`...)
		b = AppendString(b, p.Name)
		b = append(b, `,"namespace":`...)
		b = AppendString(b, p.Namespace)
		b = append(b, `,"nodename":`...)
		b = AppendString(b, p.NodeName)
		b = append(b, `,"restartcnt":`...)
		b = sysflow.AppendInt(b, p.RestartCount)
		b = append(b, `,"services":`...)
		b = sysflow.AppendPodServicesJSON(b, p.Services)
		b = append(b, `,"ts":`...)
		b = sysflow.AppendInt(b, p.TS)
		b = append(b, '}')
	}
	b = c.appendProcSections(b, ev)
	b = appendMatches(b, ev)
	return append(b, '}')
}

func appendContainer(b []byte, c *sysflow.Container) []byte {
	b = append(b, `,"container":{"id":`...)
	b = AppendString(b, c.ID)
	b = append(b, `,"image":`...)
	b = AppendString(b, c.Image)
	b = append(b, `,"imageid":`...)
	b = AppendString(b, c.ImageID)
	b = append(b, `,"name":`...)
	b = AppendString(b, c.Name)
	b = append(b, `,"privileged":`...)
	if c.Privileged {
		b = append(b, '1')
	} else {
		b = append(b, '0')
	}
	b = append(b, `,"type":`...)
	b = AppendString(b, sysflow.ContainerTypeName(c.Type))
	return append(b, '}')
}

func appendFile(b []byte, ev *sysflow.Event) []byte {
	// Each path is split once, and the path's text is copied from the
	// directory's and the name's when they are its two halves and needed
	// no escapes (the usual case): the path is the longest string of most
	// events, and escaping it again was a tenth of encoding (mon.1531776682).
	path, symlink := "", ""
	if ev.File != nil {
		path, symlink = sysflow.SplitPath(ev.File.Path)
	}
	newPath, newSymlink := "", ""
	if ev.NewFile != nil {
		newPath, newSymlink = sysflow.SplitPath(ev.NewFile.Path)
	}
	dir, name := sysflow.PathDirBase(path)
	newDir, newName := sysflow.PathDirBase(newPath)
	b = append(b, `,"file":{"directory":"`...)
	dirAt := len(b)
	b = appendEscaped(b, dir)
	dirSame := len(b)-dirAt == len(dir)
	b = append(b, `","fd":`...)
	b = sysflow.AppendInt(b, int64(ev.FD))
	b = append(b, `,"is_open_read":`...)
	b = strconv.AppendBool(b, ev.IsOpenRead())
	b = append(b, `,"is_open_write":`...)
	b = strconv.AppendBool(b, ev.IsOpenWrite())
	b = append(b, `,"name":"`...)
	nameAt := len(b)
	b = appendEscaped(b, name)
	nameSame := len(b)-nameAt == len(name)
	b = append(b, `","newdirectory":`...)
	b = AppendString(b, newDir)
	b = append(b, `,"newname":`...)
	b = AppendString(b, newName)
	b = append(b, `,"newoid":"`...)
	if ev.NewFileOID != nil {
		b = appendHex(b, ev.NewFileOID[:])
	}
	b = append(b, `","newpath":`...)
	b = AppendString(b, newPath)
	b = append(b, `,"newsymlink":`...)
	b = AppendString(b, newSymlink)
	b = append(b, `,"oid":"`...)
	b = appendHex(b, ev.FileOID[:])
	b = append(b, `","openflags":`...)
	var flags [16]string
	b = appendNames(b, sysflow.OpenFlagNames(flags[:0], ev.OpenFlags))
	b = append(b, `,"path":"`...)
	if dirSame && nameSame && isDirSlashName(path, dir, name) {
		b = append(b, b[dirAt:dirAt+len(dir)]...)
		b = append(b, '/')
		b = append(b, b[nameAt:nameAt+len(name)]...)
	} else {
		b = appendEscaped(b, path)
	}
	b = append(b, `","symlink":`...)
	b = AppendString(b, symlink)
	b = append(b, `,"type":`...)
	b = AppendString(b, ev.FileType())
	return append(b, '}')
}

// isDirSlashName reports whether path is dir, a slash, then name.
func isDirSlashName(path, dir, name string) bool {
	return len(dir) > 0 && len(path) == len(dir)+1+len(name) && path[len(dir)] == '/' &&
		path[:len(dir)] == dir && path[len(dir)+1:] == name
}

// appendProcHead writes the keys the proc and pproc sections share, from
// args to pid, for process p (nil: its record is missing and only the OID
// is known). The proc section's tid comes next, then appendProcTail.
func appendProcHead(b []byte, p *sysflow.Process, oid sysflow.OID, parent bool) []byte {
	var exe, group string
	var gid int64
	var entry bool
	if p != nil {
		exe, group, gid, entry = p.Exe, p.GroupName, int64(p.GID), p.Entry
	}
	b = append(b, `"args":`...)
	b = AppendString(b, sysflow.ProcArgs(p))
	b = append(b, `,"cmdline":`...)
	b = appendCmdline(b, p, !parent)
	b = append(b, `,"createts":`...)
	b = sysflow.AppendInt(b, oid.CreateTS)
	b = append(b, `,"entry":`...)
	b = strconv.AppendBool(b, entry)
	b = append(b, `,"exe":`...)
	b = AppendString(b, exe)
	b = append(b, `,"gid":`...)
	b = sysflow.AppendInt(b, gid)
	b = append(b, `,"group":`...)
	b = AppendString(b, group)
	b = append(b, `,"name":`...)
	b = AppendString(b, sysflow.ProcName(p))
	b = append(b, `,"oid":"`...)
	b = sysflow.AppendOIDHash(b, oid)
	b = append(b, `","pid":`...)
	return sysflow.AppendInt(b, oid.Hpid)
}

// appendProcTail writes the shared keys after pid (and tid): tty to user,
// and closes the section.
func appendProcTail(b []byte, p *sysflow.Process) []byte {
	var user string
	var uid int64
	var tty bool
	if p != nil {
		user, uid, tty = p.UserName, int64(p.UID), p.TTY
	}
	b = append(b, `,"tty":`...)
	b = strconv.AppendBool(b, tty)
	b = append(b, `,"uid":`...)
	b = sysflow.AppendInt(b, uid)
	b = append(b, `,"user":`...)
	b = AppendString(b, user)
	return append(b, '}')
}

func appendParent(b []byte, ev *sysflow.Event) []byte {
	b = append(b, `,"pproc":{`...)
	b = appendProcHead(b, ev.Parent, *ev.ParentOID, true)
	return appendProcTail(b, ev.Parent)
}

// appendProcHeadTID writes the proc section up to its tid value: the
// ancestry lists, then the shared keys up to `"tid":`.
func appendProcHeadTID(b []byte, ev *sysflow.Event) []byte {
	b = append(b, `,"proc":{"acmdline":[`...)
	for i, p := range ev.Ancestry {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendCmdline(b, p, false)
	}
	b = append(b, `],"aexe":[`...)
	for i, p := range ev.Ancestry {
		if i > 0 {
			b = append(b, ',')
		}
		b = AppendString(b, p.Exe)
	}
	b = append(b, `],"aname":[`...)
	for i, p := range ev.Ancestry {
		if i > 0 {
			b = append(b, ',')
		}
		b = AppendString(b, sysflow.ProcName(p))
	}
	b = append(b, `],"apid":[`...)
	for i, p := range ev.Ancestry {
		if i > 0 {
			b = append(b, ',')
		}
		b = sysflow.AppendInt(b, p.OID.Hpid)
	}
	b = append(b, `],`...)
	b = appendProcHead(b, ev.Proc, ev.ProcOID, false)
	return append(b, `,"tid":`...)
}

func appendProc(b []byte, ev *sysflow.Event) []byte {
	b = appendProcHeadTID(b, ev)
	b = sysflow.AppendInt(b, ev.TID)
	return appendProcTail(b, ev.Proc)
}

// appendMeta writes a rule's metadata as "meta":{"key":"value" or
// ["values", ...]}: a list when the field is one or has several values.
func appendMeta(b []byte, meta []sysflow.MetaField) []byte {
	b = append(b, `,"meta":{`...)
	for i, f := range meta {
		if i > 0 {
			b = append(b, ',')
		}
		b = AppendString(b, f.Key)
		b = append(b, ':')
		if len(f.Values) == 1 && !f.List {
			b = AppendString(b, f.Values[0])
			continue
		}
		b = append(b, '[')
		for j, v := range f.Values {
			if j > 0 {
				b = append(b, ',')
			}
			b = AppendString(b, v)
		}
		b = append(b, ']')
	}
	return append(b, '}')
}

// appendMatches writes the alert part: "policies" with every matched rule
// (priority numbered as the reference does, low 1 to high 3) and the
// de-duplicated "tags" (FIELDS.md, intentional difference 5). Neither key
// appears when empty, as in the reference.
func appendMatches(b []byte, ev *sysflow.Event) []byte {
	if len(ev.Matches) > 0 {
		b = append(b, `,"policies":[`...)
		for i := range ev.Matches {
			m := &ev.Matches[i]
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"id":`...)
			b = AppendString(b, m.Rule)
			b = append(b, `,"desc":`...)
			b = AppendString(b, m.Desc)
			b = append(b, `,"priority":`...)
			b = sysflow.AppendInt(b, int64(m.Priority)+1)
			if len(m.Meta) > 0 {
				// only rules with metadata (Sigma's) add the key, so
				// Falco-style alerts keep the reference's shape
				b = appendMeta(b, m.Meta)
			}
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	b = appendTags(b, ev.Tags)
	return b
}

func appendTags(b []byte, tags []string) []byte {
	n := 0
	for i, t := range tags {
		if seenBefore(tags, i) {
			continue
		}
		if n == 0 {
			b = append(b, `,"tags":[`...)
		} else {
			b = append(b, ',')
		}
		b = AppendString(b, t)
		n++
	}
	if n > 0 {
		b = append(b, ']')
	}
	return b
}

// seenBefore reports whether tags[i] occurs earlier in tags (tag lists are
// short: a quadratic scan beats a map).
func seenBefore(tags []string, i int) bool {
	for _, t := range tags[:i] {
		if t == tags[i] {
			return true
		}
	}
	return false
}

func (e *Encoder) appendFlat(b []byte, ev *sysflow.Event) []byte {
	b = append(b, '{')
	first := true
	var list [32]string
	for i := range e.flat {
		ff := &e.flat[i]
		if !ff.section(ev) {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = AppendString(b, ff.f.Name)
		b = append(b, ':')
		switch ff.f.Kind {
		case sysflow.FieldInt:
			b = sysflow.AppendInt(b, ff.f.Int(ev))
		case sysflow.FieldBool:
			b = strconv.AppendBool(b, ff.f.Bool(ev))
		case sysflow.FieldList:
			b = appendStrings(b, ff.f.List(ev, list[:0]))
		default:
			v := ff.f.Str(ev)
			if ff.raw && v != "" {
				b = append(b, v...)
			} else {
				b = AppendString(b, v)
			}
		}
	}
	if first {
		// Cannot happen (sf.type and sf.ts always apply), but keep the
		// object valid if the registry ever changes.
		b = append(b, `"sf.type":`...)
		b = AppendString(b, ev.Kind.TypeName())
	}
	b = appendMatches(b, ev)
	return append(b, '}')
}

func appendStrings(b []byte, ss []string) []byte {
	b = append(b, '[')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = AppendString(b, s)
	}
	return append(b, ']')
}

// appendNames writes a list of flag names as appendStrings does, without
// escaping: the names are sysflow's constants, which need none (a test
// checks every one).
func appendNames(b []byte, names []string) []byte {
	b = append(b, '[')
	for i, s := range names {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = append(b, s...)
		b = append(b, '"')
	}
	return append(b, ']')
}

func appendHex(b []byte, v []byte) []byte {
	const digits = "0123456789abcdef"
	for _, c := range v {
		b = append(b, digits[c>>4], digits[c&0xf])
	}
	return b
}

// appendCmdline writes a process's command line as one JSON string
// without building it first: exe, then " " and the arguments (the space
// always for sf.proc.cmdline, only before arguments otherwise).
func appendCmdline(b []byte, p *sysflow.Process, alwaysSpace bool) []byte {
	b = append(b, '"')
	if p != nil {
		args := sysflow.ProcArgs(p)
		b = appendEscaped(b, p.Exe)
		if alwaysSpace || args != "" {
			b = append(b, ' ')
			b = appendEscaped(b, args)
		}
	}
	return append(b, '"')
}

// AppendString appends s as a JSON string: control characters, quotes and
// backslashes escaped, invalid UTF-8 as U+FFFD (always valid JSON), HTML
// characters as they are.
func AppendString(dst []byte, s string) []byte { return sysflow.AppendJSONString(dst, s) }

func appendEscaped(dst []byte, s string) []byte { return sysflow.AppendJSONEscaped(dst, s) }
