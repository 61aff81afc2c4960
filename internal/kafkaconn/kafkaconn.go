// Package kafkaconn builds kafka-go's connection settings (TLS, SASL,
// timeouts) from the configuration shared by the Kafka sink and source.
package kafkaconn

import (
	"crypto/tls"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"

	"github.com/sfconnector/sfconnector/internal/bus"
)

// SASLConfig are the SASL settings of a Kafka connection.
type SASLConfig struct {
	// Mechanism is PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (kafka.sasl.mechanism);
	// empty disables SASL. Use TLS with PLAIN: it sends the password as is.
	Mechanism string
	// Username (kafka.sasl.username).
	Username string
	// Password, usually filled from the environment by the config layer;
	// never logged.
	Password bus.Secret
	// PasswordFile is read when Password is empty (kafka.sasl.password_file).
	PasswordFile string
}

// Validate checks the settings. prefix is the configuration key prefix
// named in errors: "kafka." for the exporter, "" for the source driver,
// whose keys are unprefixed.
func (c *SASLConfig) Validate(prefix string) error {
	switch strings.ToUpper(c.Mechanism) {
	case "":
		return nil
	case "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512":
	default:
		return fmt.Errorf("%ssasl.mechanism: %q is not one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512", prefix, c.Mechanism)
	}
	if c.Username == "" {
		return fmt.Errorf("%ssasl.username: required with mechanism %s", prefix, c.Mechanism)
	}
	if c.Password == "" && c.PasswordFile == "" {
		return fmt.Errorf("%ssasl.password_file: a password (or a password file) is required with mechanism %s", prefix, c.Mechanism)
	}
	return nil
}

// Build returns the kafka-go mechanism, or nil without SASL; prefix is as
// for Validate.
func (c *SASLConfig) Build(prefix string) (sasl.Mechanism, error) {
	if c.Mechanism == "" {
		return nil, nil
	}
	if err := c.Validate(prefix); err != nil {
		return nil, err
	}
	pw, err := bus.ReadSecret(prefix+"sasl.password_file", c.Password, c.PasswordFile)
	if err != nil {
		return nil, err
	}
	switch strings.ToUpper(c.Mechanism) {
	case "PLAIN":
		return plain.Mechanism{Username: c.Username, Password: pw.Reveal()}, nil
	case "SCRAM-SHA-256":
		m, err := scram.Mechanism(scram.SHA256, c.Username, pw.Reveal())
		if err != nil {
			return nil, fmt.Errorf("%ssasl.mechanism %s: %w", prefix, c.Mechanism, err)
		}
		return m, nil
	default:
		m, err := scram.Mechanism(scram.SHA512, c.Username, pw.Reveal())
		if err != nil {
			return nil, fmt.Errorf("%ssasl.mechanism %s: %w", prefix, c.Mechanism, err)
		}
		return m, nil
	}
}

// Settings are the resolved connection settings.
type Settings struct {
	TLS  *tls.Config
	SASL sasl.Mechanism
}

// Resolve reads the files the settings name; prefix ("kafka." or "") is
// the key prefix named in errors, as for SASLConfig.Validate.
func Resolve(prefix string, t *bus.TLSConfig, s *SASLConfig) (Settings, error) {
	tc, err := t.Build(strings.TrimSuffix(prefix, "."))
	if err != nil {
		return Settings{}, err
	}
	m, err := s.Build(prefix)
	if err != nil {
		return Settings{}, err
	}
	return Settings{TLS: tc, SASL: m}, nil
}

// Transport returns a transport for writers and admin clients.
func (s Settings) Transport(dialTimeout time.Duration) *kafka.Transport {
	return &kafka.Transport{
		Dial:        (&net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}).DialContext,
		TLS:         s.TLS,
		SASL:        s.SASL,
		DialTimeout: dialTimeout,
		IdleTimeout: 30 * time.Second,
		MetadataTTL: 10 * time.Second,
		ClientID:    "sfconnector",
	}
}

// Dialer returns a dialer for readers.
func (s Settings) Dialer(dialTimeout time.Duration) *kafka.Dialer {
	return &kafka.Dialer{
		ClientID:      "sfconnector",
		Timeout:       dialTimeout,
		DualStack:     true,
		KeepAlive:     30 * time.Second,
		TLS:           s.TLS,
		SASLMechanism: s.SASL,
	}
}

// ValidateBrokers checks a broker list; prefix is as for
// SASLConfig.Validate.
func ValidateBrokers(prefix string, brokers []string) error {
	if len(brokers) == 0 {
		return fmt.Errorf("%sbrokers: at least one broker address is required", prefix)
	}
	for _, b := range brokers {
		if _, _, err := net.SplitHostPort(b); err != nil {
			return fmt.Errorf("%sbrokers: %q is not host:port: %w", prefix, b, err)
		}
	}
	return nil
}
