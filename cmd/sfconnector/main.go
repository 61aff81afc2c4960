// Command sfconnector moves SysFlow telemetry from the collector's socket,
// trace files or Kafka through flattening and policies into the terminal,
// files, syslog, Kafka or NATS.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	err := run(os.Args[1:], os.Stdout, os.Stderr)
	if err == nil {
		return
	}
	var ee exitError
	if errors.As(err, &ee) {
		if ee.msg != "" {
			fmt.Fprintln(os.Stderr, "sfconnector:", ee.msg)
		}
		os.Exit(ee.code)
	}
	if !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "sfconnector:", err)
		os.Exit(1)
	}
}

// exitError carries an exit code other than 1 (or a silent one).
type exitError struct {
	code int
	msg  string
}

func (e exitError) Error() string { return e.msg }

const usage = `sfconnector: SysFlow stream processing: collector socket, trace files or Kafka
-> flatten -> Falco-style policies -> terminal, files, syslog, Kafka or NATS.

Usage:
  sfconnector run [-c CONFIG] [flags] [INPUT...]   run a pipeline (INPUT: trace file, directory, glob or unix:///path)
  sfconnector validate [[-c] CONFIG] [--policies PATH] [--strict]
                                                   check a configuration and its policies; list every problem
  sfconnector policy test FILE...                  run policy unit tests (YAML), print "N passed, N failed"
  sfconnector gen [--records N] [--seed S] -o FILE write a synthetic, realistic SysFlow trace
  sfconnector replay --to unix:///PATH FILE...     stream traces to a socket as the collector does
  sfconnector healthcheck [--url URL]              exit 0 if a running sfconnector's /healthz answers
  sfconnector version                              print the version

sf-processor's invocation works unchanged:
  sfconnector -driver file|socket -config pipeline.json [-log LEVEL] PATH

Without -c, run uses the built-in default pipeline: the bundled runtime-integrity
policies in alert mode, alerts printed to the terminal.

Run 'sfconnector COMMAND --help' for a command's flags.
`

func run(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitError{code: 2}
	}
	switch args[0] {
	case "run":
		return cmdRun(args[1:], stdout, stderr)
	case "validate":
		return cmdValidate(args[1:], stdout, stderr)
	case "policy":
		if len(args) > 1 && args[1] == "test" {
			return cmdPolicyTest(args[2:], stdout, stderr)
		}
		fmt.Fprint(stderr, "usage: sfconnector policy test FILE...\n")
		return exitError{code: 2}
	case "gen":
		return cmdGen(args[1:], stdout, stderr)
	case "replay":
		return cmdReplay(args[1:], stdout, stderr)
	case "healthcheck":
		return cmdHealthcheck(args[1:], stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintf(stdout, "sfconnector %s\n", version)
		return nil
	case "help", "-h", "--help", "-help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	if len(args[0]) > 0 && args[0][0] == '-' {
		// sf-processor's flags: -driver/-input, -config, -log, PATH
		return cmdRun(args, stdout, stderr)
	}
	fmt.Fprintf(stderr, "sfconnector: unknown command %q\n\n%s", args[0], usage)
	return exitError{code: 2}
}
