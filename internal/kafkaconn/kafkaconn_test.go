package kafkaconn

import (
	"testing"

	"github.com/sfconnector/sfconnector/internal/bus"
)

// TestErrorsNameKeyWithPrefix checks that the errors name the key as the
// caller spells it: "kafka.brokers" for the exporter, "brokers" for the
// source driver (it used to be kafka.* for both).
func TestErrorsNameKeyWithPrefix(t *testing.T) {
	for _, prefix := range []string{"kafka.", ""} {
		check := func(err error, want string) {
			t.Helper()
			if err == nil || err.Error() != want {
				t.Errorf("prefix %q: error %v, want %q", prefix, err, want)
			}
		}
		check(ValidateBrokers(prefix, nil), prefix+"brokers: at least one broker address is required")
		s := SASLConfig{Mechanism: "GSSAPI"}
		check(s.Validate(prefix), prefix+`sasl.mechanism: "GSSAPI" is not one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512`)
		s = SASLConfig{Mechanism: "PLAIN"}
		check(s.Validate(prefix), prefix+"sasl.username: required with mechanism PLAIN")
		s = SASLConfig{Mechanism: "PLAIN", Username: "u"}
		_, err := Resolve(prefix, &bus.TLSConfig{}, &s)
		check(err, prefix+"sasl.password_file: a password (or a password file) is required with mechanism PLAIN")
		_, err = Resolve(prefix, &bus.TLSConfig{Cert: "c.pem"}, &SASLConfig{})
		check(err, prefix+"tls: cert and key must be given together")
	}
}
