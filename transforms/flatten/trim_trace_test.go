package flatten_test

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"

	sfjson "github.com/sfconnector/sfconnector/encoding/json"
	"github.com/sfconnector/sfconnector/sysflow"
	"github.com/sfconnector/sfconnector/testenv/parity"
	"github.com/sfconnector/sfconnector/testenv/shared"
	"github.com/sfconnector/sfconnector/transforms/flatten"
)

// padded returns a copy of recs in which every string the reference trims
// carries white space, as real collectors write it: file paths end in a
// newline (socket paths do), exe and args, container and pod strings get
// spaces, tabs and newlines around them.
func padded(recs []sysflow.Record) []sysflow.Record {
	out := make([]sysflow.Record, len(recs))
	for i, r := range recs {
		switch {
		case r.Process != nil:
			p := *r.Process
			p.Exe, p.ExeArgs = p.Exe+"\n", " "+p.ExeArgs+"  "
			r.Process = &p
		case r.File != nil:
			f := *r.File
			f.Path += "\n"
			r.File = &f
		case r.Container != nil:
			c := *r.Container
			c.Name, c.Image = "\t"+c.Name, c.Image+" \n"
			r.Container = &c
		case r.Pod != nil:
			p := *r.Pod
			p.Name, p.NodeName, p.Namespace = p.Name+" ", "\n"+p.NodeName, p.Namespace+"\t"
			r.Pod = &p
		}
		out[i] = r
	}
	return out
}

func flattenJSON(t testing.TB, recs []sysflow.Record) ([]*sysflow.Event, []string) {
	f := flatten.New(flatten.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	evs := f.Flatten(recs, nil)
	enc := sfjson.New(sfjson.Options{})
	lines := make([]string, len(evs))
	for i, e := range evs {
		b, err := enc.AppendEvent(nil, e)
		if err != nil {
			t.Fatal(err)
		}
		lines[i] = string(b)
	}
	return evs, lines
}

// trimmedFields are the policy fields of the strings the reference trims.
var trimmedFields = []string{"sf.file.path", "sf.file.symlink", "sf.file.newpath", "sf.file.newsymlink", "sf.proc.exe",
	"sf.proc.args", "sf.proc.name", "sf.pproc.exe", "sf.pproc.args", "sf.container.name", "sf.container.image",
	"sf.pod.name", "sf.pod.nodename", "sf.pod.namespace"}

// TestTrimSpaceTraces runs every real trace twice: as recorded, and with
// white space added around every trimmed string of every entity. The
// exported JSON must be the same, no trimmed field may keep surrounding
// white space, and sf.file.path = /dev/log must match as many records as
// the reference's telemetry has with that path.
func TestTrimSpaceTraces(t *testing.T) {
	fields := make([]*sysflow.Field, len(trimmedFields))
	for i, n := range trimmedFields {
		fields[i], _ = sysflow.LookupField(n)
	}
	for _, path := range shared.Traces(t) {
		name := shared.TraceName(path)
		t.Run(name, func(t *testing.T) {
			recs := readTrace(t, path)
			pad := padded(recs)
			before := 0 // file paths recorded with surrounding white space
			for _, r := range pad {
				if r.File != nil && r.File.Path != strings.TrimSpace(r.File.Path) {
					before++
				}
			}
			_, want := flattenJSON(t, recs)
			evs, got := flattenJSON(t, pad)
			if len(got) != len(want) {
				t.Fatalf("%d events padded, %d as recorded", len(got), len(want))
			}
			diff := 0
			for i := range got {
				if got[i] != want[i] {
					if diff++; diff <= 3 {
						t.Errorf("event %d padded:\n  %.400s\nas recorded:\n  %.400s", i, got[i], want[i])
					}
				}
			}
			after, devlog := 0, 0
			for _, e := range evs {
				for _, f := range fields {
					if v := f.Str(e); v != strings.TrimSpace(v) {
						after++
					}
				}
				if e.FilePath() == "/dev/log" {
					devlog++
				}
			}
			if after != 0 || diff != 0 {
				t.Errorf("%d field values keep white space, %d events differ", after, diff)
			}
			refDevlog := 0
			for _, line := range parity.LoadLines(t, shared.Path(t, "parity", "telemetry", name+".jsonl.gz")) {
				refDevlog += bytes.Count(line, []byte(`"path":"/dev/log"`))
			}
			if devlog != refDevlog {
				t.Errorf("sf.file.path = /dev/log: %d records, the reference has %d", devlog, refDevlog)
			}
			fmt.Printf("%-45s file paths padded %6d, white space left %d, /dev/log %d\n", name, before, after, devlog)
		})
	}
}
