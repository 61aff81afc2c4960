package synth

import (
	"crypto/sha1"
	"fmt"
	"io"
	"math/rand/v2"
	"path"
	"strings"

	"github.com/sfconnector/sfconnector/sysflow"
)

// Options configure Generate.
type Options struct {
	// Seed makes the trace: the same seed and options give the same bytes.
	Seed uint64
	// Records is the approximate number of flat events (process events,
	// file events, file flows, network flows, k8s events) to write; entity
	// records come on top. Default 10,000.
	Records int
	// Exporter is the node id in the header. Default "synth-node".
	Exporter string
	// StartTS is the first timestamp in nanoseconds. Default 2023-11-14T22:13:20Z.
	StartTS int64
	// NoAttacks leaves out the attack scenarios.
	NoAttacks bool
	// Writer configures the container file. A zero Sync is derived from
	// Seed so that the output stays deterministic.
	Writer sysflow.WriterOptions
}

func (o *Options) setDefaults() {
	if o.Records == 0 {
		o.Records = 10_000
	}
	if o.Exporter == "" {
		o.Exporter = "synth-node"
	}
	if o.StartTS == 0 {
		o.StartTS = 1_700_000_000_000_000_000
	}
}

// Validate reports options Generate cannot honour.
func (o *Options) Validate() error {
	if o.Records < 0 {
		return fmt.Errorf("synth: records %d is negative", o.Records)
	}
	if o.StartTS < 0 {
		return fmt.Errorf("synth: start timestamp %d is negative", o.StartTS)
	}
	return nil
}

// Stats describe a generated trace.
type Stats struct {
	Records int                        // records written, entities included
	Kinds   map[sysflow.RecordKind]int // records per kind
	Events  int                        // flat events: PE, FE, FF, NF and KE records
	Attacks []string                   // attack scenarios played, in order
}

// Operation flags, open flags and resource types as the collector writes them.
const (
	opClone    = 1 << 0
	opExec     = 1 << 1
	opExit     = 1 << 2
	opSetuid   = 1 << 3
	opSetns    = 1 << 4
	opAccept   = 1 << 5
	opConnect  = 1 << 6
	opOpen     = 1 << 7
	opRead     = 1 << 8
	opWrite    = 1 << 9
	opClose    = 1 << 10
	opTruncate = 1 << 11
	opMmap     = 1 << 13
	opMkdir    = 1 << 15
	opUnlink   = 1 << 18
	opRename   = 1 << 20

	oRDONLY    = 1 << 0
	oWRONLY    = 1 << 1
	oCREAT     = 1 << 2
	oAPPEND    = 1 << 3
	oNONBLOCK  = 1 << 6
	oTRUNC     = 1 << 8
	oDIRECTORY = 1 << 10
	oCLOEXEC   = 1 << 12

	resFile = 'f'
	resDir  = 'd'

	protoTCP = 6
	protoUDP = 17
)

// IPv4 returns the address a.b.c.d as the collector stores it in an int32:
// the address bytes in network order, read as a little-endian integer.
func IPv4(a, b, c, d byte) int32 {
	return int32(uint32(a) | uint32(b)<<8 | uint32(c)<<16 | uint32(d)<<24)
}

// Generate writes a synthetic v5 SysFlow trace to w: a header, containers
// and pods, process trees that clone, exec and exit, and a stream of events
// that is mostly file flows, with network flows, file events, a few k8s
// events and, unless disabled, attack scenarios spread over the run. Every
// event refers to a process and file that were written before it.
func Generate(w io.Writer, opts Options) (Stats, error) {
	opts.setDefaults()
	if err := opts.Validate(); err != nil {
		return Stats{}, err
	}
	g := &gen{
		rng:   rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x5f3759df)),
		ts:    opts.StartTS,
		pid:   1000,
		files: map[string]*sysflow.File{},
		stats: Stats{Kinds: map[sysflow.RecordKind]int{}},
	}
	wo := opts.Writer
	if wo.Sync == ([16]byte{}) {
		for i := range wo.Sync {
			wo.Sync[i] = byte(g.rng.Uint32())
		}
	}
	sw, err := sysflow.NewWriter(w, wo)
	if err != nil {
		return Stats{}, fmt.Errorf("synth: %w", err)
	}
	g.w = sw
	g.run(opts)
	if g.err == nil {
		if err := sw.Close(); err != nil {
			g.err = err
		}
	}
	if g.err != nil {
		return g.stats, fmt.Errorf("synth: %w", g.err)
	}
	return g.stats, nil
}

type gen struct {
	rng   *rand.Rand
	w     *sysflow.Writer
	err   error
	ts    int64
	pid   int64
	stats Stats

	files     map[string]*sysflow.File // by container id + path: written once
	daemons   []*proc                  // long-lived, never exit
	transient []*proc                  // short-lived children that exit
	conts     []*container
	pods      []*sysflow.Pod
}

// proc is a live process and what it usually touches.
type proc struct {
	p    *sysflow.Process
	prof *profile
	cont *container
}

type container struct {
	c     *sysflow.Container
	pod   *sysflow.Pod
	entry *proc
	ip    int32
}

// profile is the everyday behaviour of a program: the files it reads and
// writes and the connections it makes or takes.
type profile struct {
	reads   []string
	writes  []string
	listen  int32 // accepting port, 0 for none
	connect []peer
}

type peer struct {
	ip    int32
	port  int32
	proto int32
}

var (
	dnsServer = peer{IPv4(10, 96, 0, 10), 53, protoUDP}
	libs      = []string{"/etc/ld.so.cache", "/lib/x86_64-linux-gnu/libc.so.6", "/lib/x86_64-linux-gnu/libpthread.so.0"}
)

func (g *gen) run(opts Options) {
	g.setup(opts)
	attacks := attackScenarios
	if opts.NoAttacks {
		attacks = nil
	}
	// Attacks are spread evenly over the run, so every trace long enough
	// holds each of them once.
	nextAttack := 0
	attackAt := func(i int) int { return (i + 1) * opts.Records / (len(attacks) + 1) }
	for g.err == nil && g.stats.Events < opts.Records {
		if nextAttack < len(attacks) && g.stats.Events >= attackAt(nextAttack) {
			a := attacks[nextAttack]
			a.play(g)
			g.stats.Attacks = append(g.stats.Attacks, a.name)
			nextAttack++
			continue
		}
		g.step()
	}
}

// step plays one everyday action, weighted so that about 85% of the flat
// events are file flows.
func (g *gen) step() {
	r := g.rng.IntN(1000)
	switch {
	case r < 868:
		p := g.anyProc()
		g.fileFlow(p, g.pick(p.prof))
	case r < 932:
		g.netFlow(g.anyProc())
	case r < 950:
		g.spawnRoutine()
	case r < 968:
		if len(g.transient) > 0 {
			g.exit(g.transient[0])
		} else {
			g.spawnRoutine()
		}
	case r < 993:
		g.fileEvent(g.anyProc())
	default:
		g.k8sEvent()
	}
}

func (g *gen) tick() int64 {
	g.ts += 1000 + g.rng.Int64N(2_000_000)
	return g.ts
}

func (g *gen) emit(rec sysflow.Record) {
	if g.err != nil {
		return
	}
	if err := g.w.Write(&rec); err != nil {
		g.err = err
		return
	}
	g.stats.Records++
	g.stats.Kinds[rec.Kind]++
	switch rec.Kind {
	case sysflow.KindProcessEvent, sysflow.KindFileEvent, sysflow.KindFileFlow, sysflow.KindNetworkFlow, sysflow.KindK8sEvent:
		g.stats.Events++
	}
}

func (g *gen) setup(opts Options) {
	g.emit(sysflow.Record{Kind: sysflow.KindHeader, Header: &sysflow.Header{
		Version: 5, Exporter: opts.Exporter, IP: "10.0.0.5", Filename: fmt.Sprintf("/var/lib/sysflow/synth-%d.sf", opts.Seed),
	}})
	root := &sysflow.Process{OID: sysflow.OID{CreateTS: opts.StartTS - 86_400_000_000_000, Hpid: 1}, TS: g.ts,
		Exe: "/usr/lib/systemd/systemd", ExeArgs: "--system --deserialize 31", UserName: "root", GroupName: "root",
		Entry: true, Cwd: "/", Env: []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}}
	g.emitProc(root)
	systemd := &proc{p: root, prof: &profile{reads: []string{"/proc/1/cgroup", "/run/systemd/units/invocation:cron.service"}}}
	g.daemons = append(g.daemons, systemd)

	g.daemon(systemd, "/usr/sbin/sshd", "-D", &profile{reads: []string{"/etc/ssh/sshd_config", "/etc/passwd"}, listen: 22})
	g.daemon(systemd, "/usr/sbin/cron", "-f", &profile{reads: []string{"/etc/crontab", "/var/spool/cron/crontabs"}})
	g.daemon(systemd, "/usr/lib/systemd/systemd-journald", "", &profile{
		reads: []string{"/proc/kmsg"}, writes: []string{"/var/log/journal/system.journal", "/var/log/syslog"}})
	sshd := g.daemons[1]
	session := g.daemon(sshd, "/usr/sbin/sshd", "-D -R", &profile{reads: []string{"/etc/passwd"}})
	bash := g.daemon(session, "/bin/bash", "", &profile{
		reads:  []string{"/home/alice/.bashrc", "/etc/profile", "/home/alice/notes.txt", "/usr/share/zoneinfo/UTC"},
		writes: []string{"/home/alice/.bash_history", "/tmp/build.log"}})
	bash.p.UID, bash.p.GID, bash.p.UserName, bash.p.GroupName, bash.p.TTY, bash.p.Cwd = 1000, 1000, "alice", "alice", true, "/home/alice"

	containerd := g.daemon(systemd, "/usr/bin/containerd", "", &profile{reads: []string{"/var/lib/containerd/io.containerd.metadata.v1.bolt/meta.db"}})

	g.addContainer(containerd, "web", "nginx:1.25", true, "/usr/sbin/nginx", "-g daemon off;", &profile{
		reads:  []string{"/usr/share/nginx/html/index.html", "/usr/share/nginx/html/app.js", "/usr/share/nginx/html/style.css", "/etc/nginx/nginx.conf"},
		writes: []string{"/var/log/nginx/access.log"}, listen: 80}, 2)
	g.addContainer(containerd, "api", "python:3.12-slim", true, "/usr/local/bin/python3", "/app/main.py", &profile{
		reads:   []string{"/app/main.py", "/app/models.py", "/usr/local/lib/python3.12/json/__init__.py", "/etc/hosts", "/etc/resolv.conf"},
		writes:  []string{"/tmp/api-cache.db"},
		listen:  8080,
		connect: []peer{{IPv4(10, 244, 0, 12), 6379, protoTCP}, dnsServer}}, 1)
	g.addContainer(containerd, "cache", "redis:7", false, "/usr/local/bin/redis-server", "*:6379", &profile{
		reads: []string{"/usr/local/etc/redis/redis.conf"}, writes: []string{"/data/dump.rdb", "/data/appendonly.aof"}, listen: 6379}, 0)
	g.addContainer(containerd, "frontend", "node:20-alpine", true, "/usr/local/bin/node", "/srv/server.js", &profile{
		reads:   []string{"/srv/server.js", "/srv/node_modules/express/index.js", "/srv/package.json"},
		listen:  3000,
		connect: []peer{{IPv4(10, 244, 0, 11), 8080, protoTCP}, dnsServer}}, 0)
}

// daemon clones and execs a long-lived process under parent.
func (g *gen) daemon(parent *proc, exe, args string, prof *profile) *proc {
	p := g.spawn(parent, exe, args, prof)
	g.daemons = append(g.daemons, p)
	return p
}

func (g *gen) addContainer(containerd *proc, name, image string, withPod bool, exe, args string, prof *profile, workers int) {
	n := len(g.conts)
	id := fmt.Sprintf("%012x", g.rng.Uint64()>>16)
	ct := &container{ip: IPv4(10, 244, 0, byte(10+n))}
	c := &sysflow.Container{ID: id, Image: image, ImageID: fmt.Sprintf("%064x", sha1.Sum([]byte(image))), Type: 0}
	c.Name = name
	if withPod {
		pod := &sysflow.Pod{
			TS: g.tick(), ID: fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x", g.rng.Uint32(), g.rng.Uint32()>>16, g.rng.Uint32()>>20, g.rng.Uint32()>>20, g.rng.Uint64()>>16),
			Name: fmt.Sprintf("%s-%08x", name, g.rng.Uint32()), NodeName: "synth-node",
			HostIP: []int64{int64(uint32(IPv4(10, 0, 0, 5)))}, InternalIP: []int64{int64(uint32(ct.ip))},
			Namespace: "shop", Labels: map[string]string{"app": name, "tier": "backend"},
			Services: []sysflow.Service{{Name: name, ID: fmt.Sprintf("svc-%s", name), Namespace: "shop",
				PortList: []sysflow.Port{{Port: 80, TargetPort: prof.listen, Proto: "TCP"}}, ClusterIP: []int64{int64(uint32(IPv4(10, 96, 1, byte(n))))}}},
		}
		c.Name = "k8s_" + name + "_" + pod.Name + "_shop_" + pod.ID + "_0"
		c.PodID = &pod.ID
		ct.pod = pod
		g.pods = append(g.pods, pod)
		g.emit(sysflow.Record{Kind: sysflow.KindPod, Pod: pod})
	}
	ct.c = c
	g.conts = append(g.conts, ct)
	g.emit(sysflow.Record{Kind: sysflow.KindContainer, Container: c})

	// containerd-shim -> entry point (the container's first process).
	shim := g.spawn(containerd, "/usr/bin/containerd-shim-runc-v2", "-namespace k8s.io -id "+id, &profile{})
	g.daemons = append(g.daemons, shim)
	entry := g.spawnIn(shim, ct, exe, args, prof)
	entry.p.Entry = true
	g.emitProc(entry.p) // entry flag set after exec: re-sent as modified
	ct.entry = entry
	g.daemons = append(g.daemons, entry)
	for range workers {
		g.daemons = append(g.daemons, g.spawnIn(entry, ct, exe, args, prof))
	}
}

func (g *gen) emitProc(p *sysflow.Process) {
	cp := *p // records are immutable once written: send a snapshot
	g.emit(sysflow.Record{Kind: sysflow.KindProcess, Process: &cp})
}

// spawn clones parent and, when exe is set, execs exe in the child.
func (g *gen) spawn(parent *proc, exe, args string, prof *profile) *proc {
	return g.spawnIn(parent, parent.cont, exe, args, prof)
}

func (g *gen) spawnIn(parent *proc, ct *container, exe, args string, prof *profile) *proc {
	g.pid++
	ts := g.tick()
	pp := parent.p
	poid := pp.OID
	child := &sysflow.Process{
		State: sysflow.StateCreated, OID: sysflow.OID{CreateTS: ts, Hpid: g.pid}, POID: &poid, TS: ts,
		Exe: pp.Exe, ExeArgs: pp.ExeArgs, UID: pp.UID, UserName: pp.UserName, GID: pp.GID, GroupName: pp.GroupName,
		TTY: pp.TTY, Cwd: pp.Cwd, Env: pp.Env,
	}
	if ct != nil {
		id := ct.c.ID
		child.ContainerID = &id
		if parent.cont == nil { // entering the container: its own root and env
			child.Cwd, child.Env = "/", []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOSTNAME=" + ct.c.Name}
			child.UserName, child.GroupName = "root", "root"
		}
	}
	p := &proc{p: child, prof: prof, cont: ct}
	g.emitProc(child)
	g.emit(sysflow.Record{Kind: sysflow.KindProcessEvent, ProcessEvent: &sysflow.ProcessEvent{
		ProcOID: child.OID, TS: ts, TID: g.pid, OpFlags: opClone}})
	if exe != "" {
		g.exec(p, exe, args)
	}
	return p
}

func (g *gen) exec(p *proc, exe, args string) {
	ts := g.tick()
	p.p.State, p.p.Exe, p.p.ExeArgs, p.p.TS = sysflow.StateModified, exe, args, ts
	g.emitProc(p.p)
	g.emit(sysflow.Record{Kind: sysflow.KindProcessEvent, ProcessEvent: &sysflow.ProcessEvent{
		ProcOID: p.p.OID, TS: ts, TID: p.p.OID.Hpid, OpFlags: opExec}})
	// The loader's reads of every freshly exec'd program.
	for _, lib := range libs[:1+g.rng.IntN(len(libs))] {
		g.fileFlowOp(p, lib, opOpen|opRead|opMmap|opClose, oRDONLY|oCLOEXEC)
	}
}

func (g *gen) exit(p *proc) {
	g.emit(sysflow.Record{Kind: sysflow.KindProcessEvent, ProcessEvent: &sysflow.ProcessEvent{
		ProcOID: p.p.OID, TS: g.tick(), TID: p.p.OID.Hpid, OpFlags: opExit}})
	for i, t := range g.transient {
		if t == p {
			g.transient = append(g.transient[:i], g.transient[i+1:]...)
			break
		}
	}
}

// spawnRoutine starts one of the everyday short-lived commands.
func (g *gen) spawnRoutine() {
	type routine struct {
		parent     func() *proc
		exe, args  string
		reads, wrs []string
	}
	byName := func(name string) func() *proc {
		return func() *proc {
			for _, d := range g.daemons {
				if path.Base(d.p.Exe) == name {
					return d
				}
			}
			return g.daemons[0]
		}
	}
	routines := []routine{
		{byName("cron"), "/bin/sh", "-c run-parts /etc/cron.hourly", []string{"/etc/cron.hourly/logrotate"}, nil},
		{byName("bash"), "/usr/bin/ls", "-la", []string{"/home/alice"}, nil},
		{byName("bash"), "/usr/bin/git", "status", []string{"/home/alice/src/app/.git/HEAD", "/home/alice/src/app/.git/index"}, nil},
		{byName("bash"), "/usr/bin/vim", "notes.txt", []string{"/home/alice/notes.txt", "/home/alice/.vimrc"}, []string{"/home/alice/notes.txt"}},
		{byName("python3"), "/usr/local/bin/python3", "/app/worker.py --once", []string{"/app/worker.py"}, []string{"/tmp/api-cache.db"}},
		{byName("systemd"), "/usr/sbin/logrotate", "/etc/logrotate.conf", []string{"/etc/logrotate.conf"}, []string{"/var/log/syslog.1"}},
	}
	r := routines[g.rng.IntN(len(routines))]
	parent := r.parent()
	c := g.spawn(parent, r.exe, r.args, &profile{reads: append(r.reads, libs...), writes: r.wrs})
	g.transient = append(g.transient, c)
	if len(g.transient) > 24 {
		g.exit(g.transient[0])
	}
}

func (g *gen) anyProc() *proc {
	n := len(g.daemons) + len(g.transient)
	i := g.rng.IntN(n)
	if i < len(g.daemons) {
		return g.daemons[i]
	}
	return g.transient[i-len(g.daemons)]
}

// pick chooses a file of the profile: reads three times as often as writes.
func (g *gen) pick(prof *profile) string {
	if len(prof.writes) > 0 && (len(prof.reads) == 0 || g.rng.IntN(4) == 0) {
		return "w:" + prof.writes[g.rng.IntN(len(prof.writes))]
	}
	if len(prof.reads) == 0 {
		return libs[g.rng.IntN(len(libs))]
	}
	return prof.reads[g.rng.IntN(len(prof.reads))]
}

func (g *gen) fileFlow(p *proc, target string) {
	if w, ok := strings.CutPrefix(target, "w:"); ok {
		g.fileFlowOp(p, w, opOpen|opWrite|opClose, oWRONLY|oCREAT|oAPPEND|oCLOEXEC)
		return
	}
	ops := int32(opOpen | opRead | opClose)
	if g.rng.IntN(5) == 0 {
		ops |= opMmap
	}
	g.fileFlowOp(p, target, ops, oRDONLY|oCLOEXEC)
}

// file returns the File entity for p's view of path, writing it first.
func (g *gen) file(p *proc, path string, restype int32) *sysflow.File {
	key := path
	var cid *string
	if p.cont != nil {
		key = p.cont.c.ID + ":" + path
		id := p.cont.c.ID
		cid = &id
	}
	if f, ok := g.files[key]; ok {
		return f
	}
	f := &sysflow.File{State: sysflow.StateCreated, OID: sha1.Sum([]byte(key)), TS: g.tick(), Restype: restype, Path: path, ContainerID: cid}
	g.files[key] = f
	g.emit(sysflow.Record{Kind: sysflow.KindFile, File: f})
	return f
}

func (g *gen) fileFlowOp(p *proc, path string, ops, openFlags int32) {
	f := g.file(p, path, resFile)
	ts := g.tick()
	ff := &sysflow.FileFlow{ProcOID: p.p.OID, TS: ts, TID: p.p.OID.Hpid, OpFlags: ops, OpenFlags: openFlags,
		EndTS: ts + g.rng.Int64N(5_000_000), FileOID: f.OID, FD: 3 + g.rng.Int32N(60)}
	if ops&opRead != 0 {
		ff.NumRRecvOps = 1 + g.rng.Int64N(20)
		ff.NumRRecvBytes = ff.NumRRecvOps * (1 + g.rng.Int64N(8192))
	}
	if ops&opWrite != 0 {
		ff.NumWSendOps = 1 + g.rng.Int64N(10)
		ff.NumWSendBytes = ff.NumWSendOps * (1 + g.rng.Int64N(4096))
	}
	g.emit(sysflow.Record{Kind: sysflow.KindFileFlow, FileFlow: ff})
}

func (g *gen) netFlow(p *proc) {
	local := IPv4(10, 0, 0, 5)
	if p.cont != nil {
		local = p.cont.ip
	}
	switch {
	case p.prof.listen != 0 && (len(p.prof.connect) == 0 || g.rng.IntN(2) == 0):
		client := IPv4(10, 244, 0, byte(100+g.rng.IntN(50)))
		g.netFlowOp(p, peer{client, 30000 + g.rng.Int32N(30000), protoTCP}, local, p.prof.listen, opAccept|opRead|opWrite|opClose)
	case len(p.prof.connect) > 0:
		dst := p.prof.connect[g.rng.IntN(len(p.prof.connect))]
		g.netFlowOp(p, peer{local, 30000 + g.rng.Int32N(30000), dst.proto}, dst.ip, dst.port, opConnect|opWrite|opRead|opClose)
	default:
		// Everyone resolves names now and then.
		g.netFlowOp(p, peer{local, 30000 + g.rng.Int32N(30000), protoUDP}, dnsServer.ip, 53, opWrite|opRead|opClose)
	}
}

// netFlowOp writes one network flow from src to dip:dport.
func (g *gen) netFlowOp(p *proc, src peer, dip, dport int32, ops int32) {
	ts := g.tick()
	nf := &sysflow.NetworkFlow{ProcOID: p.p.OID, TS: ts, TID: p.p.OID.Hpid, OpFlags: ops, EndTS: ts + g.rng.Int64N(50_000_000),
		SIP: src.ip, SPort: src.port, DIP: dip, DPort: dport, Proto: src.proto, FD: 3 + g.rng.Int32N(200)}
	if ops&opRead != 0 {
		nf.NumRRecvOps = 1 + g.rng.Int64N(10)
		nf.NumRRecvBytes = nf.NumRRecvOps * (40 + g.rng.Int64N(1400))
	}
	if ops&opWrite != 0 {
		nf.NumWSendOps = 1 + g.rng.Int64N(10)
		nf.NumWSendBytes = nf.NumWSendOps * (40 + g.rng.Int64N(1400))
	}
	g.emit(sysflow.Record{Kind: sysflow.KindNetworkFlow, NetworkFlow: nf})
}

// fileEvent makes, renames or removes a scratch file.
func (g *gen) fileEvent(p *proc) {
	dir := "/tmp/" + path.Base(p.p.Exe) + fmt.Sprintf("-%d", p.p.OID.Hpid)
	switch g.rng.IntN(3) {
	case 0:
		g.fileEventOp(p, opMkdir, g.file(p, dir, resDir), nil)
	case 1:
		from := g.file(p, fmt.Sprintf("%s.%d.tmp", dir, g.rng.IntN(100)), resFile)
		to := g.file(p, fmt.Sprintf("%s.%d", dir, g.rng.IntN(100)), resFile)
		g.fileEventOp(p, opRename, from, to)
	default:
		g.fileEventOp(p, opUnlink, g.file(p, fmt.Sprintf("%s.%d.tmp", dir, g.rng.IntN(100)), resFile), nil)
	}
}

func (g *gen) fileEventOp(p *proc, op int32, f, newFile *sysflow.File) {
	fe := &sysflow.FileEvent{ProcOID: p.p.OID, TS: g.tick(), TID: p.p.OID.Hpid, OpFlags: op, FileOID: f.OID}
	if newFile != nil {
		oid := newFile.OID
		fe.NewFileOID = &oid
	}
	g.emit(sysflow.Record{Kind: sysflow.KindFileEvent, FileEvent: fe})
}

func (g *gen) k8sEvent() {
	if len(g.pods) == 0 {
		g.fileFlow(g.daemons[0], libs[0])
		return
	}
	pod := g.pods[g.rng.IntN(len(g.pods))]
	g.emit(sysflow.Record{Kind: sysflow.KindK8sEvent, K8sEvent: &sysflow.K8sEvent{
		Kind: 2, Action: 1, TS: g.tick(), // K8S_PODS, K8S_COMPONENT_MODIFIED
		Message: fmt.Sprintf(`{"kind":"Pod","type":"MODIFIED","items":[{"name":%q,"namespace":%q}]}`, pod.Name, pod.Namespace),
	}})
}

func recordPE(p *proc, ts int64, op int32, args []string, ret int32) sysflow.Record {
	return sysflow.Record{Kind: sysflow.KindProcessEvent, ProcessEvent: &sysflow.ProcessEvent{
		ProcOID: p.p.OID, TS: ts, TID: p.p.OID.Hpid, OpFlags: op, Args: args, Ret: ret}}
}
