// Package e2e is the end-to-end test of the bus setups, run by `make e2e`
// (go test -tags e2e ./e2e/): it builds cmd/sfconnector and runs it as
// separate processes against real components:
//
//	replay (collector simulator) -> sfconnector edge forwarder -> Kafka
//	(registry Avro, acks=all) -> three sfconnector processes in one consumer
//	group -> NATS JetStream + a file each
//
// while one consumer is killed with SIGKILL and the Kafka broker restarts.
// Every flat event of the real traces must reach NATS and the files at
// least once. The checks are counted and the run ends with the line
// "N passed, N failed".
package e2e
