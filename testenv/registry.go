package testenv

import (
	"os"
	"testing"

	"github.com/twmb/franz-go/pkg/sr/srfake"
)

// SchemaRegistry returns the URL of a Confluent-compatible schema registry
// for t: SCHEMA_REGISTRY_URL when set, else an in-process srfake registry
// served over HTTP on loopback and stopped when the test ends.
//
// srfake accepts every schema as compatible; a test of compatibility rules
// needs a real registry through SCHEMA_REGISTRY_URL.
func SchemaRegistry(t testing.TB) string {
	t.Helper()
	if u := os.Getenv("SCHEMA_REGISTRY_URL"); u != "" {
		return u
	}
	reg := srfake.New()
	t.Cleanup(reg.Close)
	return reg.URL()
}
