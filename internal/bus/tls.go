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
	// (tls.server_name); default: the host being dialled.
	ServerName string
	// InsecureSkipVerify disables verification of the server's certificate
	// (tls.insecure_skip_verify). For tests against throw-away servers only.
	InsecureSkipVerify bool
}

// Enabled reports whether TLS is requested.
func (c *TLSConfig) Enabled() bool { return c.Enable || c.CA != "" || c.Cert != "" }

// Validate checks the settings without reading files.
func (c *TLSConfig) Validate(prefix string) error {
	if (c.Cert == "") != (c.Key == "") {
		return fmt.Errorf("%s.tls: cert and key must be given together", prefix)
	}
	return nil
}

// Build returns the crypto/tls configuration, or nil when TLS is off.
// prefix is the configuration key used in errors ("kafka", "nats").
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
			return nil, fmt.Errorf("%s.tls.ca: %w", prefix, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s.tls.ca: %s holds no PEM certificate", prefix, c.CA)
		}
		tc.RootCAs = pool
	}
	if c.Cert != "" {
		cert, err := tls.LoadX509KeyPair(c.Cert, c.Key)
		if err != nil {
			return nil, fmt.Errorf("%s.tls.cert/key: %w", prefix, err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// ErrNoBatch is returned for a message that carries no batch and no payload.
var ErrNoBatch = errors.New("message carries neither a batch nor a payload")
