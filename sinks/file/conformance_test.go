package file_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/sfconnector/sfconnector/internal/conformance"
	"github.com/sfconnector/sfconnector/sinks/file"
	"github.com/sfconnector/sfconnector/sysflow"
)

// The file sink runs the sink half of the conformance suite on a regular
// file reached through a symbolic link. The failure is a full device: the
// link is pointed at /dev/full (every write fails with ENOSPC); the
// recovery points it back at the file, as an operator moving the output off
// a full disk would, and the sink reopens its path once it names another
// file. Reconnect is skipped: a file has no server to restart.
func TestConformance(t *testing.T) {
	setup := func(t *testing.T) conformance.SinkPair {
		dir := t.TempDir()
		real := filepath.Join(dir, "out.real")
		link := filepath.Join(dir, "out")
		if err := os.Symlink(real, link); err != nil {
			t.Fatal(err)
		}
		sink, err := file.New(file.Config{Path: link}, conformance.Codec{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = sink.Close() })
		p := conformance.SinkPair{
			Publisher: sink,
			Received: func(t *testing.T) []*sysflow.Event {
				data, err := os.ReadFile(real)
				if err != nil {
					t.Fatal(err)
				}
				return conformance.DecodeLines(t, data)
			},
		}
		if _, err := os.Stat("/dev/full"); err == nil {
			p.Fail = func(t *testing.T) func() {
				repoint(t, link, "/dev/full")
				return func() { repoint(t, link, real) }
			}
		}
		return p
	}
	// a failed write is truncated away before the error returns, so a
	// retry writes each event once
	conformance.RunSink(t, conformance.SinkFeatures{ExactlyOnceRetry: true}, setup)
}

// repoint makes link point at target in one rename, as ln -sfn does.
func repoint(t *testing.T, link, target string) {
	t.Helper()
	tmp := link + ".new"
	if err := os.Symlink(target, tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, link); err != nil {
		t.Fatal(err)
	}
}
