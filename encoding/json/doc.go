// Package json encodes flat events as JSON objects.
//
// The default shape is the SysFlow processor's (sf-processor) telemetry
// and alert JSON: the event's own keys (version, endts, opflags, ret, ts,
// type), then the sections that apply (container, file, flow, k8s, meta,
// net, node, pod, pproc, proc), then "policies" and "tags" when rules
// matched. Existing consumers of the reference's output keep working; the
// differences are the intentional ones of FIELDS.md (valid arrays of IPs,
// de-duplicated tags, op flag names by record type) and the reference
// defects the parity test documents (doubled flow counters, stale ancestry,
// stripped quotes). Options.Flat writes one object keyed by policy field
// names instead ({"sf.proc.exe": ..., "sf.file.path": ...}).
//
// Encoding appends to a caller's buffer with hand-written code: no
// reflection and no allocation per event. The package does not decode JSON.
package json
