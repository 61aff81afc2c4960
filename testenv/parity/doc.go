// Package parity compares what sfconnector exported for a real trace with
// what the reference processor (sf-processor 0.7.0) exported for the same
// trace, ../shared/parity/telemetry/<trace>.jsonl.gz, record by record and
// in order.
//
// A difference is accepted only when it is one of FIELDS.md's intentional
// differences or one of the reference defects found by the parity tests,
// each normalised exactly: the reference's value must equal ours
// transformed the way the defect transforms it. Every accepted difference
// is counted per category; anything else fails the test. The counts of the
// traces known today are pinned, so a change in behaviour shows up as a
// changed count even when every difference is still explainable.
//
// It is used by tests only (encoding/json's parity test, the command
// line's end-to-end tests); production code must not import it.
package parity
