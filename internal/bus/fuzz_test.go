package bus_test

import (
	"strings"
	"testing"

	"github.com/sfconnector/sfconnector/internal/bus"
	"github.com/sfconnector/sfconnector/sysflow"
)

// FuzzTemplate: any text either fails to parse with an error or expands
// without panicking; a template without braces expands to itself.
func FuzzTemplate(f *testing.F) {
	for _, s := range []string{"sysflow.alerts.{node}.{priority}", "{", "}", "{}", "a{node", "{rule}{type}{container}", ""} {
		f.Add(s)
	}
	ev := &sysflow.Event{Header: &sysflow.Header{Exporter: "n.1 *>"}}
	f.Fuzz(func(t *testing.T, s string) {
		tp, err := bus.ParseTemplate(s)
		if err != nil {
			return
		}
		got := tp.Expand(ev, bus.SubjectTokenSafe)
		if !strings.ContainsAny(s, "{}") && got != s {
			t.Fatalf("literal %q expanded to %q", s, got)
		}
	})
}
