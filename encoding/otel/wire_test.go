package otel_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/sfconnector/sfconnector/encoding/otel"
	"github.com/sfconnector/sfconnector/sysflow"
	"github.com/sfconnector/sfconnector/testenv/shared"
)

// withAlerts returns the events with every 7th made an alert, of one to
// three matches with and without descriptions, outputs and tags, so that
// the alert section is written on every trace.
func withAlerts(events []*sysflow.Event) []*sysflow.Event {
	out := make([]*sysflow.Event, len(events))
	prios := []sysflow.Priority{sysflow.PriorityLow, sysflow.PriorityMedium, sysflow.PriorityHigh}
	for i, ev := range events {
		out[i] = ev
		if i%7 != 3 {
			continue
		}
		a := *ev
		for j := range i%3 + 1 {
			m := sysflow.Match{Rule: fmt.Sprintf("rule %d.%d", i, j), Priority: prios[(i+j)%3]}
			if j%2 == 0 {
				m.Desc, m.Output = "desc", "out "+ev.ProcCmdline()
			} else {
				m.Tags = []string{"mitre:T1059", "x"}
			}
			a.Matches = append(a.Matches, m)
		}
		if i%2 == 0 {
			a.Tags = []string{"t1", "t2"}
		}
		out[i] = &a
	}
	return out
}

// logsJSON renders LogsData as pdata's OTLP/JSON, which names every field
// and value type, for comparing two messages' content.
func logsJSON(t *testing.T, ld plog.Logs) []byte {
	t.Helper()
	b, err := (&plog.JSONMarshaler{}).MarshalLogs(ld)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The protobuf the encoder writes directly means what pdata's marshalling
// of the same LogsData (built with pdata by Encoder.Logs) means: both,
// unmarshalled by pdata, are the same LogsData, resource by resource and
// attribute by attribute, for every event of every real trace (and alerts
// made of some). The decoder's protowire walk gives the same events as its
// pdata-based OTLP/JSON path does from the same content.
func TestWireMatchesPdata(t *testing.T) {
	now := time.Unix(1700000000, 123456789)
	opts := otel.Options{MaxRecords: 100, Version: "v-test", Now: func() time.Time { return now }}
	enc := newEncoder(t, opts)
	opts.Encoding = otel.JSON
	jenc := newEncoder(t, opts)
	dec := otel.NewDecoder()
	identical, messages := 0, 0
	for _, path := range shared.Traces(t) {
		t.Run(shared.TraceName(path), func(t *testing.T) {
			events := withAlerts(traceEvents(t, path))
			if len(events) == 0 {
				t.Skip("no events")
			}
			for rest := events; len(rest) > 0; {
				msg, n, err := enc.AppendEvents([]byte("prefix"), rest)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.HasPrefix(msg, []byte("prefix")) {
					t.Fatal("AppendEvents lost the bytes it appends to")
				}
				msg = msg[len("prefix"):]
				ref, m := enc.Logs(rest[:n])
				if m != n {
					t.Fatalf("pdata takes %d records where the wire encoder took %d", m, n)
				}
				refBytes, err := (&plog.ProtoMarshaler{}).MarshalLogs(ref)
				if err != nil {
					t.Fatal(err)
				}
				got, err := (&plog.ProtoUnmarshaler{}).UnmarshalLogs(msg)
				if err != nil {
					t.Fatalf("pdata rejects our message: %v", err)
				}
				want, err := (&plog.ProtoUnmarshaler{}).UnmarshalLogs(refBytes)
				if err != nil {
					t.Fatal(err)
				}
				if g, w := logsJSON(t, got), logsJSON(t, want); !bytes.Equal(g, w) {
					i := 0
					for i < len(g) && i < len(w) && g[i] == w[i] {
						i++
					}
					t.Fatalf("content differs from pdata's at byte %d of its JSON:\nours:  %.300s\npdata: %.300s", i, g[max(0, i-100):], w[max(0, i-100):])
				}
				if bytes.Equal(msg, refBytes) {
					identical++
				}

				jmsg, jn, err := jenc.AppendEvents(nil, rest[:n])
				if err != nil || jn != n {
					t.Fatalf("json: %d of %d records, %v", jn, n, err)
				}
				var pb, jb sysflow.Batch
				if err := dec.Decode(context.Background(), msg, &pb); err != nil {
					t.Fatal(err)
				}
				if err := dec.Decode(context.Background(), jmsg, &jb); err != nil {
					t.Fatal(err)
				}
				if len(pb.Events) != n || len(jb.Events) != n {
					t.Fatalf("decoded %d (protobuf) and %d (json) events of %d", len(pb.Events), len(jb.Events), n)
				}
				for i := range pb.Events {
					p, j := pb.Events[i], jb.Events[i]
					for _, name := range sysflow.FieldNames() {
						f, _ := sysflow.LookupField(name)
						if a, b := f.Text(p), f.Text(j); a != b {
							t.Fatalf("event %d: %s is %q from protobuf, %q through pdata", i, name, a, b)
						}
					}
					if fmt.Sprint(p.Matches) != fmt.Sprint(j.Matches) || strings.Join(p.Tags, ",") != strings.Join(j.Tags, ",") {
						t.Fatalf("event %d: matches %v tags %q from protobuf, %v %q through pdata", i, p.Matches, p.Tags, j.Matches, j.Tags)
					}
					if fmt.Sprint(p.Matches) != fmt.Sprint(rest[i].Matches) {
						t.Fatalf("event %d: matches %v, want %v", i, p.Matches, rest[i].Matches)
					}
				}
				rest = rest[n:]
				messages++
			}
		})
	}
	t.Logf("%d messages, %d byte for byte as pdata writes them", messages, identical)
}
