package policytest_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/sfconnector/sfconnector/policies/policytest"
)

// TestSigmaConfig: sigma_config names the field mapping of the Sigma rules
// under test, in the file or per test, relative to the file.
func TestSigmaConfig(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "rules/r.yml", "title: image is a shell\nlogsource:\n    category: process_creation\ndetection:\n    sel:\n        Image|endswith: /sh\n    condition: sel\n")
	write(t, dir, "parent.yml", "fieldmappings:\n    Image: sf.pproc.exe\n")
	file := write(t, dir, "t.yaml", `
policies: [rules]
strict: true
tests:
  - name: built-in mapping
    events:
      - {sf.opflags: EXEC, sf.proc.exe: /bin/sh, sf.pproc.exe: /usr/bin/make, sf.pproc.pid: 3}
      - {sf.opflags: EXEC, sf.proc.exe: /usr/bin/make, sf.pproc.exe: /bin/sh, sf.pproc.pid: 3}
    expect: [[image is a shell], []]
  - name: Image mapped to the parent
    sigma_config: parent.yml
    events:
      - {sf.opflags: EXEC, sf.proc.exe: /bin/sh, sf.pproc.exe: /usr/bin/make, sf.pproc.pid: 3}
      - {sf.opflags: EXEC, sf.proc.exe: /usr/bin/make, sf.pproc.exe: /bin/sh, sf.pproc.pid: 3}
    expect: [[], [image is a shell]]
`)
	var out bytes.Buffer
	passed, failed, err := policytest.Run(context.Background(), []string{file}, &out)
	if err != nil || passed != 2 || failed != 0 || !strings.Contains(out.String(), "2 passed, 0 failed") {
		t.Fatalf("passed %d failed %d err %v:\n%s", passed, failed, err, out.String())
	}
}
