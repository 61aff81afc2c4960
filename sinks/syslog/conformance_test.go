package syslog_test

import (
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/sfconnector/sfconnector/internal/conformance"
	"github.com/sfconnector/sfconnector/sinks/syslog"
	"github.com/sfconnector/sfconnector/sysflow"
	"github.com/sfconnector/sfconnector/testenv/rsyslog"
)

// The syslog sink runs the sink half of the conformance suite against a
// real rsyslogd (testenv/rsyslog) over TCP: what rsyslogd received, as
// received, is the destination. Stopping rsyslogd is the failure; starting
// it again the recovery and the reconnection.
func TestConformance(t *testing.T) {
	setup := func(t *testing.T) conformance.SinkPair {
		srv := rsyslog.Start(t, rsyslog.Options{TCP: true})
		host, portText, err := net.SplitHostPort(srv.TCPAddr)
		if err != nil {
			t.Fatal(err)
		}
		port, _ := strconv.Atoi(portText)
		sink, err := syslog.New(syslog.Config{Proto: "tcp", Host: host, Port: port, Encoder: conformance.Codec{},
			// a write to a stopped receiver fails soon, so the failure
			// test sees the error instead of waiting the default 30s
			ReconnectTimeout: 500 * time.Millisecond, DialTimeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = sink.Close() })
		return conformance.SinkPair{
			Publisher: sink,
			Received: func(t *testing.T) []*sysflow.Event {
				raw, err := srv.Raw()
				if err != nil {
					t.Fatalf("rsyslog: %v", err)
				}
				var b sysflow.Batch
				for _, line := range raw {
					m, err := rsyslog.ParseRFC5424(line)
					if err != nil {
						t.Fatalf("rsyslog received %q: %v", line, err)
					}
					if err := (conformance.Codec{}).Decode(t.Context(), m.Msg, &b); err != nil {
						t.Fatalf("rsyslog received a body the codec did not write: %v", err)
					}
				}
				return b.Events
			},
			Fail: func(t *testing.T) func() {
				if err := srv.Stop(); err != nil {
					t.Fatal(err)
				}
				return func() {
					if err := srv.Start(); err != nil {
						t.Fatal(err)
					}
				}
			},
			Restart: func(t *testing.T) {
				if err := srv.Stop(); err != nil {
					t.Fatal(err)
				}
				if err := srv.Start(); err != nil {
					t.Fatal(err)
				}
			},
		}
	}
	conformance.RunSink(t, conformance.SinkFeatures{
		// after a broken connection the sink sends again what the
		// receiver may not have read (syslog.resend_window): a retry may
		// repeat events, never lose them
		ExactlyOnceRetry: false,
	}, setup)
}
