package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sfconnector/sfconnector/sysflow"
	"github.com/sfconnector/sfconnector/testenv/parity"
	"github.com/sfconnector/sfconnector/testenv/shared"
)

// ocfBlock is one block of a container file, located by the test's own
// walk of the Avro container framing (independent of sysflow.Reader).
type ocfBlock struct {
	start, data, end int // block start, its data, its end (after the sync marker)
	before           int // records in the blocks before it
	count            int
}

func zigzag(t *testing.T, b []byte, p *int) int {
	t.Helper()
	var u uint64
	for shift := uint(0); shift < 64; shift += 7 {
		c := b[*p]
		*p++
		u |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return int(int64(u>>1) ^ -int64(u&1))
		}
	}
	t.Fatal("bad varint")
	return 0
}

// walkBlocks returns the blocks of a well-formed container file.
func walkBlocks(t *testing.T, b []byte) []ocfBlock {
	t.Helper()
	p := 4 // magic
	for {
		n := zigzag(t, b, &p)
		if n == 0 {
			break
		}
		if n < 0 {
			n = -n
			zigzag(t, b, &p)
		}
		for range n {
			p += zigzag(t, b, &p) // key
			p += zigzag(t, b, &p) // value
		}
	}
	p += 16 // sync marker
	var blocks []ocfBlock
	recs := 0
	for p < len(b) {
		start := p
		count := zigzag(t, b, &p)
		size := zigzag(t, b, &p)
		blocks = append(blocks, ocfBlock{start: start, data: p, end: p + size + 16, before: recs, count: count})
		p += size + 16
		recs += count
	}
	return blocks
}

// eventsIn counts the records among the first n of a trace that become a
// flat event (FIELDS.md: each PE, FE, FF, NF and KE; entities and process
// flows do not).
func eventsIn(t *testing.T, trace string, n int) int {
	t.Helper()
	rd, c, err := sysflow.OpenFile(trace)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var recs []sysflow.Record
	for {
		recs, err = rd.Next(recs)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if n < 0 || n > len(recs) {
		n = len(recs)
	}
	events := 0
	for _, r := range recs[:n] {
		switch r.Kind {
		case sysflow.KindProcessEvent, sysflow.KindFileEvent, sysflow.KindFileFlow, sysflow.KindNetworkFlow, sysflow.KindK8sEvent:
			events++
		}
	}
	return events
}

// TestCLIDamagedTraces runs the command on damaged copies of a real trace:
// it must exit non-zero with an error naming the file, without a panic,
// having written exactly the records of the blocks before the damage, the
// same as it writes for the intact file.
func TestCLIDamagedTraces(t *testing.T) {
	cleanEnv(t)
	trace := shared.Path(t, "traces", "k8s_small.sf")
	good, err := os.ReadFile(trace)
	if err != nil {
		t.Fatal(err)
	}
	blocks := walkBlocks(t, good)
	if len(blocks) < 4 {
		t.Fatalf("%s has %d blocks; the test damages a middle one", trace, len(blocks))
	}
	mid := blocks[len(blocks)/2]

	// The counting rule, checked on the whole file against the reference.
	ref := parity.LoadLines(t, shared.Path(t, "parity", "telemetry", "k8s_small.jsonl.gz"))
	if n := eventsIn(t, trace, -1); n != len(ref) {
		t.Fatalf("%d events counted in the trace, the reference exported %d records", n, len(ref))
	}
	// What the command writes for the intact file.
	dir := t.TempDir()
	goodOut := filepath.Join(dir, "good.json")
	if err := run([]string{"-driver", "file", "-config", pipelineJSON(t, dir, "", goodOut), "-log", "error", trace},
		io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	full := readOutput(t, goodOut)
	if len(full) != len(ref) {
		t.Fatalf("intact file: %d records written, want %d", len(full), len(ref))
	}
	prefix := eventsIn(t, trace, mid.before)
	through := eventsIn(t, trace, mid.before+mid.count) // the damaged block included

	flip := func(b []byte, offs ...int) []byte {
		b = bytes.Clone(b)
		for _, o := range offs {
			b[o] ^= 0xff
		}
		return b
	}
	dataMid := (mid.data + mid.end - 16) / 2
	where := fmt.Sprintf("block %d at byte %d", len(blocks)/2, mid.start) // as the error must locate it
	tests := []struct {
		name string
		data []byte
		// records written: at least min (the blocks before the damage),
		// at most max (a damaged block's records before the damage
		// may be written: they decode as in the intact file)
		min, max int
		errText  []string // besides the file's path
	}{
		// Flipped bytes inside the deflated data: the block inflates to
		// garbage from the damage on, and decoding stops there.
		{"flipped-data", flip(good, dataMid, dataMid+1, dataMid+7, dataMid+8), prefix, through,
			[]string{where}},
		{"flipped-sync", flip(good, mid.end-16, mid.end-9), prefix, prefix,
			[]string{where, "sync marker mismatch"}},
		{"truncated-in-block", good[:dataMid], prefix, prefix,
			[]string{where, "unexpected EOF"}},
		{"truncated-header", good[:blocks[0].start/2], 0, 0,
			[]string{"header"}},
		{"empty", nil, 0, 0,
			[]string{"not an Avro object container file"}},
		{"not-avro", bytes.Repeat([]byte("this is not a SysFlow trace\n"), 100), 0, 0,
			[]string{"not an Avro object container file"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			bad := filepath.Join(dir, tc.name+".sf")
			if err := os.WriteFile(bad, tc.data, 0o600); err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(dir, "out.json")
			code, stderr := runCLI(t, "-driver", "file", "-config", pipelineJSON(t, dir, "", out), bad)
			assertNoPanic(t, stderr)
			if code == 0 {
				t.Errorf("exit status 0 on a damaged trace; stderr:\n%s", tail(stderr, 2000))
			}
			last := lastLine(stderr)
			if !strings.HasPrefix(last, "sfconnector: ") || !strings.Contains(last, bad) {
				t.Errorf("the final error does not name the file %s: %q", bad, last)
			}
			for _, s := range tc.errText {
				if !strings.Contains(last, s) {
					t.Errorf("the final error does not say %q: %q", s, last)
				}
			}
			got := readOutput(t, out)
			switch {
			case tc.min == tc.max && len(got) != tc.min:
				t.Errorf("%d records written, want the %d of the blocks before the damage", len(got), tc.min)
			case len(got) < tc.min || len(got) > tc.max:
				t.Errorf("%d records written, want the %d of the blocks before the damage and at most the %d of the damaged block",
					len(got), tc.min, tc.max-tc.min)
			}
			for i := range min(len(got), len(full)) {
				if !bytes.Equal(got[i], full[i]) {
					t.Fatalf("record %d differs from the intact file's:\n got %.300s\nwant %.300s", i+1, got[i], full[i])
				}
			}
		})
	}
}

// TestCLIDamagedTraceDoesNotStopOthers: a damaged file among several is
// reported, and the files after it are still read.
func TestCLIDamagedTraceDoesNotStopOthers(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "a-empty.sf")
	if err := os.WriteFile(bad, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	trace := shared.Path(t, "traces", "httpd.sf")
	if err := os.Symlink(trace, filepath.Join(dir, "b-httpd.sf")); err != nil {
		t.Fatal(err)
	}
	outDir := t.TempDir()
	out := filepath.Join(outDir, "out.json")
	code, stderr := runCLI(t, "-driver", "file", "-config", pipelineJSON(t, outDir, "", out), dir)
	assertNoPanic(t, stderr)
	if code == 0 || !strings.Contains(lastLine(stderr), bad) {
		t.Errorf("exit status %d, final error %q: want non-zero naming %s", code, lastLine(stderr), bad)
	}
	parity.CompareTelemetry(t, trace, readOutput(t, out))
}

// TestCLIInvalidConfig: a configuration error stops the command before it
// reads anything, with an error naming the file and the key or plugin.
func TestCLIInvalidConfig(t *testing.T) {
	trace := shared.Path(t, "traces", "httpd.sf")
	reader := `{"processor": "sysflowreader", "handler": "flattener", "in": "sysflow sysflowchan", "out": "flat flattenerchan"}`
	engine := `{"processor": "policyengine", "in": "flat flattenerchan", "out": "evt eventchan", "mode": "enrich"}`
	exporter := func(extra string) string {
		return `{"processor": "exporter", "in": "evt eventchan", "export": "file", "path": "OUT"` + extra + `}`
	}
	pipeline := func(entries ...string) string {
		return `{"pipeline": [` + strings.Join(entries, ",\n") + `]}`
	}
	tests := []struct {
		name   string
		config string
		want   []string // in the final error, besides the file's name
	}{
		{"unknown-key", pipeline(reader, engine, exporter(`, "colour": "red"`)),
			[]string{"pipeline[2] (exporter)", `unknown key "colour"`}},
		{"misspelt-key", pipeline(reader, engine, exporter(`, "formt": "json"`)),
			[]string{"pipeline[2] (exporter)", `unknown key "formt"`, `"format"`}},
		{"bad-enum", pipeline(reader, engine, exporter(`, "format": "xml"`)),
			[]string{"pipeline[2] (exporter)", `"format"`, `"xml"`}},
		{"bad-mode", pipeline(reader, `{"processor": "policyengine", "in": "flat flattenerchan", "out": "evt eventchan", "mode": "loud"}`, exporter("")),
			[]string{"pipeline[1] (policyengine)", `"mode"`, `"loud"`}},
		{"bad-int", pipeline(`{"processor": "sysflowreader", "handler": "flattener", "in": "sysflow sysflowchan", "out": "flat flattenerchan", "tables.max": "lots"}`, engine, exporter("")),
			[]string{"pipeline[0] (sysflowreader)", `"tables.max"`, `"lots"`}},
		{"unknown-processor", pipeline(reader, `{"processor": "enricher", "in": "flat flattenerchan", "out": "evt eventchan"}`, exporter("")),
			[]string{"pipeline[1]", `unknown processor "enricher"`}},
		{"unknown-export", pipeline(reader, engine, `{"processor": "exporter", "in": "evt eventchan", "export": "carrier-pigeon"}`),
			[]string{"pipeline[2] (exporter)", `"export"`, `"carrier-pigeon"`}},
		{"dangling-channel", pipeline(reader, engine, `{"processor": "exporter", "in": "evt nowhere", "export": "file", "path": "OUT"}`),
			[]string{"pipeline[2] (exporter)", `"evt nowhere"`}},
		{"malformed-json", `{"pipeline": [` + reader + ",\n" + engine + ",\n" + exporter("") + ",\n]}",
			[]string{"line 4"}},
		{"truncated-json", `{"pipeline": [` + reader + ",\n" + engine,
			[]string{"unexpected end of file"}},
		{"not-a-list", `{"pipeline": {"processor": "exporter"}}`,
			[]string{`"pipeline" must be a non-empty list`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			out := filepath.Join(dir, "out.json")
			cfg := filepath.Join(dir, "pipeline.json")
			if err := os.WriteFile(cfg, []byte(strings.ReplaceAll(tc.config, "OUT", out)), 0o600); err != nil {
				t.Fatal(err)
			}
			code, stderr := runCLI(t, "-driver", "file", "-config", cfg, trace)
			assertNoPanic(t, stderr)
			if code == 0 {
				t.Fatalf("exit status 0 with an invalid configuration; stderr:\n%s", tail(stderr, 2000))
			}
			last := lastLine(stderr)
			t.Log(last)
			for _, s := range append([]string{"pipeline.json"}, tc.want...) {
				if !strings.Contains(last, s) {
					t.Errorf("the final error does not say %q: %q", s, last)
				}
			}
			if n := len(readOutput(t, out)); n > 0 {
				t.Errorf("%d records written although the configuration is invalid", n)
			}
		})
	}
}

// lastLine is the last non-empty line of s.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}

// TestCLIUnreadableTraceSkipped: a directory entry that cannot be read (a
// symbolic link to a file that is gone; the tests run as root, so file
// modes would not stop a read) is reported as unreadable, by name, the
// other files are read in full, and the run ends with a non-zero status.
func TestCLIUnreadableTraceSkipped(t *testing.T) {
	cleanEnv(t)
	dir := t.TempDir()
	bad := filepath.Join(dir, "a-gone.sf")
	if err := os.Symlink(filepath.Join(dir, "no-such-trace.sf"), bad); err != nil {
		t.Fatal(err)
	}
	trace := shared.Path(t, "traces", "httpd.sf")
	if err := os.Symlink(trace, filepath.Join(dir, "b-httpd.sf")); err != nil {
		t.Fatal(err)
	}
	outDir := t.TempDir()
	out := filepath.Join(outDir, "out.json")
	code, stderr := runCLI(t, "-driver", "file", "-config", pipelineJSON(t, outDir, "", out), dir)
	assertNoPanic(t, stderr)
	if code == 0 {
		t.Errorf("exit status 0 with an unreadable trace; stderr:\n%s", tail(stderr, 2000))
	}
	var reported bool
	for _, line := range strings.Split(stderr, "\n") {
		if strings.Contains(line, bad) {
			if strings.Contains(line, "damaged") {
				t.Errorf("an unreadable file is reported as damaged: %s", line)
			}
			if strings.Contains(line, "cannot read") && strings.Contains(line, "no such file") {
				reported = true
			}
		}
	}
	if !reported {
		t.Errorf("no line says %s cannot be read and why; stderr:\n%s", bad, tail(stderr, 2000))
	}
	parity.CompareTelemetry(t, trace, readOutput(t, out))
}
