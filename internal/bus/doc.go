// Package bus holds what the Kafka and NATS sinks and sources share: the
// destination and key templates ("sysflow.alerts.{node}.{priority}"), the
// turning of a batch into wire messages with an encoding.Encoder, the TLS and
// secret settings, and the small interfaces the bus encodings implement.
//
// It is internal: users name its types through the aliases that the sink and
// source packages export.
package bus
