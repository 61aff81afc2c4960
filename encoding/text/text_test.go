package text

import (
	"strings"
	"testing"

	"github.com/sfconnector/sfconnector/sysflow"
)

func TestAlertLine(t *testing.T) {
	ev := &sysflow.Event{
		Kind:      sysflow.KindNetworkFlow,
		TS:        1_700_000_000_123_000_000,
		Header:    &sysflow.Header{Exporter: "node1"},
		Container: &sysflow.Container{Name: "web"},
		ProcOID:   sysflow.OID{Hpid: 4242},
		Proc:      &sysflow.Process{Exe: "/bin/bash", UserName: "root"},
		Parent:    &sysflow.Process{Exe: "/usr/sbin/nginx"},
		OpFlags:   1 << 9, // CONNECT
		SIP:       int32(0x0100007f), DIP: int32(0x0700710c), SPort: 41000, DPort: 4444,
		Matches: []sysflow.Match{{Rule: "Reverse shell", Priority: sysflow.PriorityHigh},
			{Rule: "Shell in container", Priority: sysflow.PriorityMedium}},
	}
	line, err := Encoder{UTC: true}.AppendEvent(nil, ev)
	if err != nil {
		t.Fatal(err)
	}
	s := string(line)
	for _, want := range []string{"2023-11-14T22:13:20.123Z", " NF [high] ", "node1/web", "proc=/bin/bash[4242]", "user=root",
		"parent=nginx", "127.0.0.1:41000->", ":4444", "rules=Reverse shell; Shell in container"} {
		if !strings.Contains(s, want) {
			t.Errorf("%q lacks %q", s, want)
		}
	}
	if strings.Contains(s, "\n") {
		t.Errorf("line contains a newline: %q", s)
	}
}

func TestTelemetryLineQuotesPaths(t *testing.T) {
	ev := &sysflow.Event{Kind: sysflow.KindFileFlow, Proc: &sysflow.Process{Exe: "/bin/cat"},
		File: &sysflow.File{Path: "/tmp/a b\nc"}}
	line, _ := Encoder{}.AppendEvent(nil, ev)
	if !strings.Contains(string(line), `file="/tmp/a b\nc"`) || strings.Contains(string(line), "[") && strings.Contains(string(line), "[high]") {
		t.Errorf("got %q", line)
	}
}
