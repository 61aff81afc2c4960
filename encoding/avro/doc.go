// Package avro encodes flat events, alerts and raw SysFlow records as Avro
// in the Confluent wire format (a zero magic byte, the 4-byte big-endian
// schema id, then the Avro binary body), registering its schemas in a
// Confluent-compatible schema registry, and decodes such messages back into
// sysflow.Events and sysflow.Records by the schema id each one carries.
//
// Three schemas of its own ship in schemas/ and are embedded:
//
//   - event.avsc (io.sfconnector.FlatEvent): every field of the policy field
//     registry (sysflow.LookupField), typed (int as long, str as string,
//     bool as boolean, list as array of strings), grouped by prefix:
//     sf.proc.exe is proc.exe;
//   - alert.avsc (io.sfconnector.Alert): the same fields, then the matched
//     rules, their merged tags and the highest priority;
//   - record.avsc (sysflow.SysFlow): the SysFlow v5 union, for forwarding the
//     collector's records unchanged.
//
// A schema is registered under "<topic>-value" the first time a topic is
// written, and ids are cached both ways. A decoder reads any message by the
// id it carries, also one written with an older version of a schema still in
// the registry: fields that version lacks decode as zero values. A raw
// record registered with any SysFlow schema version is resolved against v5
// (sysflow.CompileDatumSchema); one that does not resolve is refused with a
// sysflow.SchemaError naming the record type and field.
//
// It is not a general Avro library: goavro reads the registered writer
// schemas; the writers here are straight-line code for our three schemas.
package avro
