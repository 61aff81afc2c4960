package terminal

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/sfconnector/sfconnector/sysflow"
)

type nameEncoder struct{}

func (nameEncoder) AppendEvent(dst []byte, ev *sysflow.Event) ([]byte, error) {
	return append(dst, `{"exe":"`+ev.Proc.Exe+`"}`...), nil
}

func events() *message.Message {
	h := &sysflow.Header{Exporter: "node1"}
	c := &sysflow.Container{ID: "c1"}
	mk := func(exe string, ctr *sysflow.Container) *sysflow.Event {
		return &sysflow.Event{Kind: sysflow.KindProcessEvent, Header: h, Container: ctr, Proc: &sysflow.Process{Exe: exe}}
	}
	b := &sysflow.Batch{Events: []*sysflow.Event{mk("/bin/a", c), mk("/bin/b", nil), mk("/bin/c", c)}}
	return sysflow.WithBatch(message.NewMessage("x", nil), b)
}

func TestLines(t *testing.T) {
	var out bytes.Buffer
	s := New(&out, nameEncoder{})
	if err := s.Publish("t", events()); err != nil {
		t.Fatal(err)
	}
	want := "{\"exe\":\"/bin/a\"}\n{\"exe\":\"/bin/b\"}\n{\"exe\":\"/bin/c\"}\n"
	if out.String() != want {
		t.Fatalf("got %q", out.String())
	}
}

// The seed-era alert type groups records by node and container.
func TestGrouped(t *testing.T) {
	var out bytes.Buffer
	s := New(&out, nameEncoder{})
	s.Grouped = true
	if err := s.Publish("t", events()); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d groups, want 2: %q", len(lines), out.String())
	}
	type group struct {
		GroupID      string            `json:"groupId"`
		Observations []json.RawMessage `json:"observations"`
	}
	var g1, g2 group
	if err := json.Unmarshal([]byte(lines[0]), &g1); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(lines[1]), &g2); err != nil {
		t.Fatal(err)
	}
	if g1.GroupID != "node1/c1" || len(g1.Observations) != 2 || g2.GroupID != "node1/" || len(g2.Observations) != 1 {
		t.Fatalf("groups %+v %+v", g1, g2)
	}
}

func TestNoBatchIsAnError(t *testing.T) {
	s := New(&bytes.Buffer{}, nameEncoder{})
	if err := s.Publish("t", message.NewMessage("x", nil)); err == nil {
		t.Fatal("a message without a batch was accepted")
	}
}
