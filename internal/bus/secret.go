package bus

import (
	"fmt"
	"os"
	"strings"
)

// Secret is a credential. It prints as "REDACTED" with every fmt verb and
// marshals as "REDACTED", so logging a Config never leaks it; Reveal returns
// the value.
type Secret string

// String hides the secret.
func (Secret) String() string { return "REDACTED" }

// GoString hides the secret from %#v.
func (Secret) GoString() string { return `"REDACTED"` }

// MarshalText hides the secret from JSON and YAML encoders.
func (Secret) MarshalText() ([]byte, error) { return []byte("REDACTED"), nil }

// Reveal returns the secret's value.
func (s Secret) Reveal() string { return string(s) }

// ReadSecret returns the value when set, else the content of file (trailing
// newlines trimmed), else "". key names the configuration key in errors; the
// secret itself never appears in an error.
func ReadSecret(key string, value Secret, file string) (Secret, error) {
	if value != "" {
		return value, nil
	}
	if file == "" {
		return "", nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("%s: read secret file: %w", key, err)
	}
	return Secret(strings.TrimRight(string(b), "\r\n")), nil
}
