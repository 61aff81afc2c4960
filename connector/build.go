package connector

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/sfconnector/sfconnector/config"
	"github.com/sfconnector/sfconnector/encoding"
	"github.com/sfconnector/sfconnector/sinks/file"
	"github.com/sfconnector/sfconnector/sinks/null"
	"github.com/sfconnector/sfconnector/sinks/syslog"
	"github.com/sfconnector/sfconnector/sinks/terminal"
	filesrc "github.com/sfconnector/sfconnector/sources/file"
	"github.com/sfconnector/sfconnector/sources/socket"
	"github.com/sfconnector/sfconnector/transforms/flatten"
)

// Options are what the command line adds to a configuration.
type Options struct {
	// Driver overrides the configured source driver (file, socket, ...).
	Driver string
	// Inputs override the source's path: trace files, directories, globs, or
	// unix:///path for the socket.
	Inputs []string
	Stdout io.Writer // terminal sinks write here (os.Stdout when nil)
	Logger *slog.Logger
	// OnStart and OnProgress report file-source progress (the progress line).
	OnStart    func(files int, bytes int64)
	OnProgress func(path string, records int, offset int64)
	Metrics    *Metrics
	// Version is the program's version (ECS agent.version).
	Version string
	// Compat, when set, overrides every policy engine's "compat" key
	// (run --compat): "sf-processor" evaluates as the reference does.
	Compat string
	// DryRun checks every key and builds nothing with side effects: no file
	// is opened, no socket bound, no connection made (sfconnector validate).
	DryRun bool

	// deadLetter is the settings' dead-letter sink, for sinks that refuse
	// single records themselves (Elasticsearch's per-item errors).
	deadLetter message.Publisher
}

// Built is an assembled pipeline with the parts a caller may want to watch.
type Built struct {
	*Pipeline
	Source   Source
	Policies []*PolicyStage
}

// Build assembles the pipeline a configuration describes. Every problem is
// reported at once, each naming the file, plugin and key.
func Build(ctx context.Context, cfg *config.Config, opts Options) (*Built, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	var errs []error
	settings := Settings{Logger: opts.Logger, Metrics: opts.Metrics, HeapFloor: DefaultHeapFloor}
	{
		// without a settings section the defaults still come from the specs
		sp := cfg.Settings
		if sp == nil {
			sp = config.NewPlugin("settings", cfg.File+": settings", nil)
		}
		k := sp.Keys()
		k.String("log.level")
		k.String("log.format")
		k.String("metrics.addr")
		settings.ShutdownTimeout = k.Duration("shutdown.timeout")
		settings.RetryMax = k.Int("retry.max")
		settings.RetryInitial = k.Duration("retry.initial")
		settings.FailFast = k.Bool("retry.failfast")
		if n := k.Int("chunk.records"); n < 1 {
			errs = append(errs, fmt.Errorf("%s: settings key chunk.records: %d: must be at least 1", cfg.File, n))
		} else {
			settings.ChunkRecords = n
		}
		dl, err := buildDeadLetter(ctx, sp, k, opts)
		if err != nil {
			errs = append(errs, err)
		}
		settings.DeadLetter = dl
		opts.deadLetter = dl
		if err := k.Err(); err != nil {
			errs = append(errs, err)
		}
	}

	if cfg.Root.Kind == config.KindInput && !strings.EqualFold(cfg.Root.Name, "otelkafka") {
		// sf-processor's OTel pipeline: the otelkafka driver writes flat
		// events (decoded OpenTelemetry logs) straight into the policy
		// engine, and so may ours; any other driver gives records, which
		// need the sysflowreader
		errs = append(errs, fmt.Errorf("%s: feeds the pipeline directly, without a sysflowreader: only the otelkafka driver does that", cfg.Root.Where))
	}
	// the flattener's keys (a driver-fed root has none)
	flatCfg := flatten.Config{Logger: opts.Logger}
	if cfg.Root.Kind == config.KindReader {
		rk := cfg.Root.Keys()
		max := rk.Int("tables.max")
		flatCfg.MaxProcesses, flatCfg.MaxFiles, flatCfg.MaxContainers, flatCfg.MaxPods = max, max, max, max
		flatCfg.ExitGrace = rk.Duration("tables.grace")
		if err := flatCfg.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", cfg.Root.Where, err))
		}
		rk.String("filter.enabled")
		rk.String("filter.maxage")
		if err := rk.Err(); err != nil {
			errs = append(errs, err)
		}
	}

	var policies []*PolicyStage
	var build func(n *config.Node, st *Stage)
	build = func(n *config.Node, st *Stage) {
		for _, c := range n.Children {
			switch c.Kind {
			case config.KindExporter:
				s, err := buildSink(ctx, c, opts)
				if err != nil {
					errs = append(errs, err)
					continue
				}
				st.Sinks = append(st.Sinks, s)
			case config.KindPolicy:
				ps, err := buildPolicy(c, opts)
				if err != nil {
					errs = append(errs, err)
					build(c, &Stage{}) // report its children's problems too
					continue
				}
				ps.name = fmt.Sprintf("policy[%d]", len(policies))
				policies = append(policies, ps)
				child := &Stage{Name: ps.name, Transform: ps}
				build(c, child)
				st.Children = append(st.Children, child)
			}
		}
	}
	root := &Stage{Name: "flatten"}
	build(cfg.Root, root)
	if len(errs) == 0 && countSinks(root) == 0 {
		errs = append(errs, fmt.Errorf("%s: the pipeline has no exporter", cfg.File))
	}

	var src Source
	if len(errs) == 0 || opts.DryRun {
		var err error
		src, err = buildSource(cfg, opts, settings)
		if err != nil {
			errs = append(errs, err)
		}
	}
	if opts.DryRun {
		closeStage(root)
		return nil, errors.Join(errs...)
	}
	if len(errs) > 0 {
		closeStage(root)
		return nil, errors.Join(errs...)
	}
	p := New(src, root, flatCfg, settings)
	if err := p.metrics.Registry.Register(newStatsCollector(policies, src)); err != nil {
		opts.Logger.Warn("metrics: component counters not registered", "error", err)
	}
	if c := newESCollector(p.sinks); c != nil {
		if err := p.metrics.Registry.Register(c); err != nil {
			opts.Logger.Warn("metrics: elasticsearch counters not registered", "error", err)
		}
	}
	return &Built{Pipeline: p, Source: src, Policies: policies}, nil
}

func countSinks(s *Stage) int {
	n := len(s.Sinks)
	for _, c := range s.Children {
		n += countSinks(c)
	}
	return n
}

func closeStage(s *Stage) {
	for _, k := range s.Sinks {
		k.Pub.Close()
	}
	for _, c := range s.Children {
		closeStage(c)
	}
}

func buildSource(cfg *config.Config, opts Options, settings Settings) (Source, error) {
	driver := strings.ToLower(opts.Driver)
	var plug *config.Plugin
	if driver != "" {
		plug = cfg.Driver(driver)
	} else if cfg.Source != nil {
		plug = cfg.Source
		driver = plug.Kind
	}
	if driver == "" {
		driver = "file"
		for _, in := range opts.Inputs {
			if strings.HasPrefix(in, "unix://") {
				driver = "socket"
			}
		}
	}
	if plug == nil {
		plug = config.NewPlugin(driver, "command line ("+driver+" driver)", nil)
	}
	k := plug.Keys()
	switch driver {
	case "file":
		paths := opts.Inputs
		if p := k.String("path"); len(paths) == 0 && p != "" {
			paths = []string{p}
		}
		c := filesrc.Config{Paths: paths, Follow: k.Bool("follow"), Settle: k.Duration("follow.settle"),
			BatchSize: k.Int("batch.size"), Logger: opts.Logger, OnStart: opts.OnStart, OnProgress: opts.OnProgress}
		if err := k.Err(); err != nil {
			return nil, err
		}
		if len(c.Paths) == 0 && opts.DryRun {
			return nil, nil // the command line gives the input at run time
		}
		if len(c.Paths) == 0 {
			return nil, errors.New("file source: no input: give trace files or directories on the command line, or set the file driver's \"path\"")
		}
		return filesrc.New(c)
	case "socket":
		path := k.String("path")
		for _, in := range opts.Inputs {
			path = strings.TrimPrefix(in, "unix://")
		}
		modeText := k.String("mode")
		mode, err := strconv.ParseUint(modeText, 8, 32)
		if err != nil || mode > 0o777 {
			k.Fail("mode", modeText, "want octal permissions such as 0600")
		}
		c := socket.Config{Path: path, Mode: os.FileMode(mode), BatchSize: k.Int("batch.size"),
			BatchTimeout: k.Duration("batch.timeout"), MaxMessage: k.Int("max.message"),
			Buffer: k.Int("buffer"), Logger: opts.Logger}
		// what was read is delivered within most of the shutdown deadline,
		// leaving the rest for the sinks to flush
		settings.setDefaults()
		c.DrainTimeout = settings.ShutdownTimeout * 8 / 10
		if err := k.Err(); err != nil {
			return nil, err
		}
		if opts.DryRun {
			return nil, c.Validate()
		}
		return socket.Listen(c)
	}
	return buildBusSource(driver, plug, opts)
}

func buildSink(ctx context.Context, n *config.Node, opts Options) (*Sink, error) {
	k := n.Keys()
	export := k.Enum("export", "terminal", "file", "syslog", "kafka", "nats", "es", "null")
	grouped := k.Enum("type", "telemetry", "alert") == "alert"
	format := k.Enum("format", "json", "ecs", "text", "avro", "otel")
	if _, set := k.Lookup("format"); export == "es" && !set {
		format = "ecs" // Elasticsearch gets ECS documents, as from the reference
	}
	flat := k.Bool("flat")
	k.Int("buffer")
	// read as text: the reference takes only "true" as true and any other
	// text (its template's description included) as false; ignored here
	k.String("vault.secrets")
	k.String("vault.path")
	if unused := k.OtherExports(export); len(unused) > 0 {
		// sf-processor's template sets every export type's keys at once
		opts.Logger.Debug("exporter keys of other export types are not used", "plugin", n.Where, "export", export, "keys", strings.Join(unused, ","))
	}
	var enc encoding.Encoder
	busOnly := format == "avro" || format == "otel"
	if !busOnly {
		var err error
		enc, err = newEncoder(format, flat, opts.Version)
		if err != nil {
			return nil, fmt.Errorf("%s: key \"format\": %w", n.Where, err)
		}
	}
	var s *Sink
	var err error
	switch export {
	case "terminal":
		if busOnly {
			return nil, fmt.Errorf("%s: key \"format\": %s is for kafka and nats exporters", n.Where, format)
		}
		out := opts.Stdout
		if out == nil {
			out = os.Stdout
		}
		t := terminal.New(out, enc)
		t.Grouped = grouped
		s = &Sink{Name: "terminal", Pub: t}
	case "file":
		c := file.Config{Path: k.String("file.path"), RotateSize: int64(k.Int("file.rotate.size")),
			RotateKeep: k.Int("file.rotate.keep")}
		if err := k.Err(); err != nil {
			return nil, err
		}
		if busOnly {
			return nil, fmt.Errorf("%s: key \"format\": %s is for kafka and nats exporters", n.Where, format)
		}
		if opts.DryRun {
			return dryRunSink(c.Validate())
		}
		pub, err := file.New(c, enc)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", n.Where, err)
		}
		pub.Grouped = grouped
		s = &Sink{Name: "file:" + c.Path, Pub: pub}
	case "null":
		s = &Sink{Name: "null", Pub: null.New()}
	case "es":
		if format != "ecs" {
			return nil, fmt.Errorf("%s: key \"format\": the es exporter writes ecs documents", n.Where)
		}
		return buildESSink(n, k, enc, opts)
	case "syslog":
		if busOnly || format == "text" {
			return nil, fmt.Errorf("%s: key \"format\": syslog bodies are json or ecs", n.Where)
		}
		c := syslog.Config{
			Proto: k.String("syslog.proto"), Host: k.String("syslog.host"), Port: k.Int("syslog.port"),
			Tag: k.String("syslog.tag"), Source: k.String("syslog.source"), Format: k.String("syslog.format"),
			Framing: k.String("syslog.framing"), Facility: k.String("syslog.facility"),
			Severity: syslog.SeverityMap{High: k.String("syslog.severity.high"), Medium: k.String("syslog.severity.medium"),
				Low: k.String("syslog.severity.low"), Event: k.String("syslog.severity.event")},
			TLS: syslog.TLSConfig{CAFile: k.String("syslog.tls.ca"), CertFile: k.String("syslog.tls.cert"),
				KeyFile: k.String("syslog.tls.key"), ServerName: k.String("syslog.tls.servername"),
				InsecureSkipVerify: k.Bool("syslog.tls.insecure")},
			Buffer: k.Int("syslog.buffer"), ResendWindow: k.Duration("syslog.resend_window"),
			MaxMessageSize: k.Int("syslog.max_message_size"), DialTimeout: k.Duration("syslog.dial_timeout"),
			WriteTimeout: k.Duration("syslog.write_timeout"), ReconnectTimeout: k.Duration("syslog.reconnect_timeout"),
			Encoder: enc, Logger: watermillLogger{opts.Logger},
		}
		if err := k.Err(); err != nil {
			return nil, err
		}
		pub, err := syslog.New(c) // connects in the background: a dry run closes it at once
		if err != nil {
			return nil, fmt.Errorf("%s: %w", n.Where, err)
		}
		s = &Sink{Name: fmt.Sprintf("syslog:%s:%d", c.Host, c.Port), Pub: pub}
	default:
		s, err = buildBusSink(ctx, export, n, k, enc, opts)
		if err != nil {
			return nil, err
		}
	}
	if err := k.Err(); err != nil {
		s.Pub.Close()
		return nil, err
	}
	return s, nil
}

// dryRunSink stands for a sink that a dry run checked but did not build.
func dryRunSink(err error) (*Sink, error) {
	if err != nil {
		return nil, err
	}
	return &Sink{Name: "dry-run", Pub: null.New()}, nil
}

// Check reports every problem of a configuration (keys, values, policies)
// without starting anything.
func Check(ctx context.Context, cfg *config.Config, opts Options) error {
	opts.DryRun = true
	_, err := Build(ctx, cfg, opts)
	return err
}
