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

// batchEnc is a BatchEncoder writing each event's TS, comma-separated,
// taking at most max events a message.
type batchEnc struct{ max int }

func (e batchEnc) AppendEvent(dst []byte, ev *sysflow.Event) ([]byte, error) {
	return append(dst, byte('0'+ev.TS)), nil
}

func (e batchEnc) AppendEvents(dst []byte, evs []*sysflow.Event) ([]byte, int, error) {
	n := min(e.max, len(evs))
	for i, ev := range evs[:n] {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, byte('0'+ev.TS))
	}
	return dst, n, nil
}

// With an encoder that takes many events, a batch becomes one message per
// run the encoder takes from each destination-and-key group: groups in
// the order of their first event, events in their order within a group.
func TestBuilderBatchEncoder(t *testing.T) {
	dest, _ := bus.ParseTemplate("t-{type}")
	key, _ := bus.ParseTemplate("{node}")
	b := bus.NewBuilder(dest, key, bus.KafkaTopicSafe, batchEnc{max: 2})
	h1, h2 := &sysflow.Header{Exporter: "a"}, &sysflow.Header{Exporter: "b"}
	var evs []*sysflow.Event
	for i, x := range []struct {
		kind sysflow.RecordKind
		h    *sysflow.Header
	}{{sysflow.KindFileEvent, h1}, {sysflow.KindFileEvent, h2}, {sysflow.KindNetworkFlow, h1}, {sysflow.KindFileEvent, h1},
		{sysflow.KindFileEvent, h1}, {sysflow.KindFileEvent, h2}} {
		evs = append(evs, &sysflow.Event{Kind: x.kind, Header: x.h, TS: int64(i)})
	}
	msg := message.NewMessage(watermill.NewUUID(), nil)
	sysflow.WithBatch(msg, &sysflow.Batch{Events: evs})
	wire, err := b.Build([]*message.Message{msg}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range wire {
		got = append(got, m.Dest+"/"+string(m.Key)+"/"+string(m.Value))
	}
	want := []string{"t-FE/a/0,3", "t-FE/a/4", "t-FE/b/1,5", "t-NF/a/2"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("messages %q, want %q", got, want)
	}
}

// BuildInto writes into the buffer it is given when that is large enough,
// and the messages of every call read as Build's.
func TestBuildIntoReusesTheArena(t *testing.T) {
	b := bus.NewBuilder(bus.MustTemplate("d.{node}"), bus.MustTemplate("{node}"), bus.KafkaTopicSafe, textEnc{})
	batch := func(names ...string) *message.Message {
		var evs []*sysflow.Event
		for _, n := range names {
			evs = append(evs, &sysflow.Event{Header: &sysflow.Header{Exporter: n}})
		}
		return sysflow.WithBatch(message.NewMessage(watermill.NewUUID(), nil), &sysflow.Batch{Events: evs})
	}
	arena := make([]byte, 0, 4096)
	var out []bus.Message
	var err error
	for round, names := range [][]string{{"first", "second"}, {"x", "yy", "zzz"}, {strings.Repeat("n", 5000)}} {
		given := arena
		out, arena, err = b.BuildInto([]*message.Message{batch(names...)}, out[:0], arena)
		if err != nil {
			t.Fatal(err)
		}
		if len(out) != len(names) {
			t.Fatalf("round %d: %d messages, want %d", round, len(out), len(names))
		}
		for i, n := range names {
			if out[i].Dest != "d."+n || string(out[i].Key) != n || string(out[i].Value) != n {
				t.Errorf("round %d, message %d: %q %q %q", round, i, out[i].Dest, out[i].Key, out[i].Value)
			}
		}
		reused := &out[0].Key[0] == &given[:1][0]
		if &out[0].Key[0] != &arena[:1][0] {
			t.Errorf("round %d: the returned arena is not the one the messages are in", round)
		}
		if big := round == 2; reused == big {
			t.Errorf("round %d: arena reused %v, want %v (capacity %d)", round, reused, !big, cap(arena))
		}
		if round == 2 && cap(arena) < 10000 {
			t.Errorf("the returned arena (capacity %d) does not hold the last batch", cap(arena))
		}
	}
}
