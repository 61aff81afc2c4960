package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sfconnector/sfconnector/testenv/parity"
	"github.com/sfconnector/sfconnector/testenv/rsyslog"
	"github.com/sfconnector/sfconnector/testenv/shared"
)

// templateJSON is sf-processor's README template
// (../shared/pipelines/sf-processor/pipeline.template.json) with every
// description replaced by a real value: the exporter sets the keys of
// every export type at once, as users copy it.
func templateJSON(t *testing.T, export, outFile string, syslogPort int) []byte {
	t.Helper()
	var tmpl map[string]any
	b, err := os.ReadFile(shared.Path(t, "pipelines", "sf-processor", "pipeline.template.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &tmpl); err != nil {
		t.Fatal(err)
	}
	values := map[string]string{
		"filter.enabled": "off", "filter.maxage": "24h",
		// enrich without policies: the output compares with the reference's telemetry
		"policies": "", "mode": "enrich", "monitor": "none", "monitor.interval": "30", "concurrency": "5",
		"actiondir": "/usr/local/sf-processor/actions",
		"export":    export, "format": "json", "buffer": "0", "vault.secrets": "false", "vault.path": "/run/secrets",
		"file.path": outFile, "syslog.proto": "tcp", "syslog.tag": "sysflow", "syslog.source": "sfhost",
		"syslog.host": "127.0.0.1", "syslog.port": strconv.Itoa(syslogPort),
		"es.addresses": "10.0.0.1,10.0.0.2", "es.index": "sysflow", "es.username": "elastic", "es.password": "changeme",
		"es.bulk.numWorkers": "0", "es.bulk.flushBuffer": "5000000", "es.bulk.flushTimeout": "30",
		"findings.apikey": "key", "findings.url": "https://us-south.secadvisor.cloud.ibm.com/findings",
		"findings.accountid": "acct", "findings.provider": "sysflow", "findings.note": "note",
		"findings.sqlqueryurl": "https://us.sql-query.cloud.ibm.com/sqlquery", "findings.sqlquerycrn": "crn",
		"findings.region": "us-south", "findings.path": "/mnt/occurrences", "findings.pool.capacity": "250",
		"findings.pool.maxage": "1440",
	}
	delete(tmpl, "_comment")
	seen := 0
	for _, p := range tmpl["pipeline"].([]any) {
		m := p.(map[string]any)
		for k := range m {
			switch k {
			case "processor", "handler", "in", "out":
				continue
			}
			v, ok := values[k]
			if !ok {
				t.Fatalf("the template has key %q this test gives no value", k)
			}
			m[k] = v
			seen++
		}
	}
	if seen < 35 {
		t.Fatalf("only %d keys in the template: not the reference's", seen)
	}
	out, err := json.Marshal(tmpl)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// syslogListener is a TCP receiver of octet-counted RFC 5424 messages
// collecting their bodies.
type syslogListener struct {
	ln     net.Listener
	mu     sync.Mutex
	bodies [][]byte
	wg     sync.WaitGroup
}

func listenSyslog(t *testing.T) *syslogListener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &syslogListener{ln: ln}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer c.Close()
				s.read(t, bufio.NewReader(c))
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); s.wg.Wait() })
	return s
}

func (s *syslogListener) read(t *testing.T, r *bufio.Reader) {
	for {
		n, err := r.ReadString(' ')
		if err != nil {
			return
		}
		size, err := strconv.Atoi(strings.TrimSpace(n))
		if err != nil {
			t.Errorf("syslog frame length %q: %v", n, err)
			return
		}
		frame := make([]byte, size)
		if _, err := io.ReadFull(r, frame); err != nil {
			t.Errorf("syslog frame: %v", err)
			return
		}
		m, err := rsyslog.ParseRFC5424(frame)
		if err != nil {
			t.Errorf("syslog message %.200q: %v", frame, err)
			return
		}
		if m.AppName != "sysflow" || m.Hostname != "sfhost" {
			t.Errorf("syslog tag %q, hostname %q: want the template's sysflow and sfhost", m.AppName, m.Hostname)
		}
		s.mu.Lock()
		s.bodies = append(s.bodies, m.Msg)
		s.mu.Unlock()
	}
}

func (s *syslogListener) port() int { return s.ln.Addr().(*net.TCPAddr).Port }

func (s *syslogListener) got() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]byte(nil), s.bodies...)
}

// TestCLIReferenceTemplate runs sf-processor's whole README template,
// with real values, for each export type it lets a user pick (in the file
// and by EXPORTER_EXPORT), and checks the records that arrive against the
// reference's telemetry.
func TestCLIReferenceTemplate(t *testing.T) {
	trace := shared.Path(t, "traces", "httpd.sf")
	for _, export := range []string{"terminal", "file", "syslog"} {
		for _, viaEnv := range []bool{false, true} {
			name := export
			if viaEnv {
				name += "/EXPORTER_EXPORT"
			}
			t.Run(name, func(t *testing.T) {
				dir := t.TempDir()
				out := filepath.Join(dir, "export.out")
				recv := listenSyslog(t)
				fileExport := export
				if viaEnv {
					fileExport = "null" // the env override must win
				}
				cfg := filepath.Join(dir, "pipeline.json")
				if err := os.WriteFile(cfg, templateJSON(t, fileExport, out, recv.port()), 0o600); err != nil {
					t.Fatal(err)
				}
				args := []string{"run", "-log", "debug", "-progress=false", "-c", cfg, trace}
				var p *cliProcess
				if viaEnv {
					p = startCLIEnv(t, []string{"EXPORTER_EXPORT=" + export}, args...)
				} else {
					p = startCLI(t, args...)
				}
				code := p.wait(t, 60*time.Second)
				stderr := p.stderr.String()
				assertNoPanic(t, stderr)
				if code != 0 {
					t.Fatalf("exit status %d:\n%s", code, tail(stderr, 3000))
				}
				if !strings.Contains(stderr, "exporter keys of other export types are not used") {
					t.Errorf("no debug line about the unused keys:\n%s", tail(stderr, 2000))
				}
				var lines [][]byte
				switch export {
				case "terminal":
					lines = parity.SplitLines(t, []byte(p.stdout.String()))
				case "file":
					lines = readOutput(t, out)
				case "syslog":
					recv.ln.Close()
					recv.wg.Wait()
					lines = recv.got()
				}
				if export != "file" && countLines(out) != 0 {
					t.Errorf("%s export wrote the file exporter's %s", export, out)
				}
				parity.CompareTelemetry(t, trace, lines)
			})
		}
	}
}
