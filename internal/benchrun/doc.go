// Command benchrun is the end-to-end benchmark harness behind `make bench`.
//
// By default it writes the per-trace report of issue 13, part 2: each real
// trace of ../shared/traces repeated to at least 400,000 records (one file
// per trace, written with sysflow.NewWriter) and a trace written by
// `sfconnector gen --records 1000000` with a fixed seed, in a scratch
// directory (never in the repository). On each it runs the real binary,
// `sfconnector run -c CONFIG INPUT`, with configurations it writes itself:
//
//   - reader: read + decode + flatten into the null exporter;
//   - discard: enrich mode without policies, JSON to /dev/null (the encoder
//     without the disk);
//   - enrich: the same, JSON to a file, then dd writing as many bytes;
//   - alert: alert mode with the reference's 79 runtime-integrity rules;
//   - bundled: alert mode without a policies key (the bundled defaults);
//   - sigma: alert mode with language sigma, the SigmaHQ Linux rules the
//     reference ships and its field mapping;
//
// alerts as JSON to a file. It prints one summary table (rows: inputs,
// columns: modes) and one table per mode, with issue 13's targets and
// whether each cell meets them. With -aggregate it first measures issue 6's
// table: the two large inputs (a generated trace of -records events and one
// file of copies of every real trace), the reader on one core too, and the
// policy set's compilation.
//
// For each run it takes the wall time, the child's CPU time (rusage user +
// system), its peak resident set (rusage maxrss) and the load average
// before it, and prints the medians (the aggregate table beside the
// reference processor's figures). It measures the disk's own write speed
// with dd (as many bytes as the enrich runs wrote, right after them; with
// -aggregate also 1 GiB direct and 4 GiB through the page cache), and
// records the machine, the load average, the Go version and the commit, so
// that the report can be pasted into BENCHMARKS.md as is. With -profile DIR
// each per-trace cell gets one more run under --cpuprofile, outside the
// medians. It removes every file it writes unless -keep.
//
// Its _test.go files hold the policy benchmarks that need no change to the
// policy packages: compilation and evaluation of the 79 reference rules and
// of the bundled defaults, on the real traces and a generated trace.
//
// It is a development tool: it is not installed and has no stable flags.
package main
