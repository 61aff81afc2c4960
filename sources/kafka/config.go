package kafka

import (
	"fmt"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill"

	"github.com/sfconnector/sfconnector/internal/bus"
	"github.com/sfconnector/sfconnector/internal/kafkaconn"
)

// TLSConfig are the TLS settings (kafka.tls.*); the brokers' certificates are
// verified unless InsecureSkipVerify is set.
type TLSConfig = bus.TLSConfig

// SASLConfig are the SASL settings (kafka.sasl.*).
type SASLConfig = kafkaconn.SASLConfig

// Secret is a credential that never prints.
type Secret = bus.Secret

// Decoder turns one Kafka message value into the events or records it holds.
// encoding/avro's registry decoder and encoding/otel's OTLP logs decoder
// implement it. A Source without a Decoder delivers each Kafka message as
// the payload of its own Watermill message.
type Decoder = bus.Decoder

// Config configures the source. Fill it, then call New (which applies the
// defaults and validates it).
type Config struct {
	// Brokers are the bootstrap brokers, host:port (the kafka driver's
	// brokers).
	Brokers []string
	// Topics are read when Subscribe is given an empty topic (topic,
	// comma-separated). Subscribe's topic argument may also name several
	// topics, comma-separated.
	Topics []string
	// Group is the consumer group (group); required. Every process
	// with the same group shares the topics' partitions.
	Group string
	// StartOffset is where a group without a committed offset starts
	// (start): "earliest" (default) or "latest".
	StartOffset string
	// MaxInFlight is how many delivered Watermill messages may wait for their
	// ack at once per subscription (inflight); default 16. 1
	// makes delivery strictly one batch at a time.
	MaxInFlight int
	// BatchSize is the most Kafka messages in one Watermill message
	// (batch.size); default 500.
	BatchSize int
	// BatchTimeout is how long a partial batch waits for more messages
	// (batch.timeout); default 10ms.
	BatchTimeout time.Duration
	// CommitInterval is how often acked offsets are committed
	// (not a configuration key); default 500ms. A crash replays at most this
	// much acked work.
	CommitInterval time.Duration
	// NackBackoff is the wait before a nacked message is delivered again
	// (not a configuration key); default 500ms.
	NackBackoff time.Duration
	// SessionTimeout is how long the group waits for a silent member before
	// giving its partitions to others (not a configuration key); default 10s.
	// The broker's group.min.session.timeout.ms (6s by default) bounds it.
	SessionTimeout time.Duration
	// HeartbeatInterval (not a configuration key); default 1s: a member
	// notices a rebalance within about this long.
	HeartbeatInterval time.Duration
	// RebalanceTimeout is how long a rebalance waits for members to rejoin
	// (not a configuration key); default 10s.
	RebalanceTimeout time.Duration
	// JoinGroupBackoff is the wait between attempts to rejoin the group after
	// an error, e.g. while a broker restarts (not a configuration key); default
	// 250ms. kafka-go's own 5s default made a 2s broker restart cost ~29s.
	JoinGroupBackoff time.Duration
	// DialTimeout bounds connecting to a broker (not a configuration key);
	// default 5s.
	DialTimeout time.Duration
	// TLS (tls.*) and SASL (sasl.*).
	TLS  TLSConfig
	SASL SASLConfig
	// Decoder decodes message values into events or records.
	Decoder Decoder
	// Logger receives errors and rebalances; default: none.
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
	if c.StartOffset == "" {
		c.StartOffset = "earliest"
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
	if c.CommitInterval <= 0 {
		c.CommitInterval = 500 * time.Millisecond
	}
	if c.NackBackoff <= 0 {
		c.NackBackoff = 500 * time.Millisecond
	}
	if c.SessionTimeout <= 0 {
		c.SessionTimeout = 10 * time.Second
	}
	if c.HeartbeatInterval <= 0 {
		c.HeartbeatInterval = time.Second
	}
	if c.RebalanceTimeout <= 0 {
		c.RebalanceTimeout = 10 * time.Second
	}
	if c.JoinGroupBackoff <= 0 {
		c.JoinGroupBackoff = 250 * time.Millisecond
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = 5 * time.Second
	}
	if c.Logger == nil {
		c.Logger = watermill.NopLogger{}
	}
}

// Validate checks the configuration; errors name the configuration key.
func (c *Config) Validate() error {
	if err := kafkaconn.ValidateBrokers("", c.Brokers); err != nil {
		return err
	}
	if c.Group == "" {
		return fmt.Errorf("group: a consumer group is required")
	}
	switch strings.ToLower(c.StartOffset) {
	case "earliest", "latest":
	default:
		return fmt.Errorf("start: %q is not earliest or latest", c.StartOffset)
	}
	if c.HeartbeatInterval >= c.SessionTimeout {
		return fmt.Errorf("the heartbeat interval (%s) must be shorter than the session timeout (%s)", c.HeartbeatInterval, c.SessionTimeout)
	}
	if err := c.TLS.Validate(""); err != nil {
		return err
	}
	return c.SASL.Validate("")
}
