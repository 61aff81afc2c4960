package nats

import (
	"fmt"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill"

	"github.com/sfconnector/sfconnector/encoding"
	"github.com/sfconnector/sfconnector/internal/bus"
	"github.com/sfconnector/sfconnector/internal/natsconn"
)

// TLSConfig are the TLS settings (nats.tls.*).
type TLSConfig = bus.TLSConfig

// Secret is a credential that never prints.
type Secret = bus.Secret

// ConnConfig are the connection settings: nats.url, nats.creds, nats.nkey,
// nats.token_file, nats.user, nats.password_file, nats.tls.*.
type ConnConfig = natsconn.Config

// Config configures the sink. Fill it, then call New (which applies the
// defaults and validates it).
type Config struct {
	ConnConfig
	// Subject is the destination subject template (nats.subject); {node},
	// {container}, {priority}, {type}, {rule} are replaced per event, with
	// '.', '*', '>' and spaces in values replaced by '_'.
	Subject string
	// JetStream makes publishes durable: each waits for the stream's ack
	// (nats.jetstream; default true through CoreNATS=false).
	// CoreNATS publishes without acks instead (nats.jetstream: false).
	CoreNATS bool
	// Stream is the JetStream stream that captures the subjects
	// (nats.stream); needed only with CreateStream.
	Stream string
	// CreateStream creates Stream when missing, capturing the subject
	// template with each templated token as '*' (set when nats.stream is).
	CreateStream bool
	// MaxPending is the most asynchronous JetStream publishes awaiting their
	// ack at once (nats.max_pending); default 4096.
	MaxPending int
	// PublishTimeout bounds one Publish call (not a configuration key);
	// default 30s. On expiry Publish fails and the router retries.
	PublishTimeout time.Duration
	// Encoder encodes each event (and, when it implements AppendRecord,
	// each raw record). One that implements AppendEvents (encoding/otel)
	// gets the events of one destination and key at a time and puts many
	// in one message. Required.
	Encoder encoding.Encoder
	// Logger receives connection events; default: none.
	Logger watermill.LoggerAdapter
}

// WithDefaults returns c with the defaults New applies filled in: what the
// component uses for a setting left zero. A test compares them with the
// defaults config.Specs documents.
func (c Config) WithDefaults() Config {
	c.setDefaults()
	return c
}

func (c *Config) setDefaults() {
	c.ConnConfig.SetDefaults()
	if c.Name == "" {
		c.Name = "sfconnector-sink"
	}
	if c.MaxPending <= 0 {
		c.MaxPending = 4096
	}
	if c.PublishTimeout <= 0 {
		c.PublishTimeout = 30 * time.Second
	}
	if c.Logger == nil {
		c.Logger = watermill.NopLogger{}
	}
}

// Validate checks the configuration; errors name the configuration key.
func (c *Config) Validate() error {
	if err := c.ConnConfig.Validate("nats."); err != nil {
		return err
	}
	if c.Subject == "" {
		return fmt.Errorf("nats.subject: required")
	}
	if _, err := bus.ParseTemplate(c.Subject); err != nil {
		return fmt.Errorf("nats.subject: %w", err)
	}
	if strings.ContainsAny(c.Subject, " *>") {
		return fmt.Errorf("nats.subject: %q: a destination subject may not hold spaces or wildcards", c.Subject)
	}
	if c.CreateStream && c.Stream == "" {
		return fmt.Errorf("nats.stream: required to create the stream")
	}
	if c.CreateStream && c.CoreNATS {
		return fmt.Errorf("nats.stream: creating the stream needs JetStream (nats.jetstream: true)")
	}
	if c.Encoder == nil {
		return fmt.Errorf("nats.encoding: an encoder is required")
	}
	return nil
}

// StreamSubject is the subject filter that captures every expansion of a
// subject template: each token holding a placeholder becomes '*'.
func StreamSubject(template string) string {
	toks := strings.Split(template, ".")
	for i, t := range toks {
		if strings.Contains(t, "{") {
			toks[i] = "*"
		}
	}
	return strings.Join(toks, ".")
}
