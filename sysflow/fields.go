package sysflow

import (
	"sort"
	"strconv"
	"strings"
)

// FieldKind is the type of a policy field (FIELDS.md): int, str, bool or list.
type FieldKind uint8

// Field kinds.
const (
	FieldInt FieldKind = iota + 1
	FieldStr
	FieldBool
	FieldList
)

func (k FieldKind) String() string {
	switch k {
	case FieldInt:
		return "int"
	case FieldStr:
		return "str"
	case FieldBool:
		return "bool"
	case FieldList:
		return "list"
	}
	return "invalid"
}

// Field is one entry of the field registry: a policy field name and a typed
// accessor on Event. Exactly the accessor matching Kind is set. Accessors never
// panic on missing entities: they return the zero value.
type Field struct {
	Name string // canonical sf.* name (with its path suffix, when looked up with one)
	Kind FieldKind
	// JSON marks a str field whose value is JSON text (sf.pod.services,
	// sf.ke.message, ...): it accepts a path suffix and encoders may embed
	// it as JSON.
	JSON bool
	Int  func(*Event) int64
	Str  func(*Event) string
	Bool func(*Event) bool
	// List appends the field's elements, as strings, to dst and returns it.
	List func(e *Event, dst []string) []string
}

// Text returns the field's value as the reference compares it with = and !=:
// ints in decimal, bools as true/false, lists joined with commas.
func (f *Field) Text(e *Event) string {
	switch f.Kind {
	case FieldInt:
		return itoa(f.Int(e))
	case FieldStr:
		return f.Str(e)
	case FieldBool:
		if f.Bool(e) {
			return "true"
		}
		return "false"
	case FieldList:
		l := f.List(e, nil)
		n := 0
		for i, s := range l {
			if i > 0 {
				n++
			}
			n += len(s)
		}
		b := make([]byte, 0, n)
		for i, s := range l {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, s...)
		}
		return string(b)
	}
	return ""
}

func itoa(v int64) string {
	var buf [20]byte
	i := len(buf)
	neg := v < 0
	u := uint64(v)
	if neg {
		u = uint64(-v)
	}
	for {
		i--
		buf[i] = byte('0' + u%10)
		u /= 10
		if u == 0 {
			break
		}
	}
	if neg {
		i--
		buf[i] = '-'
	}
	return string(buf[i:])
}

// registry is built once at package initialisation and never modified:
// lookups are safe from any goroutine.
var registry = buildRegistry()

type fieldRegistry struct {
	canonical map[string]*Field
	aliases   map[string]*Field // Falco names and other accepted spellings
	names     []string          // canonical names, sorted
}

// LookupField resolves a policy field name: a canonical sf.* name, a Falco
// alias (proc.name, fd.name, evt.type, ...), a json field with a path suffix
// (sf.pod.services[0.clusterip.0], sf.ke.message[items.0.namespace]), or a
// list field with an index suffix (sf.proc.aname[2], proc.aname[2]: element
// 2 of the ancestry, the process itself being element 0, which is what
// Falco's proc.aname[N] means). A suffixed name yields a new str Field whose
// Name is the canonical base name followed by the suffix. The few Falco
// names with no sf.* counterpart (evt.dir, container.image.repository,
// container.image.tag) resolve to fields named after themselves.
func LookupField(name string) (*Field, bool) {
	if f, ok := registry.canonical[name]; ok {
		return f, true
	}
	if f, ok := registry.aliases[name]; ok {
		return f, true
	}
	open := strings.IndexByte(name, '[')
	if open <= 0 || !strings.HasSuffix(name, "]") {
		return nil, false
	}
	base, suffix := name[:open], name[open+1:len(name)-1]
	f, ok := registry.canonical[base]
	if !ok {
		if f, ok = registry.aliases[base]; !ok {
			return nil, false
		}
	}
	switch {
	case f.JSON:
		parts := splitJSONPath(suffix)
		str := f.Str
		return &Field{Name: f.Name + "[" + suffix + "]", Kind: FieldStr,
			Str: func(e *Event) string { return jsonPathValue(str(e), parts) }}, true
	case f.Kind == FieldList:
		n, err := strconv.Atoi(suffix)
		if err != nil || n < 0 {
			return nil, false
		}
		list := f.List
		return &Field{Name: f.Name + "[" + suffix + "]", Kind: FieldStr,
			Str: func(e *Event) string {
				var buf [16]string
				l := list(e, buf[:0])
				if n < len(l) {
					return l[n]
				}
				return ""
			}}, true
	}
	return nil, false
}

// FieldNames returns the canonical field names, sorted.
func FieldNames() []string { return append([]string(nil), registry.names...) }

// FieldAliases returns the accepted alias names (Falco's), sorted.
func FieldAliases() []string {
	out := make([]string, 0, len(registry.aliases))
	for k := range registry.aliases {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// ClosestField suggests the known field name nearest to an unknown one by
// edit distance, for "unknown field, did you mean" messages; "" when
// nothing is close. A name spelled sf.* gets a canonical suggestion, any
// other name a canonical or alias one. Among equally near candidates, one
// that differs only by added or only by missing characters wins (a dropped
// letter is the usual typo: sf.poc.name -> sf.proc.name, not sf.pod.name),
// then the one sharing the longest prefix (sf.proc.username ->
// sf.proc.user, not sf.proc.name), then the first in order.
func ClosestField(name string) string {
	if open := strings.IndexByte(name, '['); open > 0 {
		name = name[:open]
	}
	limit := len(name)/3 + 1
	if limit < 2 {
		limit = 2
	}
	type score struct {
		dist   int
		subseq bool
		prefix int
	}
	better := func(a, b score) bool {
		if a.dist != b.dist {
			return a.dist < b.dist
		}
		if a.subseq != b.subseq {
			return a.subseq
		}
		return a.prefix > b.prefix
	}
	best, bestScore := "", score{dist: limit + 1}
	consider := func(cand string) {
		d := editDistance(name, cand, bestScore.dist)
		if d > limit {
			return
		}
		s := score{d, isSubsequence(name, cand) || isSubsequence(cand, name), commonPrefix(name, cand)}
		if better(s, bestScore) || (!better(bestScore, s) && cand < best) {
			best, bestScore = cand, s
		}
	}
	for _, n := range registry.names {
		consider(n)
	}
	if !strings.HasPrefix(name, "sf.") {
		for n := range registry.aliases {
			consider(n)
		}
	}
	return best
}

// isSubsequence reports whether a's bytes appear in b in order.
func isSubsequence(a, b string) bool {
	i := 0
	for j := 0; i < len(a) && j < len(b); j++ {
		if a[i] == b[j] {
			i++
		}
	}
	return i == len(a)
}

func commonPrefix(a, b string) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

// editDistance is the Levenshtein distance of a and b (bytes), computed
// with one row; it gives up early (returning a value > max) once every
// entry of a row exceeds max.
func editDistance(a, b string, max int) int {
	if d := len(a) - len(b); d > max || -d > max {
		return max + 1
	}
	row := make([]int, len(b)+1)
	for j := range row {
		row[j] = j
	}
	for i := 1; i <= len(a); i++ {
		prev := row[0]
		row[0] = i
		rowMin := row[0]
		for j := 1; j <= len(b); j++ {
			cur := row[j]
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			v := prev + cost
			if row[j]+1 < v {
				v = row[j] + 1
			}
			if row[j-1]+1 < v {
				v = row[j-1] + 1
			}
			row[j] = v
			prev = cur
			if v < rowMin {
				rowMin = v
			}
		}
		if rowMin > max {
			return max + 1
		}
	}
	return row[len(b)]
}

func intField(name string, f func(*Event) int64) *Field {
	return &Field{Name: name, Kind: FieldInt, Int: f}
}

func strField(name string, f func(*Event) string) *Field {
	return &Field{Name: name, Kind: FieldStr, Str: f}
}

func jsonField(name string, f func(*Event) string) *Field {
	return &Field{Name: name, Kind: FieldStr, Str: f, JSON: true}
}

func boolField(name string, f func(*Event) bool) *Field {
	return &Field{Name: name, Kind: FieldBool, Bool: f}
}

func listField(name string, f func(*Event, []string) []string) *Field {
	return &Field{Name: name, Kind: FieldList, List: f}
}

func procStr(f func(*Process) string) func(*Event) string {
	return func(e *Event) string {
		if e.Proc == nil {
			return ""
		}
		return f(e.Proc)
	}
}

func parentStr(f func(*Process) string) func(*Event) string {
	return func(e *Event) string {
		if e.Parent == nil {
			return ""
		}
		return f(e.Parent)
	}
}

func procInt(f func(*Process) int64) func(*Event) int64 {
	return func(e *Event) int64 {
		if e.Proc == nil {
			return 0
		}
		return f(e.Proc)
	}
}

func parentInt(f func(*Process) int64) func(*Event) int64 {
	return func(e *Event) int64 {
		if e.Parent == nil {
			return 0
		}
		return f(e.Parent)
	}
}

func containerStr(f func(*Container) string) func(*Event) string {
	return func(e *Event) string {
		if e.Container == nil {
			return ""
		}
		return f(e.Container)
	}
}

func podStr(f func(*Pod) string) func(*Event) string {
	return func(e *Event) string {
		if e.Pod == nil {
			return ""
		}
		return f(e.Pod)
	}
}

func podInt(f func(*Pod) int64) func(*Event) int64 {
	return func(e *Event) int64 {
		if e.Pod == nil {
			return 0
		}
		return f(e.Pod)
	}
}

func ancestry(f func(*Process) string) func(*Event, []string) []string {
	return func(e *Event, dst []string) []string {
		for _, p := range e.Ancestry {
			dst = append(dst, f(p))
		}
		return dst
	}
}

func canonicalFields() []*Field {
	return []*Field{
		strField("sf.type", func(e *Event) string { return e.Kind.TypeName() }),
		listField("sf.opflags", func(e *Event, dst []string) []string { return OpFlagNames(dst, e.OpFlags, e.Kind) }),
		intField("sf.ret", func(e *Event) int64 { return int64(e.Ret) }),
		intField("sf.ts", func(e *Event) int64 { return e.TS }),
		intField("sf.endts", func(e *Event) int64 { return e.EndTS }),

		strField("sf.proc.oid", (*Event).ProcOIDHash),
		intField("sf.proc.pid", func(e *Event) int64 { return e.ProcOID.Hpid }),
		intField("sf.proc.tid", func(e *Event) int64 { return e.TID }),
		intField("sf.proc.createts", func(e *Event) int64 { return e.ProcOID.CreateTS }),
		strField("sf.proc.name", procStr(ProcName)),
		strField("sf.proc.exe", procStr(func(p *Process) string { return p.Exe })),
		strField("sf.proc.args", procStr(ProcArgs)),
		strField("sf.proc.cmdline", (*Event).ProcCmdline),
		intField("sf.proc.uid", procInt(func(p *Process) int64 { return int64(p.UID) })),
		intField("sf.proc.gid", procInt(func(p *Process) int64 { return int64(p.GID) })),
		strField("sf.proc.user", procStr(func(p *Process) string { return p.UserName })),
		strField("sf.proc.group", procStr(func(p *Process) string { return p.GroupName })),
		boolField("sf.proc.tty", func(e *Event) bool { return e.Proc != nil && e.Proc.TTY }),
		boolField("sf.proc.entry", func(e *Event) bool { return e.Proc != nil && e.Proc.Entry }),
		strField("sf.proc.cwd", procStr(func(p *Process) string { return p.Cwd })),
		listField("sf.proc.env", func(e *Event, dst []string) []string {
			if e.Proc == nil {
				return dst
			}
			return append(dst, e.Proc.Env...)
		}),
		listField("sf.proc.aname", ancestry(ProcName)),
		listField("sf.proc.aexe", ancestry(func(p *Process) string { return p.Exe })),
		listField("sf.proc.acmdline", ancestry(AncestorCmdline)),
		listField("sf.proc.apid", ancestry(func(p *Process) string { return strconv.FormatInt(p.OID.Hpid, 10) })),

		strField("sf.pproc.oid", (*Event).ParentOIDHash),
		intField("sf.pproc.pid", func(e *Event) int64 {
			if e.ParentOID == nil {
				return 0
			}
			return e.ParentOID.Hpid
		}),
		intField("sf.pproc.createts", func(e *Event) int64 {
			if e.ParentOID == nil {
				return 0
			}
			return e.ParentOID.CreateTS
		}),
		strField("sf.pproc.name", parentStr(ProcName)),
		strField("sf.pproc.exe", parentStr(func(p *Process) string { return p.Exe })),
		strField("sf.pproc.args", parentStr(ProcArgs)),
		strField("sf.pproc.cmdline", (*Event).ParentCmdline),
		intField("sf.pproc.uid", parentInt(func(p *Process) int64 { return int64(p.UID) })),
		intField("sf.pproc.gid", parentInt(func(p *Process) int64 { return int64(p.GID) })),
		strField("sf.pproc.user", parentStr(func(p *Process) string { return p.UserName })),
		strField("sf.pproc.group", parentStr(func(p *Process) string { return p.GroupName })),
		boolField("sf.pproc.tty", func(e *Event) bool { return e.Parent != nil && e.Parent.TTY }),
		boolField("sf.pproc.entry", func(e *Event) bool { return e.Parent != nil && e.Parent.Entry }),

		strField("sf.file.path", (*Event).FilePath),
		strField("sf.file.name", (*Event).FileName),
		strField("sf.file.directory", (*Event).FileDirectory),
		strField("sf.file.symlink", (*Event).FileSymlink),
		strField("sf.file.oid", (*Event).FileOIDHex),
		strField("sf.file.type", (*Event).FileType),
		intField("sf.file.fd", func(e *Event) int64 {
			if !e.HasFile() {
				return 0
			}
			return int64(e.FD)
		}),
		strField("sf.file.newpath", (*Event).NewFilePath),
		strField("sf.file.newname", (*Event).NewFileName),
		strField("sf.file.newdirectory", (*Event).NewFileDirectory),
		strField("sf.file.newsymlink", (*Event).NewFileSymlink),
		strField("sf.file.newoid", (*Event).NewFileOIDHex),
		listField("sf.file.openflags", (*Event).OpenFlagNames),
		boolField("sf.file.is_open_read", (*Event).IsOpenRead),
		boolField("sf.file.is_open_write", (*Event).IsOpenWrite),

		intField("sf.net.proto", func(e *Event) int64 { return int64(e.Proto) }),
		intField("sf.net.sport", func(e *Event) int64 { return int64(e.SPort) }),
		intField("sf.net.dport", func(e *Event) int64 { return int64(e.DPort) }),
		strField("sf.net.sip", (*Event).SrcIP),
		strField("sf.net.dip", (*Event).DstIP),
		listField("sf.net.ip", func(e *Event, dst []string) []string {
			if !e.HasNet() {
				return dst
			}
			return append(dst, e.SrcIP(), e.DstIP())
		}),
		listField("sf.net.port", func(e *Event, dst []string) []string {
			if !e.HasNet() {
				return dst
			}
			return append(dst, strconv.Itoa(int(e.SPort)), strconv.Itoa(int(e.DPort)))
		}),

		intField("sf.flow.rbytes", func(e *Event) int64 { return e.RBytes }),
		intField("sf.flow.rops", func(e *Event) int64 { return e.ROps }),
		intField("sf.flow.wbytes", func(e *Event) int64 { return e.WBytes }),
		intField("sf.flow.wops", func(e *Event) int64 { return e.WOps }),

		strField("sf.container.id", containerStr(func(c *Container) string { return c.ID })),
		strField("sf.container.name", containerStr(func(c *Container) string { return c.Name })),
		strField("sf.container.image", containerStr(func(c *Container) string { return c.Image })),
		strField("sf.container.imageid", containerStr(func(c *Container) string { return c.ImageID })),
		strField("sf.container.type", (*Event).ContainerType),
		intField("sf.container.privileged", func(e *Event) int64 {
			if e.Container != nil && e.Container.Privileged {
				return 1
			}
			return 0
		}),

		strField("sf.pod.id", podStr(func(p *Pod) string { return p.ID })),
		strField("sf.pod.name", podStr(func(p *Pod) string { return p.Name })),
		strField("sf.pod.nodename", podStr(func(p *Pod) string { return p.NodeName })),
		strField("sf.pod.namespace", podStr(func(p *Pod) string { return p.Namespace })),
		intField("sf.pod.ts", podInt(func(p *Pod) int64 { return p.TS })),
		intField("sf.pod.restartcnt", podInt(func(p *Pod) int64 { return p.RestartCount })),
		jsonField("sf.pod.hostip", (*Event).PodHostIPJSON),
		jsonField("sf.pod.internalip", (*Event).PodInternalIPJSON),
		jsonField("sf.pod.services", (*Event).PodServicesJSON),

		strField("sf.ke.action", (*Event).K8sActionName),
		strField("sf.ke.kind", (*Event).K8sKindName),
		jsonField("sf.ke.message", (*Event).K8sMessage),

		strField("sf.node.id", func(e *Event) string {
			if e.Header == nil {
				return ""
			}
			return e.Header.Exporter
		}),
		strField("sf.node.ip", func(e *Event) string {
			if e.Header == nil {
				return ""
			}
			return e.Header.IP
		}),
		intField("sf.meta.schema", func(e *Event) int64 {
			if e.Header == nil {
				return 0
			}
			return e.Header.Version
		}),
		strField("sf.meta.tracename", (*Event).TraceName),
	}
}

// falcoAliases maps Falco field names to canonical fields. The first group
// is the set the reference processor resolves (its "non-exported" mappers);
// where the reference points a name at a plainly different value we point it
// at what the Falco name means, noted inline. The second group are Falco
// names used in Falco's stock rules (policies/sf-processor/tests/falco.yaml)
// that have a SysFlow meaning but that the reference does not resolve.
var falcoAliases = map[string]string{
	"evt.type":             "sf.opflags",
	"evt.rawres":           "sf.ret", // the reference returns the record type here
	"evt.rawtime":          "sf.ts",
	"evt.is_open_read":     "sf.file.is_open_read",
	"evt.is_open_write":    "sf.file.is_open_write",
	"evt.arg.uid":          "sf.proc.uid",
	"fd.typechar":          "sf.file.type",
	"fd.directory":         "sf.file.directory",
	"fd.name":              "sf.file.path", // Falco: the full name; the reference gives the base name
	"fd.filename":          "sf.file.name",
	"fd.proto":             "sf.net.proto",
	"fd.lproto":            "sf.net.proto",
	"fd.l4proto":           "sf.net.proto",
	"fd.rproto":            "sf.net.proto",
	"fd.sproto":            "sf.net.proto",
	"fd.cproto":            "sf.net.proto",
	"fd.sport":             "sf.net.sport",
	"fd.dport":             "sf.net.dport",
	"fd.sip":               "sf.net.sip",
	"fd.dip":               "sf.net.dip",
	"fd.ip":                "sf.net.ip",
	"fd.port":              "sf.net.port",
	"fd.num":               "sf.file.fd",
	"user.name":            "sf.proc.user",
	"proc.pid":             "sf.proc.pid",
	"proc.tid":             "sf.proc.tid",
	"proc.gid":             "sf.proc.gid",
	"proc.uid":             "sf.proc.uid",
	"proc.group":           "sf.proc.group",
	"proc.tty":             "sf.proc.tty", // the reference returns the parent's tty
	"proc.user":            "sf.proc.user",
	"proc.exe":             "sf.proc.exe",
	"proc.name":            "sf.proc.name",
	"proc.args":            "sf.proc.args",
	"proc.createtime":      "sf.proc.createts", // the reference returns the parent's
	"proc.cmdline":         "sf.proc.cmdline",
	"proc.aname":           "sf.proc.aname",
	"proc.apid":            "sf.proc.apid",
	"proc.ppid":            "sf.pproc.pid",
	"proc.pgid":            "sf.pproc.gid",
	"proc.puid":            "sf.pproc.uid",
	"proc.pgroup":          "sf.pproc.group",
	"proc.ptty":            "sf.pproc.tty",
	"proc.puser":           "sf.pproc.user",
	"proc.pexe":            "sf.pproc.exe",
	"proc.pargs":           "sf.pproc.args",
	"proc.pcreatetime":     "sf.pproc.createts",
	"proc.pname":           "sf.pproc.name",
	"proc.pcmdline":        "sf.pproc.cmdline",
	"container.id":         "sf.container.id",
	"container.image.id":   "sf.container.imageid",
	"container.image":      "sf.container.image",
	"container.name":       "sf.container.name",
	"container.type":       "sf.container.type",
	"container.privileged": "sf.container.privileged",

	"user.uid":         "sf.proc.uid",
	"group.gid":        "sf.proc.gid",
	"group.name":       "sf.proc.group",
	"proc.env":         "sf.proc.env",
	"proc.cwd":         "sf.proc.cwd",
	"proc.aexe":        "sf.proc.aexe",
	"proc.acmdline":    "sf.proc.acmdline",
	"proc.pexepath":    "sf.pproc.exe",
	"proc.exepath":     "sf.proc.exe",
	"evt.arg.path":     "sf.file.path",
	"evt.arg.name":     "sf.file.path",
	"evt.arg.filename": "sf.file.path",
	"evt.arg.oldpath":  "sf.file.path",
	"evt.arg.target":   "sf.file.path",
	"evt.arg.newpath":  "sf.file.newpath",
	"evt.arg.linkpath": "sf.file.newpath",
	"evt.arg.fd":       "sf.file.fd",
	"evt.time":         "sf.ts",
	"k8s.pod.name":     "sf.pod.name",
	"k8s.pod.id":       "sf.pod.id",
	"k8s.ns.name":      "sf.pod.namespace",
}

func buildRegistry() *fieldRegistry {
	r := &fieldRegistry{canonical: map[string]*Field{}, aliases: map[string]*Field{}}
	for _, f := range canonicalFields() {
		if _, dup := r.canonical[f.Name]; dup {
			panic("sysflow: duplicate field " + f.Name)
		}
		r.canonical[f.Name] = f
		r.names = append(r.names, f.Name)
	}
	sort.Strings(r.names)
	for alias, target := range falcoAliases {
		f, ok := r.canonical[target]
		if !ok {
			panic("sysflow: alias " + alias + " of unknown field " + target)
		}
		r.aliases[alias] = f
	}
	// Falco's evt.dir: SysFlow records have no direction; the reference
	// answers both, so evt.dir = < and evt.dir = > both hold.
	r.aliases["evt.dir"] = listField("evt.dir", func(_ *Event, dst []string) []string { return append(dst, ">", "<") })
	r.aliases["container.image.repository"] = strField("container.image.repository", func(e *Event) string {
		repo, _ := splitImage(e)
		return repo
	})
	r.aliases["container.image.tag"] = strField("container.image.tag", func(e *Event) string {
		_, tag := splitImage(e)
		return tag
	})
	return r
}

// splitImage splits the container image reference into repository and tag:
// a digest (@sha256:...) is dropped, and the tag is what follows the last
// colon after the last slash ("registry:5000/app:1.2" -> "registry:5000/app", "1.2").
func splitImage(e *Event) (repo, tag string) {
	if e.Container == nil {
		return "", ""
	}
	img := e.Container.Image
	if at := strings.IndexByte(img, '@'); at >= 0 {
		img = img[:at]
	}
	slash := strings.LastIndexByte(img, '/')
	if colon := strings.LastIndexByte(img, ':'); colon > slash {
		return img[:colon], img[colon+1:]
	}
	return img, ""
}
