// Package testenv starts the real components that the bus sources and sinks
// talk to, for tests and for people trying the bus setups by hand:
//
//   - a Kafka wire-protocol cluster (kfake) listening on loopback TCP, or the
//     cluster named by KAFKA_BROKERS;
//   - a schema registry speaking the Confluent REST API (srfake), or the one
//     named by SCHEMA_REGISTRY_URL;
//   - a NATS server with JetStream: NATS_URL, else the server at
//     127.0.0.1:4222 when one answers there, else an embedded nats-server;
//   - a collector simulator (Replay) that streams trace files over a unix
//     SOCK_SEQPACKET socket the way the SysFlow collector does.
//
// It is not a mock layer: every component speaks its real protocol over a
// real socket, so the clients under test run their production code paths.
// Everything a test starts is stopped by t.Cleanup.
package testenv
