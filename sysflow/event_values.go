package sysflow

import (
	"encoding/hex"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/cespare/xxhash/v2"
)

// This file derives the values of the flat event that the policy fields and
// the encoders share (names, paths, addresses, hashes), so that a field
// compared by a rule and the same field written by an encoder can never
// disagree. The details follow what the reference processor exported, as
// recorded in ../shared/parity; FIELDS.md lists where we differ on purpose.

// Operation flags (opFlags of events and flows).
const (
	OpClone     int32 = 1 << 0
	OpExec      int32 = 1 << 1
	OpExit      int32 = 1 << 2
	OpSetUID    int32 = 1 << 3
	OpSetNS     int32 = 1 << 4
	OpAccept    int32 = 1 << 5
	OpConnect   int32 = 1 << 6
	OpOpen      int32 = 1 << 7
	OpReadRecv  int32 = 1 << 8
	OpWriteSend int32 = 1 << 9
	OpClose     int32 = 1 << 10
	OpTruncate  int32 = 1 << 11
	OpShutdown  int32 = 1 << 12
	OpMmap      int32 = 1 << 13
	OpDigest    int32 = 1 << 14
	OpMkdir     int32 = 1 << 15
	OpRmdir     int32 = 1 << 16
	OpLink      int32 = 1 << 17
	OpUnlink    int32 = 1 << 18
	OpSymlink   int32 = 1 << 19
	OpRename    int32 = 1 << 20
)

// opFlagOrder is the order in which the reference lists set flags (its JSON
// output writes e.g. ["OPEN","CLOSE","READ"] and ["CLOSE","WRITE","READ"]).
// Read/write are resolved per record type by OpFlagNames.
var opFlagOrder = [...]struct {
	bit  int32
	name string
}{
	{OpMkdir, "MKDIR"}, {OpRmdir, "RMDIR"}, {OpLink, "LINK"}, {OpSymlink, "SYMLINK"},
	{OpUnlink, "UNLINK"}, {OpRename, "RENAME"}, {OpClone, "CLONE"}, {OpExec, "EXEC"},
	{OpExit, "EXIT"}, {OpSetUID, "SETUID"}, {OpAccept, "ACCEPT"}, {OpConnect, "CONNECT"},
	{OpOpen, "OPEN"}, {OpClose, "CLOSE"}, {OpSetNS, "SETNS"}, {OpWriteSend, ""},
	{OpReadRecv, ""}, {OpMmap, "MMAP"}, {OpShutdown, "SHUTDOWN"}, {OpTruncate, "TRUNCATE"},
	{OpDigest, "DIGEST"},
}

// OpFlagNames appends the names of the flags set in flags to dst, in the
// reference's order. Network flows and events say SEND/RECV, every other
// record READ/WRITE (FIELDS.md, intentional difference 6).
func OpFlagNames(dst []string, flags int32, kind RecordKind) []string {
	if flags == 0 {
		return dst
	}
	net := kind == KindNetworkFlow || kind == KindNetworkEvent
	for _, f := range opFlagOrder {
		if flags&f.bit == 0 {
			continue
		}
		name := f.name
		switch f.bit {
		case OpWriteSend:
			name = "WRITE"
			if net {
				name = "SEND"
			}
		case OpReadRecv:
			name = "READ"
			if net {
				name = "RECV"
			}
		}
		dst = append(dst, name)
	}
	return dst
}

// Open flags of file flows (the collector's PPM_O_* bits, not the kernel's).
const (
	OpenRdonly    int32 = 1 << 0
	OpenWronly    int32 = 1 << 1
	OpenRdwr      int32 = OpenRdonly | OpenWronly
	OpenCreat     int32 = 1 << 2
	OpenAppend    int32 = 1 << 3
	OpenDsync     int32 = 1 << 4
	OpenExcl      int32 = 1 << 5
	OpenNonblock  int32 = 1 << 6
	OpenSync      int32 = 1 << 7
	OpenTrunc     int32 = 1 << 8
	OpenDirect    int32 = 1 << 9
	OpenDirectory int32 = 1 << 10
	OpenLargefile int32 = 1 << 11
	OpenCloexec   int32 = 1 << 12
)

// openFlagOrder is the reference's order. A name is listed when all of its
// bits are set, so RDWR also lists RDONLY and WRONLY, as the reference does.
// Bit 13 (O_TMPFILE) has no name in the reference and none here.
var openFlagOrder = [...]struct {
	bits int32
	name string
}{
	{OpenRdonly, "RDONLY"}, {OpenWronly, "WRONLY"}, {OpenRdwr, "RDWR"}, {OpenCreat, "CREAT"},
	{OpenExcl, "EXCL"}, {OpenTrunc, "TRUNC"}, {OpenAppend, "APPEND"}, {OpenNonblock, "NONBLOCK"},
	{OpenDsync, "DSYNC"}, {OpenDirect, "DIRECT"}, {OpenLargefile, "LARGEFILE"},
	{OpenDirectory, "DIRECTORY"}, {OpenCloexec, "CLOEXEC"}, {OpenSync, "SYNC"},
}

// OpenFlagNames appends the names of the open flags to dst; no flag at all
// is ["NONE"], as in the reference.
func OpenFlagNames(dst []string, flags int32) []string {
	if flags == 0 {
		return append(dst, "NONE")
	}
	for _, f := range openFlagOrder {
		if flags&f.bits == f.bits {
			dst = append(dst, f.name)
		}
	}
	return dst
}

var typeNames = [...]string{
	KindProcessEvent: "PE", KindFileEvent: "FE", KindFileFlow: "FF", KindNetworkFlow: "NF",
	KindK8sEvent: "KE", KindNetworkEvent: "NE", KindProcessFlow: "PF", KindHeader: "H",
	KindContainer: "C", KindProcess: "P", KindFile: "F", KindPod: "PD",
}

// TypeName is the short record type of sf.type: PE, FE, FF, NF, KE ("" when unknown).
func (k RecordKind) TypeName() string {
	if int(k) < len(typeNames) {
		return typeNames[k]
	}
	return ""
}

// HasProcess reports whether the event is one a process performed (every
// kind but K8sEvent).
func (e *Event) HasProcess() bool {
	switch e.Kind {
	case KindProcessEvent, KindFileEvent, KindFileFlow, KindNetworkFlow, KindNetworkEvent, KindProcessFlow:
		return true
	}
	return false
}

// HasFile reports whether the event carries a file section (FE, FF).
func (e *Event) HasFile() bool { return e.Kind == KindFileEvent || e.Kind == KindFileFlow }

// HasFlow reports whether the event carries flow counters (FF, NF).
func (e *Event) HasFlow() bool { return e.Kind == KindFileFlow || e.Kind == KindNetworkFlow }

// HasNet reports whether the event carries addresses (NF).
func (e *Event) HasNet() bool { return e.Kind == KindNetworkFlow || e.Kind == KindNetworkEvent }

// AppendOIDHash appends the process OID hash of sf.proc.oid: XXH64 (seed 0)
// of the decimal pid followed by the decimal create time, as 16 lowercase
// hex digits.
func AppendOIDHash(dst []byte, o OID) []byte {
	var buf [48]byte
	b := AppendInt(buf[:0], o.Hpid)
	b = AppendInt(b, o.CreateTS)
	h := xxhash.Sum64(b)
	const digits = "0123456789abcdef"
	for shift := 60; shift >= 0; shift -= 4 {
		dst = append(dst, digits[(h>>uint(shift))&0xf])
	}
	return dst
}

// OIDHash returns AppendOIDHash as a string.
func OIDHash(o OID) string {
	var buf [16]byte
	return string(AppendOIDHash(buf[:0], o))
}

// ProcArgs is a process's arguments as policies see them: the collector's
// text without surrounding white space (it pads rewritten argv with
// spaces). Quotes are kept: the reference strips one leading and one
// trailing quote character even when they do not pair, which corrupts the
// command line (e.g. awk '...' loses its closing quote).
func ProcArgs(p *Process) string {
	if p == nil {
		return ""
	}
	return strings.TrimSpace(p.ExeArgs)
}

// ProcName is the base name of the process's executable.
func ProcName(p *Process) string {
	if p == nil || p.Exe == "" {
		return ""
	}
	return baseName(p.Exe)
}

// AppendCmdline appends exe, a space and the arguments. sf.proc.cmdline
// always has the space (alwaysSpace); the parent's and the ancestors'
// command lines omit it when there are no arguments, as the reference does.
func AppendCmdline(dst []byte, p *Process, alwaysSpace bool) []byte {
	if p == nil {
		return dst
	}
	args := ProcArgs(p)
	dst = append(dst, p.Exe...)
	if alwaysSpace || args != "" {
		dst = append(dst, ' ')
		dst = append(dst, args...)
	}
	return dst
}

// cmdline is exe, a space and the arguments. sf.proc.cmdline always has
// the space (FIELDS.md: exe + " " + args); the parent's and the ancestors'
// command lines omit it when there are no arguments, as the reference does.
func cmdline(p *Process, alwaysSpace bool) string {
	if p == nil {
		return ""
	}
	args := ProcArgs(p)
	if !alwaysSpace && args == "" {
		return p.Exe
	}
	return p.Exe + " " + args
}

// ProcCmdline is sf.proc.cmdline: exe + " " + args.
func (e *Event) ProcCmdline() string { return cmdline(e.Proc, true) }

// ParentCmdline is sf.pproc.cmdline: exe, and " " + args when there are any.
func (e *Event) ParentCmdline() string { return cmdline(e.Parent, false) }

// AncestorCmdline is one element of sf.proc.acmdline.
func AncestorCmdline(p *Process) string { return cmdline(p, false) }

// ProcOIDHash is sf.proc.oid ("" for events without a process).
func (e *Event) ProcOIDHash() string {
	if !e.HasProcess() {
		return ""
	}
	return OIDHash(e.ProcOID)
}

// ParentOIDHash is sf.pproc.oid ("" when the process has no parent OID).
func (e *Event) ParentOIDHash() string {
	if e.ParentOID == nil {
		return ""
	}
	return OIDHash(*e.ParentOID)
}

// SplitPath splits a collector file path into the path and its symlink
// part. The collector names unix socket ends "src->dst path" (kernel
// addresses, then the bound path); the reference reports path "path" and
// symlink "src->dst". A path without "->" is returned unchanged.
func SplitPath(p string) (path, symlink string) {
	// the first "->", found by its '>', which paths rarely hold (a
	// search for "->" starts at every '-')
	arrow := -1
	for from := 0; from < len(p); {
		i := strings.IndexByte(p[from:], '>')
		if i < 0 {
			break
		}
		if i += from; i > 0 && p[i-1] == '-' {
			arrow = i - 1
			break
		}
		from = i + 1
	}
	if arrow < 0 {
		return p, ""
	}
	sp := strings.IndexByte(p[arrow:], ' ')
	if sp < 0 {
		return p, ""
	}
	sp += arrow
	return strings.TrimSpace(p[sp+1:]), p[:sp]
}

// FilePath and FileSymlink are sf.file.path and sf.file.symlink.
func (e *Event) FilePath() string {
	if e.File == nil {
		return ""
	}
	p, _ := SplitPath(e.File.Path)
	return p
}

// FileSymlink is sf.file.symlink.
func (e *Event) FileSymlink() string {
	if e.File == nil {
		return ""
	}
	_, l := SplitPath(e.File.Path)
	return l
}

// NewFilePath is sf.file.newpath.
func (e *Event) NewFilePath() string {
	if e.NewFile == nil {
		return ""
	}
	p, _ := SplitPath(e.NewFile.Path)
	return p
}

// NewFileSymlink is sf.file.newsymlink.
func (e *Event) NewFileSymlink() string {
	if e.NewFile == nil {
		return ""
	}
	_, l := SplitPath(e.NewFile.Path)
	return l
}

// pathBase and pathDir follow Go's filepath like the reference, so a file
// event without a second file says newname "." and newdirectory ".", as
// its output does. Events without a file section say "".
func (e *Event) pathBase(p string) string {
	if !e.HasFile() {
		return ""
	}
	return baseName(p)
}

func (e *Event) pathDir(p string) string {
	if !e.HasFile() {
		return ""
	}
	return dirName(p)
}

// baseName is filepath.Base, with a shortcut for the usual path that does
// not end in a slash. Policies and encoders ask for base names of every
// event's executables and files (sf.proc.name, sf.file.name, aname...).
func baseName(p string) string {
	if p == "" || p[len(p)-1] == '/' {
		return filepath.Base(p)
	}
	return p[strings.LastIndexByte(p, '/')+1:]
}

// dirName is filepath.Dir, with a shortcut for paths whose directory part
// is already clean (no "//", no "." or ".." element, no trailing slash):
// filepath.Dir cleans it, which is the costly part, and would return it
// unchanged.
func dirName(p string) string {
	i := strings.LastIndexByte(p, '/')
	if i <= 0 {
		return filepath.Dir(p) // "." or "/", cheap
	}
	d := p[:i]
	if d[0] == '.' {
		return filepath.Dir(p)
	}
	for j := 0; j < len(d); j++ {
		if d[j] == '/' && (j+1 == len(d) || d[j+1] == '/' || d[j+1] == '.') {
			return filepath.Dir(p)
		}
	}
	return d
}

// FileName, FileDirectory, NewFileName and NewFileDirectory are the base
// names and directories of the two file paths.
func (e *Event) FileName() string { return e.pathBase(e.FilePath()) }

// FileDirectory is sf.file.directory.
func (e *Event) FileDirectory() string { return e.pathDir(e.FilePath()) }

// NewFileName is sf.file.newname.
func (e *Event) NewFileName() string { return e.pathBase(e.NewFilePath()) }

// NewFileDirectory is sf.file.newdirectory.
func (e *Event) NewFileDirectory() string { return e.pathDir(e.NewFilePath()) }

// FileOIDHex is sf.file.oid: 40 lowercase hex digits ("" without a file section).
func (e *Event) FileOIDHex() string {
	if !e.HasFile() {
		return ""
	}
	return hex.EncodeToString(e.FileOID[:])
}

// NewFileOIDHex is sf.file.newoid ("" when there is no second file).
func (e *Event) NewFileOIDHex() string {
	if e.NewFileOID == nil {
		return ""
	}
	return hex.EncodeToString(e.NewFileOID[:])
}

// FileType is sf.file.type: the resource type as one character (f d u p 4 6 ? ...).
func (e *Event) FileType() string {
	if e.File == nil || e.File.Restype <= 0 {
		return ""
	}
	return string(rune(e.File.Restype))
}

// OpenFlagNames is sf.file.openflags (nil without a file section).
func (e *Event) OpenFlagNames(dst []string) []string {
	if !e.HasFile() {
		return dst
	}
	return OpenFlagNames(dst, e.OpenFlags)
}

// IsOpenRead and IsOpenWrite say whether the open flags allow reading and writing.
func (e *Event) IsOpenRead() bool { return e.OpenFlags&OpenRdonly != 0 }

// IsOpenWrite is sf.file.is_open_write.
func (e *Event) IsOpenWrite() bool { return e.OpenFlags&OpenWronly != 0 }

// AppendIPv4 appends the dotted form of a collector IPv4 address. The
// collector stores the address in network byte order in a little-endian
// int, so the first octet is the lowest byte.
func AppendIPv4(dst []byte, ip uint32) []byte {
	for i := 0; i < 4; i++ {
		if i > 0 {
			dst = append(dst, '.')
		}
		dst = strconv.AppendUint(dst, uint64(ip>>(8*i)&0xff), 10)
	}
	return dst
}

// IPv4 returns AppendIPv4 as a string.
func IPv4(ip uint32) string {
	var buf [15]byte
	return string(AppendIPv4(buf[:0], ip))
}

// SrcIP and DstIP are sf.net.sip and sf.net.dip ("" for events without addresses).
func (e *Event) SrcIP() string {
	if !e.HasNet() {
		return ""
	}
	return IPv4(uint32(e.SIP))
}

// DstIP is sf.net.dip.
func (e *Event) DstIP() string {
	if !e.HasNet() {
		return ""
	}
	return IPv4(uint32(e.DIP))
}

// ContainerType is sf.container.type: the runtime without its CT_ prefix,
// "host" for a process outside any container (FIELDS.md, intentional
// difference 1), "" when the process or its container record is missing.
func (e *Event) ContainerType() string {
	if e.Container != nil {
		return ContainerTypeName(e.Container.Type)
	}
	if e.Proc != nil && e.Proc.ContainerID == nil {
		return "host"
	}
	return ""
}

// ContainerTypeName is the enum symbol without its CT_ prefix.
func ContainerTypeName(t ContainerType) string {
	if t < 0 || int(t) >= len(ContainerTypeNames) {
		return ""
	}
	return strings.TrimPrefix(ContainerTypeNames[t], "CT_")
}

// K8sActionName and K8sKindName are sf.ke.action and sf.ke.kind.
func (e *Event) K8sActionName() string {
	if e.K8s == nil || e.K8s.Action < 0 || int(e.K8s.Action) >= len(K8sActionNames) {
		return ""
	}
	return K8sActionNames[e.K8s.Action]
}

// K8sKindName is sf.ke.kind.
func (e *Event) K8sKindName() string {
	if e.K8s == nil || e.K8s.Kind < 0 || int(e.K8s.Kind) >= len(K8sComponentNames) {
		return ""
	}
	return K8sComponentNames[e.K8s.Kind]
}

// K8sMessage is sf.ke.message: the collector ends the JSON text with a
// newline and a NUL, which the reference drops.
func (e *Event) K8sMessage() string {
	if e.K8s == nil {
		return ""
	}
	return strings.TrimRight(e.K8s.Message, "\x00\n")
}

// TraceName is sf.meta.tracename: the base name of the header's file name
// ("." when the writer recorded none, as in the reference).
func (e *Event) TraceName() string {
	if e.Header == nil {
		return ""
	}
	return baseName(e.Header.Filename)
}
