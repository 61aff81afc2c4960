package main

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
)

// write prints the report as markdown.
func (r *report) write(w io.Writer) {
	m := r.Machine
	fmt.Fprintf(w, "## `make bench` on %s\n\n", r.Started.UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(w, "- commit: `%s`; Go: %s; kernel: %s\n", m.Commit, m.Go, m.Kernel)
	fmt.Fprintf(w, "- machine: %d CPUs (%s), %.1f GiB memory\n", m.CPUs, m.Model, m.MemGiB)
	fmt.Fprintf(w, "- load average (1, 5, 15 min): %s at the start, %s at the end (the machine is shared)\n", m.LoadNow, r.LoadAfter)
	if r.DiskDirect > 0 {
		fmt.Fprintf(w, "- disk write speed (dd bs=1M in the bench directory): %s with oflag=direct (1 GiB), %s with conv=fdatasync (4 GiB, through the page cache as the file sink writes)\n",
			mbps(r.DiskDirect), mbps(r.DiskSync))
	}
	fmt.Fprintf(w, "- runs of each measurement: %d; the tables show the median of each column; the harness took %s\n\n",
		r.Opts.runs, r.Elapsed.Round(time.Second))
	if len(r.Cells) > 0 || len(r.Compile) > 0 {
		r.writeAggregate(w)
	}
	if len(r.PerTrace) > 0 {
		r.writePerTrace(w)
	}
}

// writeAggregate prints issue 6's table: the two large inputs.
func (r *report) writeAggregate(w io.Writer) {

	fmt.Fprintln(w, "Inputs:")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| input | records | of which events and flows | size | made by |")
	fmt.Fprintln(w, "| --- | ---: | ---: | ---: | --- |")
	for _, in := range r.Inputs {
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s |\n", in.Name, thousands(in.Records), thousands(in.Events),
			mb(float64(in.Bytes)), in.What)
	}
	fmt.Fprintln(w)

	fmt.Fprintln(w, "| pipeline | input | records/s | records per CPU-second | CPU ms per 1M records | peak RSS | reference: records/s, CPU ms per 1M, peak RSS | target | met |")
	fmt.Fprintln(w, "| --- | --- | ---: | ---: | ---: | ---: | --- | --- | --- |")
	for i := range r.Cells {
		c := &r.Cells[i]
		ref := fmt.Sprintf("%s, %s, %.0f MB", rate(c.P.Ref.Rate), thousands(int(c.P.Ref.CPUms)), c.P.Ref.RSSMB)
		if c.P.Ref.Source != "" {
			ref += " (" + c.P.Ref.Source + ")"
		}
		perCPU := 1e9 / c.CPUms()
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %.0f MB | %s | %s | %s |\n", c.P.Title, c.In.Name, rate(c.Rate()),
			rate(perCPU), thousands(int(c.CPUms())), c.RSSMB(), ref, r.target(c), r.met(c))
	}
	if len(r.Compile) > 0 {
		comp := medianDuration(r.Compile)
		met := "yes"
		if comp > 50*time.Millisecond {
			met = "no"
		}
		fmt.Fprintf(w, "| policy set compile (79 rules), in process (`policies.Load`, median of %d) | runtimeintegrity | %s | | | | about 0.3 s | <= 50 ms | %s |\n",
			len(r.Compile), comp.Round(100*time.Microsecond), met)
		fmt.Fprintf(w, "| `sfconnector validate -c alert.yaml` (process start, config, policies; median of %d) | runtimeintegrity | %s | | | | | | |\n",
			len(r.Validate), medianDuration(r.Validate).Round(time.Millisecond))
	}
	fmt.Fprintln(w)

	fmt.Fprintln(w, "Every run (wall time, CPU user + system, peak RSS, 1-minute load before the run, output):")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| pipeline | input | run | wall | user | system | peak RSS | load | output |")
	fmt.Fprintln(w, "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
	for _, c := range r.Cells {
		for i, run := range c.Runs {
			out := ""
			if run.OutBytes > 0 {
				out = mb(float64(run.OutBytes))
				if run.OutLines >= 0 {
					out += fmt.Sprintf(", %s lines", thousands(int(run.OutLines)))
				}
			}
			load, _, _ := strings.Cut(run.Load, " ")
			fmt.Fprintf(w, "| %s | %s | %d | %.2f s | %.2f s | %.2f s | %.0f MB | %s | %s |\n", c.P.Key, c.In.Name, i+1,
				run.Wall.Seconds(), run.User.Seconds(), run.Sys.Seconds(), float64(run.MaxRSSKB)/1024, load, out)
		}
	}
	fmt.Fprintln(w)
}

// target is the cell's goal with the disk's speed taken into account.
func (r *report) target(c *cell) string {
	if c.P.Key == "enrich" {
		lim := r.diskLimit(c)
		if lim > 0 && lim < 320e3 {
			return fmt.Sprintf(">= %s records/s: the disk's speed (dd, same bytes: %s) at %.0f bytes per line", rate(lim), mbps(c.DiskSync), c.OutBytesPerLine())
		}
		if lim > 0 {
			return fmt.Sprintf("%s (the disk, dd with the same bytes: %s, would allow %s)", c.P.Target, mbps(c.DiskSync), rate(lim))
		}
	}
	return c.P.Target
}

// diskLimit is the records/s the disk's synced write speed allows for the
// cell's output: dd writing the same bytes, else the 4 GiB figure.
func (r *report) diskLimit(c *cell) float64 {
	speed := c.DiskSync
	if speed <= 0 {
		speed = r.DiskSync
	}
	if speed <= 0 || len(c.Runs) == 0 || c.Runs[0].OutBytes == 0 {
		return 0
	}
	bytesPerRecord := float64(c.Runs[0].OutBytes) / float64(c.In.Records)
	return speed / bytesPerRecord
}

func (r *report) met(c *cell) string {
	yes := func(ok bool) string {
		if ok {
			return "yes"
		}
		return "no"
	}
	switch c.P.Key {
	case "reader1":
		return yes(c.Rate() >= 1e6)
	case "enrich":
		want := 320e3
		if lim := r.diskLimit(c); lim > 0 && lim < want {
			want = lim
		}
		return yes(c.Rate() >= want)
	case "alert":
		return yes(c.Rate() >= 270e3 && c.RSSMB() <= 100)
	}
	return ""
}

func medianDuration(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// rate prints records/s the way the reference's table does: 324k, 1.52M.
func rate(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.0fk", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}

func mb(bytes float64) string { return fmt.Sprintf("%.0f MB", bytes/1e6) }

func mbps(bytesPerSec float64) string { return fmt.Sprintf("%.0f MB/s", bytesPerSec/1e6) }

// thousands groups digits: 4467800 -> 4,467,800.
func thousands(n int) string {
	s := strconv.Itoa(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, ch := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(ch)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
