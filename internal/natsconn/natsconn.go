// Package natsconn connects to NATS with the settings shared by the NATS
// sink and source: servers, TLS, and one of credentials file, NKey seed,
// token or user/password.
package natsconn

import (
	"fmt"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/nats-io/nats.go"

	"github.com/sfconnector/sfconnector/internal/bus"
)

// Config are the connection settings.
type Config struct {
	// URL is the server list, comma-separated (nats.url); default
	// nats://127.0.0.1:4222.
	URL string
	// Name identifies the connection in the server's monitoring (set by the connector, not a configuration key).
	Name string
	// Creds is a credentials file holding a user JWT and its NKey seed
	// (nats.creds).
	Creds string
	// NKey is a file holding an NKey seed (nats.nkey).
	NKey string
	// Token authenticates with a token (usually filled from the
	// environment), or TokenFile names a file holding it (nats.token_file).
	Token     bus.Secret
	TokenFile string
	// User and Password (or PasswordFile) authenticate with a user name
	// (nats.user, nats.password_file).
	User         string
	Password     bus.Secret
	PasswordFile string
	// TLS settings (nats.tls.*); the server's certificate is verified.
	TLS bus.TLSConfig
	// ReconnectWait is the pause between reconnection attempts
	// (not a configuration key); default 250ms. The client reconnects forever.
	ReconnectWait time.Duration
}

// SetDefaults fills unset fields.
func (c *Config) SetDefaults() {
	if c.URL == "" {
		c.URL = nats.DefaultURL
	}
	if c.ReconnectWait <= 0 {
		c.ReconnectWait = 250 * time.Millisecond
	}
}

// Validate checks the settings without reading files. prefix is the
// configuration key prefix named in errors: "nats." for the exporter, ""
// for the source driver, whose keys are unprefixed.
func (c *Config) Validate(prefix string) error {
	for _, u := range strings.Split(c.URL, ",") {
		if strings.TrimSpace(u) == "" {
			return fmt.Errorf("%surl: empty server in %q", prefix, c.URL)
		}
	}
	n := 0
	for _, set := range []bool{c.Creds != "", c.NKey != "", c.Token != "" || c.TokenFile != "", c.User != ""} {
		if set {
			n++
		}
	}
	if n > 1 {
		return fmt.Errorf("nats: give one of %[1]screds, %[1]snkey, %[1]stoken_file, %[1]suser", prefix)
	}
	return c.TLS.Validate(strings.TrimSuffix(prefix, "."))
}

// Connect connects, reading the files the settings name. log receives
// disconnections and reconnections; prefix is as for Validate.
func (c *Config) Connect(prefix string, log watermill.LoggerAdapter) (*nats.Conn, error) {
	opts := []nats.Option{
		nats.Name(c.Name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(c.ReconnectWait),
		nats.ReconnectJitter(50*time.Millisecond, 250*time.Millisecond),
		nats.RetryOnFailedConnect(false),
		nats.Timeout(5 * time.Second),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Error("nats: disconnected", err, watermill.LogFields{"url": c.URL})
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info("nats: reconnected", watermill.LogFields{"server": nc.ConnectedUrlRedacted()})
		}),
	}
	tc, err := c.TLS.Build(strings.TrimSuffix(prefix, "."))
	if err != nil {
		return nil, err
	}
	if tc != nil {
		opts = append(opts, nats.Secure(tc))
	}
	switch {
	case c.Creds != "":
		opts = append(opts, nats.UserCredentials(c.Creds))
	case c.NKey != "":
		o, err := nats.NkeyOptionFromSeed(c.NKey)
		if err != nil {
			return nil, fmt.Errorf("%snkey: %w", prefix, err)
		}
		opts = append(opts, o)
	case c.Token != "" || c.TokenFile != "":
		tok, err := bus.ReadSecret(prefix+"token_file", c.Token, c.TokenFile)
		if err != nil {
			return nil, err
		}
		opts = append(opts, nats.Token(tok.Reveal()))
	case c.User != "":
		pw, err := bus.ReadSecret(prefix+"password_file", c.Password, c.PasswordFile)
		if err != nil {
			return nil, err
		}
		opts = append(opts, nats.UserInfo(c.User, pw.Reveal()))
	}
	nc, err := nats.Connect(c.URL, opts...)
	if err != nil {
		return nil, fmt.Errorf("nats: connect to %s: %w", redact(c.URL), err)
	}
	return nc, nil
}

// redact drops user:password@ from URLs before they reach an error.
func redact(urls string) string {
	parts := strings.Split(urls, ",")
	for i, u := range parts {
		if at := strings.LastIndexByte(u, '@'); at >= 0 {
			if s := strings.Index(u, "://"); s >= 0 && s < at {
				parts[i] = u[:s+3] + "REDACTED@" + u[at+1:]
			}
		}
	}
	return strings.Join(parts, ",")
}
