package bus

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// TLSConfig are the TLS settings of a bus connection. The server's
// certificate is verified unless InsecureSkipVerify is set explicitly.
type TLSConfig struct {
	// Enable turns TLS on. Setting CA or Cert also turns it on.
	Enable bool
	// CA is a PEM file of certificate authorities to trust instead of the
	// system's (key: tls.ca).
	CA string
	// Cert and Key are PEM files of a client certificate and its key, for
	// servers that authenticate clients by certificate (tls.cert, tls.key).
	Cert string
	Key  string
	// ServerName overrides the name checked in the server's certificate
	// (tls.servername); default: the host being dialled.
	ServerName string
	// InsecureSkipVerify disables verification of the server's certificate
	// (tls.insecure). For tests against throw-away servers only.
	InsecureSkipVerify bool
}

// Enabled reports whether TLS is requested.
func (c *TLSConfig) Enabled() bool { return c.Enable || c.CA != "" || c.Cert != "" }

// Validate checks the settings without reading files.
func (c *TLSConfig) Validate(prefix string) error {
	if (c.Cert == "") != (c.Key == "") {
		return fmt.Errorf("%s: cert and key must be given together", tlsKey(prefix, "tls"))
	}
	return nil
}

// tlsKey names a TLS key in errors: the exporters' keys are prefixed
// (kafka.tls.ca), the source drivers' are not (tls.ca).
func tlsKey(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

// Build returns the crypto/tls configuration, or nil when TLS is off.
// prefix is the configuration key prefix used in errors ("kafka", "nats",
// "" for a source driver's unprefixed keys).
func (c *TLSConfig) Build(prefix string) (*tls.Config, error) {
	if !c.Enabled() {
		return nil, nil
	}
	if err := c.Validate(prefix); err != nil {
		return nil, err
	}
	tc := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         c.ServerName,
		InsecureSkipVerify: c.InsecureSkipVerify, //nolint:gosec // explicit opt-in, documented as test-only
	}
	if c.CA != "" {
		pem, err := os.ReadFile(c.CA)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", tlsKey(prefix, "tls.ca"), err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s: %s holds no PEM certificate", tlsKey(prefix, "tls.ca"), c.CA)
		}
		tc.RootCAs = pool
	}
	if c.Cert != "" {
		cert, err := tls.LoadX509KeyPair(c.Cert, c.Key)
		if err != nil {
			return nil, fmt.Errorf("%s/key: %w", tlsKey(prefix, "tls.cert"), err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// ErrNoBatch is returned for a message that carries no batch and no payload.
var ErrNoBatch = errors.New("message carries neither a batch nor a payload")
