package rsyslog

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseRFC5424(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Message
	}{
		{
			name: "RFC 5424 example 1",
			in:   "<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - 'su root' failed for lonvick on /dev/pts/8",
			want: Message{Facility: 4, Severity: 2, Version: 1,
				Timestamp: time.Date(2003, 10, 11, 22, 14, 15, 3e6, time.UTC),
				Hostname:  "mymachine.example.com", AppName: "su", MsgID: "ID47",
				Msg: []byte("'su root' failed for lonvick on /dev/pts/8")},
		},
		{
			name: "offset and microseconds, structured data, BOM",
			in:   "<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - [exampleSDID@32473 iut=\"3\" eventSource=\"Application\"][x@1 a=\"q\\\"]\"] \xEF\xBB\xBFhello",
			want: Message{Facility: 20, Severity: 5, Version: 1,
				Timestamp: time.Date(2003, 8, 24, 12, 14, 15, 3000, time.UTC),
				Hostname:  "192.0.2.1", AppName: "myproc", ProcID: "8710",
				StructuredData: "[exampleSDID@32473 iut=\"3\" eventSource=\"Application\"][x@1 a=\"q\\\"]\"]",
				BOM:            true, Msg: []byte("hello")},
		},
		{
			name: "all nil, no message",
			in:   "<0>1 - - - - - -",
			want: Message{Version: 1},
		},
		{
			name: "empty message after the space",
			in:   "<191>12 - h a p m - ",
			want: Message{Facility: 23, Severity: 7, Version: 12, Hostname: "h", AppName: "a", ProcID: "p", MsgID: "m", Msg: []byte{}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseRFC5424([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if !got.Timestamp.Equal(tt.want.Timestamp) {
				t.Errorf("timestamp %v, want %v", got.Timestamp, tt.want.Timestamp)
			}
			got.Timestamp, tt.want.Timestamp = time.Time{}, time.Time{}
			if string(got.Msg) != string(tt.want.Msg) || (got.Msg == nil) != (tt.want.Msg == nil) {
				t.Errorf("msg %q, want %q", got.Msg, tt.want.Msg)
			}
			got.Msg, tt.want.Msg = nil, nil
			if !reflect.DeepEqual(*got, tt.want) {
				t.Errorf("got %+v\nwant %+v", *got, tt.want)
			}
		})
	}
}

func TestParseRFC5424Errors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "PRI"},
		{"<192>1 - - - - - -", "above 191"},
		{"<013>1 - - - - - -", "leading zero"},
		{"<13>0 - - - - - -", "VERSION"},
		{"<13>1 2003-10-11 22:14:15Z h a p m -", "too short"},
		{"<13>1 2003-10-11t22:14:15Z h a p m -", "YYYY-MM-DD"},
		{"<13>1 2003-10-11T22:14:15.1234567Z h a p m -", "fraction"},
		{"<13>1 2003-10-11T22:14:15 h a p m -", "too short"},
		{"<13>1 2003-10-11T22:14:15+0100 h a p m -", "Z or"},
		{"<13>1 2003-13-11T22:14:15Z h a p m -", "month out of range"},
		{"<13>1 - " + strings.Repeat("h", 256) + " a p m -", "HOSTNAME"},
		{"<13>1 - h " + strings.Repeat("a", 49) + " p m -", "APP-NAME"},
		{"<13>1 - h a p " + strings.Repeat("m", 33) + " -", "MSGID"},
		{"<13>1 - h\x01 a p m -", "printable"},
		{"<13>1 - h a p m", "space"},
		{"<13>1 - h a p m [id a=\"x] msg", "closing quote"},
		{"<13>1 - h a p m [id a=x] msg", "=\""},
		{"<13>1 - h a p m -x", "space after '-'"},
		{"<13>1 - h a p m x", "'-' or '['"},
	}
	for _, tt := range tests {
		_, err := ParseRFC5424([]byte(tt.in))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseRFC5424(%q) = %v, want an error containing %q", tt.in, err, tt.want)
		}
	}
}

func TestParseRFC3164(t *testing.T) {
	now := time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)
	m, err := ParseRFC3164([]byte("<13>Feb  5 17:32:18 mymachine sysflow[123]: {\"a\":1}"), now, time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	want := time.Date(2024, 2, 5, 17, 32, 18, 0, time.UTC)
	if m.Priority() != 13 || m.Hostname != "mymachine" || m.AppName != "sysflow" || m.ProcID != "123" ||
		string(m.Msg) != `{"a":1}` || !m.Timestamp.Equal(want) {
		t.Errorf("got %+v (msg %q)", m, m.Msg)
	}
	m, err = ParseRFC3164([]byte("<0>Dec 31 23:59:59 h t: x"), now, time.UTC)
	if err != nil || m.AppName != "t" || m.ProcID != "" || string(m.Msg) != "x" {
		t.Errorf("without pid: %+v, %v", m, err)
	}
	for _, bad := range []string{
		"<13>Foo  5 17:32:18 h t: x",
		"<13>Feb  5 17:32 h t: x",
		"<13>Feb  5 17:32:18 h t x",
		"<13>Feb  5 17:32:18 h t[1: x",
		"<13>Feb  5 17:32:18 h : x",
	} {
		if _, err := ParseRFC3164([]byte(bad), now, time.UTC); err == nil {
			t.Errorf("ParseRFC3164(%q) succeeded", bad)
		}
	}
}

// FuzzParseRFC5424 checks that the parser never panics and that what it
// accepts is consistent: fields within their limits, the priority in range.
func FuzzParseRFC5424(f *testing.F) {
	for _, s := range []string{
		"<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - 'su root' failed",
		"<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - [a@1 b=\"c\\\"\"] \xEF\xBB\xBFx",
		"<0>1 - - - - - -",
		"<13>1 - h a p m [id a=\"x] msg",
		"<13>Feb  5 17:32:18 mymachine sysflow[123]: {}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseRFC5424(b)
		if err != nil {
			return
		}
		if m.Priority() < 0 || m.Priority() > 191 || m.Version < 1 || m.Version > 999 {
			t.Fatalf("priority %d version %d", m.Priority(), m.Version)
		}
		if len(m.Hostname) > maxHostname || len(m.AppName) > maxAppName || len(m.ProcID) > maxProcID || len(m.MsgID) > maxMsgID {
			t.Fatalf("field over its limit: %+v", m)
		}
		_, _ = ParseRFC3164(b, time.Now(), time.UTC)
	})
}
