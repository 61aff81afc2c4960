package bus_test

import (
	"strings"
	"testing"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/sfconnector/sfconnector/internal/bus"
	"github.com/sfconnector/sfconnector/sysflow"
)

func TestTemplates(t *testing.T) {
	ctr := "c/1"
	ev := &sysflow.Event{Kind: sysflow.KindNetworkFlow, Header: &sysflow.Header{Exporter: "web.1"},
		Container: &sysflow.Container{ID: ctr},
		Matches:   []sysflow.Match{{Rule: "Rule A", Priority: sysflow.PriorityMedium}, {Rule: "b", Priority: sysflow.PriorityHigh}}}
	tests := []struct {
		tmpl string
		ev   *sysflow.Event
		safe func(byte) bool
		want string
	}{
		{"sysflow.alerts.{node}.{priority}", ev, bus.SubjectTokenSafe, "sysflow.alerts.web_1.high"},
		{"t-{node}-{container}-{type}", ev, bus.KafkaTopicSafe, "t-web.1-c_1-NF"},
		{"{rule}", ev, bus.SubjectTokenSafe, "Rule_A"},
		{"{node}:{container}", &sysflow.Event{}, bus.AnySafe, "unknown:host"},
		{"{priority}.{rule}", &sysflow.Event{}, nil, "low.none"},
		{"plain", nil, nil, "plain"},
	}
	for _, tc := range tests {
		tp, err := bus.ParseTemplate(tc.tmpl)
		if err != nil {
			t.Fatal(err)
		}
		if got := tp.Expand(tc.ev, tc.safe); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.tmpl, got, tc.want)
		}
	}
	for _, bad := range []string{"a.{nodes}", "a.{node", "{}"} {
		if _, err := bus.ParseTemplate(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

type textEnc struct{}

func (textEnc) AppendEvent(dst []byte, ev *sysflow.Event) ([]byte, error) {
	return append(dst, ev.Header.Exporter...), nil
}

func TestBuilder(t *testing.T) {
	b := bus.NewBuilder(bus.MustTemplate("d.{node}"), bus.MustTemplate("{node}"), bus.KafkaTopicSafe, textEnc{})
	evs := &sysflow.Batch{Events: []*sysflow.Event{
		{Header: &sysflow.Header{Exporter: "a"}}, {Header: &sysflow.Header{Exporter: "b"}}}}
	withBatch := sysflow.WithBatch(message.NewMessage(watermill.NewUUID(), nil), evs)
	payload := message.NewMessage(watermill.NewUUID(), []byte("raw"))
	payload.Metadata.Set(bus.KeyMetadata, "k")
	out, err := b.Build([]*message.Message{withBatch, payload}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []bus.Message{{Dest: "d.a", Key: []byte("a"), Value: []byte("a")}, {Dest: "d.b", Key: []byte("b"), Value: []byte("b")},
		{Dest: "d.unknown", Key: []byte("k"), Value: []byte("raw")}}
	if len(out) != len(want) {
		t.Fatalf("%d messages, want %d", len(out), len(want))
	}
	for i := range want {
		if out[i].Dest != want[i].Dest || string(out[i].Key) != string(want[i].Key) || string(out[i].Value) != string(want[i].Value) {
			t.Errorf("message %d: %q %q %q, want %q %q %q", i, out[i].Dest, out[i].Key, out[i].Value, want[i].Dest, want[i].Key, want[i].Value)
		}
	}
	// Values must not alias: appending to one cannot change the next.
	_ = append(out[0].Value, 'X')
	if string(out[1].Value) != "b" {
		t.Fatal("wire values share capacity")
	}

	// Raw records need a record encoder.
	recs := sysflow.WithBatch(message.NewMessage(watermill.NewUUID(), nil),
		&sysflow.Batch{Source: "s", Records: []sysflow.Record{{Kind: sysflow.KindHeader, Header: &sysflow.Header{Exporter: "n"}}}})
	if _, err := b.Build([]*message.Message{recs}, nil); err == nil || !strings.Contains(err.Error(), "raw SysFlow records") {
		t.Fatalf("raw records with a JSON-like encoder: %v", err)
	}
	if _, err := b.Build([]*message.Message{message.NewMessage("x", nil)}, nil); err == nil {
		t.Fatal("a message without batch or payload was accepted")
	}
}

func TestSecretHidden(t *testing.T) {
	s := bus.Secret("pw")
	for _, got := range []string{s.String(), s.GoString()} {
		if strings.Contains(got, "pw") {
			t.Fatalf("secret printed: %s", got)
		}
	}
	if s.Reveal() != "pw" {
		t.Fatal("Reveal")
	}
}
