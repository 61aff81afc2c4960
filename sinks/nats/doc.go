// Package nats is the NATS sink: a Watermill Publisher on nats.go that
// writes one NATS message per flat event (or raw record) of each published
// message's batch, to a subject template such as
// "sysflow.alerts.{node}.{priority}".
//
// With JetStream (the default) Publish returns only when the stream has
// acknowledged every message: publishes go out asynchronously, at most
// MaxPending at a time, and each carries a Nats-Msg-Id derived from the
// Watermill message's UUID (the connector gives every attempt of a batch to
// a sink the same one), so a retried Publish is de-duplicated by the stream.
// With core NATS, Publish returns once the server has the messages
// (flushed); core NATS cannot tell whether anyone received them.
package nats
