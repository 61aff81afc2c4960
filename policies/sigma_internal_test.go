package policies

import (
	"testing"

	"github.com/sfconnector/sfconnector/sysflow"
)

// TestAncestorCmdlineAppender checks that the allocation-free composition
// of sf.proc.acmdline gives, on every trace event, exactly the field's
// elements.
func TestAncestorCmdlineAppender(t *testing.T) {
	f, ok := sysflow.LookupField("sf.proc.acmdline")
	if !ok {
		t.Fatal("no sf.proc.acmdline")
	}
	n := 0
	for name, evs := range traceEvents(t) {
		for _, ev := range evs {
			want := f.List(ev, nil)
			if len(want) != len(ev.Ancestry) {
				t.Fatalf("%s: %d ancestors but %d command lines", name, len(ev.Ancestry), len(want))
			}
			for i, a := range ev.Ancestry {
				if got := string(appendAncestorCmdline(nil, a)); got != want[i] {
					t.Fatalf("%s: ancestor %d: %q, the field gives %q", name, i, got, want[i])
				}
				n++
			}
		}
	}
	if n == 0 {
		t.Fatal("no ancestors in the traces")
	}
}
