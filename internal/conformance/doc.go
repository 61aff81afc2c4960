// Package conformance is the one test suite every source and sink runs
// against its real component. Bus backends (Kafka, NATS) run Run: a sink
// and a source over one server, with delivery, order per key, ack and
// nack, close while busy, and reconnection after the server restarts. The
// collector-facing sources (trace files, the socket) run RunSource, with
// the test as the collector; the sinks without a source of their own (file,
// syslog, terminal) run RunSink, with the destination read back by the
// test, where a failed write reported by Publish stands for a nack. A
// backend says what it guarantees in a Features value and how to make its
// parts in a Setup; the suite decides which tests apply and says why it
// skips the others.
//
// Events travel as text encoded by Codec ("node|container|seq"), and
// records as numbered file events (Records), so the suite checks
// transport, not encodings: encodings have their own tests.
package conformance
