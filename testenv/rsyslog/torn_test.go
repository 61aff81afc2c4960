package rsyslog

import (
	"os"
	"path/filepath"
	"testing"
)

// TestDropTornLine: what a killed rsyslogd half wrote is cut off at the
// last complete line; complete and empty files are left as they are.
func TestDropTornLine(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"<13>1 a\n<13>1 b\n<13>1 tor", "<13>1 a\n<13>1 b\n"},
		{"<13>1 a\n<13>1 b\n", "<13>1 a\n<13>1 b\n"},
		{"<13>1 torn", ""},
		{"", ""},
	} {
		f := filepath.Join(t.TempDir(), "raw.log")
		if err := os.WriteFile(f, []byte(tc.in), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := dropTornLine(f); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != tc.want {
			t.Errorf("%q: file holds %q, want %q", tc.in, got, tc.want)
		}
	}
	if err := dropTornLine(filepath.Join(t.TempDir(), "absent.log")); err != nil {
		t.Errorf("absent file: %v", err)
	}
}
