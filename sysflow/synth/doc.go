// Package synth generates synthetic SysFlow traces: deterministic v5 Avro
// container files with the shape of what the collector writes (a header,
// containers and pods, process trees that clone, exec and exit, and a
// stream of events), plus attack scenarios that runtime-integrity policies
// are written to catch, played as rare events (Options.AttackRate).
//
// The everyday mix follows the real traces of ../shared/traces taken
// together: record types (88% file flows, 7.7% network flows, 4% process
// events), clone, exec, exit and setuid rates, new processes and files per
// event, 98% of events in containers, process ancestries about seven deep.
// TestRealism measures both with internal/tracestats and holds the
// generated figures to stated tolerances (docs/generator.md); TestAlertRate
// keeps the share of alerted events under 1% at the default attack rate,
// with the bundled policies and with the reference's 79 rules.
//
// It is for benchmarks, load tests, demos and end-to-end tests that need
// traces of any size. It models the statistics above, not any particular
// workload: use the real traces in ../shared for parity with the reference
// processor.
package synth
