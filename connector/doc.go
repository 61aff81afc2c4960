// Package connector assembles and runs pipelines: a source (a Watermill
// Subscriber), the flattener, policy transforms and sinks (Watermill
// Publishers), on a Watermill router with its middleware, metrics and
// health endpoints, and graceful shutdown.
//
// Concurrency invariants:
//   - A record source delivers one batch message at a time and waits for its
//     ack, so the handler sees one stream's batches in order, one at a time.
//     The flattener of a stream is used only by that handler call; the map of
//     flatteners is guarded by a mutex for sources (Kafka) that deliver
//     several flat-event messages concurrently.
//   - A batch is acked only after every sink of the tree accepted its events.
//     Progress per batch (which sinks accepted it) survives retries and
//     redeliveries, so a retry never writes a batch twice to the same sink.
//   - Sinks are called from handler goroutines and are safe for concurrent use.
package connector
