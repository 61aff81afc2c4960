package policy

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/sfconnector/sfconnector/policies"
	"github.com/sfconnector/sfconnector/policies/policytest"
	"github.com/sfconnector/sfconnector/sysflow"
)

func rule(name, cond string) string {
	return "- rule: " + name + "\n  desc: d\n  condition: " + cond + "\n  priority: low\n"
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	// Write then rename, as editors do, so the watcher never reads half a file.
	tmp := filepath.Join(filepath.Dir(path), ".tmp-"+filepath.Base(path))
	if err := os.WriteFile(tmp, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func ruleNamesOf(set *policies.Set) []string {
	var out []string
	for _, r := range set.Rules() {
		out = append(out, r.Name)
	}
	return out
}

type watchFixture struct {
	t  *testing.T
	tr *Transform
	w  *Watcher
}

func startWatcher(t *testing.T, paths []string) *watchFixture {
	t.Helper()
	set, _, err := policies.Load(paths, policies.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := New(Config{Mode: ModeAlert}, set)
	if err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	w, err := NewWatcher(WatcherConfig{Paths: paths, Debounce: 50 * time.Millisecond, Logger: quiet}, tr)
	if err != nil {
		t.Fatal(err)
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
	t.Cleanup(func() { cancel(); wg.Wait() })
	time.Sleep(100 * time.Millisecond) // let Run install its watches
	return &watchFixture{t: t, tr: tr, w: w}
}

// change runs fn and waits until ok holds, reload after reload: file
// events may arrive in several bursts.
func (f *watchFixture) change(fn func(), ok func() bool) {
	f.t.Helper()
	fn()
	deadline := time.After(5 * time.Second)
	for !ok() {
		select {
		case <-f.w.reloadDone():
		case <-time.After(20 * time.Millisecond):
		case <-deadline:
			f.t.Fatalf("no reload reached the expected state within 5s (stats %+v, rules %v)", f.w.Stats(), ruleNamesOf(f.tr.Set()))
		}
	}
}

func (f *watchFixture) rulesAre(names ...string) func() bool {
	return func() bool {
		got := ruleNamesOf(f.tr.Set())
		if len(got) != len(names) {
			return false
		}
		for i := range got {
			if got[i] != names[i] {
				return false
			}
		}
		return true
	}
}

func TestWatcherDirectory(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a.yaml"), rule("one", "sf.opflags = EXEC"))
	f := startWatcher(t, []string{dir})

	f.change(func() { writeFile(t, filepath.Join(dir, "a.yaml"), rule("two", "sf.opflags = EXEC")) }, f.rulesAre("two"))

	// A new file in a new subdirectory.
	f.change(func() {
		writeFile(t, filepath.Join(dir, "sub", "deeper", "b.yml"), rule("three", "sf.opflags = CLONE"))
	}, f.rulesAre("two", "three"))

	// A broken file: logged, counted, the running set stays and keeps working.
	before := f.tr.Set()
	f.change(func() { writeFile(t, filepath.Join(dir, "sub", "deeper", "b.yml"), rule("broken", "sf.opflags = (")) },
		func() bool { return f.w.Stats().Failures > 0 })
	if f.tr.Set() != before {
		t.Fatalf("broken policy replaced the running set (failures %d)", f.w.Stats().Failures)
	}
	ev, err := policytest.NewEvent(policytest.Values{"sf.opflags": "EXEC", "sf.proc.exe": "/bin/sh"})
	if err != nil {
		t.Fatal(err)
	}
	out, err := f.tr.Process(context.Background(), []*sysflow.Event{ev})
	if err != nil || len(out) != 1 || out[0].Matches[0].Rule != "two" {
		t.Fatalf("the pipeline stopped working after a broken reload: %v %v", out, err)
	}

	// Fixed again; then a non-policy file changes nothing.
	f.change(func() { writeFile(t, filepath.Join(dir, "sub", "deeper", "b.yml"), rule("four", "sf.opflags = CLONE")) }, f.rulesAre("two", "four"))
	time.Sleep(200 * time.Millisecond) // let the fix's last events settle
	reloads := f.w.Stats().Reloads
	writeFile(t, filepath.Join(dir, "notes.txt"), "hello")
	time.Sleep(300 * time.Millisecond)
	if f.w.Stats().Reloads != reloads {
		t.Fatal("a .txt file triggered a reload")
	}

	// Removing a file reloads without it.
	f.change(func() { os.Remove(filepath.Join(dir, "sub", "deeper", "b.yml")) }, f.rulesAre("two"))
}

func TestWatcherSingleFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "rules.yaml")
	writeFile(t, p, rule("one", "sf.opflags = EXEC"))
	writeFile(t, filepath.Join(dir, "other.yaml"), "not: [valid")
	f := startWatcher(t, []string{p})
	// An editor replacing the file by rename.
	f.change(func() { writeFile(t, p, rule("two", "sf.opflags = EXEC")) }, f.rulesAre("two"))
	// A sibling that is not watched changes nothing.
	time.Sleep(200 * time.Millisecond)
	reloads := f.w.Stats().Reloads
	writeFile(t, filepath.Join(dir, "other.yaml"), "still: [invalid")
	time.Sleep(300 * time.Millisecond)
	if s := f.w.Stats(); s.Reloads != reloads || s.Failures != 0 {
		t.Fatalf("a sibling file triggered a reload: %+v", s)
	}
}

func TestReloadOnDemand(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "rules.yaml")
	writeFile(t, p, rule("one", "sf.opflags = EXEC"))
	set, _, err := policies.Load([]string{p}, policies.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tr, _ := New(Config{}, set)
	w, err := NewWatcher(WatcherConfig{Paths: []string{p}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, tr)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, p, rule("bad", "nope and")+rule("worse", "sf.proc.name in x"))
	err = w.Reload()
	var le *policies.LoadError
	if !errors.As(err, &le) || len(le.Diagnostics) != 2 || tr.Set() != set {
		t.Fatalf("reload of a broken file: %v (running set replaced: %v)", err, tr.Set() != set)
	}
	writeFile(t, p, rule("two", "sf.opflags = EXEC"))
	if err := w.Reload(); err != nil || ruleNamesOf(tr.Set())[0] != "two" {
		t.Fatalf("reload: %v", err)
	}
	if _, err := NewWatcher(WatcherConfig{Paths: []string{filepath.Join(dir, "missing")}}, tr); err == nil {
		t.Fatal("watcher on a missing path")
	}
}
