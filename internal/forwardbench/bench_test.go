package forwardbench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sfconnector/sfconnector/encoding/avro"
	"github.com/sfconnector/sfconnector/encoding/json"
	sinkkafka "github.com/sfconnector/sfconnector/sinks/kafka"
	sinknats "github.com/sfconnector/sfconnector/sinks/nats"
	srckafka "github.com/sfconnector/sfconnector/sources/kafka"
	"github.com/sfconnector/sfconnector/sysflow"
	"github.com/sfconnector/sfconnector/testenv"
	"github.com/sfconnector/sfconnector/testenv/shared"
	"github.com/sfconnector/sfconnector/transforms/flatten"
)

const batchSize = 1000 // events per Watermill message, like a file source's block batches

func quietFlattener() *flatten.Flattener {
	return flatten.New(flatten.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
}

// forwardFiles reads every trace, flattens it and publishes its events in
// batches; it returns the number of events.
func forwardFiles(b *testing.B, files []string, pub message.Publisher) int {
	n := 0
	var recs []sysflow.Record
	for _, path := range files {
		r, c, err := sysflow.OpenFile(path)
		if err != nil {
			b.Fatal(err)
		}
		f := quietFlattener()
		var pending []*sysflow.Event
		flush := func() {
			if len(pending) == 0 {
				return
			}
			msg := sysflow.WithBatch(message.NewMessage(watermill.NewUUID(), nil), &sysflow.Batch{Source: path, Events: pending})
			if err := pub.Publish("", msg); err != nil {
				b.Fatal(err)
			}
			n += len(pending)
			pending = nil
		}
		for {
			recs, err = r.Next(recs[:0])
			pending = f.Flatten(recs, pending)
			if len(pending) >= batchSize {
				flush()
			}
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
		}
		flush()
		c.Close()
	}
	return n
}

func avroEncoder(b *testing.B) (*avro.Encoder, *avro.Decoder) {
	reg, err := avro.NewRegistry(avro.Config{RegistryURL: testenv.SchemaRegistry(b)})
	if err != nil {
		b.Fatal(err)
	}
	enc, err := avro.NewEncoder(reg)
	if err != nil {
		b.Fatal(err)
	}
	return enc, avro.NewDecoder(reg)
}

// kafkaCluster starts a six-partition kfake broker in a process of its
// own (testenv/cmd/kafka, in memory): the benchmark measures the client
// path, not kfake's disk, and the broker's CPU is not the test process's.
func kafkaCluster(b *testing.B) *testenv.KafkaProcess {
	return testenv.StartKafkaProcess(b, 6)
}

// processCPU is the user+system CPU time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkFileToKafka: the edge-to-Kafka forwarder's path, acks=all,
// registry Avro, on every real trace.
func BenchmarkFileToKafka(b *testing.B) {
	for _, comp := range []string{"none", "zstd"} {
		b.Run("compression="+comp, func(b *testing.B) {
			files := shared.Traces(b)
			k := kafkaCluster(b)
			enc, _ := avroEncoder(b)
			sink, err := sinkkafka.New(sinkkafka.Config{Brokers: k.Addrs(), Topic: testenv.Name(b, "fwd"),
				CreateTopics: true, Partitions: 6, Compression: comp, Encoder: enc})
			if err != nil {
				b.Fatal(err)
			}
			defer sink.Close()
			b.ReportAllocs()
			b.ResetTimer()
			cpu0, broker0 := processCPU(), k.CPU()
			events := 0
			for i := 0; i < b.N; i++ {
				events += forwardFiles(b, files, sink)
			}
			b.StopTimer()
			cpu, broker := processCPU()-cpu0, k.CPU()-broker0
			b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "records/s")
			b.ReportMetric(float64(events)/float64(b.N), "records/op")
			// CPU per wall second (2.0 = both cores of this machine) of the
			// forwarder (this process) and of the broker process.
			b.ReportMetric(cpu.Seconds()/b.Elapsed().Seconds(), "client-cores")
			b.ReportMetric(broker.Seconds()/b.Elapsed().Seconds(), "broker-cores")
			// CPU per record: what bounds records/s once the cores are busy.
			b.ReportMetric(float64(cpu.Microseconds())/float64(events), "client-us/record")
			b.ReportMetric(float64(broker.Microseconds())/float64(events), "broker-us/record")
		})
	}
}

// BenchmarkKafkaToNATS: a consumer reads Avro events from Kafka, decodes
// them and forwards them to NATS JetStream, acking (and so committing)
// only after the stream acknowledged them. handlers is how many messages
// are handled at once, as a Watermill router runs handlers concurrently.
func BenchmarkKafkaToNATS(b *testing.B) {
	files := shared.Traces(b)
	brokers := kafkaCluster(b).Addrs()
	enc, dec := avroEncoder(b)
	topic := testenv.Name(b, "k2n")
	ksink, err := sinkkafka.New(sinkkafka.Config{Brokers: brokers, Topic: topic, CreateTopics: true, Partitions: 6, Encoder: enc})
	if err != nil {
		b.Fatal(err)
	}
	// Eight copies of the traces, so a pass is long enough that joining the
	// group (part of every pass) does not dominate it.
	perPass := 0
	for i := 0; i < 8; i++ {
		perPass += forwardFiles(b, files, ksink)
	}
	ksink.Close()
	url := testenv.NATS(b)

	for _, handlers := range []int{1, 4} {
		b.Run(fmt.Sprintf("handlers=%d", handlers), func(b *testing.B) {
			stream := testenv.Name(b, "BENCH")
			defer deleteStream(url, stream)
			nsink, err := sinknats.New(context.Background(), sinknats.Config{ConnConfig: sinknats.ConnConfig{URL: url},
				Subject: testenv.Name(b, "bench") + ".{node}", Stream: stream, CreateStream: true,
				Encoder: json.New(json.Options{})})
			if err != nil {
				b.Fatal(err)
			}
			defer nsink.Close()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				forwardTopic(b, brokers, topic, dec, nsink, handlers, perPass)
			}
			b.ReportMetric(float64(perPass*b.N)/b.Elapsed().Seconds(), "records/s")
			b.ReportMetric(float64(perPass), "records/op")
		})
	}
}

// forwardTopic reads the whole topic in a new group and publishes every
// message with handlers goroutines.
func forwardTopic(b *testing.B, brokers []string, topic string, dec *avro.Decoder, pub message.Publisher, handlers, want int) {
	src, err := srckafka.New(srckafka.Config{Brokers: brokers, Group: testenv.Name(b, "g"), Decoder: dec, BatchSize: 500})
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	ch, err := src.Subscribe(context.Background(), topic)
	if err != nil {
		b.Fatal(err)
	}
	var got atomic.Int64
	done := make(chan struct{})
	var stop sync.Once
	errs := make(chan error, handlers)
	var wg sync.WaitGroup
	for h := 0; h < handlers; h++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case msg := <-ch:
					if err := pub.Publish("", msg); err != nil {
						errs <- err
						return
					}
					msg.Ack()
					if got.Add(int64(len(sysflow.BatchOf(msg).Events))) >= int64(want) {
						stop.Do(func() { close(done) })
						return
					}
				case <-done:
					return
				}
			}
		}()
	}
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	select {
	case <-finished:
	case err := <-errs:
		stop.Do(func() { close(done) })
		b.Fatal(err)
	case <-time.After(5 * time.Minute):
		stop.Do(func() { close(done) })
		b.Fatalf("forwarded %d of %d", got.Load(), want)
	}
}

func deleteStream(url, stream string) {
	nc, err := natsgo.Connect(url)
	if err != nil {
		return
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	_ = js.DeleteStream(context.Background(), stream)
}
