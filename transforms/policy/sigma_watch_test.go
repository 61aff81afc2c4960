package policy

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/sfconnector/sfconnector/policies"
	"github.com/sfconnector/sfconnector/policies/policytest"
	"github.com/sfconnector/sfconnector/sysflow"
)

// TestWatcherSigmaMapping: the Sigma field mapping, watched with the rules
// (as the connector does for a policyengine's config key), is not read as a
// policy, and editing it reloads the rules with the new mapping.
func TestWatcherSigmaMapping(t *testing.T) {
	dir := t.TempDir()
	rules, mapping := filepath.Join(dir, "rules"), filepath.Join(dir, "map.yml")
	writeFile(t, filepath.Join(rules, "bash.yml"), "title: bash\nlogsource:\n    category: process_creation\ndetection:\n    sel:\n        Image|endswith: /bash\n    condition: sel\n")
	writeFile(t, mapping, "fieldmappings:\n    Image: sf.proc.exe\n")
	opts := policies.Options{SigmaConfig: mapping, Strict: true}
	paths := []string{rules, mapping}
	set, diags, err := policies.Load(paths, opts)
	if err != nil || len(diags) != 0 {
		t.Fatalf("%v %v", err, diags)
	}
	tr, err := New(Config{Mode: ModeAlert}, set)
	if err != nil {
		t.Fatal(err)
	}
	w, err := NewWatcher(WatcherConfig{Paths: paths, Options: opts, Debounce: 50 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, tr)
	if err != nil {
		t.Fatal(err)
	}
	matches := func(exe, parent string) bool {
		ev, err := policytest.NewEvent(policytest.Values{"sf.opflags": "EXEC", "sf.proc.exe": exe, "sf.pproc.exe": parent, "sf.pproc.pid": 2})
		if err != nil {
			t.Fatal(err)
		}
		out, err := tr.Process(context.Background(), []*sysflow.Event{ev})
		if err != nil {
			t.Fatal(err)
		}
		return len(out) == 1
	}
	if !matches("/bin/bash", "/usr/bin/python") || matches("/usr/bin/python", "/bin/bash") {
		t.Fatal("Image is not sf.proc.exe")
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := w.Run(ctx); err != nil {
			t.Errorf("watcher: %v", err)
		}
	}()
	defer func() { cancel(); wg.Wait() }()
	// Edit the mapping until a reload picks it up (the watches may be
	// installed after the first write).
	deadline := time.After(10 * time.Second)
	for !matches("/usr/bin/python", "/bin/bash") {
		writeFile(t, mapping, "fieldmappings:\n    Image: sf.pproc.exe\n")
		select {
		case <-w.reloadDone():
		case <-time.After(200 * time.Millisecond):
		case <-deadline:
			t.Fatalf("the mapping change was not reloaded (stats %+v)", w.Stats())
		}
	}
	if matches("/bin/bash", "/usr/bin/python") {
		t.Fatal("the old mapping still applies")
	}
	if s := w.Stats(); s.Failures != 0 {
		t.Fatalf("reload failures: %+v", s)
	}
}
