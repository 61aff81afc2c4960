package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/sfconnector/sfconnector/testenv/shared"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "benchrun:", err)
		}
		os.Exit(1)
	}
}

// options are the harness's flags.
type options struct {
	bin      string
	dir      string
	shared   string
	records  int
	seed     uint64
	copies   int
	runs     int
	only     string
	out      string
	keep     bool
	noDD     bool
	progress io.Writer

	aggregate    bool   // issue 6's table: the two large inputs
	perTrace     bool   // issue 13's table: every real trace and a generated one
	traces       string // -traces filter
	traceRecords int    // each real trace repeated to at least this many records
	genRecords   int    // records of the per-trace generated trace
	profile      string // directory of CPU profiles, one run per cell
}

func (o *options) setDefaults() {
	if o.dir == "" {
		o.dir = filepath.Join(os.TempDir(), "sfconnector-bench")
	}
	if o.shared == "" {
		o.shared = shared.Root()
	}
	if o.runs <= 0 {
		o.runs = 3
	}
}

// Validate reports flags the harness cannot run with.
func (o *options) Validate() error {
	if o.shared == "" {
		return errors.New("-shared: ../shared not found beside the repository; give its path")
	}
	if _, err := os.Stat(o.bin); err != nil {
		return fmt.Errorf("-bin: %w (run `make build` first)", err)
	}
	if o.records <= 0 {
		return fmt.Errorf("-records %d: must be positive", o.records)
	}
	if o.perTrace && o.traceRecords <= 0 {
		return fmt.Errorf("-trace-records %d: must be positive", o.traceRecords)
	}
	if o.genRecords < 0 {
		return fmt.Errorf("-gen-records %d: must not be negative", o.genRecords)
	}
	if !o.aggregate && !o.perTrace {
		return errors.New("-aggregate=false and -per-trace=false: nothing to measure")
	}
	known := map[string]bool{"compile": true}
	for _, p := range pipelines() {
		known[p.Key] = true
	}
	perTraceAny := false
	for k := range o.modes() {
		if !known[k] {
			return fmt.Errorf("-only %q: no mode %q (reader1, reader, discard, enrich, alert, bundled, sigma, compile)", o.only, k)
		}
		perTraceAny = perTraceAny || slices.Contains(perTraceModes, k)
	}
	if o.perTrace && !o.aggregate && len(o.modes()) > 0 && !perTraceAny {
		return fmt.Errorf("-only %q: none of the per-trace modes (%s); add -aggregate for reader1 and compile", o.only, strings.Join(perTraceModes, ", "))
	}
	if o.copies < 0 {
		return fmt.Errorf("-copies %d: must not be negative", o.copies)
	}
	return nil
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("benchrun", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.StringVar(&o.bin, "bin", "bin/sfconnector", "the sfconnector binary to measure")
	fs.StringVar(&o.dir, "dir", "", "scratch directory for inputs, configurations and outputs (default $TMPDIR/sfconnector-bench)")
	fs.StringVar(&o.shared, "shared", "", "the shared material (default ../shared beside the repository)")
	fs.IntVar(&o.records, "records", 4_467_800, "events in the aggregate table's generated trace (the reference's input had 4,467,800 records)")
	fs.Uint64Var(&o.seed, "seed", 42, "seed of the generated trace")
	fs.IntVar(&o.copies, "copies", 0, "copies of the real traces' records in the replay input (default: as many as make about -records records)")
	fs.IntVar(&o.runs, "runs", 3, "runs of each measurement; the tables show the medians")
	fs.StringVar(&o.only, "only", "", "comma-separated modes to run (reader1, reader, discard, enrich, alert, bundled, sigma, compile); default all")
	fs.BoolVar(&o.aggregate, "aggregate", false, "also measure issue 6's aggregate table (the -records generated trace and one replay of every trace; about 5 more minutes)")
	fs.BoolVar(&o.perTrace, "per-trace", true, "measure the per-trace table (issue 13): every real trace repeated, and a generated trace")
	fs.StringVar(&o.traces, "traces", "", "comma-separated substrings or globs of the per-trace inputs to run (trace file names; \"gen\": the generated trace); default all")
	fs.IntVar(&o.traceRecords, "trace-records", 400_000, "each real trace is repeated to at least this many records")
	fs.IntVar(&o.genRecords, "gen-records", 1_000_000, "events of the per-trace generated trace (0: none)")
	fs.StringVar(&o.profile, "profile", "", "write a CPU profile (--cpuprofile) of one more run of each per-trace cell into this directory")
	fs.StringVar(&o.out, "o", "", "also write the report to this file")
	fs.BoolVar(&o.keep, "keep", false, "keep the inputs, configurations, logs and outputs in -dir")
	fs.BoolVar(&o.noDD, "no-dd", false, "skip the dd measurement of the disk's write speed")
	if err := fs.Parse(args); err != nil {
		return err
	}
	o.progress = stderr
	o.setDefaults()
	if err := o.Validate(); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	start := time.Now()
	rep, err := measure(ctx, &o)
	if err != nil {
		return err
	}
	rep.Elapsed = time.Since(start)
	var sb strings.Builder
	rep.write(&sb)
	fmt.Fprint(stdout, sb.String())
	if o.out != "" {
		if err := os.WriteFile(o.out, []byte(sb.String()), 0o644); err != nil {
			return err
		}
	}
	return nil
}
