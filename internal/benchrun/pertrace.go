package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
)

// perTraceModes are the pipelines of the per-trace report (issue 13, part
// 2), in the report's order.
var perTraceModes = []string{"reader", "discard", "enrich", "alert", "bundled", "sigma"}

// measurePerTrace runs each mode on each real trace, repeated to at least
// -trace-records records, and on a generated trace of -gen-records records.
func measurePerTrace(ctx context.Context, o *options, rep *report, want map[string]bool, logf func(string, ...any)) error {
	ins, err := writeTraceRepeats(o, logf)
	if !o.keep {
		defer func() {
			for _, in := range ins {
				os.Remove(in.Path)
			}
		}()
	}
	if err != nil {
		return err
	}
	if o.genRecords > 0 && traceSelected(o.traces, "gen") {
		logf("generating the per-trace synthetic trace (%d events, seed %d)", o.genRecords, o.seed)
		gen, err := genSynth(ctx, o, o.genRecords, "gen")
		if !o.keep {
			defer os.Remove(gen.Path)
		}
		if err != nil {
			return err
		}
		ins = append(ins, gen)
	}
	if len(ins) == 0 {
		return fmt.Errorf("-traces %q: no input picked", o.traces)
	}
	rep.TraceInputs = ins
	if o.profile != "" {
		if err := os.MkdirAll(o.profile, 0o755); err != nil {
			return err
		}
	}

	byKey := map[string]pipeline{}
	for _, p := range pipelines() {
		byKey[p.Key] = p
	}
	var modes []pipeline
	for _, k := range perTraceModes {
		if len(want) == 0 || want[k] {
			modes = append(modes, byKey[k])
		}
	}
	total, done := len(modes)*len(ins), 0
	for _, p := range modes {
		cfgPath, outPath, err := writeConfig(o, p, "pertrace-")
		if err != nil {
			return err
		}
		if !o.keep {
			defer os.Remove(cfgPath)
		}
		for _, in := range ins {
			done++
			c := cell{P: p, In: in}
			for i := range o.runs {
				logf("[%d/%d] %s on %s, run %d of %d", done, total, p.Key, in.Name, i+1, o.runs)
				r, err := runOnce(ctx, o, p, cfgPath, outPath, in, i == 0, "")
				if err != nil {
					return err
				}
				c.Runs = append(c.Runs, r)
			}
			if err := ddAfter(ctx, o, &c, outPath, logf); err != nil {
				return err
			}
			if o.profile != "" {
				// one more run, not in the medians: the profiler costs time
				prof := filepath.Join(o.profile, p.Key+"-"+in.Name+".pprof")
				logf("[%d/%d] %s on %s, profiled run into %s", done, total, p.Key, in.Name, prof)
				if _, err := runOnce(ctx, o, p, cfgPath, outPath, in, false, prof); err != nil {
					return err
				}
				c.Profile = prof
			}
			if p.Output && !o.keep {
				os.Remove(outPath)
			}
			rep.PerTrace = append(rep.PerTrace, c)
		}
	}
	return nil
}
