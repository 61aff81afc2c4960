package natsconn

import (
	"strings"
	"testing"

	"github.com/ThreeDotsLabs/watermill"

	"github.com/sfconnector/sfconnector/internal/bus"
)

// TestErrorsNameKeyWithPrefix checks that the errors name the key as the
// caller spells it: "nats.url" for the exporter, "url" for the source
// driver (it used to be nats.* for both). None of these cases reaches a
// server: each fails before dialling.
func TestErrorsNameKeyWithPrefix(t *testing.T) {
	for _, prefix := range []string{"nats.", ""} {
		check := func(err error, want string) {
			t.Helper()
			if err == nil || err.Error() != want {
				t.Errorf("prefix %q: error %v, want %q", prefix, err, want)
			}
		}
		c := Config{URL: "nats://a:1,"}
		check(c.Validate(prefix), prefix+`url: empty server in "nats://a:1,"`)
		c = Config{URL: "nats://127.0.0.1:1", Creds: "c", User: "u"}
		check(c.Validate(prefix), "nats: give one of "+prefix+"creds, "+prefix+"nkey, "+prefix+"token_file, "+prefix+"user")
		c = Config{URL: "nats://127.0.0.1:1", TLS: bus.TLSConfig{Key: "k.pem"}}
		check(c.Validate(prefix), prefix+"tls: cert and key must be given together")
		c = Config{URL: "nats://127.0.0.1:1", NKey: "/nonexistent/seed.nk"}
		_, err := c.Connect(prefix, watermill.NopLogger{})
		if err == nil || !strings.HasPrefix(err.Error(), prefix+"nkey: ") {
			t.Errorf("prefix %q: error %v, want one starting %q", prefix, err, prefix+"nkey: ")
		}
	}
}
