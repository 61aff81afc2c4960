// Package sysflow is the SysFlow data model of sfconnector: the typed
// records the collector writes, their Avro codecs, and the flat event that
// policies and encoders work on.
//
// # Records
//
// A Record is one branch of the SysFlow union (header, container, process,
// file, pod, and the events and flows that refer to them), held as a Kind
// and a pointer to a plain Go struct. Records of every schema version, v1
// to v5, decode into the same structs; a field an older writer lacks keeps
// the reader default (Header.IP "NA", Process.Entry false, Container.PodID
// nil...). Once decoded, records are never modified, so later stages may
// keep pointers to them.
//
// # Codecs
//
// Reader reads Avro object container files (null, deflate or snappy
// blocks). From the file's writer schema it builds a decoding program, one
// small step per writer field, that reads Avro binary straight into the
// structs: no generic maps and no reflection per record, with records and
// short strings carved from shared chunks. goavro, the project's Avro
// library, validates every writer schema; tests cross-check every trace
// against goavro's own decoding. DatumDecoder decodes the single v5 datums
// the collector sends over its socket. Writer and AppendDatum encode v5.
// The program is Avro schema resolution of the writer schema against v5
// (see avro_program.go): unions and nulls around any field, int read as
// long and bytes as string, fields missing, added or reordered, enum
// symbols by name. A writer schema that does not resolve gives a
// *SchemaError naming the record type and field; CompileDatumSchema does
// the same for single datums of any SysFlow version (a schema registry's).
// Damaged input yields the records before the damage and a *DecodeError
// naming the file, block and byte offset; no input makes the codecs panic
// or allocate beyond what the input can hold.
//
// # Flat events and fields
//
// Event is what the flattener makes of an event or flow record: the record's
// own fields together with the process, parent, ancestry, container, pod and
// files it refers to. The field registry maps policy field names
// (sf.proc.exe, sf.file.path, ...) to typed accessors on an Event, so that
// policies and encoders read events without building maps.
//
// Batch carries records or events inside a Watermill message.
//
// # What it is not for
//
// It keeps no state across records: resolving references between records
// is the flattener's job (transforms/flatten), and the package neither
// reads sockets nor Kafka (sources/). It encodes SysFlow Avro only; output
// formats live in encoding/. Synthetic traces come from sysflow/synth.
package sysflow
