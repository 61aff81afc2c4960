package connector

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/sfconnector/sfconnector/config"
	"github.com/sfconnector/sfconnector/policies"
	"github.com/sfconnector/sfconnector/sysflow"
	"github.com/sfconnector/sfconnector/transforms/policy"
)

// PolicyStage runs one policyengine plugin: a policy transform, and the
// watcher that reloads its policy files.
type PolicyStage struct {
	name    string // policy[i], as in metrics
	where   string
	mode    policy.Mode
	t       *policy.Transform // nil: no policies, records pass through
	watcher *policy.Watcher
	monitor bool
	log     *slog.Logger
	wg      sync.WaitGroup // the watcher goroutine
}

// LoadPolicies loads the policy paths of a policyengine plugin (comma
// separated), or the bundled defaults when paths is empty.
// Warnings go to logger; errors come back in the error, all of them.
func LoadPolicies(paths string, lo policies.Options, logger *slog.Logger) (*policies.Set, []policies.Diagnostic, error) {
	var set *policies.Set
	var diags []policies.Diagnostic
	var err error
	if strings.TrimSpace(paths) == "" {
		set, diags, err = policies.LoadDefault(lo)
	} else {
		set, diags, err = policies.Load(splitList(paths), lo)
	}
	if err == nil {
		for _, d := range diags {
			logger.Warn("policy warning: " + d.String())
		}
	}
	return set, diags, err
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func buildPolicy(n *config.Node, opts Options) (*PolicyStage, error) {
	k := n.Keys()
	mode := policy.Mode(k.Enum("mode", "enrich", "alert", "enrich", "filter"))
	paths := k.String("policies", "")
	workers := k.Int("concurrency", 0)
	strict := k.Bool("strict", false)
	monitor := k.Enum("monitor", "local", "local", "none") == "local"
	debounce := k.Duration("monitor.interval", 300*time.Millisecond)
	if k.String("action_dir", "") != "" {
		opts.Logger.Warn("policy actions are not supported; action_dir ignored", "plugin", n.Where)
	}
	// Both languages are told apart by content; the stanza's language only
	// says which the reference would have read.
	k.Enum("language", "falco", "falco", "sigma")
	sigmaConfig := k.String("config", "")
	compat := k.Enum("compat", "none", policies.CompatSFProcessor, "none")
	if opts.Compat != "" {
		compat = strings.ToLower(opts.Compat)
	}
	lo := policies.Options{Strict: strict}
	switch compat {
	case policies.CompatSFProcessor:
		lo = lo.SFProcessorCompat()
	case "none":
	default:
		return nil, fmt.Errorf("%s: --compat %q: want %s or none", n.Where, opts.Compat, policies.CompatSFProcessor)
	}
	lo.SigmaConfig = sigmaConfig
	if err := k.Err(); err != nil {
		return nil, err
	}
	if workers <= 0 || workers > 4*runtime.GOMAXPROCS(0) {
		// sf-processor's default of 5 threads is not a reason to oversubscribe
		workers = runtime.GOMAXPROCS(0)
	}
	ps := &PolicyStage{where: n.Where, mode: mode, monitor: monitor && paths != "", log: opts.Logger}
	if paths == "" && mode != policy.ModeAlert {
		// as the reference: a policy engine without policies passes every
		// record through (enrich) or drops nothing (filter)
		return ps, nil
	}
	if compat == policies.CompatSFProcessor {
		opts.Logger.Info("policies evaluated as sf-processor 0.7.0 does (compat: sf-processor)", "plugin", n.Where)
	}
	set, _, err := LoadPolicies(paths, lo, opts.Logger)
	if err != nil {
		return nil, fmt.Errorf("%s: key \"policies\": %w", n.Where, err)
	}
	t, err := policy.New(policy.Config{Mode: mode, Workers: workers, Logger: opts.Logger}, set)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", n.Where, err)
	}
	ps.t = t
	if paths != "" {
		watched := splitList(paths)
		if sigmaConfig != "" {
			// an edited mapping reloads the rules too; as a policy path
			// it is recognised and not read as a policy
			watched = append(watched, sigmaConfig)
		}
		w, err := policy.NewWatcher(policy.WatcherConfig{Paths: watched,
			Options: lo, Debounce: debounce, Logger: opts.Logger}, t)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", n.Where, err)
		}
		ps.watcher = w
	}
	return ps, nil
}

// Transform is the running policy transform (nil when records pass through).
func (p *PolicyStage) Transform() *policy.Transform { return p.t }

// Process applies the stage's mode to a batch.
func (p *PolicyStage) Process(ctx context.Context, events []*sysflow.Event) ([]*sysflow.Event, error) {
	if p.t == nil {
		return events, nil
	}
	return p.t.Process(ctx, events)
}

// Reload re-reads the policy files (SIGHUP). A broken set is logged with
// every error and the running set stays.
func (p *PolicyStage) Reload() {
	if p.watcher == nil {
		return
	}
	if err := p.watcher.Reload(); err != nil {
		p.log.Error("policy reload failed; the running policies stay", "plugin", p.where, "error", err)
		return
	}
	p.log.Info("policies reloaded", "plugin", p.where)
}

// StartWatching reloads the policies when their files change, until ctx
// ends (monitor: local).
func (p *PolicyStage) StartWatching(ctx context.Context) {
	if p.watcher == nil || !p.monitor {
		return
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		if err := p.watcher.Run(ctx); err != nil && ctx.Err() == nil {
			p.log.Error("policy watcher stopped", "plugin", p.where, "error", err)
		}
	}()
}

// Wait waits for the watcher started by StartWatching to end (cancel its
// context first).
func (p *PolicyStage) Wait() { p.wg.Wait() }
