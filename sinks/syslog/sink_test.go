package syslog

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	sfjson "github.com/sfconnector/sfconnector/encoding/json"
	"github.com/sfconnector/sfconnector/sysflow"
	"github.com/sfconnector/sfconnector/testenv/rsyslog"
)

var _ message.Publisher = (*Sink)(nil)

const (
	testSource = "sfconnector-test"
	tsBase     = int64(1_700_000_000_123_456_000)
)

// alert is the i-th test alert: its pid carries i, its time tsBase + i ms,
// its priority cycles through low, medium, high.
func alert(i int) *sysflow.Event {
	cid := "0123456789ab"
	return &sysflow.Event{
		Kind:      sysflow.KindProcessEvent,
		Header:    &sysflow.Header{Version: 5, Exporter: "node-7", IP: "10.0.0.7"},
		ProcOID:   sysflow.OID{Hpid: int64(i), CreateTS: tsBase - 1000},
		Proc:      &sysflow.Process{Exe: "/usr/bin/curl", ExeArgs: "-s http://example.test/" + strconv.Itoa(i), UserName: "root", ContainerID: &cid},
		Container: &sysflow.Container{ID: cid, Name: "web", Image: "nginx:1.25"},
		TS:        tsBase + int64(i)*int64(time.Millisecond),
		TID:       int64(i),
		OpFlags:   opExec,
		Matches: []sysflow.Match{{Rule: "Download tool run", Desc: "curl or wget in a container",
			Priority: sysflow.Priority(i % 3), Tags: []string{"mitre:T1105"}}},
	}
}

const opExec = 1 << 1

func batch(from, to int) *message.Message {
	evs := make([]*sysflow.Event, 0, to-from)
	for i := from; i < to; i++ {
		evs = append(evs, alert(i))
	}
	return sysflow.WithBatch(message.NewMessage(watermill.NewUUID(), nil), &sysflow.Batch{Events: evs})
}

// wantSeverity is the documented default mapping: low notice, medium
// warning, high crit.
func wantSeverity(i int) int { return [...]int{5, 4, 2}[i%3] }

type checkOpts struct {
	rfc3164 bool
	tag     string
}

// verify parses every received message with the test parser and checks
// every header field and the JSON body against the alert it carries. It
// returns how many times each alert arrived.
func verify(t *testing.T, lines [][]byte, n int, o checkOpts) map[int]int {
	t.Helper()
	if o.tag == "" {
		o.tag = "sysflow"
	}
	pid := strconv.Itoa(os.Getpid())
	counts := map[int]int{}
	for k, line := range lines {
		var m *rsyslog.Message
		var err error
		if o.rfc3164 {
			m, err = rsyslog.ParseRFC3164(line, time.Unix(0, tsBase), time.Local)
		} else {
			m, err = rsyslog.ParseRFC5424(line)
		}
		if err != nil {
			t.Fatalf("message %d %q: %v", k, line, err)
		}
		var doc struct {
			Event   struct{ Kind, Dataset string }
			Rule    struct{ Name string }
			Process struct {
				PID         int    `json:"pid"`
				CommandLine string `json:"command_line"`
			}
		}
		if err := json.Unmarshal(m.Msg, &doc); err != nil {
			t.Fatalf("message %d: body is not JSON: %v: %q", k, err, m.Msg)
		}
		i := doc.Process.PID
		if i < 0 || i >= n {
			t.Fatalf("message %d: pid %d outside the sent range", k, i)
		}
		wantTS := time.Unix(0, tsBase+int64(i)*int64(time.Millisecond))
		if o.rfc3164 {
			wantTS = wantTS.Truncate(time.Second)
		} else {
			wantTS = wantTS.Truncate(time.Microsecond)
			if m.Version != 1 || m.MsgID != "alert" {
				t.Errorf("alert %d: version %d msgid %q", i, m.Version, m.MsgID)
			}
		}
		if m.Facility != 3 || m.Severity != wantSeverity(i) || m.Hostname != testSource || m.AppName != o.tag ||
			m.ProcID != pid || !m.Timestamp.Equal(wantTS) {
			t.Errorf("alert %d: header %+v, want daemon.%d %s %s[%s] at %v", i, m, wantSeverity(i), testSource, o.tag, pid, wantTS)
		}
		if doc.Event.Kind != "alert" || doc.Rule.Name != "Download tool run" ||
			doc.Process.CommandLine != "/usr/bin/curl -s http://example.test/"+strconv.Itoa(i) {
			t.Errorf("alert %d: body %+v", i, doc)
		}
		counts[i]++
	}
	return counts
}

// complete fails the test for every alert that did not arrive and returns
// the number of duplicates.
func complete(t *testing.T, counts map[int]int, n int) int {
	t.Helper()
	var missing []int
	dups := 0
	for i := range n {
		switch c := counts[i]; {
		case c == 0:
			missing = append(missing, i)
		case c > 1:
			dups += c - 1
		}
	}
	if len(missing) > 0 {
		t.Errorf("%d of %d alerts never arrived, e.g. %v", len(missing), n, missing[:min(len(missing), 20)])
	}
	return dups
}

func newSink(t *testing.T, c Config) *Sink {
	t.Helper()
	c.Source = testSource
	if c.Encoder == nil {
		c.Encoder = testEncoder(t)
	}
	s, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func hostPort(t *testing.T, addr string) (string, int) {
	t.Helper()
	i := strings.LastIndexByte(addr, ':')
	port, err := strconv.Atoi(addr[i+1:])
	if err != nil {
		t.Fatal(err)
	}
	return addr[:i], port
}

func TestDelivery(t *testing.T) {
	srv := rsyslog.Start(t, rsyslog.Options{TCP: true, UDP: true, TLS: true})
	tests := []struct {
		name string
		cfg  func() Config
		n    int
		o    checkOpts
	}{
		{"tcp", func() Config { h, p := hostPort(t, srv.TCPAddr); return Config{Proto: "tcp", Host: h, Port: p} }, 3000, checkOpts{}},
		{"tcp rfc3164 non-transparent", func() Config {
			h, p := hostPort(t, srv.TCPAddr)
			return Config{Host: h, Port: p, Format: "rfc3164", Framing: "non-transparent", Tag: "sf3164"}
		}, 500, checkOpts{rfc3164: true, tag: "sf3164"}},
		{"udp", func() Config { h, p := hostPort(t, srv.UDPAddr); return Config{Proto: "udp", Host: h, Port: p} }, 1000, checkOpts{}},
		{"tls", func() Config {
			h, p := hostPort(t, srv.TLSAddr)
			return Config{Proto: "tls", Host: h, Port: p, TLS: TLSConfig{CAFile: srv.Certs.CAFile}}
		}, 3000, checkOpts{}},
		{"tls by name", func() Config {
			_, p := hostPort(t, srv.TLSAddr)
			return Config{Proto: "tcp+tls", Host: "localhost", Port: p, TLS: TLSConfig{CAFile: srv.Certs.CAFile}}
		}, 100, checkOpts{}},
	}
	offset := 0
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSink(t, tt.cfg())
			for from := 0; from < tt.n; from += 100 {
				if err := s.Publish("ignored", batch(from, min(from+100, tt.n))); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.Close(); err != nil {
				t.Fatalf("close: %v", err)
			}
			lines := srv.WaitRaw(t, offset+tt.n, 20*time.Second)
			lines = srv.Quiet(t, 300*time.Millisecond, 5*time.Second)[offset:]
			counts := verify(t, lines, tt.n, tt.o)
			if dups := complete(t, counts, tt.n); dups != 0 {
				t.Errorf("%d duplicates without any failure", dups)
			}
			offset += len(lines)
			st := s.Stats()
			if st.Sent != int64(tt.n) || st.Resent != 0 || st.Reconnects != 0 || st.Truncated != 0 {
				t.Errorf("stats %+v", st)
			}
		})
	}

	// rsyslog's own parse of what it received agrees with ours.
	parsed, err := srv.ParsedLines()
	if err != nil {
		t.Fatal(err)
	}
	if len(parsed) != offset {
		t.Fatalf("rsyslog parsed %d messages, received %d", len(parsed), offset)
	}
	for _, p := range parsed {
		var doc struct{ Process struct{ PID int } }
		if err := json.Unmarshal([]byte(p.Msg), &doc); err != nil {
			t.Fatalf("rsyslog's msg is not the JSON body: %v: %q", err, p.Msg)
		}
		i := doc.Process.PID
		if p.Pri != 3*8+wantSeverity(i) || p.Hostname != testSource || (p.AppName != "sysflow" && p.AppName != "sf3164") ||
			p.ProcID != strconv.Itoa(os.Getpid()) {
			t.Errorf("rsyslog parsed %+v", p)
		}
		if p.AppName == "sysflow" {
			want := time.Unix(0, tsBase+int64(i)*int64(time.Millisecond)).UTC().Format("2006-01-02T15:04:05.000000Z")
			if p.MsgID != "alert" || p.TimeReported != want {
				t.Errorf("rsyslog parsed msgid %q time %q, want alert %s", p.MsgID, p.TimeReported, want)
			}
		}
	}
}

// TestUDPTruncation sends a body larger than the UDP limit: it arrives cut
// to the limit, at a character boundary, and is counted.
func TestUDPTruncation(t *testing.T) {
	srv := rsyslog.Start(t, rsyslog.Options{UDP: true})
	h, p := hostPort(t, srv.UDPAddr)
	s := newSink(t, Config{Proto: "udp", Host: h, Port: p, MaxMessageSize: 1000})
	ev := alert(1)
	ev.Proc.ExeArgs = strings.Repeat("ä", 2000)
	if err := s.Publish("", sysflow.WithBatch(message.NewMessage("1", nil), &sysflow.Batch{Events: []*sysflow.Event{ev}})); err != nil {
		t.Fatal(err)
	}
	line := srv.WaitRaw(t, 1, 10*time.Second)[0]
	if len(line) > 1000 || len(line) < 999 {
		t.Errorf("datagram of %d bytes, want 999-1000", len(line))
	}
	m, err := rsyslog.ParseRFC5424(line)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(string(m.Msg), "ä") {
		t.Errorf("cut inside a character: %q", m.Msg[len(m.Msg)-8:])
	}
	if st := s.Stats(); st.Truncated != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestTLSVerification(t *testing.T) {
	srv := rsyslog.Start(t, rsyslog.Options{TLS: true})
	h, p := hostPort(t, srv.TLSAddr)
	tests := []struct {
		name string
		cfg  Config
		want []string
	}{
		{"wrong CA", Config{Host: h, TLS: TLSConfig{CAFile: srv.Certs.OtherCAFile}}, []string{"not trusted", "x509", "syslog.tls.ca"}},
		{"system roots", Config{Host: h}, []string{"not trusted", "x509"}},
		{"wrong name", Config{Host: h, TLS: TLSConfig{CAFile: srv.Certs.CAFile, ServerName: "syslog.example.com"}}, []string{"not trusted", "syslog.example.com"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.Proto, tt.cfg.Port = ProtoTLS, p
			s := newSink(t, tt.cfg)
			start := time.Now()
			err := s.Publish("", batch(0, 5))
			if err == nil {
				t.Fatal("Publish succeeded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("verification failure took %v: it must not be retried", d)
			}
			if err := s.Connect(t.Context()); err == nil || !strings.Contains(err.Error(), "not trusted") {
				t.Errorf("Connect: %v", err)
			}
			if st := s.Stats(); st.Kept != 0 {
				t.Errorf("failed Publish left %d messages kept", st.Kept)
			}
		})
	}
	// The explicit switch turns verification off.
	s := newSink(t, Config{Proto: ProtoTLS, Host: h, Port: p, TLS: TLSConfig{InsecureSkipVerify: true}})
	if err := s.Publish("", batch(0, 5)); err != nil {
		t.Fatalf("insecure: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	complete(t, verify(t, srv.WaitRaw(t, 5, 10*time.Second), 5, checkOpts{}), 5)
}

func TestTLSClientCertificate(t *testing.T) {
	srv := rsyslog.Start(t, rsyslog.Options{TLS: true, ClientAuth: true})
	h, p := hostPort(t, srv.TLSAddr)
	s := newSink(t, Config{Proto: ProtoTLS, Host: h, Port: p, TLS: TLSConfig{
		CAFile: srv.Certs.CAFile, CertFile: srv.Certs.ClientCertFile, KeyFile: srv.Certs.ClientKeyFile}})
	if err := s.Publish("", batch(0, 50)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	complete(t, verify(t, srv.WaitRaw(t, 50, 10*time.Second), 50, checkOpts{}), 50)

	// Without a certificate the receiver refuses us. The sink must not
	// report the messages as delivered: Publish fails, or (TLS 1.3 refuses
	// only after the handshake, so Publish may have returned) Close says
	// they were not delivered; either error names the likely cause.
	bad := newSink(t, Config{Proto: ProtoTLS, Host: h, Port: p, TLS: TLSConfig{CAFile: srv.Certs.CAFile},
		WriteTimeout: 2 * time.Second, ReconnectTimeout: 2 * time.Second})
	err := bad.Publish("", batch(50, 60))
	if err == nil {
		err = bad.Close()
		if err == nil || !strings.Contains(err.Error(), "not proven delivered") {
			t.Errorf("Close after a Publish to a receiver that refused us: %v", err)
		}
	}
	if err == nil || !strings.Contains(err.Error(), "client certificate") {
		t.Errorf("without a client certificate: %v", err)
	}
	time.Sleep(300 * time.Millisecond)
	if lines, _ := srv.Raw(); len(lines) != 50 {
		t.Errorf("%d messages received, want the 50 sent with a certificate", len(lines))
	}
}

func TestUnreachable(t *testing.T) {
	// A port nobody listens on: take one and release it.
	srv := rsyslog.Start(t, rsyslog.Options{TCP: true})
	h, p := hostPort(t, srv.TCPAddr)
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	s := newSink(t, Config{Host: h, Port: p, ReconnectTimeout: 700 * time.Millisecond})
	start := time.Now()
	err := s.Publish("", batch(0, 10))
	if err == nil || !strings.Contains(err.Error(), "unreachable") || !strings.Contains(err.Error(), "connection refused") ||
		!strings.Contains(err.Error(), srv.TCPAddr) {
		t.Fatalf("Publish: %v", err)
	}
	if d := time.Since(start); d < 300*time.Millisecond || d > 3*time.Second {
		t.Errorf("gave up after %v, want about 700ms", d)
	}
	if st := s.Stats(); st.Kept != 0 {
		t.Errorf("%d messages of the failed Publish are still kept", st.Kept)
	}
	// The receiver comes back: the router's retry of the same message works.
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	if err := s.Publish("", batch(0, 10)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if d := complete(t, verify(t, srv.WaitRaw(t, 10, 10*time.Second), 10, checkOpts{}), 10); d != 0 {
		t.Errorf("%d duplicates", d)
	}
}

// TestRestart stops (or kills) rsyslog in the middle of a stream and starts
// it again: every alert must arrive. Duplicates are allowed and reported.
func TestRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("restarts rsyslog four times (about 15s)")
	}
	tests := []struct {
		name string
		tls  bool
		kill bool
	}{
		{"tcp stop", false, false},
		{"tcp kill", false, true},
		{"tls stop", true, false},
		{"tls kill", true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := rsyslog.Start(t, rsyslog.Options{TCP: !tt.tls, TLS: tt.tls})
			cfg := Config{Proto: ProtoTCP}
			addr := srv.TCPAddr
			if tt.tls {
				cfg = Config{Proto: ProtoTLS, TLS: TLSConfig{CAFile: srv.Certs.CAFile}}
				addr = srv.TLSAddr
			}
			cfg.Host, cfg.Port = hostPort(t, addr)
			if os.Getenv("SYSLOG_DEBUG") != "" {
				cfg.Logger = watermill.NewStdLogger(true, false)
			}
			s := newSink(t, cfg)

			const n, per = 20000, 20
			var wg sync.WaitGroup
			errs := make(chan error, 1)
			wg.Add(1)
			go func() {
				defer wg.Done()
				for from := 0; from < n; from += per {
					if err := s.Publish("", batch(from, from+per)); err != nil {
						errs <- fmt.Errorf("publish %d: %w", from, err)
						return
					}
					time.Sleep(200 * time.Microsecond)
				}
			}()
			srv.WaitRaw(t, n/4, 30*time.Second)
			stop := srv.Stop
			if tt.kill {
				stop = srv.Kill
			}
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			time.Sleep(500 * time.Millisecond) // the stream goes on meanwhile
			if err := srv.Start(); err != nil {
				t.Fatal(err)
			}
			wg.Wait()
			select {
			case err := <-errs:
				t.Fatal(err)
			default:
			}
			if err := s.Close(); err != nil {
				t.Errorf("close: %v", err)
			}
			srv.WaitRaw(t, n, 30*time.Second)
			lines := srv.Quiet(t, 500*time.Millisecond, 10*time.Second)
			dups := complete(t, verify(t, lines, n, checkOpts{}), n)
			st := s.Stats()
			t.Logf("%d alerts, %d received, %d duplicates; stats %+v", n, len(lines), dups, st)
			if st.Reconnects < 1 {
				t.Errorf("no reconnection counted: %+v", st)
			}
			if int64(len(lines)) > st.Sent+st.Resent {
				t.Errorf("received %d messages, more than sent+resent %d", len(lines), st.Sent+st.Resent)
			}
		})
	}
}

// TestJSONBody sends alerts with the reference-shaped JSON encoder, the
// connector's default format: each body is that encoder's object.
func TestJSONBody(t *testing.T) {
	srv := rsyslog.Start(t, rsyslog.Options{TCP: true})
	h, p := hostPort(t, srv.TCPAddr)
	s := newSink(t, Config{Host: h, Port: p, Encoder: sfjson.New(sfjson.Options{})})
	const n = 100
	if err := s.Publish("", batch(0, n)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, line := range srv.WaitRaw(t, n, 10*time.Second) {
		m, err := rsyslog.ParseRFC5424(line)
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Proc     struct{ PID int }
			Policies []struct{ ID string }
		}
		if err := json.Unmarshal(m.Msg, &doc); err != nil {
			t.Fatalf("body: %v: %q", err, m.Msg)
		}
		if len(doc.Policies) != 1 || doc.Policies[0].ID != "Download tool run" || m.Severity != wantSeverity(doc.Proc.PID) {
			t.Errorf("alert %d: policies %+v severity %d", doc.Proc.PID, doc.Policies, m.Severity)
		}
		seen[doc.Proc.PID] = true
	}
	if len(seen) != n {
		t.Errorf("%d distinct alerts, want %d", len(seen), n)
	}
}
