package main

import (
	"bytes"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sfconnector/sfconnector/sysflow"
)

// attackExes are programs only the attack scenarios run.
var attackExes = map[string]bool{"/usr/bin/nc": true, "/usr/bin/curl": true, "/usr/bin/wget": true,
	"/usr/bin/nsenter": true, "/usr/bin/apt-get": true, "/usr/bin/shred": true, "/tmp/rootbash": true}

// attackProcesses counts the processes of a trace that run an attack
// program, reading it back with the decoder.
func attackProcesses(t *testing.T, path string) int {
	t.Helper()
	r, c, err := sysflow.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	seen := map[sysflow.OID]bool{}
	var recs []sysflow.Record
	for {
		recs, err = r.Next(recs[:0])
		for _, rec := range recs {
			if rec.Kind == sysflow.KindProcess && attackExes[rec.Process.Exe] {
				seen[rec.Process.OID] = true
			}
		}
		if errors.Is(err, io.EOF) {
			return len(seen)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestGenAttackRate(t *testing.T) {
	dir := t.TempDir()
	count := map[string]int{}
	for _, rate := range []string{"0", "0.0005", "0.004"} {
		out := filepath.Join(dir, "r"+rate+".sf")
		var stderr bytes.Buffer
		if err := cmdGen([]string{"--records", "10000", "--seed", "3", "--attack-rate", rate, "-o", out}, io.Discard, &stderr); err != nil {
			t.Fatalf("--attack-rate %s: %v\n%s", rate, err, stderr.String())
		}
		count[rate] = attackProcesses(t, out)
	}
	// 10,000 events: no scenario; the first five (reverse-shell among them);
	// all ten, four times each.
	if count["0"] != 0 {
		t.Errorf("--attack-rate 0: %d attack processes, want none", count["0"])
	}
	if count["0.0005"] == 0 || count["0.004"] <= count["0.0005"] {
		t.Errorf("attack processes at rates 0.0005 and 0.004: %d and %d, want some, then more", count["0.0005"], count["0.004"])
	}
}

func TestGenRejectsBadAttackRate(t *testing.T) {
	for _, rate := range []string{"-0.1", "0.5", "NaN", "lots"} {
		var stderr bytes.Buffer
		err := cmdGen([]string{"--attack-rate", rate, "-o", filepath.Join(t.TempDir(), "x.sf")}, io.Discard, &stderr)
		var ee exitError
		if !errors.As(err, &ee) || ee.code != 2 {
			t.Errorf("--attack-rate %s: error %v, want exit status 2", rate, err)
		}
		if !strings.Contains(stderr.String(), "attack") {
			t.Errorf("--attack-rate %s: the message does not name the attack rate:\n%s", rate, stderr.String())
		}
	}
}
