package main

import (
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
)

// Issue 13's targets, on two cores, for every input.
const (
	alertRateTarget   = 1.5e6 // records/s, alert with the 79 reference rules
	alertRSSTargetMB  = 64    // peak RSS (MB of 2^20 bytes), same
	discardRateTarget = 1e6   // records/s, enrich discarded
	enrichDDTarget    = 0.9   // enrich to a file: at least this share of dd's speed writing the same bytes
)

// modeLabels are the per-trace report's short names of the modes.
var modeLabels = map[string]string{
	"reader":  "decode+flatten",
	"discard": "enrich discarded",
	"enrich":  "enrich to file",
	"alert":   "alert, 79 rules",
	"bundled": "alert, bundled",
	"sigma":   "alert, Sigma",
}

// perTraceTarget is the target for a mode, "" for none.
func perTraceTarget(key string) string {
	switch key {
	case "alert":
		return fmt.Sprintf(">= %s records/s, <= %d MB", rate(alertRateTarget), alertRSSTargetMB)
	case "discard":
		return fmt.Sprintf(">= %s records/s", rate(discardRateTarget))
	case "enrich":
		return fmt.Sprintf(">= %.0f%% of dd", enrichDDTarget*100)
	}
	return ""
}

// ddRatio is the enrich run's write speed over dd's writing the same bytes
// right after: the median records/s over the records/s dd's speed allows.
// Zero without a dd figure or an output.
func ddRatio(c *cell) float64 {
	if c.DiskSync <= 0 || len(c.Runs) == 0 || c.Runs[0].OutBytes <= 0 || c.In.Records == 0 {
		return 0
	}
	allowed := c.DiskSync / (float64(c.Runs[0].OutBytes) / float64(c.In.Records))
	return c.Rate() / allowed
}

// perTraceMet is "yes" or "no" for a mode with a target, "" without one
// or, for enrich to a file, without a dd figure.
func perTraceMet(c *cell) string {
	yes := func(ok bool) string {
		if ok {
			return "yes"
		}
		return "no"
	}
	if len(c.Runs) == 0 {
		return ""
	}
	switch c.P.Key {
	case "alert":
		return yes(c.Rate() >= alertRateTarget && c.RSSMB() <= alertRSSTargetMB)
	case "discard":
		return yes(c.Rate() >= discardRateTarget)
	case "enrich":
		if ratio := ddRatio(c); ratio > 0 {
			return yes(ratio >= enrichDDTarget)
		}
	}
	return ""
}

// medianLoad is the median of the 1-minute load averages before the runs.
func (c *cell) medianLoad() string {
	v := c.median(func(r runResult) float64 {
		f, _, _ := strings.Cut(r.Load, " ")
		x, err := strconv.ParseFloat(f, 64)
		if err != nil {
			return -1
		}
		return x
	})
	if v < 0 {
		return "?"
	}
	return fmt.Sprintf("%.2f", v)
}

// wallS and cpuS are the median wall and CPU (user + system) seconds.
func (c *cell) wallS() float64 {
	return c.median(func(r runResult) float64 { return r.Wall.Seconds() })
}
func (c *cell) cpuS() float64 {
	return c.median(func(r runResult) float64 { return (r.User + r.Sys).Seconds() })
}

// writePerTrace prints issue 13's per-trace report: a summary with one row
// per input and one column per mode, then one table per mode.
func (r *report) writePerTrace(w io.Writer) {
	// the modes measured, in the report's order, and the cells by mode and input
	var modes []string
	titles := map[string]string{}
	cells := map[string]map[string]*cell{}
	for i := range r.PerTrace {
		c := &r.PerTrace[i]
		if cells[c.P.Key] == nil {
			cells[c.P.Key] = map[string]*cell{}
			modes = append(modes, c.P.Key)
			titles[c.P.Key] = c.P.Title
		}
		cells[c.P.Key][c.In.Name] = c
	}
	fmt.Fprintln(w, "### Per trace (issue 13, part 2)")
	fmt.Fprintln(w)
	fmt.Fprintf(w, "Each real trace of ../shared/traces repeated to at least %s records (one v5 file each, sysflow.NewWriter), and `sfconnector gen` of the binary measured. "+
		"records/s counts the input's SysFlow records (entities included) per second of wall time, process start included; peak RSS is rusage maxrss (MB of 2^20 bytes); "+
		"the median of %d runs. Targets (two cores, every input): alert with the 79 rules %s; enrich discarded %s; enrich to a file %s writing the same bytes right after.\n\n",
		thousands(r.Opts.traceRecords), r.Opts.runs, perTraceTarget("alert"), perTraceTarget("discard"), perTraceTarget("enrich"))

	// summary: rows = inputs, columns = modes
	fmt.Fprint(w, "| input | records |")
	for _, k := range modes {
		fmt.Fprintf(w, " %s |", modeLabels[k])
	}
	fmt.Fprint(w, "\n| --- | ---: |")
	for range modes {
		fmt.Fprint(w, " ---: |")
	}
	fmt.Fprintln(w)
	for _, in := range r.TraceInputs {
		fmt.Fprintf(w, "| %s | %s |", in.Name, thousands(in.Records))
		for _, k := range modes {
			c := cells[k][in.Name]
			if c == nil {
				fmt.Fprint(w, " |")
				continue
			}
			v := fmt.Sprintf("%s, %.0f MB", rate(c.Rate()), c.RSSMB())
			if k == "enrich" {
				if ratio := ddRatio(c); ratio > 0 {
					v = fmt.Sprintf("%s, %.0f%% of dd", rate(c.Rate()), ratio*100)
				}
			}
			if met := perTraceMet(c); met != "" {
				v += " (" + met + ")"
			}
			fmt.Fprintf(w, " %s |", v)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "(yes)/(no): the target met or not; summary cells: records/s, peak RSS (enrich to file: records/s, share of dd's speed).")
	fmt.Fprintln(w)

	// one table per mode, rows = inputs
	for _, k := range modes {
		fmt.Fprintf(w, "#### %s: %s\n\n", modeLabels[k], titles[k])
		target := perTraceTarget(k)
		head := "| input | records/s | wall | CPU | peak RSS | load | output |"
		sep := "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
		if k == "enrich" {
			head += " enrich MB/s | dd, same bytes | ratio |"
			sep += " ---: | ---: | ---: |"
		}
		if target != "" {
			head += " target | met |"
			sep += " --- | --- |"
		}
		fmt.Fprintln(w, head)
		fmt.Fprintln(w, sep)
		for _, in := range r.TraceInputs {
			c := cells[k][in.Name]
			if c == nil {
				continue
			}
			out := ""
			if c.P.Output && len(c.Runs) > 0 {
				out = mb(float64(c.Runs[0].OutBytes))
				if c.Runs[0].OutLines >= 0 {
					unit := "alerts"
					if k == "enrich" {
						unit = "lines"
					}
					out += fmt.Sprintf(", %s %s", thousands(int(c.Runs[0].OutLines)), unit)
				}
			}
			fmt.Fprintf(w, "| %s | %s | %.2f s | %.2f s | %.0f MB | %s | %s |", in.Name, rate(c.Rate()), c.wallS(), c.cpuS(),
				c.RSSMB(), c.medianLoad(), out)
			if k == "enrich" {
				ratio, wrote, dd := ddRatio(c), "", ""
				if len(c.Runs) > 0 && c.wallS() > 0 {
					wrote = mbps(float64(c.Runs[0].OutBytes) / c.wallS())
				}
				if c.DiskSync > 0 {
					dd = mbps(c.DiskSync)
				}
				rs := ""
				if ratio > 0 {
					rs = fmt.Sprintf("%.2f", ratio)
				}
				fmt.Fprintf(w, " %s | %s | %s |", wrote, dd, rs)
			}
			if target != "" {
				fmt.Fprintf(w, " %s | %s |", target, perTraceMet(c))
			}
			fmt.Fprintln(w)
		}
		fmt.Fprintln(w)
	}

	fmt.Fprintln(w, "Per-trace inputs:")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| input | records | of which events and flows | size | made by |")
	fmt.Fprintln(w, "| --- | ---: | ---: | ---: | --- |")
	for _, in := range r.TraceInputs {
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s |\n", in.Name, thousands(in.Records), thousands(in.Events), mb(float64(in.Bytes)), in.What)
	}
	fmt.Fprintln(w)

	var profs []string
	for _, c := range r.PerTrace {
		if c.Profile != "" {
			profs = append(profs, filepath.Base(c.Profile))
		}
	}
	if len(profs) > 0 {
		fmt.Fprintf(w, "CPU profiles of one more run of each cell (not in the medians), %d files in `%s` (`go tool pprof -top %s FILE`): %s\n\n",
			len(profs), r.Opts.profile, r.Opts.bin, strings.Join(profs, ", "))
	}
}
