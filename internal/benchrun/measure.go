package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/sfconnector/sfconnector/policies"
)

// pipeline is one row of the reference's table, run with the real binary.
type pipeline struct {
	Key     string
	Title   string
	Config  string   // YAML; {{OUT}} and {{POLICIES}} are replaced
	Env     []string // added to the child's environment
	Output  bool     // writes {{OUT}}, which is removed before each run
	Discard bool     // {{OUT}} is /dev/null
	Ref     reference
	Target  string
	// PerTraceOnly pipelines are not part of the aggregate table.
	PerTraceOnly bool
}

// reference holds the reference processor's figures for a pipeline.
type reference struct {
	Rate   float64 // records/s
	CPUms  float64 // CPU milliseconds per million records (the reference's column)
	RSSMB  float64
	Source string
}

const readerConfig = `pipeline:
  - processor: sysflowreader
    handler: flattener
    in: sysflow sysflowchan
    out: flat flattenerchan
  - processor: exporter
    in: flat flattenerchan
    export: "null"
`

const enrichConfig = `pipeline:
  - processor: sysflowreader
    handler: flattener
    in: sysflow sysflowchan
    out: flat flattenerchan
  - processor: policyengine
    in: flat flattenerchan
    out: evt eventchan
    mode: enrich
  - processor: exporter
    in: evt eventchan
    export: file
    format: json
    file.path: {{OUT}}
`

const alertConfig = `pipeline:
  - processor: sysflowreader
    handler: flattener
    in: sysflow sysflowchan
    out: flat flattenerchan
  - processor: policyengine
    in: flat flattenerchan
    out: evt eventchan
    mode: alert
    monitor: none
    policies: {{POLICIES}}
  - processor: exporter
    in: evt eventchan
    export: file
    format: json
    file.path: {{OUT}}
`

// bundledConfig runs alert mode without a policies key: the policy engine
// then loads the bundled default policies (policies/default).
const bundledConfig = `pipeline:
  - processor: sysflowreader
    handler: flattener
    in: sysflow sysflowchan
    out: flat flattenerchan
  - processor: policyengine
    in: flat flattenerchan
    out: evt eventchan
    mode: alert
    monitor: none
  - processor: exporter
    in: evt eventchan
    export: file
    format: json
    file.path: {{OUT}}
`

// sigmaConfig runs the SigmaHQ Linux rules the reference ships, with its
// field mapping, as docs/policies.md describes.
const sigmaConfig = `pipeline:
  - processor: sysflowreader
    handler: flattener
    in: sysflow sysflowchan
    out: flat flattenerchan
  - processor: policyengine
    in: flat flattenerchan
    out: evt eventchan
    mode: alert
    monitor: none
    language: sigma
    policies: {{SIGMA}}/rules
    config: {{SIGMA}}/config/sysflow.yml
  - processor: exporter
    in: evt eventchan
    export: file
    format: json
    file.path: {{OUT}}
`

// configFor writes the pipeline's configuration with its placeholders
// replaced.
func configFor(o *options, p pipeline, outPath string) string {
	return strings.NewReplacer("{{OUT}}", outPath,
		"{{POLICIES}}", filepath.Join(o.shared, "policies", "sf-processor", "runtimeintegrity"),
		"{{SIGMA}}", filepath.Join(o.shared, "policies", "sf-processor", "sigma")).Replace(p.Config)
}

func pipelines() []pipeline {
	return []pipeline{
		{Key: "reader1", Title: "read + decode + flatten, null exporter, one core (GOMAXPROCS=1)", Config: readerConfig,
			Env: []string{"GOMAXPROCS=1"}, Ref: reference{Rate: 324e3, CPUms: 5900, RSSMB: 79, Source: "both cores"},
			Target: ">= 1,000,000 records/s on one core"},
		{Key: "reader", Title: "read + decode + flatten, null exporter, both cores", Config: readerConfig,
			Ref: reference{Rate: 324e3, CPUms: 5900, RSSMB: 79, Source: "both cores"}},
		{Key: "discard", Title: "enrich (no policies), JSON encode, discard (file.path /dev/null)", Config: enrichConfig,
			Discard: true, Ref: reference{Rate: 61e3, CPUms: 26500, RSSMB: 634}},
		{Key: "enrich", Title: "enrich (no policies), JSON to file", Config: enrichConfig, Output: true,
			Ref:    reference{Rate: 32e3, CPUms: 44200, RSSMB: 568},
			Target: ">= 320k records/s, or the disk's write speed if lower"},
		{Key: "alert", Title: "alert, runtimeintegrity (79 rules), alerts as JSON to file", Config: alertConfig, Output: true,
			Ref:    reference{Rate: 13.3e3, CPUms: 145000, RSSMB: 411, Source: "both cores"},
			Target: ">= 270k records/s on two cores, peak RSS <= 100 MB"},
		{Key: "bundled", Title: "alert, bundled default policies, alerts as JSON to file", Config: bundledConfig, Output: true,
			PerTraceOnly: true},
		{Key: "sigma", Title: "alert, shipped Sigma rules (sf-processor's SigmaHQ Linux rules and mapping), alerts as JSON to file",
			Config: sigmaConfig, Output: true, PerTraceOnly: true},
	}
}

// runResult is one child run.
type runResult struct {
	Wall     time.Duration
	User     time.Duration
	Sys      time.Duration
	MaxRSSKB int64
	Load     string // 1-minute load average before the run
	OutBytes int64
	OutLines int64 // counted on the first run only (-1 otherwise)
}

// cell is every run of one pipeline on one input.
type cell struct {
	P    pipeline
	In   input
	Runs []runResult
	// DiskSync is dd's speed writing as many bytes as the runs wrote, through
	// the page cache and synced, measured right after them (bytes/s).
	DiskSync float64
	// Profile is the CPU profile of one extra run (-profile), if any.
	Profile string
}

func (c *cell) median(f func(runResult) float64) float64 {
	v := make([]float64, len(c.Runs))
	for i, r := range c.Runs {
		v[i] = f(r)
	}
	slices.Sort(v)
	if len(v) == 0 {
		return 0
	}
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// Rate is the median records/s (SysFlow records of the input per wall second).
func (c *cell) Rate() float64 {
	return c.median(func(r runResult) float64 { return float64(c.In.Records) / r.Wall.Seconds() })
}

// CPUms is the median CPU milliseconds (user + system) per million records.
func (c *cell) CPUms() float64 {
	return c.median(func(r runResult) float64 {
		return float64((r.User + r.Sys).Milliseconds()) * 1e6 / float64(c.In.Records)
	})
}

// RSSMB is the median peak resident set in MB.
func (c *cell) RSSMB() float64 {
	return c.median(func(r runResult) float64 { return float64(r.MaxRSSKB) / 1024 })
}

// OutBytesPerEvent is the output's size per line, from the first run.
func (c *cell) OutBytesPerLine() float64 {
	if len(c.Runs) == 0 || c.Runs[0].OutLines <= 0 {
		return 0
	}
	return float64(c.Runs[0].OutBytes) / float64(c.Runs[0].OutLines)
}

// report is everything the harness measured.
type report struct {
	Started time.Time
	Elapsed time.Duration
	Machine machine
	Inputs  []input
	Cells   []cell // the aggregate table
	// TraceInputs and PerTrace are the per-trace report's inputs and cells.
	TraceInputs []input
	PerTrace    []cell
	Compile     []time.Duration // in-process policies.Load of the 79 rules
	Validate    []time.Duration // `sfconnector validate -c alert.yaml`, process included
	DiskDirect,
	DiskSync float64 // dd's bytes/s
	LoadAfter string
	Opts      *options
}

func measure(ctx context.Context, o *options) (*report, error) {
	if err := os.MkdirAll(o.dir, 0o755); err != nil {
		return nil, err
	}
	rep := &report{Started: time.Now(), Machine: describeMachine(o), Opts: o}
	logf := func(format string, args ...any) { fmt.Fprintf(o.progress, "benchrun: "+format+"\n", args...) }

	if !o.noDD && o.aggregate {
		var err error
		logf("dd: measuring the disk's write speed in %s", o.dir)
		if rep.DiskDirect, err = ddSpeed(ctx, o.dir, 1<<10, "oflag=direct"); err != nil {
			return nil, err
		}
		// sustained, through the page cache: large enough that the
		// kernel's dirty-page limits throttle it as they do the sink
		if rep.DiskSync, err = ddSpeed(ctx, o.dir, 4<<10, "conv=fdatasync"); err != nil {
			return nil, err
		}
	}
	want := o.modes()
	if o.aggregate {
		if err := measureAggregate(ctx, o, rep, want, logf); err != nil {
			return nil, err
		}
	}
	if o.perTrace {
		if err := measurePerTrace(ctx, o, rep, want, logf); err != nil {
			return nil, err
		}
	}
	rep.LoadAfter = loadAverage()
	return rep, nil
}

// modes is -only as a set; empty: every mode.
func (o *options) modes() map[string]bool {
	want := map[string]bool{}
	for _, k := range strings.Split(o.only, ",") {
		if k = strings.TrimSpace(k); k != "" {
			want[k] = true
		}
	}
	return want
}

// measureAggregate is issue 6's table: the generated trace of -records
// events and the replay of every real trace, one file.
func measureAggregate(ctx context.Context, o *options, rep *report, want map[string]bool, logf func(string, ...any)) error {
	logf("generating the synthetic trace (%d events)", o.records)
	synth, err := genSynth(ctx, o, o.records, "synth")
	if err != nil {
		return err
	}
	if !o.keep {
		defer os.Remove(synth.Path)
	}
	logf("writing the replay of the real traces")
	replay, err := writeReplay(o)
	if err != nil {
		return err
	}
	if !o.keep {
		defer os.Remove(replay.Path)
	}
	rep.Inputs = []input{synth, replay}

	policyDir := filepath.Join(o.shared, "policies", "sf-processor", "runtimeintegrity")
	for _, p := range pipelines() {
		if p.PerTraceOnly || len(want) > 0 && !want[p.Key] {
			continue
		}
		cfgPath, outPath, err := writeConfig(o, p, "")
		if err != nil {
			return err
		}
		if !o.keep {
			defer os.Remove(cfgPath)
		}
		for _, in := range rep.Inputs {
			c := cell{P: p, In: in}
			for i := range o.runs {
				logf("%s on %s, run %d of %d", p.Key, in.Name, i+1, o.runs)
				r, err := runOnce(ctx, o, p, cfgPath, outPath, in, i == 0, "")
				if err != nil {
					return err
				}
				c.Runs = append(c.Runs, r)
			}
			if err := ddAfter(ctx, o, &c, outPath, logf); err != nil {
				return err
			}
			if p.Output && !o.keep {
				os.Remove(outPath)
			}
			rep.Cells = append(rep.Cells, c)
		}
	}

	if len(want) == 0 || want["compile"] {
		logf("timing the policy compilation")
		quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
		for range 5 {
			start := time.Now()
			if _, _, err := policies.Load([]string{policyDir}, policies.Options{Logger: quiet}); err != nil {
				return fmt.Errorf("loading %s: %w", policyDir, err)
			}
			rep.Compile = append(rep.Compile, time.Since(start))
		}
		cfgPath := filepath.Join(o.dir, "alert.yaml")
		cfg := strings.NewReplacer("{{OUT}}", filepath.Join(o.dir, "alert.out"), "{{POLICIES}}", policyDir).Replace(alertConfig)
		if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
			return err
		}
		if !o.keep {
			defer os.Remove(cfgPath)
		}
		for range o.runs {
			start := time.Now()
			cmd := exec.CommandContext(ctx, o.bin, "validate", "-c", cfgPath)
			if out, err := cmd.CombinedOutput(); err != nil {
				return fmt.Errorf("%s: %w\n%s", cmd, err, out)
			}
			rep.Validate = append(rep.Validate, time.Since(start))
		}
	}
	return nil
}

// ddAfter measures, for the enrich-to-file pipeline, dd writing as many
// bytes as the runs wrote, right after them and in the same state: the
// disk's own speed the target compares with.
func ddAfter(ctx context.Context, o *options, c *cell, outPath string, logf func(string, ...any)) error {
	if c.P.Key != "enrich" || o.noDD || len(c.Runs) == 0 {
		return nil
	}
	os.Remove(outPath)
	logf("dd: writing %s through the page cache, as the enrich runs did", mb(float64(c.Runs[0].OutBytes)))
	mib := max(1, c.Runs[0].OutBytes>>20)
	var err error
	c.DiskSync, err = ddSpeed(ctx, o.dir, mib, "conv=fdatasync")
	return err
}

// runOnce runs the binary on one input and takes its rusage. With profile
// set, the child writes a CPU profile there (--cpuprofile).
func runOnce(ctx context.Context, o *options, p pipeline, cfgPath, outPath string, in input, first bool, profile string) (runResult, error) {
	if p.Output {
		if err := os.Remove(outPath); err != nil && !os.IsNotExist(err) {
			return runResult{}, err
		}
	}
	logPath := filepath.Join(o.dir, p.Key+"-"+in.Name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return runResult{}, err
	}
	defer logFile.Close()
	if !o.keep {
		defer os.Remove(logPath)
	}
	// no dirty pages of earlier steps left for this run to wait on
	if err := exec.CommandContext(ctx, "sync").Run(); err != nil {
		return runResult{}, fmt.Errorf("sync: %w", err)
	}
	args := []string{"run", "-c", cfgPath, "--progress=false", "--log", "warn"}
	if profile != "" {
		args = append(args, "--cpuprofile", profile)
	}
	cmd := exec.CommandContext(ctx, o.bin, append(args, in.Path)...)
	cmd.Env = append(os.Environ(), p.Env...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	r := runResult{Load: loadAverage(), OutLines: -1}
	start := time.Now()
	err = cmd.Run()
	r.Wall = time.Since(start)
	if err != nil {
		tail, _ := os.ReadFile(logPath)
		if len(tail) > 4000 {
			tail = tail[len(tail)-4000:]
		}
		return r, fmt.Errorf("%s: %w\n%s", cmd, err, tail)
	}
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		return r, fmt.Errorf("no rusage for %s", cmd)
	}
	r.User = time.Duration(ru.Utime.Nano())
	r.Sys = time.Duration(ru.Stime.Nano())
	r.MaxRSSKB = ru.Maxrss // kilobytes on Linux
	if p.Output {
		st, err := os.Stat(outPath)
		switch {
		case err == nil:
			r.OutBytes = st.Size()
		case os.IsNotExist(err) && p.Key != "enrich":
			// an alert run on a trace without alerts may write nothing
		default:
			return r, fmt.Errorf("%s wrote no output: %w", p.Key, err)
		}
		if r.OutBytes == 0 && p.Key == "enrich" {
			return r, fmt.Errorf("%s on %s: empty output %s", p.Key, in.Name, outPath)
		}
		if first {
			r.OutLines = 0
			if r.OutBytes > 0 {
				if r.OutLines, err = countLines(outPath); err != nil {
					return r, err
				}
			}
		}
	}
	return r, nil
}

func countLines(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	var n int64
	for {
		k, err := f.Read(buf)
		n += int64(bytes.Count(buf[:k], []byte{'\n'}))
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// writeConfig writes pipeline p's configuration into the bench directory as
// PREFIX+KEY.yaml and returns its path and the output file it names
// (/dev/null for a discarding pipeline).
func writeConfig(o *options, p pipeline, prefix string) (cfgPath, outPath string, err error) {
	cfgPath = filepath.Join(o.dir, prefix+p.Key+".yaml")
	outPath = filepath.Join(o.dir, prefix+p.Key+".out")
	if p.Discard {
		outPath = os.DevNull
	}
	return cfgPath, outPath, os.WriteFile(cfgPath, []byte(configFor(o, p, outPath)), 0o644)
}
