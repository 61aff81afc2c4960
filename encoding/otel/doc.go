// Package otel encodes flat events and alerts as OpenTelemetry log records
// (OTLP LogsData, protobuf or OTLP/JSON) and decodes such messages back
// into sysflow.Events. Protobuf is written and read directly with
// protowire (wire.go, wiredec.go), OTLP/JSON through the collector's pdata
// module, which the tests also hold the protobuf to.
//
// One wire message is one LogsData holding many records: the bus sinks
// hand the Encoder the events of one destination and key at a time
// (AppendEvents), and it takes records until MaxRecords or about MaxBytes,
// in order, one ResourceLogs for each run of records of one host,
// container and pod.
//
// The mapping (docs/otel.md has the full table):
//
//   - resource: service.name, host.name/host.ip, container.* and k8s.*
//     (OpenTelemetry semantic conventions), plus the sf.node.*, sf.meta.*,
//     sf.container.* and sf.pod.* policy fields, which every record of the
//     resource shares;
//   - record: Timestamp is sf.ts, the attributes are the other sf.* policy
//     fields (zero values left out, one field of each present section
//     always written), Body a one-line summary, EventName sysflow.event or
//     sysflow.alert;
//   - alerts: SeverityNumber WARN, ERROR or FATAL for a highest priority of
//     low, medium or high (INFO for telemetry), SeverityText the priority,
//     sf.alert.rules the matched rules' names, sf.alert.matches one map per
//     match (rule, desc, priority, tags, output), sf.alert.tags.
//
// Decoding is lossless for the policy fields: an event decoded from a
// record reads, field by field, as the event it was encoded from, so
// policies evaluate the same on either (encoding/avro's FlatBuilder does the
// rebuilding, shared with the Avro decoder).
//
// It is not an OTLP exporter: no gRPC or HTTP, only the LogsData bytes the
// Kafka and NATS sinks carry, as the OpenTelemetry Collector's Kafka
// exporter and receiver (encoding otlp_proto or otlp_json) write and read
// them.
package otel
