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
	"strings"

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
func genSynth(ctx context.Context, o *options, records int, name string) (input, error) {
	path := filepath.Join(o.dir, fmt.Sprintf("synth-%d-seed%d.sf", records, o.seed))
	cmd := exec.CommandContext(ctx, o.bin, "gen", "--records", fmt.Sprint(records), "--seed", fmt.Sprint(o.seed), "-o", path)
	if out, err := cmd.CombinedOutput(); err != nil {
		return input{}, fmt.Errorf("%s: %w\n%s", cmd, err, out)
	}
	in := input{Name: name, Path: path,
		What: fmt.Sprintf("`sfconnector gen --records %d --seed %d`", records, o.seed)}
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
		if all, err = readAll(p, all); err != nil {
			return input{}, err
		}
	}
	copies := o.copies
	if copies == 0 {
		copies = max(1, (o.records+len(all)/2)/len(all))
	}
	path := filepath.Join(o.dir, fmt.Sprintf("traces-x%d.sf", copies))
	if err := writeCopies(path, all, copies); err != nil {
		return input{}, err
	}
	in := input{Name: "traces", Path: path,
		What: fmt.Sprintf("%d copies of the %d records of the %d real traces in ../shared/traces, one v5 file (sysflow.NewWriter, deflate)", copies, len(all), len(traces))}
	return in, in.count()
}

// readAll appends the records of one trace file to recs.
func readAll(path string, recs []sysflow.Record) ([]sysflow.Record, error) {
	r, c, err := sysflow.OpenFile(path)
	if err != nil {
		return recs, err
	}
	defer c.Close()
	for {
		recs, err = r.Next(recs)
		if errors.Is(err, io.EOF) {
			return recs, nil
		}
		if err != nil {
			return recs, fmt.Errorf("%s: %w", path, err)
		}
	}
}

// writeCopies writes copies of recs, one after the other, into one v5
// container file at path.
func writeCopies(path string, recs []sysflow.Record, copies int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	// a fixed sync marker keeps the file the same from run to run
	w, err := sysflow.NewWriter(bw, sysflow.WriterOptions{Sync: [16]byte{'s', 'f', 'c', 'o', 'n', 'n', 'e', 'c', 't', 'o', 'r', 'b', 'e', 'n', 'c', 'h'}})
	if err != nil {
		f.Close()
		return err
	}
	for range copies {
		for i := range recs {
			if err := w.Write(&recs[i]); err != nil {
				f.Close()
				return fmt.Errorf("writing %s: %w", path, err)
			}
		}
	}
	if err := errors.Join(w.Close(), bw.Flush(), f.Close()); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// traceSelected reports whether a trace (its file name without .sf, or
// "gen" for the generated trace) is picked by the -traces filter: a
// comma-separated list of substrings, or of globs when they hold *, ? or [.
func traceSelected(filter, name string) bool {
	filter = strings.TrimSpace(filter)
	if filter == "" {
		return true
	}
	for _, f := range strings.Split(filter, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if strings.ContainsAny(f, "*?[") {
			if ok, err := filepath.Match(f, name); err == nil && ok {
				return true
			}
			if ok, err := filepath.Match(f, name+".sf"); err == nil && ok {
				return true
			}
			continue
		}
		if strings.Contains(name, f) {
			return true
		}
	}
	return false
}

// writeTraceRepeats writes, for every real trace the -traces filter picks,
// one file holding as many copies of its records as make at least
// o.traceRecords records. On an error it still returns the inputs written
// so far, for the caller to remove.
func writeTraceRepeats(o *options, logf func(string, ...any)) ([]input, error) {
	traces, err := filepath.Glob(filepath.Join(o.shared, "traces", "*.sf"))
	if err != nil || len(traces) == 0 {
		return nil, fmt.Errorf("no traces in %s/traces", o.shared)
	}
	sort.Strings(traces)
	var ins []input
	var recs []sysflow.Record
	for _, p := range traces {
		name := strings.TrimSuffix(filepath.Base(p), ".sf")
		if !traceSelected(o.traces, name) {
			continue
		}
		if recs, err = readAll(p, recs[:0]); err != nil {
			return ins, err
		}
		if len(recs) == 0 {
			return ins, fmt.Errorf("%s: no records", p)
		}
		copies := (o.traceRecords + len(recs) - 1) / len(recs)
		path := filepath.Join(o.dir, fmt.Sprintf("%s-x%d.sf", name, copies))
		logf("writing %s: %d copies of its %d records", filepath.Base(path), copies, len(recs))
		if err := writeCopies(path, recs, copies); err != nil {
			return ins, err
		}
		in := input{Name: name, Path: path,
			What: fmt.Sprintf("%d copies of its %d records (sysflow.NewWriter)", copies, len(recs))}
		if err := in.count(); err != nil {
			os.Remove(path)
			return ins, err
		}
		ins = append(ins, in)
	}
	return ins, nil
}
