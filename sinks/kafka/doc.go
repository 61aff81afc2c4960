// Package kafka is the Kafka sink: a Watermill Publisher on segmentio/kafka-go
// that writes one Kafka message per flat event (or per raw SysFlow record)
// of each published message's batch, and returns from Publish only when the
// brokers have acknowledged every write (acks=all by default).
//
// Topics and keys are templates ("sysflow.{node}", key "{node}:{container}")
// so one host's events stay ordered in one partition. Values are encoded by
// the encoding.Encoder the sink is given: registry Avro (encoding/avro) or
// JSON. It is not a consumer: sources/kafka reads topics.
package kafka
