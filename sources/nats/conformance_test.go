package nats_test

import (
	"context"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sfconnector/sfconnector/internal/conformance"
	sinknats "github.com/sfconnector/sfconnector/sinks/nats"
	"github.com/sfconnector/sfconnector/sources/nats"
	"github.com/sfconnector/sfconnector/testenv"
)

// deleteStream removes a test's stream from a shared server.
func deleteStream(t *testing.T, url, stream string) {
	t.Cleanup(func() {
		nc, err := natsgo.Connect(url)
		if err != nil {
			return
		}
		defer nc.Close()
		js, err := jetstream.New(nc)
		if err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = js.DeleteStream(ctx, stream)
	})
}

func jetStreamSetup(url func() string) conformance.Setup {
	return func(t *testing.T) conformance.Pair {
		stream := testenv.Name(t, "S")
		subject := testenv.Name(t, "conf") + ".{node}"
		durable := testenv.Name(t, "D")
		deleteStream(t, url(), stream)
		sink, err := sinknats.New(t.Context(), sinknats.Config{
			ConnConfig: sinknats.ConnConfig{URL: url()},
			Subject:    subject, Stream: stream, CreateStream: true, Encoder: conformance.Codec{},
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = sink.Close() })
		return conformance.Pair{
			Publisher: sink,
			Topic:     sinknats.StreamSubject(subject),
			NewSubscriber: func(t *testing.T) message.Subscriber {
				src, err := nats.New(nats.Config{
					ConnConfig: nats.ConnConfig{URL: url()},
					Stream:     stream, Durable: durable, Decoder: conformance.Codec{},
					BatchSize: 20, NackBackoff: 50 * time.Millisecond,
				})
				if err != nil {
					t.Fatal(err)
				}
				return src
			},
		}
	}
}

// JetStream sink and source against the machine's NATS server (or NATS_URL,
// or an embedded one).
func TestConformanceJetStream(t *testing.T) {
	url := testenv.NATS(t)
	conformance.Run(t, conformance.Features{Persistent: true, Redelivery: true, OrderPerKey: true},
		jetStreamSetup(func() string { return url }))
}

// The reconnection test needs a server of its own to restart.
func TestConformanceJetStreamRestart(t *testing.T) {
	srv := testenv.StartNATS(t, testenv.NATSOptions{})
	conformance.Run(t, conformance.Features{
		Persistent: true, Redelivery: true, OrderPerKey: true, Only: []string{"Reconnect"},
		Restart: func(t *testing.T) {
			if err := srv.Restart(2 * time.Second); err != nil {
				t.Fatal(err)
			}
		},
	}, jetStreamSetup(srv.URL))
}

func TestConformanceCore(t *testing.T) {
	url := testenv.NATS(t)
	conformance.Run(t, conformance.Features{OrderPerKey: true}, func(t *testing.T) conformance.Pair {
		subject := testenv.Name(t, "core") + ".{node}"
		sink, err := sinknats.New(t.Context(), sinknats.Config{
			ConnConfig: sinknats.ConnConfig{URL: url}, Subject: subject, CoreNATS: true, Encoder: conformance.Codec{},
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = sink.Close() })
		return conformance.Pair{
			Publisher: sink,
			Topic:     sinknats.StreamSubject(subject),
			NewSubscriber: func(t *testing.T) message.Subscriber {
				src, err := nats.New(nats.Config{ConnConfig: nats.ConnConfig{URL: url}, CoreNATS: true, Decoder: conformance.Codec{}})
				if err != nil {
					t.Fatal(err)
				}
				return src
			},
		}
	})
}
