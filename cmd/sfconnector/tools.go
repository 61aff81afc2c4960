package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/sfconnector/sfconnector/sysflow/synth"
	"github.com/sfconnector/sfconnector/testenv/collector"
)

func cmdGen(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("gen", "sfconnector gen [--records N] [--seed S] [--attack-rate R] -o FILE", stderr)
	records := fs.Int("records", 100000, "approximate number of events and flows to generate")
	seed := fs.Uint64("seed", 1, "random seed: the same seed gives the same trace, byte for byte")
	attackRate := fs.Float64("attack-rate", synth.DefaultAttackRate,
		fmt.Sprintf("attack scenarios per event, played as rare events among everyday traffic (0: none; at most %g)", synth.MaxAttackRate))
	out := fs.String("o", "", "output trace file (required; '-' for standard output)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return exitError{code: 2}
	}
	if *out == "" || fs.NArg() > 0 {
		fs.Usage()
		return exitError{code: 2}
	}
	opts := synth.Options{Records: *records, Seed: *seed, AttackRate: *attackRate, NoAttacks: *attackRate == 0}
	if err := opts.Validate(); err != nil {
		fmt.Fprintf(stderr, "gen: %v\n", err)
		return exitError{code: 2}
	}
	var w io.Writer = stdout
	var f *os.File
	if *out != "-" {
		var err error
		f, err = os.Create(*out)
		if err != nil {
			return err
		}
		w = f
	}
	st, err := synth.Generate(w, opts)
	if f != nil {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return fmt.Errorf("gen: %w", err)
	}
	if *out != "-" {
		fmt.Fprintf(stderr, "wrote %s: %d records, %d events and flows, %d attack scenarios\n", *out, st.Records, st.Events, len(st.Attacks))
	}
	return nil
}

func cmdReplay(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("replay", "sfconnector replay --to unix:///PATH [--rate N] [--wait D] FILE...", stderr)
	to := fs.String("to", "unix:///sock/sysflow.sock", "socket to stream to")
	rate := fs.Int("rate", 0, "records per second at most (0: as fast as the receiver takes them)")
	wait := fs.Duration("wait", 10*time.Second, "how long to wait for the socket to appear")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return exitError{code: 2}
	}
	if fs.NArg() == 0 || !strings.HasPrefix(*to, "unix://") {
		fs.Usage()
		return exitError{code: 2}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	n, err := collector.Replay(ctx, collector.Options{Socket: strings.TrimPrefix(*to, "unix://"), Rate: *rate, Wait: *wait}, fs.Args()...)
	fmt.Fprintf(stderr, "replayed %d records to %s\n", n, *to)
	return err
}
