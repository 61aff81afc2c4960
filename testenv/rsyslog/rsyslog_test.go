package rsyslog

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"testing"
	"time"
)

// TestServer sends hand-made frames over each input with the standard
// library only, so that a broken configuration is told apart from a broken
// sink: every frame must come back byte for byte, and rsyslog must parse
// the header fields the frame carries.
func TestServer(t *testing.T) {
	s := Start(t, Options{TCP: true, UDP: true, TLS: true})

	msg := func(i int) string {
		return fmt.Sprintf("<%d>1 2024-05-06T07:08:09.123456Z host%d app - m%d - {\"i\":%d}", 8+i, i, i, i)
	}
	tcp, err := net.Dial("tcp", s.TCPAddr)
	if err != nil {
		t.Fatal(err)
	}
	// Octet-counting, then newline framing on the same connection: imtcp
	// tells them apart by the first character of each frame.
	fmt.Fprintf(tcp, "%d %s", len(msg(0)), msg(0))
	fmt.Fprintf(tcp, "%s\n", msg(1))
	tcp.Close()

	udp, err := net.Dial("udp", s.UDPAddr)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(udp, msg(2))
	udp.Close()

	pool := x509.NewCertPool()
	ca, err := os.ReadFile(s.Certs.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool.AppendCertsFromPEM(ca)
	tc, err := tls.Dial("tcp", s.TLSAddr, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(tc, "%d %s", len(msg(3)), msg(3))
	tc.Close()

	raw := s.WaitRaw(t, 4, 10*time.Second)
	seen := map[string]bool{}
	for _, l := range raw {
		seen[string(l)] = true
	}
	for i := range 4 {
		if !seen[msg(i)] {
			t.Errorf("message %q not received; got %q", msg(i), raw)
		}
	}
	parsed, err := s.ParsedLines()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range parsed {
		var i int
		if _, err := fmt.Sscanf(p.Hostname, "host%d", &i); err != nil {
			t.Fatalf("hostname %q", p.Hostname)
		}
		if p.Pri != 8+i || p.AppName != "app" || p.MsgID != fmt.Sprintf("m%d", i) ||
			p.Msg != fmt.Sprintf("{\"i\":%d}", i) || p.TimeReported != "2024-05-06T07:08:09.123456Z" {
			t.Errorf("rsyslog parsed %+v", p)
		}
	}
}

func TestRestart(t *testing.T) {
	s := Start(t, Options{TCP: true})
	send := func(m string) {
		t.Helper()
		c, err := net.Dial("tcp", s.TCPAddr)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c, "%d %s", len(m), m)
		c.Close()
	}
	send("<13>1 - h a - - - first")
	s.WaitRaw(t, 1, 10*time.Second)
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if s.Running() {
		t.Fatal("running after Stop")
	}
	if _, err := net.DialTimeout("tcp", s.TCPAddr, time.Second); err == nil {
		t.Fatal("port still accepts connections after Stop")
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	send("<13>1 - h a - - - second")
	raw := s.WaitRaw(t, 2, 10*time.Second)
	if string(raw[0]) != "<13>1 - h a - - - first" || string(raw[1]) != "<13>1 - h a - - - second" {
		t.Errorf("got %q", raw)
	}
	if err := s.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatalf("start after kill: %v", err)
	}
}
