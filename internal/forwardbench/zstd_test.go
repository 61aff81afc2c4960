package forwardbench

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/ThreeDotsLabs/watermill/message"
	kzstd "github.com/segmentio/kafka-go/compress/zstd"

	"github.com/sfconnector/sfconnector/internal/bus"
	"github.com/sfconnector/sfconnector/testenv/shared"
)

type collect struct{ msgs []*message.Message }

func (c *collect) Publish(_ string, m ...*message.Message) error {
	c.msgs = append(c.msgs, m...)
	return nil
}
func (c *collect) Close() error { return nil }

// BenchmarkZstdLevel: avro-build is the sink's encoding of the real traces'
// flattened events (bus.Builder with the registry Avro encoder, per 1000-event
// batch). The level runs compress the registry-Avro values of the real
// traces in produce-request-sized runs (170 values, what one 1000-event
// batch gives each of 6 partitions) at zstd levels 1 and 3 (kafka-go's
// default): the CPU per record the codec costs the forwarder, and the ratio.
func BenchmarkZstdLevel(b *testing.B) {
	enc, _ := avroEncoder(b)
	c := &collect{}
	forwardFiles(b, shared.Traces(b), c)
	topic, _ := bus.ParseTemplate("t")
	key, _ := bus.ParseTemplate("{node}:{container}")
	wire, err := bus.NewBuilder(topic, key, bus.KafkaTopicSafe, enc).Build(c.msgs, nil)
	if err != nil {
		b.Fatal(err)
	}
	size := 0
	for _, m := range wire {
		size += len(m.Value)
	}
	b.Run("avro-build", func(b *testing.B) {
		bld := bus.NewBuilder(topic, key, bus.KafkaTopicSafe, enc)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			for _, m := range c.msgs {
				if _, err := bld.Build([]*message.Message{m}, nil); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(wire)), "ns/record")
		b.ReportMetric(float64(size)/float64(len(wire)), "bytes/record")
	})
	for _, level := range []int{1, 3} {
		b.Run(fmt.Sprintf("level=%d", level), func(b *testing.B) {
			codec := &kzstd.Codec{Level: level}
			var out bytes.Buffer
			in, compressed := 0, 0
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				for j := 0; j < len(wire); j += 170 {
					out.Reset()
					w := codec.NewWriter(&out)
					for _, m := range wire[j:min(j+170, len(wire))] {
						w.Write(m.Value)
						in += len(m.Value)
					}
					w.Close()
					compressed += out.Len()
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(wire)), "ns/record")
			b.ReportMetric(float64(in)/float64(compressed), "ratio")
		})
	}
}
