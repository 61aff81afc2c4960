package synth

import (
	"crypto/sha1"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"path"
	"strings"

	"github.com/sfconnector/sfconnector/sysflow"
)

// DefaultAttackRate is the attack scenarios played per flat event when
// Options.AttackRate is zero: one every 2,000 events, so that a 20,000-event
// demo plays each scenario once and under 1% of a trace's events alert.
const DefaultAttackRate = 0.0005

// MaxAttackRate bounds Options.AttackRate: a scenario writes about ten
// events, so at one per ten events a trace would be nothing but attacks.
const MaxAttackRate = 0.1

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
	// AttackRate is the number of attack scenarios per flat event, played
	// evenly spaced, each scenario in turn. Zero means DefaultAttackRate.
	AttackRate float64
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
	if o.AttackRate == 0 {
		o.AttackRate = DefaultAttackRate
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
	if math.IsNaN(o.AttackRate) || o.AttackRate < 0 || o.AttackRate > MaxAttackRate {
		return fmt.Errorf("synth: attack rate %g is outside [0, %g] scenarios per event", o.AttackRate, MaxAttackRate)
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

// The everyday mix: how often, per million steps, each kind of action is
// played. The figures were fitted so that the generated trace has the
// statistics of the 14 real traces of ../shared/traces taken together
// (file flows 88% of events, network flows 7.7%, process events 4.0% of
// which clones 18.5, execs 9.6, exits 10.6 and setuids 1.5 per thousand
// events, 98% of events in containers, ancestry about 7 deep; see
// internal/tracestats and BENCHMARKS.md, "Generated traces that look
// real"). TestRealism checks the fit for several seeds.
const (
	wFileFlow  = 893_000
	wNetFlow   = 82_000
	wFileEvent = 1_500
	wK8sEvent  = 200
	wSpawn     = 9_300 // clone, exec, loader reads, exit later
	wFork      = 2_000 // clone without exec (three in four drop privileges with setuid), exit
	wThread    = 7_200 // clone of a thread inside a running process
	wTotal     = wFileFlow + wNetFlow + wFileEvent + wK8sEvent + wSpawn + wFork + wThread
)

// freshShare is the share of a profile's file flows that touch a fresh
// file (a temporary file, a cache entry, a rotated journal, a helper's own
// /proc view), whose entity the collector writes again at each use: with
// the helpers' reads it gives the real traces' rate of file records, about
// 70 per thousand events.
const freshShare = 0.095

// freshPool bounds the fresh paths of a profile: names are reused, as
// temporary names and pids are, so that the files a trace defines stay far
// below the flattener's table cap (262,144) however long the trace; a
// longer trace re-sends entities rather than growing the table.
const freshPool = 4096

// Generate writes a synthetic v5 SysFlow trace to w: a header, containers
// and pods, process trees that clone, exec and exit, and a stream of events
// with the mix of real collector traces (mostly file flows of container
// workloads), with attack scenarios as rare events spread over the run
// (Options.AttackRate). Every event refers to a process and file that were
// written before it.
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
	fresh int // counter naming fresh files
	stats Stats

	files     map[string]*sysflow.File // by container id + path: written once
	daemons   []*proc                  // long-lived, never exit
	weight    int                      // sum of the daemons' weights
	transient []*proc                  // short-lived children that exit
	conts     []*container
	pods      []*sysflow.Pod
	host      *proc // systemd
	dockerd   *proc
	sshd      *proc
	shell     *proc // the admin's login shell, started by the first attack that needs it
}

// proc is a live process and what it usually touches.
type proc struct {
	p      *sysflow.Process
	prof   *profile
	cont   *container
	weight int // share of the everyday events it does, relative to the others
}

type container struct {
	c      *sysflow.Container
	pod    *sysflow.Pod
	shim   *proc
	entry  *proc
	master *proc
	ip     int32
}

// profile is the everyday behaviour of a program: the files it reads and
// writes, the fresh files it creates and the connections it makes or takes.
type profile struct {
	reads   []string
	writes  []string
	fresh   string // fmt pattern of a fresh file's path, with one %d; "" for none
	listen  int32  // accepting port, 0 for none
	connect []peer
	helpers []helper // programs it starts now and then
	spawns  int      // how often, relative to the other daemons with helpers
	forks   string   // what its forked children do: "privsep", "snapshot", "job" or "" (does not fork)
}

// helper is a short-lived program a process execs now and then: a probe,
// a firewall sync, a cache rebuild.
type helper struct {
	exe, args string
	reads     []string
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
	var attacks []attack
	n := 0
	if !opts.NoAttacks {
		attacks = attackScenarios
		n = int(math.Round(opts.AttackRate * float64(opts.Records)))
	}
	// Attacks are spread evenly over the run, each scenario in turn, so
	// every trace with at least len(attacks) of them holds each one.
	played := 0
	attackAt := func(i int) int { return int(int64(i+1) * int64(opts.Records) / int64(n+1)) }
	for g.err == nil && g.stats.Events < opts.Records {
		if played < n && g.stats.Events >= attackAt(played) {
			a := attacks[played%len(attacks)]
			a.play(g)
			g.stats.Attacks = append(g.stats.Attacks, a.name)
			played++
			continue
		}
		g.step()
	}
}

// step plays one everyday action, drawn with the weights of the mix.
func (g *gen) step() {
	r := g.rng.IntN(wTotal)
	switch {
	case r < wFileFlow:
		p := g.anyProc()
		g.fileFlow(p, g.pick(p))
		return
	case r < wFileFlow+wNetFlow:
		g.netFlow(g.anyProc())
		return
	}
	r -= wFileFlow + wNetFlow
	switch {
	case r < wFileEvent:
		g.fileEvent(g.anyProc())
	case r < wFileEvent+wK8sEvent:
		g.k8sEvent()
	case r < wFileEvent+wK8sEvent+wSpawn:
		g.spawnHelper()
	case r < wFileEvent+wK8sEvent+wSpawn+wFork:
		g.forkChild()
	default:
		g.threadClone(g.anyProc())
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

// setup writes the node as a collector would find it when it starts: a
// host with a few daemons and a docker runtime running a small shop's
// containers, most of them in pods. The process trees have the depth of
// the real traces: systemd, dockerd, containerd, the shim, the container's
// init, the application's master and its workers.
func (g *gen) setup(opts Options) {
	g.emit(sysflow.Record{Kind: sysflow.KindHeader, Header: &sysflow.Header{
		Version: 5, Exporter: opts.Exporter, IP: "10.0.0.5", Filename: fmt.Sprintf("/var/lib/sysflow/synth-%d.sf", opts.Seed),
	}})
	root := &sysflow.Process{OID: sysflow.OID{CreateTS: opts.StartTS - 86_400_000_000_000, Hpid: 1}, TS: g.ts,
		Exe: "/usr/lib/systemd/systemd", ExeArgs: "--system --deserialize 31", UserName: "root", GroupName: "root",
		Entry: true, Cwd: "/", Env: []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}}
	g.emitProc(root)
	g.host = &proc{p: root, prof: &profile{reads: []string{"/proc/1/cgroup", "/run/systemd/units/invocation:cron.service"}}}
	g.addDaemon(g.host, 0)

	// Host daemons: quiet next to the containers (the real traces have 98%
	// of their events in containers).
	g.sshd = g.daemon(g.host, "/usr/sbin/sshd", "-D", &profile{reads: []string{"/etc/ssh/sshd_config"}, listen: 22, forks: "privsep"}, 0)
	g.daemon(g.host, "/usr/sbin/cron", "-f", &profile{reads: []string{"/etc/crontab", "/var/spool/cron/crontabs"},
		helpers: []helper{{"/usr/sbin/logrotate", "/etc/logrotate.conf", []string{"/etc/logrotate.conf", "/var/lib/logrotate/status"}}}, spawns: 1}, 1)
	g.daemon(g.host, "/usr/lib/systemd/systemd-journald", "", &profile{
		reads: []string{"/proc/kmsg"}, writes: []string{"/var/log/journal/system.journal"}, fresh: "/var/log/journal/system@%08x.journal~"}, 1)
	g.daemon(g.host, "/usr/bin/kubelet", "--config=/var/lib/kubelet/config.yaml", &profile{
		reads:   []string{"/sys/fs/cgroup/memory/memory.stat", "/sys/fs/cgroup/cpu,cpuacct/cpuacct.usage", "/var/lib/kubelet/config.yaml", "/proc/meminfo", "/proc/diskstats"},
		connect: []peer{{IPv4(10, 0, 0, 5), 6443, protoTCP}}}, 1)
	g.dockerd = g.daemon(g.host, "/usr/bin/dockerd", "-H fd://", &profile{reads: []string{"/var/lib/docker/image/overlay2/repositories.json"}}, 0)
	containerd := g.daemon(g.dockerd, "/usr/bin/docker-containerd", "--config /var/run/docker/containerd/containerd.toml", &profile{
		reads: []string{"/var/lib/docker/containerd/daemon/io.containerd.metadata.v1.bolt/meta.db"}}, 0)

	site := func(dir, ext string, n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("%s/%04x.%s", dir, i*2654435761%65521, ext)
		}
		return out
	}
	g.addContainer(containerd, containerSpec{name: "web", image: "nginx:1.25", pod: true, uid: 101, user: "nginx",
		init: "/usr/sbin/nginx", initArgs: "-g daemon off;", workerArgs: "-g daemon off;", workers: 2, weight: 60,
		prof: &profile{
			reads:   append(site("/usr/share/nginx/html/static", "js", 120), "/usr/share/nginx/html/index.html", "/etc/nginx/nginx.conf", "/etc/nginx/mime.types"),
			writes:  []string{"/var/log/nginx/access.log"},
			fresh:   "/var/cache/nginx/proxy_temp/%07d",
			listen:  80,
			connect: []peer{{IPv4(10, 244, 0, 11), 8080, protoTCP}},
		}})
	g.addContainer(containerd, containerSpec{name: "api", image: "python:3.12-slim", pod: true, uid: 0, user: "root",
		init: "/usr/local/bin/python3", initArgs: "/usr/local/bin/gunicorn -w 3 app:main", workerArgs: "/usr/local/bin/gunicorn -w 3 app:main", workers: 3, weight: 80,
		prof: &profile{
			reads: append(site("/usr/local/lib/python3.12/site-packages/app", "py", 80), "/app/main.py", "/app/models.py",
				"/usr/local/lib/python3.12/json/__init__.py", "/etc/hosts", "/etc/resolv.conf", "/proc/self/stat", "/proc/meminfo"),
			writes:  []string{"/tmp/api-cache.db"},
			fresh:   "/tmp/tmp%08x.json",
			listen:  8080,
			connect: []peer{{IPv4(10, 244, 0, 12), 6379, protoTCP}, {IPv4(10, 244, 0, 14), 27017, protoTCP}, dnsServer},
			helpers: []helper{{"/sbin/ldconfig.real", "-p", []string{"/etc/ld.so.cache", "/etc/ld.so.conf"}}},
			spawns:  3,
			forks:   "job",
		}})
	g.addContainer(containerd, containerSpec{name: "cache", image: "redis:7", pod: true, uid: 999, user: "redis",
		init: "/usr/local/bin/redis-server", initArgs: "*:6379", weight: 24,
		prof: &profile{
			reads:   []string{"/usr/local/etc/redis/redis.conf", "/data/appendonly.aof"},
			writes:  []string{"/data/appendonly.aof"},
			listen:  6379,
			helpers: []helper{{"/usr/local/bin/redis-cli", "ping", []string{"/etc/hosts"}}},
			spawns:  3,
			forks:   "snapshot",
		}})
	g.addContainer(containerd, containerSpec{name: "frontend", image: "node:20-alpine", pod: true, uid: 1000, user: "node",
		init: "/usr/local/bin/node", initArgs: "/srv/server.js", workerArgs: "/srv/server.js --worker", workers: 1, weight: 32,
		prof: &profile{
			reads:   append(site("/srv/node_modules/lib", "js", 150), "/srv/server.js", "/srv/package.json"),
			listen:  3000,
			connect: []peer{{IPv4(10, 244, 0, 11), 8080, protoTCP}, dnsServer},
			helpers: []helper{{"/usr/local/bin/node", "/srv/healthcheck.js", []string{"/srv/healthcheck.js"}}},
			spawns:  3,
		}})
	g.addContainer(containerd, containerSpec{name: "db", image: "mongo:7", pod: true, uid: 999, user: "mongodb",
		init: "/usr/bin/mongod", initArgs: "--bind_ip_all", weight: 28,
		prof: &profile{
			reads:  append(site("/data/db", "wt", 40), "/proc/self/stat", "/sys/fs/cgroup/memory/memory.limit_in_bytes"),
			writes: []string{"/data/db/journal/WiredTigerLog.0000000001", "/data/db/diagnostic.data/metrics.interim"},
			fresh:  "/data/db/diagnostic.data/metrics.%08x",
			listen: 27017,
		}})
	g.addContainer(containerd, containerSpec{name: "kube-proxy", image: "registry.k8s.io/kube-proxy:v1.29.0", pod: true, uid: 0, user: "root",
		init: "/usr/local/bin/kube-proxy", initArgs: "--config=/var/lib/kube-proxy/config.conf", weight: 12,
		prof: &profile{
			reads:   []string{"/proc/net/ip_tables_names", "/var/lib/kube-proxy/config.conf", "/run/xtables.lock"},
			connect: []peer{{IPv4(10, 0, 0, 5), 6443, protoTCP}},
			helpers: []helper{
				{"/usr/sbin/iptables-save", "-t nat", []string{"/run/xtables.lock", "/usr/lib/x86_64-linux-gnu/libip4tc.so.2", "/usr/lib/x86_64-linux-gnu/libxtables.so.12"}},
				{"/usr/sbin/iptables-restore", "-w 5 --noflush --counters", []string{"/run/xtables.lock", "/usr/lib/x86_64-linux-gnu/libip4tc.so.2"}},
			},
			spawns: 10,
		}})
}

type containerSpec struct {
	name, image    string
	pod            bool
	uid            int32
	user           string
	init, initArgs string // the application's master process
	workerArgs     string
	workers        int
	weight         int // of the master and workers together
	prof           *profile
}

// daemon clones and execs a long-lived process under parent.
func (g *gen) daemon(parent *proc, exe, args string, prof *profile, weight int) *proc {
	p := g.spawn(parent, exe, args, prof)
	g.addDaemon(p, weight)
	return p
}

func (g *gen) addDaemon(p *proc, weight int) {
	p.weight = weight
	g.daemons = append(g.daemons, p)
	g.weight += weight
}

func (g *gen) addContainer(containerd *proc, s containerSpec) {
	n := len(g.conts)
	id := fmt.Sprintf("%012x", g.rng.Uint64()>>16)
	ct := &container{ip: IPv4(10, 244, 0, byte(10+n))}
	c := &sysflow.Container{ID: id, Image: s.image, ImageID: fmt.Sprintf("%064x", sha1.Sum([]byte(s.image))), Type: 0}
	c.Name = s.name
	if s.pod {
		pod := &sysflow.Pod{
			TS: g.tick(), ID: fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x", g.rng.Uint32(), g.rng.Uint32()>>16, g.rng.Uint32()>>20, g.rng.Uint32()>>20, g.rng.Uint64()>>16),
			Name: fmt.Sprintf("%s-%08x", s.name, g.rng.Uint32()), NodeName: "synth-node",
			HostIP: []int64{int64(uint32(IPv4(10, 0, 0, 5)))}, InternalIP: []int64{int64(uint32(ct.ip))},
			Namespace: "shop", Labels: map[string]string{"app": s.name, "tier": "backend"},
			Services: []sysflow.Service{{Name: s.name, ID: fmt.Sprintf("svc-%s", s.name), Namespace: "shop",
				PortList: []sysflow.Port{{Port: 80, TargetPort: s.prof.listen, Proto: "TCP"}}, ClusterIP: []int64{int64(uint32(IPv4(10, 96, 1, byte(n))))}}},
		}
		c.Name = "k8s_" + s.name + "_" + pod.Name + "_shop_" + pod.ID + "_0"
		c.PodID = &pod.ID
		ct.pod = pod
		g.pods = append(g.pods, pod)
		g.emit(sysflow.Record{Kind: sysflow.KindPod, Pod: pod})
	}
	ct.c = c
	g.conts = append(g.conts, ct)
	g.emit(sysflow.Record{Kind: sysflow.KindContainer, Container: c})

	// shim -> tini (the container's first process) -> master -> workers.
	shim := g.spawn(containerd, "/usr/bin/docker-containerd-shim", id+" /var/run/docker/libcontainerd/"+id+" docker-runc", &profile{})
	g.addDaemon(shim, 0)
	ct.shim = shim
	entry := g.spawnIn(shim, ct, "/sbin/tini", "-- "+s.init+" "+s.initArgs, &profile{reads: []string{"/proc/self/status"}})
	entry.p.Entry = true
	g.emitProc(entry.p) // entry flag set after exec: re-sent as modified
	ct.entry = entry
	g.addDaemon(entry, 0)
	master := g.spawnIn(entry, ct, s.init, s.initArgs, s.prof)
	ct.master = master
	if s.workers == 0 {
		g.addDaemon(master, s.weight)
		return
	}
	g.addDaemon(master, max(1, s.weight/10))
	for range s.workers {
		w := g.spawnIn(master, ct, s.init, s.workerArgs, s.prof)
		if s.uid != 0 {
			w.p.UID, w.p.GID, w.p.UserName, w.p.GroupName = s.uid, s.uid, s.user, s.user
			g.emitProc(w.p) // the worker dropped its privileges: re-sent as modified
		}
		g.addDaemon(w, max(1, (s.weight-s.weight/10)/s.workers))
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
	p := g.clone(parent, ct, prof)
	if exe != "" {
		g.exec(p, exe, args)
	}
	return p
}

// clone writes a new process, a copy of parent, and its clone event.
func (g *gen) clone(parent *proc, ct *container, prof *profile) *proc {
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

// spawnHelper starts one of the everyday short-lived programs of a daemon
// that has some, kube-proxy's firewall syncs most often, as in the real
// k8s trace; it reads its files and exits a few steps later.
func (g *gen) spawnHelper() {
	total := 0
	for _, d := range g.daemons {
		total += d.prof.spawns
	}
	r := g.rng.IntN(total)
	parent := g.daemons[0]
	for _, d := range g.daemons {
		if r < d.prof.spawns {
			parent = d
			break
		}
		r -= d.prof.spawns
	}
	h := parent.prof.helpers[g.rng.IntN(len(parent.prof.helpers))]
	c := g.spawn(parent, h.exe, h.args, &profile{reads: h.reads})
	// Its own view of /proc: the collector writes the entity again for
	// every process that opens it.
	g.freshFlow(c, "/proc/self/status", false)
	for _, f := range h.reads[:1+g.rng.IntN(len(h.reads))] {
		g.fileFlowOp(c, f, opOpen|opRead|opClose, oRDONLY|oCLOEXEC)
	}
	g.transient = append(g.transient, c)
	if len(g.transient) > 4 {
		g.exit(g.transient[0])
	}
}

// forkChild forks a child of a daemon without exec. Most are sshd's
// privilege-separated children for the node's monitoring logins: they
// drop privileges with setuid, as the real traces' setuids do, and sshd
// is a program the reference rules expect to call setuid. The others are a
// worker's one-off job or redis writing a snapshot and renaming it into
// place.
func (g *gen) forkChild() {
	parent := g.sshd
	if g.rng.IntN(4) == 0 {
		var cands []*proc
		for _, d := range g.daemons {
			if d.prof.forks != "" && d.prof.forks != "privsep" && d.weight > 0 {
				cands = append(cands, d)
			}
		}
		parent = cands[g.rng.IntN(len(cands))]
	}
	c := g.clone(parent, parent.cont, parent.prof)
	switch parent.prof.forks {
	case "privsep":
		g.emitProcessEvent(c, opSetuid, []string{"74"}, 0) // sshd's privilege separation user
		g.fileFlowOp(c, "/etc/ssh/sshd_config", opOpen|opRead|opClose, oRDONLY|oCLOEXEC)
	case "job":
		g.fileFlow(c, g.pick(c))
	case "snapshot":
		tmp := fmt.Sprintf("/data/temp-%d.rdb", c.p.OID.Hpid%32768) // pids wrap at pid_max
		g.freshFlow(c, tmp, true)
		g.fileEventOp(c, opRename, g.freshFile(c, tmp, resFile), g.file(c, "/data/dump.rdb", resFile))
	}
	g.exit(c)
}

// threadClone starts a thread in p: a clone event of p itself, with a new
// thread id.
func (g *gen) threadClone(p *proc) {
	g.pid++
	g.emit(sysflow.Record{Kind: sysflow.KindProcessEvent, ProcessEvent: &sysflow.ProcessEvent{
		ProcOID: p.p.OID, TS: g.tick(), TID: g.pid, OpFlags: opClone}})
}

// anyProc draws a long-lived process, each as often as its weight says.
func (g *gen) anyProc() *proc {
	r := g.rng.IntN(g.weight)
	for _, d := range g.daemons {
		if r < d.weight {
			return d
		}
		r -= d.weight
	}
	return g.daemons[0]
}

// pick chooses a file of p's profile: reads three times as often as
// writes, and now and then a fresh file (prefixed "n:").
func (g *gen) pick(p *proc) string {
	prof := p.prof
	if prof.fresh != "" && g.rng.Float64() < freshShare {
		g.fresh++
		return "n:" + fmt.Sprintf(prof.fresh, g.fresh%freshPool)
	}
	if len(prof.writes) > 0 && (len(prof.reads) == 0 || g.rng.IntN(4) == 0) {
		return "w:" + prof.writes[g.rng.IntN(len(prof.writes))]
	}
	if len(prof.reads) == 0 {
		return libs[g.rng.IntN(len(libs))]
	}
	return prof.reads[g.rng.IntN(len(prof.reads))]
}

func (g *gen) fileFlow(p *proc, target string) {
	if n, ok := strings.CutPrefix(target, "n:"); ok {
		g.freshFlow(p, n, true)
		return
	}
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
	if p.cont != nil {
		key = p.cont.c.ID + ":" + path
	}
	if f, ok := g.files[key]; ok {
		return f
	}
	f := g.freshFile(p, path, restype)
	g.files[key] = f
	return f
}

// freshFile writes the File entity of a fresh file (recreated, or seen by
// a new process), as the collector does at each such use, without keeping
// it in the table of files written once.
func (g *gen) freshFile(p *proc, path string, restype int32) *sysflow.File {
	key := path
	var cid *string
	if p.cont != nil {
		key = p.cont.c.ID + ":" + path
		id := p.cont.c.ID
		cid = &id
	}
	f := &sysflow.File{State: sysflow.StateCreated, OID: sha1.Sum([]byte(key)), TS: g.tick(), Restype: restype, Path: path, ContainerID: cid}
	g.emit(sysflow.Record{Kind: sysflow.KindFile, File: f})
	return f
}

// freshFlow writes a fresh file's entity and one flow on it: created and
// written, or read.
func (g *gen) freshFlow(p *proc, path string, write bool) {
	f := g.freshFile(p, path, resFile)
	if write {
		g.fileFlowOn(p, f, opOpen|opWrite|opClose, oWRONLY|oCREAT|oTRUNC|oCLOEXEC)
	} else {
		g.fileFlowOn(p, f, opOpen|opRead|opClose, oRDONLY|oCLOEXEC)
	}
}

func (g *gen) fileFlowOp(p *proc, path string, ops, openFlags int32) {
	g.fileFlowOn(p, g.file(p, path, resFile), ops, openFlags)
}

func (g *gen) fileFlowOn(p *proc, f *sysflow.File, ops, openFlags int32) {
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

// fileEvent makes, renames or removes a scratch file of p's.
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
