package nats_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/sfconnector/sfconnector/internal/conformance"
	"github.com/sfconnector/sfconnector/internal/testcert"
	"github.com/sfconnector/sfconnector/sinks/nats"
	"github.com/sfconnector/sfconnector/sysflow"
	"github.com/sfconnector/sfconnector/testenv"
)

func batchMsg(evs ...*sysflow.Event) *message.Message {
	return sysflow.WithBatch(message.NewMessage(watermill.NewUUID(), nil), &sysflow.Batch{Events: evs})
}

// streamContents reads every message of a stream with nats.go directly
// (not our source), as subject -> data, in stream order.
func streamContents(t *testing.T, url, stream string) [][2]string {
	t.Helper()
	nc, err := natsgo.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out [][2]string
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, [2]string{m.Subject, string(m.Data)})
	}
	return out
}

func cleanupStream(t *testing.T, url, stream string) {
	t.Cleanup(func() {
		nc, err := natsgo.Connect(url)
		if err != nil {
			return
		}
		defer nc.Close()
		js, _ := jetstream.New(nc)
		_ = js.DeleteStream(context.Background(), stream)
	})
}

func TestSubjectTemplateAndDeduplication(t *testing.T) {
	url := testenv.NATS(t)
	stream := testenv.Name(t, "S")
	prefix := testenv.Name(t, "alerts")
	cleanupStream(t, url, stream)
	s, err := nats.New(t.Context(), nats.Config{ConnConfig: nats.ConnConfig{URL: url},
		Subject: prefix + ".{node}.{priority}", Stream: stream, CreateStream: true, Encoder: conformance.Codec{}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	hi := conformance.Event("web.1", "", 1) // '.' inside a value must not split the token
	hi.Matches = []sysflow.Match{{Rule: "r", Priority: sysflow.PriorityHigh}}
	lo := conformance.Event("db", "c1", 2)
	msg := batchMsg(hi, lo)
	if err := s.Publish("", msg); err != nil {
		t.Fatal(err)
	}
	// The router retries a message whose Publish failed after part of it
	// was stored: the stream must keep one copy.
	if err := s.Publish("", msg); err != nil {
		t.Fatal(err)
	}
	got := streamContents(t, url, stream)
	want := [][2]string{{prefix + ".web_1.high", "web.1||1"}, {prefix + ".db.low", "db|c1|2"}}
	if len(got) != len(want) {
		t.Fatalf("stream holds %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("message %d is %q, want %q", i, got[i], want[i])
		}
	}
}

func TestTokenAndTLS(t *testing.T) {
	certs := testcert.New(t)
	srv := testenv.StartNATS(t, testenv.NATSOptions{Token: "t0ken", TLS: certs.Server})
	tokFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokFile, []byte("t0ken\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	stream := testenv.Name(t, "S")
	cfg := nats.Config{
		ConnConfig: nats.ConnConfig{URL: strings.Replace(srv.URL(), "nats://", "tls://", 1), TokenFile: tokFile,
			TLS: nats.TLSConfig{CA: certs.CAFile}},
		Subject: "sec.{node}", Stream: stream, CreateStream: true, Encoder: conformance.Codec{},
	}
	s, err := nats.New(t.Context(), cfg)
	if err != nil {
		t.Fatalf("connect with token over verified TLS: %v", err)
	}
	if err := s.Publish("", batchMsg(conformance.Event("n", "", 1))); err != nil {
		t.Fatal(err)
	}
	s.Close()

	bad := cfg
	bad.TokenFile, bad.Token = "", "wrong"
	if s, err := nats.New(t.Context(), bad); err == nil {
		s.Close()
		t.Fatal("connected with a wrong token")
	}
	untrusted := cfg
	untrusted.TLS = nats.TLSConfig{Enable: true}
	if s, err := nats.New(t.Context(), untrusted); err == nil {
		s.Close()
		t.Fatal("connected to a server whose certificate is not trusted")
	}
}

func TestConfigErrors(t *testing.T) {
	enc := conformance.Codec{}
	tests := []struct {
		name string
		cfg  nats.Config
		want string
	}{
		{"no subject", nats.Config{Encoder: enc}, "nats.subject"},
		{"wildcard subject", nats.Config{Subject: "a.*", Encoder: enc}, "nats.subject"},
		{"bad placeholder", nats.Config{Subject: "a.{x}", Encoder: enc}, "{x}"},
		{"stream missing", nats.Config{Subject: "a", CreateStream: true, Encoder: enc}, "nats.stream"},
		{"two auths", nats.Config{ConnConfig: nats.ConnConfig{Creds: "c", TokenFile: "t"}, Subject: "a", Encoder: enc}, "one of"},
		{"no encoder", nats.Config{Subject: "a"}, "encoder"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := nats.New(t.Context(), tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one naming %q", err, tc.want)
			}
		})
	}
}

func TestStreamSubject(t *testing.T) {
	for in, want := range map[string]string{
		"sysflow.alerts.{node}.{priority}": "sysflow.alerts.*.*",
		"plain.subject":                    "plain.subject",
		"x.n-{node}":                       "x.*",
	} {
		if got := nats.StreamSubject(in); got != want {
			t.Errorf("StreamSubject(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNKeyAuth(t *testing.T) {
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := kp.PublicKey()
	seed, _ := kp.Seed()
	seedFile := filepath.Join(t.TempDir(), "user.nk")
	if err := os.WriteFile(seedFile, seed, 0o600); err != nil {
		t.Fatal(err)
	}
	srv := testenv.StartNATS(t, testenv.NATSOptions{NKeys: []string{pub}})
	cfg := nats.Config{ConnConfig: nats.ConnConfig{URL: srv.URL(), NKey: seedFile}, Subject: "nk.{node}",
		Stream: testenv.Name(t, "S"), CreateStream: true, Encoder: conformance.Codec{}}
	s, err := nats.New(t.Context(), cfg)
	if err != nil {
		t.Fatalf("connect with an NKey: %v", err)
	}
	if err := s.Publish("", batchMsg(conformance.Event("n", "", 1))); err != nil {
		t.Fatal(err)
	}
	s.Close()
	other, _ := nkeys.CreateUser()
	otherSeed, _ := other.Seed()
	otherFile := filepath.Join(t.TempDir(), "other.nk")
	_ = os.WriteFile(otherFile, otherSeed, 0o600)
	cfg.NKey = otherFile
	if s, err := nats.New(t.Context(), cfg); err == nil {
		s.Close()
		t.Fatal("connected with an NKey the server does not know")
	}
}
