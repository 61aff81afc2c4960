package kafka

import (
	"fmt"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	kafkago "github.com/segmentio/kafka-go"

	"github.com/sfconnector/sfconnector/encoding"
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

// Config configures the sink. Fill it, then call New (which applies the
// defaults and validates it).
type Config struct {
	// Brokers are the bootstrap brokers, host:port (kafka.brokers).
	Brokers []string
	// Topic is the destination topic, a template: {node}, {container},
	// {priority}, {type}, {rule} are replaced per event (kafka.topic).
	Topic string
	// Key is the message key template (kafka.key); default "{node}:{container}",
	// which keeps each host's and container's events in order in one
	// partition. Raw records are keyed with {container} = "host", so a
	// whole collector stream stays in one partition. "-" sends no key.
	Key string
	// Acks is the acknowledgement the sink waits for (kafka.acks): "all"
	// (default: every in-sync replica has the write), "one" (the leader) or
	// "none" (fire and forget: Publish cannot report loss). kafka-go's own
	// default is none, which loses messages on close.
	Acks string
	// Compression codec of produced batches (kafka.compression): none
	// (default), gzip, snappy, lz4, zstd.
	Compression string
	// BatchSize is the most messages sent in one produce request per
	// partition (kafka.batch.size); default 1000.
	BatchSize int
	// BatchBytes is the most bytes in one produce request per partition
	// (kafka.batch.bytes); default 1 MiB. Must stay under the topic's
	// max.message.bytes.
	BatchBytes int64
	// BatchTimeout is how long a partial batch waits for more messages
	// before it is sent (kafka.batch.timeout); default 10us: Publish waits
	// for its acks, so every partition's partial batch would otherwise idle
	// out the whole wait (5ms gave 78k records/s, 1ms 122k, 100us 170k,
	// 10us 200k with zstd). kafka-go adds a call's messages to the batches
	// under the partition's lock, which the timer needs too, so a call's
	// messages for one partition still go in one request; concurrent
	// Publish calls share a batch only when they overlap.
	BatchTimeout time.Duration
	// WriteTimeout bounds one Publish call, retries included
	// (not a configuration key); default 30s. On expiry Publish fails and the
	// router retries the message.
	WriteTimeout time.Duration
	// MaxAttempts is how often kafka-go tries one produce request before
	// Publish fails (not a configuration key); default 10, with backoff, so a
	// broker restart of a few seconds does not fail the write.
	MaxAttempts int
	// CreateTopics makes the sink create missing topics before writing to
	// them (kafka.create.topics), with Partitions partitions and
	// ReplicationFactor replicas.
	CreateTopics      bool
	Partitions        int // kafka.partitions, default 6
	ReplicationFactor int // kafka.replication_factor, default 1
	// DialTimeout bounds connecting to a broker (not a configuration key); default 10s.
	DialTimeout time.Duration
	// TLS (kafka.tls.*) and SASL (kafka.sasl.*).
	TLS  TLSConfig
	SASL SASLConfig
	// Encoder encodes each event (and, when it implements AppendRecord,
	// each raw record). One that implements AppendEvents (encoding/otel)
	// gets the events of one destination and key at a time and puts many
	// in one message. Required.
	Encoder encoding.Encoder
	// Logger receives connection problems; default: none.
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
	if c.Key == "" {
		c.Key = "{node}:{container}"
	}
	if c.Acks == "" {
		c.Acks = "all"
	}
	if c.Compression == "" {
		c.Compression = "none"
	}
	if c.BatchSize <= 0 {
		c.BatchSize = 1000
	}
	if c.BatchBytes <= 0 {
		c.BatchBytes = 1 << 20
	}
	if c.BatchTimeout <= 0 {
		c.BatchTimeout = 10 * time.Microsecond
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 30 * time.Second
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 10
	}
	if c.Partitions <= 0 {
		c.Partitions = 6
	}
	if c.ReplicationFactor <= 0 {
		c.ReplicationFactor = 1
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = 10 * time.Second
	}
	if c.Logger == nil {
		c.Logger = watermill.NopLogger{}
	}
}

// Validate checks the configuration; errors name the configuration key.
func (c *Config) Validate() error {
	if err := kafkaconn.ValidateBrokers("kafka.", c.Brokers); err != nil {
		return err
	}
	if c.Topic == "" {
		return fmt.Errorf("kafka.topic: required")
	}
	if _, err := bus.ParseTemplate(c.Topic); err != nil {
		return fmt.Errorf("kafka.topic: %w", err)
	}
	if c.Key != "-" {
		if _, err := bus.ParseTemplate(c.Key); err != nil {
			return fmt.Errorf("kafka.key: %w", err)
		}
	}
	if _, err := requiredAcks(c.Acks); err != nil {
		return err
	}
	if _, err := compression(c.Compression); err != nil {
		return err
	}
	if err := c.TLS.Validate("kafka"); err != nil {
		return err
	}
	if err := c.SASL.Validate("kafka."); err != nil {
		return err
	}
	if c.Encoder == nil {
		return fmt.Errorf("kafka.encoding: an encoder is required")
	}
	return nil
}

func requiredAcks(s string) (kafkago.RequiredAcks, error) {
	switch strings.ToLower(s) {
	case "all", "-1":
		return kafkago.RequireAll, nil
	case "one", "1", "leader":
		return kafkago.RequireOne, nil
	case "none", "0":
		return kafkago.RequireNone, nil
	}
	return 0, fmt.Errorf("kafka.acks: %q is not one of all, one, none", s)
}

func compression(s string) (kafkago.Compression, error) {
	switch strings.ToLower(s) {
	case "none", "":
		return 0, nil
	case "gzip":
		return kafkago.Gzip, nil
	case "snappy":
		return kafkago.Snappy, nil
	case "lz4":
		return kafkago.Lz4, nil
	case "zstd":
		return kafkago.Zstd, nil
	}
	return 0, fmt.Errorf("kafka.compression: %q is not one of none, gzip, snappy, lz4, zstd", s)
}
