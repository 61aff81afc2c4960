package syslog

import (
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/sfconnector/sfconnector/sysflow"
	"github.com/sfconnector/sfconnector/testenv/rsyslog"
)

// BenchmarkSyslogTCP measures alerts per second from Publish to rsyslog
// over loopback TCP, ECS-encoded, 1000 events per message. The timer stops
// when the last Publish returned; Close (which proves rsyslog read
// everything) and the count in rsyslog's output file are checked outside
// the timer.
func BenchmarkSyslogTCP(b *testing.B) {
	benchmarkSyslog(b, false)
}

// BenchmarkSyslogTLS is the same over TLS.
func BenchmarkSyslogTLS(b *testing.B) {
	benchmarkSyslog(b, true)
}

func benchmarkSyslog(b *testing.B, useTLS bool) {
	srv := rsyslog.Start(b, rsyslog.Options{TCP: !useTLS, TLS: useTLS})
	cfg := Config{Source: testSource, Encoder: testEncoder(b)}
	addr := srv.TCPAddr
	if useTLS {
		cfg.Proto, cfg.TLS.CAFile, addr = ProtoTLS, srv.Certs.CAFile, srv.TLSAddr
	}
	cfg.Host, cfg.Port = splitAddr(b, addr)
	s, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	const per = 1000
	evs := make([]*sysflow.Event, per)
	for i := range evs {
		evs[i] = alert(i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	sent := 0
	for sent < b.N {
		n := min(per, b.N-sent)
		msg := sysflow.WithBatch(message.NewMessage(watermill.NewUUID(), nil), &sysflow.Batch{Events: evs[:n]})
		if err := s.Publish("", msg); err != nil {
			b.Fatal(err)
		}
		sent += n
	}
	b.StopTimer()
	// Publish returned: everything is in the kernel; rsyslog's pace holds
	// the sender back through the socket buffers (a few MB).
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	if lines := srv.Quiet(b, 200*time.Millisecond, 30*time.Second); len(lines) < b.N {
		b.Fatalf("rsyslog received %d of %d", len(lines), b.N)
	}
}

func splitAddr(tb testing.TB, addr string) (string, int) {
	tb.Helper()
	for i := len(addr) - 1; i >= 0; i-- {
		if addr[i] == ':' {
			port := 0
			for _, c := range addr[i+1:] {
				port = port*10 + int(c-'0')
			}
			return addr[:i], port
		}
	}
	tb.Fatalf("bad address %q", addr)
	return "", 0
}
