package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"

	"github.com/sfconnector/sfconnector/sysflow"
)

// input is one trace file the pipelines read.
type input struct {
	Name    string // short label for the table
	Path    string
	Records int // SysFlow records in the file (entities included)
	Events  int // of which events and flows (what the flattener emits)
	Bytes   int64
	What    string // how it was made
}

// genSynth writes the generated trace with the binary's own generator, as a
// user would, and counts its records by reading it back.
func genSynth(ctx context.Context, o *options) (input, error) {
	path := filepath.Join(o.dir, fmt.Sprintf("synth-%d-seed%d.sf", o.records, o.seed))
	cmd := exec.CommandContext(ctx, o.bin, "gen", "--records", fmt.Sprint(o.records), "--seed", fmt.Sprint(o.seed), "-o", path)
	if out, err := cmd.CombinedOutput(); err != nil {
		return input{}, fmt.Errorf("%s: %w\n%s", cmd, err, out)
	}
	in := input{Name: "synth", Path: path,
		What: fmt.Sprintf("`sfconnector gen --records %d --seed %d`", o.records, o.seed)}
	return in, in.count()
}

// count reads the input back, independently of the pipelines under test.
func (in *input) count() error {
	r, c, err := sysflow.OpenFile(in.Path)
	if err != nil {
		return err
	}
	defer c.Close()
	var recs []sysflow.Record
	for {
		recs, err = r.Next(recs[:0])
		in.Records += len(recs)
		in.Events += events(recs)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
	}
	st, err := os.Stat(in.Path)
	if err != nil {
		return err
	}
	in.Bytes = st.Size()
	return nil
}

// events counts the records the flattener turns into flat events.
func events(recs []sysflow.Record) int {
	n := 0
	for i := range recs {
		switch recs[i].Kind {
		case sysflow.KindProcessEvent, sysflow.KindNetworkFlow, sysflow.KindFileFlow, sysflow.KindFileEvent,
			sysflow.KindNetworkEvent, sysflow.KindProcessFlow, sysflow.KindK8sEvent:
			n++
		}
	}
	return n
}

// writeReplay writes one container file holding copies of the records of
// every real trace, trace after trace, each copy in the traces' name order.
// With o.copies zero it takes as many copies as make about o.records
// records, the size of the reference's input.
func writeReplay(o *options) (input, error) {
	traces, err := filepath.Glob(filepath.Join(o.shared, "traces", "*.sf"))
	if err != nil || len(traces) == 0 {
		return input{}, fmt.Errorf("no traces in %s/traces", o.shared)
	}
	sort.Strings(traces)
	var all []sysflow.Record
	for _, p := range traces {
		r, c, err := sysflow.OpenFile(p)
		if err != nil {
			return input{}, err
		}
		for {
			all, err = r.Next(all)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				c.Close()
				return input{}, err
			}
		}
		c.Close()
	}
	copies := o.copies
	if copies == 0 {
		copies = max(1, (o.records+len(all)/2)/len(all))
	}
	path := filepath.Join(o.dir, fmt.Sprintf("traces-x%d.sf", copies))
	f, err := os.Create(path)
	if err != nil {
		return input{}, err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	// a fixed sync marker keeps the file the same from run to run
	w, err := sysflow.NewWriter(bw, sysflow.WriterOptions{Sync: [16]byte{'s', 'f', 'c', 'o', 'n', 'n', 'e', 'c', 't', 'o', 'r', 'b', 'e', 'n', 'c', 'h'}})
	if err != nil {
		f.Close()
		return input{}, err
	}
	for range copies {
		for i := range all {
			if err := w.Write(&all[i]); err != nil {
				f.Close()
				return input{}, err
			}
		}
	}
	err = errors.Join(w.Close(), bw.Flush(), f.Close())
	if err != nil {
		return input{}, fmt.Errorf("writing %s: %w", path, err)
	}
	in := input{Name: "traces", Path: path,
		What: fmt.Sprintf("%d copies of the %d records of the %d real traces in ../shared/traces, one v5 file (sysflow.NewWriter, deflate)", copies, len(all), len(traces))}
	return in, in.count()
}
