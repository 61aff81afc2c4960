package avro

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"testing"

	"github.com/sfconnector/sfconnector/sysflow"
	"github.com/sfconnector/sfconnector/testenv/shared"
	"github.com/sfconnector/sfconnector/transforms/flatten"
)

// The direct steps (command lines, hex OIDs, pod JSON) write, for every event of every real trace, the
// bytes the generic step writes from the field registry's getter.
func TestCmdlineStepsMatchRegistry(t *testing.T) {
	total, withAncestors, withPod, withNewFile := 0, 0, 0, 0
	for _, path := range shared.Traces(t) {
		r, c, err := sysflow.OpenFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var recs []sysflow.Record
		for {
			recs, err = r.Next(recs)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
		}
		c.Close()
		f := flatten.New(flatten.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		events := append(f.Flatten(recs, nil), &sysflow.Event{}) // and one without any process
		var scratch []string
		for _, e := range events {
			if len(e.Ancestry) > 0 {
				withAncestors++
			}
			if e.Pod != nil && (len(e.Pod.Services) > 0 || len(e.Pod.HostIP) > 0) {
				withPod++
			}
			if e.NewFileOID != nil {
				withNewFile++
			}
			for name, fast := range directSteps {
				fd, ok := sysflow.LookupField(name)
				if !ok {
					t.Fatalf("%s: not in the registry", name)
				}
				var want []byte
				if fd.Kind == sysflow.FieldList {
					scratch = fd.List(e, scratch[:0])
					want = appendStrings(nil, scratch)
				} else {
					want = appendString(nil, fd.Str(e))
				}
				if got := fast(nil, e, nil); !bytes.Equal(got, want) {
					t.Fatalf("%s: %s on event ts %d: %q, the registry's %q", path, name, e.TS, got, want)
				}
			}
			total++
		}
	}
	if total < 1000 || withAncestors == 0 || withPod == 0 || withNewFile == 0 {
		t.Fatalf("%d events, %d with ancestors, %d with pod IPs or services, %d with a second file: too few to check", total, withAncestors, withPod, withNewFile)
	}
	t.Logf("%d events (%d with ancestors, %d with pod IPs or services, %d with a second file)", total, withAncestors, withPod, withNewFile)
}
