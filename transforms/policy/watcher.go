package policy

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/sfconnector/sfconnector/policies"
)

// WatcherConfig configures a Watcher.
type WatcherConfig struct {
	// Paths are the policy files and directories, as given to policies.Load.
	Paths []string
	// Options for loading (strict mode, logger, fields).
	Options policies.Options
	// Debounce is how long the policy files must be quiet before a reload,
	// so that an editor's save (write, rename, chmod) reloads once
	// (default 300ms).
	Debounce time.Duration
	// Logger (default slog.Default()).
	Logger *slog.Logger
}

// WithDefaults returns c with the defaults NewWatcher applies filled in
// (compared with config.Specs by a test).
func (c WatcherConfig) WithDefaults() WatcherConfig {
	c.setDefaults()
	return c
}

func (c *WatcherConfig) setDefaults() {
	if c.Debounce <= 0 {
		c.Debounce = 300 * time.Millisecond
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Validate checks that there is something to watch.
func (c WatcherConfig) Validate() error {
	if len(c.Paths) == 0 {
		return errors.New("policy watcher: no policy paths")
	}
	for _, p := range c.Paths {
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("policy watcher: %w", err)
		}
	}
	return nil
}

// WatcherStats counts reloads.
type WatcherStats struct {
	Reloads  uint64 // sets installed
	Failures uint64 // reloads that failed; the running set stayed
}

// Watcher reloads a transform's policy set when its files change, and on
// demand.
type Watcher struct {
	cfg WatcherConfig
	t   *Transform

	reloadMu sync.Mutex // one reload at a time (file events and SIGHUP)
	reloads  atomic.Uint64
	failures atomic.Uint64
	reloaded chan struct{} // closed and replaced after every reload attempt (tests)
	notifyMu sync.Mutex
}

// NewWatcher returns a watcher for t. Run starts watching.
func NewWatcher(cfg WatcherConfig, t *Transform) (*Watcher, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	return &Watcher{cfg: cfg, t: t, reloaded: make(chan struct{})}, nil
}

// Stats returns the reload counters.
func (w *Watcher) Stats() WatcherStats {
	return WatcherStats{Reloads: w.reloads.Load(), Failures: w.failures.Load()}
}

// Reload loads the policy paths and, when the set loads without errors,
// installs it. On failure every error is logged, the running set stays and
// the *policies.LoadError is returned. The connector calls it on SIGHUP.
func (w *Watcher) Reload() error {
	w.reloadMu.Lock()
	defer w.reloadMu.Unlock()
	defer w.notify()
	set, diags, err := policies.Load(w.cfg.Paths, w.cfg.Options)
	if err != nil {
		w.failures.Add(1)
		w.cfg.Logger.Error("policy reload failed; the running policies stay", "paths", w.cfg.Paths, "errors", countErrors(diags))
		for _, d := range diags {
			if d.Severity == policies.SeverityError {
				w.cfg.Logger.Error("policy error", "at", d.Pos.String(), "item", d.Item, "msg", d.Msg)
			}
		}
		return err
	}
	w.t.Swap(set)
	w.reloads.Add(1)
	w.cfg.Logger.Info("policies reloaded", "paths", w.cfg.Paths, "rules", len(set.Rules()), "filters", len(set.Filters()), "warnings", len(diags))
	return nil
}

func countErrors(diags []policies.Diagnostic) int {
	n := 0
	for _, d := range diags {
		if d.Severity == policies.SeverityError {
			n++
		}
	}
	return n
}

func (w *Watcher) notify() {
	w.notifyMu.Lock()
	close(w.reloaded)
	w.reloaded = make(chan struct{})
	w.notifyMu.Unlock()
}

// reloadDone returns a channel closed after the next reload attempt.
func (w *Watcher) reloadDone() <-chan struct{} {
	w.notifyMu.Lock()
	defer w.notifyMu.Unlock()
	return w.reloaded
}

// Run watches the policy paths until ctx is done, reloading after changes
// to policy files (.yaml, .yml) or to the directories holding them. It
// returns nil when ctx is done, or the error that stopped the watch.
func (w *Watcher) Run(ctx context.Context) error {
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("policy watcher: %w", err)
	}
	defer fw.Close()
	// Files given by name are watched through their directory: editors
	// replace a file by renaming a new one over it, which a watch on the
	// file itself would lose.
	files := map[string]bool{}
	var trees []string
	for _, p := range w.cfg.Paths {
		abs, err := filepath.Abs(p)
		if err != nil {
			return fmt.Errorf("policy watcher: %w", err)
		}
		st, err := os.Stat(abs)
		if err != nil {
			return fmt.Errorf("policy watcher: %w", err)
		}
		if st.IsDir() {
			trees = append(trees, abs)
			if err := addTree(fw, abs); err != nil {
				return err
			}
			continue
		}
		files[abs] = true
		if err := fw.Add(filepath.Dir(abs)); err != nil {
			return fmt.Errorf("policy watcher: watch %s: %w", filepath.Dir(abs), err)
		}
	}
	inTree := func(name string) bool {
		for _, t := range trees {
			if name == t || strings.HasPrefix(name, t+string(filepath.Separator)) {
				return true
			}
		}
		return false
	}
	watched := func(name string) bool {
		for _, p := range fw.WatchList() {
			if p == name {
				return true
			}
		}
		return false
	}
	relevant := func(ev fsnotify.Event) bool {
		if files[ev.Name] {
			return true
		}
		if !inTree(ev.Name) {
			return false // a sibling of a file given by name
		}
		if strings.HasPrefix(filepath.Base(ev.Name), ".") {
			return false // editors' temporary files; the loader skips them too
		}
		if policies.IsPolicyFile(ev.Name) {
			return true
		}
		if st, err := os.Stat(ev.Name); err == nil && st.IsDir() {
			if ev.Has(fsnotify.Create) {
				if err := addTree(fw, ev.Name); err != nil {
					w.cfg.Logger.Warn("policy watcher: cannot watch new directory", "dir", ev.Name, "err", err)
				}
			}
			return true // a directory of policies appeared or changed
		}
		// A directory removed or renamed away: it was watched.
		return ev.Has(fsnotify.Remove|fsnotify.Rename) && watched(ev.Name)
	}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-fw.Events:
			if !ok {
				return errors.New("policy watcher: event channel closed")
			}
			if relevant(ev) {
				timer.Reset(w.cfg.Debounce)
			}
		case err, ok := <-fw.Errors:
			if !ok {
				return errors.New("policy watcher: error channel closed")
			}
			// An overflow loses events: reload to be safe.
			w.cfg.Logger.Warn("policy watcher", "err", err)
			timer.Reset(w.cfg.Debounce)
		case <-timer.C:
			_ = w.Reload() // failures are logged and counted
		}
	}
}

// addTree watches dir and every directory below it, hidden ones excepted.
func addTree(fw *fsnotify.Watcher, dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("policy watcher: %w", err)
		}
		if !d.IsDir() {
			return nil
		}
		if p != dir && strings.HasPrefix(d.Name(), ".") {
			return filepath.SkipDir
		}
		if err := fw.Add(p); err != nil {
			return fmt.Errorf("policy watcher: watch %s: %w", p, err)
		}
		return nil
	})
}
