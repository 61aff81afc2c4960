// Package nats is the NATS source: a Watermill Subscriber on nats.go that
// delivers batches of decoded flat events or raw SysFlow records.
//
// With JetStream (the default) it reads through a durable pull consumer with
// explicit acks: a NATS message is acked when the Watermill message that
// carried it is acked, and a nack asks the server to deliver it again after
// NackBackoff, so delivery is at least once and survives restarts of either
// side. With core NATS (CoreNATS) it subscribes, optionally in a queue
// group, and acks mean nothing: what arrives while nobody listens is lost.
package nats
