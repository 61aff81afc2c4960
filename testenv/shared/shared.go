// Package shared locates the project's shared test material (real collector
// traces, the reference processor's output and policy files) in ../shared
// beside the repository. Tests read it from there and never copy it.
//
// When the material is missing, tests are skipped on a developer's machine
// but fail under CI=true, where a skip would hide a broken setup.
package shared

import (
	"os"
	"path/filepath"
	"sort"
	"testing"
)

// Root returns the absolute path of ../shared, or "" when it is missing.
// SFCONNECTOR_SHARED overrides the location.
func Root() string {
	if p := os.Getenv("SFCONNECTOR_SHARED"); p != "" {
		return p
	}
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			p := filepath.Join(filepath.Dir(dir), "shared")
			if st, err := os.Stat(p); err == nil && st.IsDir() {
				return p
			}
			return ""
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// Path returns the path of parts inside ../shared. A missing path skips the
// test, or fails it when CI=true.
func Path(t testing.TB, parts ...string) string {
	t.Helper()
	root := Root()
	if root == "" {
		missing(t, "../shared")
		return ""
	}
	p := filepath.Join(append([]string{root}, parts...)...)
	if _, err := os.Stat(p); err != nil {
		missing(t, p)
	}
	return p
}

// Traces returns every ../shared/traces/*.sf file, sorted by name.
func Traces(t testing.TB) []string {
	t.Helper()
	dir := Path(t, "traces")
	files, err := filepath.Glob(filepath.Join(dir, "*.sf"))
	if err != nil || len(files) == 0 {
		missing(t, filepath.Join(dir, "*.sf"))
	}
	sort.Strings(files)
	return files
}

// TraceName is a trace's file name without its .sf extension, the name its
// parity files use.
func TraceName(path string) string {
	base := filepath.Base(path)
	return base[:len(base)-len(filepath.Ext(base))]
}

func missing(t testing.TB, what string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("shared test material %s is missing (CI=true: it must be present)", what)
	}
	t.Skipf("shared test material %s is missing", what)
}
