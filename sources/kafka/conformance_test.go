package kafka_test

import (
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/sfconnector/sfconnector/internal/conformance"
	sinkkafka "github.com/sfconnector/sfconnector/sinks/kafka"
	"github.com/sfconnector/sfconnector/sources/kafka"
	"github.com/sfconnector/sfconnector/testenv"
)

// The Kafka sink and source run the bus conformance suite against kfake
// over TCP (or KAFKA_BROKERS), with a cluster of their own so the reconnect
// test can restart it.
func TestConformance(t *testing.T) {
	cluster := testenv.StartKafka(t, testenv.KafkaOptions{})
	setup := func(t *testing.T) conformance.Pair {
		topic := testenv.Name(t, "conf")
		group := testenv.Name(t, "group")
		sink, err := sinkkafka.New(sinkkafka.Config{
			Brokers: cluster.Addrs(), Topic: topic, CreateTopics: true, Partitions: 3,
			Encoder: conformance.Codec{},
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = sink.Close() })
		return conformance.Pair{
			Publisher: sink,
			Topic:     topic,
			NewSubscriber: func(t *testing.T) message.Subscriber {
				src, err := kafka.New(kafka.Config{
					Brokers: cluster.Addrs(), Group: group, Decoder: conformance.Codec{},
					BatchSize: 20, SessionTimeout: 3 * time.Second, NackBackoff: 50 * time.Millisecond,
				})
				if err != nil {
					t.Fatal(err)
				}
				return src
			},
		}
	}
	conformance.Run(t, conformance.Features{
		Persistent:  true,
		Redelivery:  true,
		OrderPerKey: true,
		Restart: func(t *testing.T) {
			if err := cluster.Restart(2 * time.Second); err != nil {
				t.Fatal(err)
			}
		},
	}, setup)
}
