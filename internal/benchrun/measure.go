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
	Started  time.Time
	Elapsed  time.Duration
	Machine  machine
	Inputs   []input
	Cells    []cell
	Compile  []time.Duration // in-process policies.Load of the 79 rules
	Validate []time.Duration // `sfconnector validate -c alert.yaml`, process included
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

	if !o.noDD {
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

	logf("generating the synthetic trace (%d events)", o.records)
	synth, err := genSynth(ctx, o)
	if err != nil {
		return nil, err
	}
	logf("writing the replay of the real traces")
	replay, err := writeReplay(o)
	if err != nil {
		return nil, err
	}
	rep.Inputs = []input{synth, replay}
	if !o.keep {
		defer os.Remove(synth.Path)
		defer os.Remove(replay.Path)
	}

	policyDir := filepath.Join(o.shared, "policies", "sf-processor", "runtimeintegrity")
	want := map[string]bool{}
	for _, k := range strings.Split(o.only, ",") {
		if k = strings.TrimSpace(k); k != "" {
			want[k] = true
		}
	}
	for _, p := range pipelines() {
		if len(want) > 0 && !want[p.Key] {
			continue
		}
		cfgPath := filepath.Join(o.dir, p.Key+".yaml")
		outPath := filepath.Join(o.dir, p.Key+".out")
		if p.Discard {
			outPath = os.DevNull
		}
		cfg := strings.NewReplacer("{{OUT}}", outPath, "{{POLICIES}}", policyDir).Replace(p.Config)
		if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
			return nil, err
		}
		for _, in := range rep.Inputs {
			c := cell{P: p, In: in}
			for i := range o.runs {
				logf("%s on %s, run %d of %d", p.Key, in.Name, i+1, o.runs)
				r, err := runOnce(ctx, o, p, cfgPath, outPath, in, i == 0)
				if err != nil {
					return nil, err
				}
				c.Runs = append(c.Runs, r)
			}
			if p.Key == "enrich" && !o.noDD && len(c.Runs) > 0 {
				// the disk's own speed for the same bytes, as the target
				// allows: measured now, in the same state as the runs
				os.Remove(outPath)
				logf("dd: writing %s through the page cache, as the enrich runs did", mb(float64(c.Runs[0].OutBytes)))
				mib := max(1, c.Runs[0].OutBytes>>20)
				if c.DiskSync, err = ddSpeed(ctx, o.dir, mib, "conv=fdatasync"); err != nil {
					return nil, err
				}
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
				return nil, fmt.Errorf("loading %s: %w", policyDir, err)
			}
			rep.Compile = append(rep.Compile, time.Since(start))
		}
		cfgPath := filepath.Join(o.dir, "alert.yaml")
		cfg := strings.NewReplacer("{{OUT}}", filepath.Join(o.dir, "alert.out"), "{{POLICIES}}", policyDir).Replace(alertConfig)
		if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
			return nil, err
		}
		for range o.runs {
			start := time.Now()
			cmd := exec.CommandContext(ctx, o.bin, "validate", "-c", cfgPath)
			if out, err := cmd.CombinedOutput(); err != nil {
				return nil, fmt.Errorf("%s: %w\n%s", cmd, err, out)
			}
			rep.Validate = append(rep.Validate, time.Since(start))
		}
	}
	rep.LoadAfter = loadAverage()
	return rep, nil
}

// runOnce runs the binary on one input and takes its rusage.
func runOnce(ctx context.Context, o *options, p pipeline, cfgPath, outPath string, in input, first bool) (runResult, error) {
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
	// no dirty pages of earlier steps left for this run to wait on
	if err := exec.CommandContext(ctx, "sync").Run(); err != nil {
		return runResult{}, fmt.Errorf("sync: %w", err)
	}
	cmd := exec.CommandContext(ctx, o.bin, "run", "-c", cfgPath, "--progress=false", "--log", "warn", in.Path)
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
		if err != nil {
			return r, fmt.Errorf("%s wrote no output: %w", p.Key, err)
		}
		r.OutBytes = st.Size()
		if r.OutBytes == 0 {
			return r, fmt.Errorf("%s on %s: empty output %s", p.Key, in.Name, outPath)
		}
		if first {
			if r.OutLines, err = countLines(outPath); err != nil {
				return r, err
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
