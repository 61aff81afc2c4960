package syslog

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/sfconnector/sfconnector/sysflow"
	"github.com/sfconnector/sfconnector/testenv/rsyslog"
)

func formatterFor(t *testing.T, c Config) *formatter {
	t.Helper()
	c.Encoder = testEncoder(t)
	c.setDefaults()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	return newFormatter(&c)
}

// splitOctetCounted checks the RFC 6587 frame: decimal length, a space,
// exactly that many bytes.
func splitOctetCounted(t *testing.T, frame []byte) []byte {
	t.Helper()
	sp := bytes.IndexByte(frame, ' ')
	if sp < 1 {
		t.Fatalf("no octet count in %q", frame)
	}
	n, err := strconv.Atoi(string(frame[:sp]))
	if err != nil || frame[0] == '0' {
		t.Fatalf("octet count %q: %v", frame[:sp], err)
	}
	msg := frame[sp+1:]
	if len(msg) != n {
		t.Fatalf("octet count %d, message is %d bytes", n, len(msg))
	}
	return msg
}

func TestFrameRFC5424(t *testing.T) {
	f := formatterFor(t, Config{Source: "edge-1", Tag: "sf", Facility: "local3"})
	ts := time.Date(2024, 2, 29, 23, 59, 58, 123456789, time.UTC)
	tests := []struct {
		name    string
		ev      *sysflow.Event
		sev     int
		msgid   string
		tsCheck time.Time
	}{
		{"telemetry", &sysflow.Event{TS: ts.UnixNano()}, 6, "event", ts.Truncate(time.Microsecond)},
		{"low", &sysflow.Event{TS: ts.UnixNano(), Matches: []sysflow.Match{{Priority: sysflow.PriorityLow}}}, 5, "alert", ts.Truncate(time.Microsecond)},
		{"medium", &sysflow.Event{TS: ts.UnixNano(), Matches: []sysflow.Match{{Priority: sysflow.PriorityMedium}}}, 4, "alert", ts.Truncate(time.Microsecond)},
		{"high wins", &sysflow.Event{TS: ts.UnixNano(), Matches: []sysflow.Match{{Priority: sysflow.PriorityLow}, {Priority: sysflow.PriorityHigh}}}, 2, "alert", ts.Truncate(time.Microsecond)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := []byte(`{"x":"é ü"}` + "\n")
			frame, cut := f.appendFrame([]byte("keep"), tt.ev, body)
			if cut || !bytes.HasPrefix(frame, []byte("keep")) {
				t.Fatalf("cut %v, frame %q", cut, frame)
			}
			m, err := rsyslog.ParseRFC5424(splitOctetCounted(t, frame[4:]))
			if err != nil {
				t.Fatal(err)
			}
			if m.Facility != 19 || m.Severity != tt.sev || m.Version != 1 || m.Hostname != "edge-1" || m.AppName != "sf" ||
				m.ProcID != strconv.Itoa(os.Getpid()) || m.MsgID != tt.msgid || m.StructuredData != "" || m.BOM {
				t.Errorf("header %+v", m)
			}
			if !m.Timestamp.Equal(tt.tsCheck) {
				t.Errorf("timestamp %v, want %v", m.Timestamp, tt.tsCheck)
			}
			if string(m.Msg) != `{"x":"é ü"}` {
				t.Errorf("msg %q", m.Msg)
			}
		})
	}
}

func TestFrameWithoutEvent(t *testing.T) {
	f := formatterFor(t, Config{Source: "h"})
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	f.now = func() time.Time { return now }
	frame, _ := f.appendFrame(nil, nil, []byte("payload"))
	m, err := rsyslog.ParseRFC5424(splitOctetCounted(t, frame))
	if err != nil {
		t.Fatal(err)
	}
	if m.MsgID != "" || !m.Timestamp.Equal(now) || m.Severity != 6 || string(m.Msg) != "payload" {
		t.Errorf("%+v %q", m, m.Msg)
	}
}

func TestFrameRFC3164(t *testing.T) {
	f := formatterFor(t, Config{Format: "rfc3164", Source: "edge-1", Tag: "sysflow", Framing: "non-transparent"})
	ts := time.Date(2024, 3, 5, 7, 8, 9, 0, time.Local)
	frame, _ := f.appendFrame(nil, &sysflow.Event{TS: ts.UnixNano(), Matches: []sysflow.Match{{Priority: 1}}}, []byte("a\nb"))
	if !bytes.HasSuffix(frame, []byte("\n")) || bytes.Count(frame, []byte("\n")) != 1 {
		t.Fatalf("non-transparent frame %q", frame)
	}
	m, err := rsyslog.ParseRFC3164(frame[:len(frame)-1], ts, time.Local)
	if err != nil {
		t.Fatal(err)
	}
	if m.Priority() != 3*8+4 || m.Hostname != "edge-1" || m.AppName != "sysflow" || m.ProcID != strconv.Itoa(os.Getpid()) ||
		!m.Timestamp.Equal(ts) || string(m.Msg) != "a b" {
		t.Errorf("%+v %q", m, m.Msg)
	}
}

func TestTruncate(t *testing.T) {
	for _, proto := range []string{ProtoUDP, ProtoTCP} {
		f := formatterFor(t, Config{Proto: proto, MaxMessageSize: 500, Source: "h"})
		// 3-byte characters: the cut must not split one.
		body := []byte(strings.Repeat("€", 400))
		frame, cut := f.appendFrame(nil, &sysflow.Event{TS: 1}, body)
		if !cut {
			t.Fatalf("%s: not reported as cut", proto)
		}
		msg := frame
		if proto == ProtoTCP {
			msg = splitOctetCounted(t, frame)
		}
		if len(msg) > 500 || len(msg) < 498 {
			t.Errorf("%s: message is %d bytes, want 498-500", proto, len(msg))
		}
		m, err := rsyslog.ParseRFC5424(msg)
		if err != nil {
			t.Fatal(err)
		}
		if !utf8.Valid(m.Msg) || !bytes.HasPrefix(body, m.Msg) {
			t.Errorf("%s: cut body is not a valid prefix: %q", proto, m.Msg)
		}
		if _, cut := f.appendFrame(nil, &sysflow.Event{TS: 1}, []byte("short")); cut {
			t.Errorf("%s: short body reported as cut", proto)
		}
	}
}
