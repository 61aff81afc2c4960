// Package synth generates synthetic SysFlow traces: deterministic v5 Avro
// container files with the shape of what the collector writes (a header,
// containers and pods, process trees that clone, exec and exit, and a
// stream of events that is about 85% file flows), plus a handful of attack
// scenarios that runtime-integrity policies are written to catch.
//
// It is for benchmarks, load tests and end-to-end tests that need traces of
// any size. It is not a model of any real workload: use the real traces in
// ../shared for parity with the reference processor.
package synth
