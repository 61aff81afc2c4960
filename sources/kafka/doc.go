// Package kafka is the Kafka source: a Watermill Subscriber on
// segmentio/kafka-go that reads topics in a consumer group and delivers
// batches of decoded flat events or raw SysFlow records.
//
// Delivery is at least once. Several Watermill messages are in flight at a
// time (MaxInFlight), each carrying up to BatchSize Kafka messages; an
// offset is committed only once every earlier message of its partition was
// acked, so a crash or a rebalance replays what was not yet accepted by every
// sink, and never skips anything. A nacked message is delivered again after
// NackBackoff. It is not a producer: sinks/kafka writes topics.
package kafka
