package nats

import (
	"fmt"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill"

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

// Decoder turns one NATS message's data into the events or records it
// holds. A Source without a Decoder delivers each NATS message as the
// payload of its own Watermill message.
type Decoder = bus.Decoder

// Config configures the source. Fill it, then call New (which applies the
// defaults and validates it).
type Config struct {
	ConnConfig
	// Subject is the subject filter read when Subscribe is given an empty
	// topic (subject); wildcards allowed.
	Subject string
	// CoreNATS reads with a plain subscription instead of JetStream
	// (jetstream: false).
	CoreNATS bool
	// Queue is the queue group of a core subscription (queue): the
	// processes of one group share the messages.
	Queue string
	// Stream is the JetStream stream to read (stream); required with
	// JetStream.
	Stream string
	// Durable is the durable consumer's name (durable); required with
	// JetStream. Processes using the same name share the messages and a
	// restarted process resumes where the consumer stopped.
	Durable string
	// DeliverPolicy is where a new consumer starts (start): "all"
	// (default) or "new".
	DeliverPolicy string
	// AckWait is how long the server waits for an ack before delivering a
	// message again (not a configuration key); default 30s.
	AckWait time.Duration
	// MaxInFlight is how many delivered Watermill messages may await their
	// ack at once (inflight); default 16.
	MaxInFlight int
	// BatchSize is the most NATS messages in one Watermill message
	// (batch.size); default 500.
	BatchSize int
	// BatchTimeout is how long a partial batch waits for more messages
	// (batch.timeout); default 10ms.
	BatchTimeout time.Duration
	// NackBackoff is the delay before a nacked message is delivered again
	// (not a configuration key); default 500ms.
	NackBackoff time.Duration
	// Decoder decodes message data into events or records.
	Decoder Decoder
	// Logger receives connection events and decoding errors; default: none.
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
		c.Name = "sfconnector-source"
	}
	if c.DeliverPolicy == "" {
		c.DeliverPolicy = "all"
	}
	if c.AckWait <= 0 {
		c.AckWait = 30 * time.Second
	}
	if c.MaxInFlight <= 0 {
		c.MaxInFlight = 16
	}
	if c.BatchSize <= 0 {
		c.BatchSize = 500
	}
	if c.BatchTimeout <= 0 {
		c.BatchTimeout = 10 * time.Millisecond
	}
	if c.NackBackoff <= 0 {
		c.NackBackoff = 500 * time.Millisecond
	}
	if c.Logger == nil {
		c.Logger = watermill.NopLogger{}
	}
}

// Validate checks the configuration; errors name the configuration key.
func (c *Config) Validate() error {
	if err := c.ConnConfig.Validate(""); err != nil {
		return err
	}
	if c.CoreNATS {
		return nil
	}
	if c.Stream == "" {
		return fmt.Errorf("stream: required with JetStream")
	}
	if c.Durable == "" {
		return fmt.Errorf("durable: required with JetStream")
	}
	if strings.ContainsAny(c.Durable, ". *>") {
		return fmt.Errorf("durable: %q may not hold '.', '*', '>' or spaces", c.Durable)
	}
	switch c.DeliverPolicy {
	case "all", "new":
	default:
		return fmt.Errorf("start: %q is not all or new", c.DeliverPolicy)
	}
	return nil
}
