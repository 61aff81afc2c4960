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
	fs.IntVar(&o.records, "records", 4_467_800, "events in the generated trace (the reference's input had 4,467,800 records)")
	fs.Uint64Var(&o.seed, "seed", 42, "seed of the generated trace")
	fs.IntVar(&o.copies, "copies", 0, "copies of the real traces' records in the replay input (default: as many as make about -records records)")
	fs.IntVar(&o.runs, "runs", 3, "runs of each measurement; the table shows the medians")
	fs.StringVar(&o.only, "only", "", "comma-separated measurements to run (reader1, reader, discard, enrich, alert, compile); default all")
	fs.StringVar(&o.out, "o", "", "also write the report to this file")
	fs.BoolVar(&o.keep, "keep", false, "keep the inputs and outputs in -dir")
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
