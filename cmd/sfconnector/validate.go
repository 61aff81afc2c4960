package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/sfconnector/sfconnector/config"
	"github.com/sfconnector/sfconnector/connector"
	"github.com/sfconnector/sfconnector/policies"
	"github.com/sfconnector/sfconnector/policies/policytest"
)

// cmdValidate checks a configuration and its policies and lists every
// problem; it exits 1 when there is any error (with --strict, any warning).
func cmdValidate(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("validate", "sfconnector validate [-c CONFIG | CONFIG] [--policies PATH[,PATH...]] [--sigma-config FILE] [--strict]", stderr)
	var cfgPath, policyPaths, sigmaConfig string
	var strict bool
	fs.StringVar(&cfgPath, "c", "", "pipeline configuration to check (keys, values, and the policies it names)")
	fs.StringVar(&cfgPath, "config", "", "same as -c")
	fs.StringVar(&policyPaths, "policies", "", "policy files or directories to check (default: those of the configuration; without either, the bundled policies)")
	fs.StringVar(&sigmaConfig, "sigma-config", "", "Sigma field mapping for the Sigma rules given with --policies (default: the built-in mapping)")
	fs.BoolVar(&strict, "strict", false, "treat warnings (unknown fields, duplicate rules, repaired YAML) as errors")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return exitError{code: 2}
	}
	// "validate pipeline.json" means the file: checking the defaults
	// instead and saying ok would pass a broken file
	switch {
	case fs.NArg() > 1:
		return exitError{code: 2, msg: fmt.Sprintf("validate: one configuration at a time (got %d: %s)", fs.NArg(), strings.Join(fs.Args(), " "))}
	case fs.NArg() == 1 && cfgPath != "":
		return exitError{code: 2, msg: fmt.Sprintf("validate: both -c %s and %s given: name the configuration once", cfgPath, fs.Arg(0))}
	case fs.NArg() == 1:
		cfgPath = fs.Arg(0)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	problems := 0
	report := func(err error) {
		for _, line := range strings.Split(err.Error(), "\n") {
			if line = strings.TrimSpace(line); line != "" {
				fmt.Fprintln(stdout, "error:", line)
				problems++
			}
		}
	}
	// policy paths to check, each with the options its engine loads them
	// with (compat: sf-processor changes which definitions warn)
	type policyCheck struct {
		paths []string
		opts  policies.Options
	}
	var pathsToCheck []policyCheck
	warnings := 0
	if cfgPath != "" {
		cfg, err := config.Load(cfgPath, nil)
		if err == nil {
			for _, w := range cfg.Warnings() {
				fmt.Fprintln(stdout, "warning:", w)
				warnings++
				if strict {
					problems++
				}
			}
		}
		switch {
		case err != nil:
			report(err)
		case cfg.Template():
			// its values are descriptions ("on|off (default: off)"), which
			// no component would accept: the key names are what it shows
			fmt.Fprintf(stdout, "note: %s is sf-processor's pipeline template (its _comment says so): its values describe the keys, so only the key names are checked\n", cfgPath)
			if err := cfg.CheckKeyNames(); err != nil {
				report(err)
			}
		default:
			cfg.Root.Walk(func(n *config.Node) {
				if n.Kind == config.KindPolicy {
					k := n.Keys()
					if p := k.String("policies", ""); p != "" {
						o := policies.Options{Strict: strict}
						if strings.EqualFold(k.String("compat", ""), policies.CompatSFProcessor) {
							o = o.SFProcessorCompat()
						}
						o.SigmaConfig = k.String("config", "")
						pathsToCheck = append(pathsToCheck, policyCheck{splitComma(p), o})
					}
				}
			})
			// the policies are checked below, with every diagnostic listed
			if err := connector.Check(context.Background(), withoutPolicies(cfg), connector.Options{Logger: quiet}); err != nil {
				report(err)
			}
		}
	}
	if policyPaths != "" {
		pathsToCheck = []policyCheck{{splitComma(policyPaths), policies.Options{Strict: strict, SigmaConfig: sigmaConfig}}}
	}
	var diags []policies.Diagnostic
	checked := cfgPath
	if len(pathsToCheck) == 0 && cfgPath == "" {
		checked = "no configuration given: the bundled default policies"
		_, d, _ := policies.LoadDefault(policies.Options{Strict: strict})
		diags = append(diags, d...)
	}
	for _, pc := range pathsToCheck {
		_, d, _ := policies.Load(pc.paths, pc.opts)
		diags = append(diags, d...)
	}
	for _, d := range diags {
		fmt.Fprintln(stdout, d.String())
		if snip := d.Snippet(); snip != "" {
			fmt.Fprintln(stdout, snip)
		}
		if d.Severity == policies.SeverityError || strict {
			problems++
		}
	}
	if problems > 0 {
		fmt.Fprintf(stdout, "%d problem(s) found\n", problems)
		return exitError{code: 1}
	}
	if policyPaths != "" {
		if cfgPath != "" {
			checked += " with policies " + policyPaths
		} else {
			checked = "policies " + policyPaths
		}
	}
	fmt.Fprintf(stdout, "ok: %s: %d warning(s)\n", checked, len(diags)+warnings)
	return nil
}

// withoutPolicies copies nothing: it blanks the policies keys of the
// configuration's policy engines so that Check does not load them (they are
// validated separately, with every diagnostic listed).
func withoutPolicies(cfg *config.Config) *config.Config {
	cfg.Root.Walk(func(n *config.Node) {
		if n.Kind == config.KindPolicy && n.Has("policies") {
			n.Set("policies", "")
			n.Set("mode", "enrich")
		}
	})
	return cfg
}

func splitComma(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// cmdPolicyTest runs policy unit tests and prints "N passed, N failed".
func cmdPolicyTest(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("policy test", "sfconnector policy test FILE...", stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return exitError{code: 2}
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return exitError{code: 2}
	}
	_, failed, err := policytest.Run(context.Background(), fs.Args(), stdout)
	if err != nil {
		return err
	}
	if failed > 0 {
		return exitError{code: 1}
	}
	return nil
}
