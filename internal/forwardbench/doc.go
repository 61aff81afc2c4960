// Package forwardbench holds the bus forwarding benchmarks, run on the real
// traces against real servers (kfake over TCP, the schema registry, NATS
// with JetStream):
//
//	go test -run XXX -bench . ./internal/forwardbench/
//
// BenchmarkFileToKafka: trace files -> decode -> flatten -> registry Avro ->
// Kafka with acks=all. BenchmarkKafkaToNATS: a Kafka topic of Avro events ->
// consumer group -> decode -> NATS JetStream (publish acks awaited) -> ack
// and commit. Each reports records/s.
package forwardbench
