package main

import (
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sfconnector/sfconnector/testenv/shared"
)

// TestCLICPUProfile: --cpuprofile leaves a profile pprof can parse, with
// samples of the run, and a path it cannot create is refused up front.
func TestCLICPUProfile(t *testing.T) {
	cleanEnv(t)
	trace := shared.Path(t, "traces", "mon.1531776682.sf")
	dir := t.TempDir()
	prof := filepath.Join(dir, "cpu.pprof")
	code, stderr := runCLI(t, "run", "--progress=false", "--cpuprofile", prof, trace)
	assertNoPanic(t, stderr)
	if code != 0 {
		t.Fatalf("exit status %d; stderr:\n%s", code, tail(stderr, 2000))
	}
	f, err := os.Open(prof)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// a pprof profile is a gzipped protobuf whose string table names the
	// CPU profile's sample types and the functions sampled
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("%s is not gzipped as a pprof profile is: %v", prof, err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("%s: %v", prof, err)
	}
	for _, want := range []string{"samples", "cpu", "nanoseconds"} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("%s does not name %q: not a CPU profile", prof, want)
		}
	}
	code, stderr = runCLI(t, "run", "--progress=false", "--cpuprofile", filepath.Join(dir, "missing", "cpu.pprof"), trace)
	if code != 2 {
		t.Errorf("--cpuprofile into a missing directory: exit %d, want 2; stderr:\n%s", code, stderr)
	}
}
