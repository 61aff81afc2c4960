// Package e2e is the end-to-end test of the bus setups, run by `make e2e`
// (go test -tags e2e ./e2e/). It builds cmd/sfconnector and runs it as
// separate processes against real components, in two phases:
//
// The edge, with no faults: `sfconnector replay` streams every trace of
// ../shared/traces (the set several times over) to the socket of an
// sfconnector that forwards flat events to Kafka as registry Avro. An
// independent client (franz-go) reads the topic, parses the Confluent wire
// header itself, fetches each schema from the registry by id over HTTP and
// decodes with goavro. The expected events come from the raw trace records
// read with goavro's OCF reader: every one must be on the topic exactly
// once, under the key {node}:{container}, and in replay order per key.
//
// The cluster: three sfconnector processes in one consumer group read the
// topic, run the reference's runtimeintegrity policies in alert mode and
// send alerts to NATS JetStream and a file each. The one holding the
// busiest partition is killed with SIGKILL mid-stream and the broker is
// restarted; the survivors must finish. The alerts in NATS, and in the
// files together, must equal those of one process reading the trace files
// directly, as multisets: nothing missing, nothing the direct run lacks,
// duplicates (at-least-once redelivery) counted and reported.
//
// The checks are counted and the run ends with the line "N passed, N failed".
package e2e
