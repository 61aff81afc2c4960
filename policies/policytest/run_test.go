package policytest_test

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"

	"github.com/sfconnector/sfconnector/policies/policytest"
	"github.com/sfconnector/sfconnector/testenv/shared"
)

// TestDefaultPolicies runs the YAML tests shipped with the bundled
// policies (policies/default/tests).
func TestDefaultPolicies(t *testing.T) {
	files, err := filepath.Glob("../default/tests/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no test files: %v", err)
	}
	t.Setenv("SFCONNECTOR_SHARED", shared.Path(t))
	var out bytes.Buffer
	passed, failed, err := policytest.Run(context.Background(), files, &out)
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatal(err)
	}
	if failed > 0 || passed == 0 {
		t.Fatalf("%d passed, %d failed", passed, failed)
	}
}
