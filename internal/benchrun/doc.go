// Command benchrun is the end-to-end benchmark harness behind `make bench`.
//
// It prepares two large inputs in a scratch directory (never in the
// repository): a synthetic trace written by `sfconnector gen` with a fixed
// seed, and one container file holding many copies of the records of every
// real trace in ../shared/traces, written with sysflow.NewWriter. Then it runs
// the real binary, `sfconnector run -c CONFIG INPUT`, once per pipeline and
// input and repeat, with configurations it writes itself:
//
//   - read + decode + flatten into the null exporter, on one core
//     (GOMAXPROCS=1) and on every core;
//   - enrich mode without policies, JSON to /dev/null (the encoder without
//     the disk) and JSON to a file;
//   - alert mode with the reference's runtime-integrity policies, alerts as
//     JSON to a file.
//
// For each run it takes the wall time, the child's CPU time (rusage user +
// system) and its peak resident set (rusage maxrss), and prints the medians
// as a markdown table beside the reference processor's figures. It also
// times the policy set's compilation in process, measures the disk's own
// write speed with dd (1 GiB direct, 4 GiB through the page cache, and as
// many bytes as the enrich runs wrote, right after them), and records the
// machine, the load average, the Go version and the commit, so that the
// table can be pasted into BENCHMARKS.md as is.
//
// Its _test.go files hold the policy benchmarks that need no change to the
// policy packages: compilation and evaluation of the 79 reference rules and
// of the bundled defaults, on the real traces and a generated trace.
//
// It is a development tool: it is not installed and has no stable flags.
package main
