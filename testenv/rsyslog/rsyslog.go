package rsyslog

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"text/template"
	"time"
)

// Options choose the server's inputs. With none of TCP, UDP and TLS set,
// the server listens on TCP.
type Options struct {
	TCP bool // imtcp, plain
	UDP bool // imudp
	TLS bool // imtcp with the gtls driver (TLS only, StreamDriver.Mode=1)
	// ClientAuth makes the TLS input require a client certificate signed by
	// the test CA (AuthMode x509/certvalid) instead of accepting anyone (anon).
	ClientAuth bool
	// MaxMessageSize is rsyslog's maxMessageSize (default 256 KiB): longer
	// messages are truncated by rsyslog.
	MaxMessageSize int
}

// Server is a running (or stopped) rsyslogd owned by one test. Its ports,
// certificates and output files stay the same across Stop and Start, so a
// client can reconnect to the restarted server.
type Server struct {
	Dir     string // the temporary directory holding everything below
	TCPAddr string // host:port of the plain TCP input ("" when not enabled)
	UDPAddr string
	TLSAddr string
	Certs   *Certs // the PKI of the TLS input (nil without TLS)

	RawFile    string // every received message, as received (%rawmsg%), one a line
	ParsedFile string // the fields rsyslog parsed out of each message, tab-separated
	LogFile    string // rsyslogd's own stdout and stderr

	bin, conf, pidFile string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when the current process has exited
}

// Binary returns the path of rsyslogd, or "" when it is not installed.
func Binary() string {
	if p, err := exec.LookPath("rsyslogd"); err == nil {
		return p
	}
	for _, p := range []string{"/usr/sbin/rsyslogd", "/sbin/rsyslogd"} {
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p
		}
	}
	return ""
}

// Require returns the rsyslogd path, skipping the test when it is missing,
// or failing it under CI=true, where a skip would hide a broken setup.
func Require(t testing.TB) string {
	t.Helper()
	bin := Binary()
	if bin == "" {
		const hint = "rsyslogd is not installed (apt-get install rsyslog rsyslog-gnutls)"
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s; CI=true requires it", hint)
		}
		t.Skip(hint)
	}
	return bin
}

// Start writes a configuration into a new temporary directory and starts
// rsyslogd in the foreground on loopback ports chosen now. It returns when
// every input accepts traffic. The server is stopped when the test ends.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	bin := Require(t)
	if !opts.TCP && !opts.UDP && !opts.TLS {
		opts.TCP = true
	}
	if opts.MaxMessageSize == 0 {
		opts.MaxMessageSize = 256 << 10
	}
	dir := t.TempDir()
	s := &Server{
		Dir:        dir,
		RawFile:    filepath.Join(dir, "raw.log"),
		ParsedFile: filepath.Join(dir, "parsed.log"),
		LogFile:    filepath.Join(dir, "rsyslogd.log"),
		bin:        bin,
		conf:       filepath.Join(dir, "rsyslog.conf"),
		pidFile:    filepath.Join(dir, "rsyslogd.pid"),
	}
	tcpPorts, err := freeTCPPorts(boolInt(opts.TCP) + boolInt(opts.TLS))
	if err != nil {
		t.Fatalf("rsyslog: %v", err)
	}
	if opts.TCP {
		s.TCPAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(tcpPorts[0]))
		tcpPorts = tcpPorts[1:]
	}
	if opts.TLS {
		s.TLSAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(tcpPorts[0]))
		if s.Certs, err = NewCerts(dir); err != nil {
			t.Fatalf("rsyslog: %v", err)
		}
	}
	if opts.UDP {
		port, err := freeUDPPort()
		if err != nil {
			t.Fatalf("rsyslog: %v", err)
		}
		s.UDPAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	}
	if err := s.writeConfig(opts); err != nil {
		t.Fatalf("rsyslog: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Logf("rsyslog: stop: %v", err)
		}
	})
	if err := s.Start(); err != nil {
		t.Fatalf("rsyslog: %v", err)
	}
	return s
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

var confTemplate = template.Must(template.New("conf").Parse(`# written by testenv/rsyslog
global(workDirectory="{{.Work}}" maxMessageSize="{{.Max}}")
{{- if or .TCP .TLS}}
module(load="imtcp" maxSessions="1000")
{{- end}}
{{- if .UDP}}
module(load="imudp")
{{- end}}

# Direct queues: a message is in the output files once its input has read
# it, so stopping the server loses only what was still in the socket.
main_queue(queue.type="Direct")

template(name="raw" type="string" string="%rawmsg%\n")
template(name="parsed" type="string"
         string="%pri%\t%timereported:::date-rfc3339%\t%hostname%\t%app-name%\t%procid%\t%msgid%\t%msg%\n")

ruleset(name="remote") {
  action(type="omfile" file="{{.Raw}}" template="raw")
  action(type="omfile" file="{{.Parsed}}" template="parsed")
}
{{- if .TCP}}
input(type="imtcp" address="127.0.0.1" port="{{.TCPPort}}" ruleset="remote")
{{- end}}
{{- if .TLS}}
input(type="imtcp" address="127.0.0.1" port="{{.TLSPort}}" ruleset="remote"
      streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="{{.AuthMode}}"
      streamDriver.caFile="{{.CA}}" streamDriver.certFile="{{.Cert}}" streamDriver.keyFile="{{.Key}}")
{{- end}}
{{- if .UDP}}
input(type="imudp" address="127.0.0.1" port="{{.UDPPort}}" ruleset="remote" rcvbufSize="4m")
{{- end}}
`))

func (s *Server) writeConfig(opts Options) error {
	work := filepath.Join(s.Dir, "work")
	if err := os.Mkdir(work, 0o700); err != nil {
		return err
	}
	data := map[string]any{
		"Work": work, "Max": opts.MaxMessageSize,
		"TCP": opts.TCP, "TLS": opts.TLS, "UDP": opts.UDP,
		"Raw": s.RawFile, "Parsed": s.ParsedFile,
		"TCPPort": portOf(s.TCPAddr), "TLSPort": portOf(s.TLSAddr), "UDPPort": portOf(s.UDPAddr),
		"AuthMode": "anon",
	}
	if opts.TLS {
		data["CA"], data["Cert"], data["Key"] = s.Certs.CAFile, s.Certs.ServerCertFile, s.Certs.ServerKeyFile
		if opts.ClientAuth {
			data["AuthMode"] = "x509/certvalid"
		}
	}
	var buf bytes.Buffer
	if err := confTemplate.Execute(&buf, data); err != nil {
		return err
	}
	return os.WriteFile(s.conf, buf.Bytes(), 0o600)
}

func portOf(addr string) string {
	_, port, _ := net.SplitHostPort(addr)
	return port
}

// Start starts rsyslogd (again, after Stop or Kill) and waits until every
// input accepts traffic.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return errors.New("rsyslogd is already running")
	}
	_ = os.Remove(s.pidFile) // a killed rsyslogd leaves it behind
	logf, err := os.OpenFile(s.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command(s.bin, "-n", "-f", s.conf, "-i", s.pidFile)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start %s: %w", s.bin, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(done)
	}()
	s.cmd, s.done = cmd, done
	if err := s.waitReady(done); err != nil {
		_ = cmd.Process.Kill()
		<-done
		s.cmd = nil
		return fmt.Errorf("%w\nrsyslogd log:\n%s", err, s.LogTail())
	}
	return nil
}

// waitReady polls until the TCP and TLS ports accept connections and the
// UDP port is bound (binding it ourselves fails).
func (s *Server) waitReady(done <-chan struct{}) error {
	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case <-done:
			return errors.New("rsyslogd exited during start-up")
		default:
		}
		if s.ready() {
			return nil
		}
		if time.Now().After(deadline) {
			return errors.New("rsyslogd inputs not ready after 15s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *Server) ready() bool {
	for _, addr := range []string{s.TCPAddr, s.TLSAddr} {
		if addr == "" {
			continue
		}
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return false
		}
		c.Close()
	}
	if s.UDPAddr != "" {
		pc, err := net.ListenPacket("udp", s.UDPAddr)
		if err == nil {
			pc.Close()
			return false
		}
	}
	return true
}

// Stop ends rsyslogd with SIGTERM (an orderly shutdown) and waits for it.
// Stopping a stopped server does nothing.
func (s *Server) Stop() error { return s.signal(syscall.SIGTERM) }

// Kill ends rsyslogd with SIGKILL, as a crash would, and waits for it.
// A crash can cut rsyslogd's own write of a message into its output files
// short; that torn line is a message the receiver did not store, so it is
// cut off, as a receiver's recovery would drop it: the next instance's
// first line must not be glued to it.
func (s *Server) Kill() error {
	if err := s.signal(syscall.SIGKILL); err != nil {
		return err
	}
	for _, f := range []string{s.RawFile, s.ParsedFile} {
		if err := dropTornLine(f); err != nil {
			return err
		}
	}
	return nil
}

// dropTornLine truncates file after its last newline.
func dropTornLine(file string) error {
	b, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if len(b) == 0 || b[len(b)-1] == '\n' {
		return nil
	}
	return os.Truncate(file, int64(bytes.LastIndexByte(b, '\n')+1))
}

func (s *Server) signal(sig syscall.Signal) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return nil
	}
	cmd, done := s.cmd, s.done
	s.cmd = nil
	if err := cmd.Process.Signal(sig); err != nil {
		select {
		case <-done:
			return nil // it had already exited
		default:
		}
		return fmt.Errorf("signal rsyslogd: %w", err)
	}
	select {
	case <-done:
		return nil
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		return fmt.Errorf("rsyslogd did not stop within 20s of %v; killed", sig)
	}
}

// Running reports whether rsyslogd is running.
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return false
	}
	select {
	case <-s.done:
		return false
	default:
		return true
	}
}

// Raw returns the messages received so far, as received, one per element.
func (s *Server) Raw() ([][]byte, error) { return readLines(s.RawFile) }

// Parsed is what rsyslog itself parsed out of one message.
type Parsed struct {
	Pri          int
	TimeReported string // RFC 3339
	Hostname     string
	AppName      string
	ProcID       string
	MsgID        string
	Msg          string
}

// ParsedLines returns rsyslog's view of every message received so far.
func (s *Server) ParsedLines() ([]Parsed, error) {
	lines, err := readLines(s.ParsedFile)
	if err != nil {
		return nil, err
	}
	out := make([]Parsed, 0, len(lines))
	for i, l := range lines {
		f := strings.SplitN(string(l), "\t", 7)
		if len(f) != 7 {
			return nil, fmt.Errorf("%s line %d: %d fields, want 7", s.ParsedFile, i+1, len(f))
		}
		pri, err := strconv.Atoi(f[0])
		if err != nil {
			return nil, fmt.Errorf("%s line %d: pri %q: %w", s.ParsedFile, i+1, f[0], err)
		}
		out = append(out, Parsed{pri, f[1], f[2], f[3], f[4], f[5], f[6]})
	}
	return out, nil
}

// WaitRaw waits until at least n messages have arrived or timeout passes,
// and returns them; it fails the test with rsyslogd's log on timeout.
func (s *Server) WaitRaw(t testing.TB, n int, timeout time.Duration) [][]byte {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		lines, err := s.Raw()
		if err != nil {
			t.Fatalf("rsyslog: %v", err)
		}
		if len(lines) >= n {
			return lines
		}
		if time.Now().After(deadline) {
			t.Fatalf("rsyslog: %d messages after %v, want %d\nrsyslogd log:\n%s", len(lines), timeout, n, s.LogTail())
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// Quiet waits until the number of received messages has not changed for
// the given period (or timeout passes) and returns them.
func (s *Server) Quiet(t testing.TB, period, timeout time.Duration) [][]byte {
	t.Helper()
	deadline := time.Now().Add(timeout)
	last, since := -1, time.Now()
	for {
		lines, err := s.Raw()
		if err != nil {
			t.Fatalf("rsyslog: %v", err)
		}
		if len(lines) != last {
			last, since = len(lines), time.Now()
		}
		if time.Since(since) >= period || time.Now().After(deadline) {
			return lines
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// LogTail returns the last 4 KiB of rsyslogd's own output.
func (s *Server) LogTail() string {
	b, err := os.ReadFile(s.LogFile)
	if err != nil {
		return err.Error()
	}
	if len(b) > 4096 {
		b = b[len(b)-4096:]
	}
	return string(b)
}

func readLines(path string) ([][]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var lines [][]byte
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			break // a line rsyslog is still writing
		}
		lines = append(lines, b[:i])
		b = b[i+1:]
	}
	return lines, nil
}

// freeTCPPorts asks the kernel for n distinct free loopback ports. They are
// released before rsyslogd binds them; another process could take one in
// between, which Start then reports.
func freeTCPPorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free TCP port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func freeUDPPort() (int, error) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free UDP port: %w", err)
	}
	defer pc.Close()
	return pc.LocalAddr().(*net.UDPAddr).Port, nil
}
