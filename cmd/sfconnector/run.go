package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sfconnector/sfconnector/config"
	"github.com/sfconnector/sfconnector/connector"
)

// defaultPipeline is what run uses without -c: the bundled runtime-integrity
// policies in alert mode, alerts printed as readable lines.
const defaultPipeline = `# sfconnector's built-in default pipeline
pipeline:
  - processor: sysflowreader
    handler: flattener
    in: sysflow sysflowchan
    out: flat flattenerchan
  - processor: policyengine
    in: flat flattenerchan
    out: evt eventchan
    mode: alert
  - processor: exporter
    in: evt eventchan
    export: terminal
    format: text
`

func newFlagSet(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: %s\n\nflags:\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	switch strings.ToLower(s) {
	case "trace":
		return slog.LevelDebug, nil
	case "warning":
		return slog.LevelWarn, nil
	case "fatal", "panic":
		return slog.LevelError, nil
	}
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return l, fmt.Errorf("invalid log level %q (debug, info, warn, error)", s)
	}
	return l, nil
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	l, err := parseLevel(level)
	if err != nil {
		return nil, err
	}
	opts := &slog.HandlerOptions{Level: l}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return slog.New(slog.NewTextHandler(w, opts)), nil
}

// loadConfig loads -c, or the built-in default when path is "".
func loadConfig(path string) (*config.Config, error) {
	if path == "" {
		return config.Parse("built-in default pipeline.yaml", []byte(defaultPipeline), os.LookupEnv)
	}
	return config.Load(path, os.LookupEnv)
}

func cmdRun(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("run", `sfconnector run [-c CONFIG] [flags] [INPUT...]

Runs a pipeline until its input ends (trace files) or SIGINT/SIGTERM, then
drains: records already read are written before it exits. SIGHUP reloads the
policies. INPUT is a trace file, a directory of them (read in name order), a
glob, or unix:///path for the collector socket; it replaces the configured
source. Without -c the built-in pipeline runs: the bundled runtime-integrity
policies in alert mode, alerts printed as readable lines.

examples:
  sfconnector run trace.sf
  sfconnector run -c pipeline.json /var/lib/sysflow/
  sfconnector run -c edge.yaml unix:///sock/sysflow.sock
  sfconnector -driver socket -config pipeline.json /sock/sysflow.sock`, stderr)
	var cfgPath, driver, logLevel, logFormat, metricsAddr string
	var compat string
	var shutdown time.Duration
	var progress, failFast bool
	var cpuProfile string
	fs.StringVar(&cfgPath, "c", "", "pipeline configuration: sf-processor pipeline.json or YAML (default: the built-in pipeline)")
	fs.StringVar(&cfgPath, "config", "", "same as -c (sf-processor's name)")
	fs.StringVar(&driver, "driver", "", "source driver: file, socket, kafka or nats (default: the config's, else from INPUT)")
	fs.StringVar(&driver, "input", "", "same as -driver (sf-processor's older name)")
	fs.StringVar(&logLevel, "log", envOr("LOG_LEVEL", config.Default("settings", "log.level")), "log level: debug, info, warn, error (env LOG_LEVEL)")
	fs.StringVar(&logFormat, "log-format", config.Default("settings", "log.format"), "log format: text or json")
	fs.StringVar(&metricsAddr, "metrics", os.Getenv("SFCONNECTOR_METRICS_ADDR"), "serve /metrics, /healthz and /readyz on this address, e.g. :9090 (env SFCONNECTOR_METRICS_ADDR)")
	fs.DurationVar(&shutdown, "shutdown-timeout", 0, "how long SIGTERM waits for in-flight records (default: the config's, else 10s)")
	fs.BoolVar(&failFast, "fail-fast", false, "without a dead-letter sink, stop with an error when a batch still fails after every retry (settings retry.failfast)")
	fs.StringVar(&compat, "compat", "", "sf-processor: every policy engine evaluates as sf-processor 0.7.0 does, to compare alerts side by side (overrides the policyengine's \"compat\" key; docs/migrating.md)")
	fs.BoolVar(&progress, "progress", isTerminal(os.Stderr), "print a progress line with records/s and ETA when reading files")
	fs.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run to this file (read it with go tool pprof)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return exitError{code: 2}
	}
	if cpuProfile != "" {
		stopProfile, err := startCPUProfile(cpuProfile)
		if err != nil {
			return exitError{code: 2, msg: "--cpuprofile: " + err.Error()}
		}
		defer stopProfile()
	}
	if cfgPath == "" {
		cfgPath = os.Getenv("CONFIG_PATH")
	}
	if driver == "" {
		driver = os.Getenv("DRIVER")
	}
	inputs := fs.Args()
	cfg, err := loadConfig(cfgPath)
	if err != nil {
		return err
	}
	// INPUT_PATH (the reference image's variable) is the input when the
	// command line gives none and the configuration names no source of its
	// own, or when DRIVER/-driver chooses a file or socket driver.
	if in := os.Getenv("INPUT_PATH"); len(inputs) == 0 && in != "" {
		d := strings.ToLower(driver)
		if (cfg.Source == nil && d == "") || d == "file" || d == "socket" {
			inputs = []string{in}
		}
	}
	if cfg.Settings != nil {
		k := cfg.Settings.Keys()
		// the flags' defaults are the specs' (see run's flag set); a key
		// set in the file overrides them unless the flag was given
		if v, set := k.Lookup("log.level"); set && !flagSet(fs, "log") && os.Getenv("LOG_LEVEL") == "" {
			logLevel = v
		}
		if v, set := k.Lookup("log.format"); set && !flagSet(fs, "log-format") {
			logFormat = v
		}
		if metricsAddr == "" {
			metricsAddr = k.String("metrics.addr")
		}
	}
	logger, err := newLogger(stderr, logLevel, logFormat)
	if err != nil {
		return err
	}
	for _, w := range cfg.Warnings() {
		logger.Warn("configuration: " + w)
	}
	if compat != "" && !strings.EqualFold(compat, "sf-processor") && !strings.EqualFold(compat, "none") {
		return exitError{code: 2, msg: fmt.Sprintf("--compat %q: want sf-processor or none", compat)}
	}
	if shutdown > 0 {
		if cfg.Settings == nil {
			cfg.Settings = config.NewPlugin("settings", "command line", nil)
		}
		cfg.Settings.Set("shutdown.timeout", shutdown.String())
	}
	if failFast {
		if cfg.Settings == nil {
			cfg.Settings = config.NewPlugin("settings", "command line", nil)
		}
		cfg.Settings.Set("retry.failfast", "true")
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	metrics := connector.NewMetrics(nil)
	var prog *progressLine
	opts := connector.Options{Driver: driver, Inputs: inputs, Stdout: stdout, Logger: logger, Metrics: metrics, Version: version, Compat: compat}
	if progress {
		prog = newProgressLine(stderr)
		opts.OnStart = prog.begin
		opts.OnProgress = prog.update
	}
	built, err := connector.Build(ctx, cfg, opts)
	if err != nil {
		return err
	}
	health := &connector.Health{}
	health.SetCheck(built.Unready) // a failing sink makes /readyz answer 503
	if metricsAddr != "" {
		addr, _, err := connector.Serve(ctx, metricsAddr, metrics, health)
		if err != nil {
			return fmt.Errorf("metrics: listen on %s: %w", metricsAddr, err)
		}
		logger.Info("serving metrics and health", "addr", addr)
	}

	// SIGHUP reloads the policies; a broken set is logged and the old one kept.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	hupDone := make(chan struct{})
	var hupWG sync.WaitGroup
	hupWG.Add(1)
	go func() {
		defer hupWG.Done()
		for {
			select {
			case <-hup:
				for _, p := range built.Policies {
					p.Reload()
				}
			case <-hupDone:
				return
			}
		}
	}()
	defer func() {
		signal.Stop(hup)
		close(hupDone)
		hupWG.Wait()
	}()
	watchCtx, stopWatching := context.WithCancel(ctx)
	for _, p := range built.Policies {
		p.StartWatching(watchCtx)
	}
	defer func() {
		stopWatching()
		for _, p := range built.Policies {
			p.Wait()
		}
	}()

	health.SetReady(true)
	start := time.Now()
	err = built.Run(ctx)
	health.SetReady(false)
	if prog != nil {
		prog.finish()
	}
	logger.Info("pipeline stopped", "elapsed", time.Since(start).Round(time.Millisecond))
	// one line with what the run did; inlined attributes (an empty key)
	logger.Info("run summary", "", built.Summary())
	return err
}

func flagSet(fs *flag.FlagSet, name string) bool {
	found := false
	fs.Visit(func(f *flag.Flag) {
		if f.Name == name {
			found = true
		}
	})
	return found
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// progressLine prints records/s and an ETA (by bytes of input) while
// files are read.
type progressLine struct {
	w        io.Writer
	start    time.Time
	last     time.Time
	records  int64
	total    int64 // bytes of input
	finished int64 // bytes of files already read
	current  string
	offset   int64
}

func newProgressLine(w io.Writer) *progressLine {
	return &progressLine{w: w, start: time.Now()}
}

func (p *progressLine) begin(files int, bytes int64) { p.total = bytes }

func (p *progressLine) update(path string, n int, offset int64) {
	if path != p.current {
		p.finished += p.offset
		p.current = path
	}
	p.offset = offset
	p.records += int64(n)
	now := time.Now()
	if now.Sub(p.last) < 500*time.Millisecond {
		return
	}
	p.last = now
	el := now.Sub(p.start)
	done := p.finished + p.offset
	eta := "?"
	if done > 0 && p.total >= done {
		eta = (time.Duration(float64(el) * float64(p.total-done) / float64(done))).Round(time.Second).String()
	}
	fmt.Fprintf(p.w, "\r%d records, %.0f records/s, %.0f%%, ETA %s   ", p.records,
		float64(p.records)/el.Seconds(), 100*float64(done)/float64(max(p.total, 1)), eta)
}

func (p *progressLine) finish() {
	if p.records == 0 {
		return
	}
	el := time.Since(p.start).Seconds()
	fmt.Fprintf(p.w, "\r%d records, %.0f records/s, done                \n", p.records, float64(p.records)/el)
}

// startCPUProfile starts the runtime's CPU profiler writing to path; the
// returned function stops it and closes the file.
func startCPUProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
