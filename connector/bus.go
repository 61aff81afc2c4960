package connector

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/sfconnector/sfconnector/config"
	"github.com/sfconnector/sfconnector/encoding"
	"github.com/sfconnector/sfconnector/encoding/avro"
	"github.com/sfconnector/sfconnector/encoding/otel"
	"github.com/sfconnector/sfconnector/internal/bus"
	"github.com/sfconnector/sfconnector/internal/kafkaconn"
	"github.com/sfconnector/sfconnector/internal/natsconn"
	kafkasink "github.com/sfconnector/sfconnector/sinks/kafka"
	natssink "github.com/sfconnector/sfconnector/sinks/nats"
	kafkasrc "github.com/sfconnector/sfconnector/sources/kafka"
	natssrc "github.com/sfconnector/sfconnector/sources/nats"
	"github.com/sfconnector/sfconnector/sysflow"
)

// Secrets come from files named in the configuration or from these
// environment variables; never from the configuration itself.
const (
	envKafkaPassword    = "SFCONNECTOR_KAFKA_PASSWORD"
	envRegistryPassword = "SFCONNECTOR_REGISTRY_PASSWORD"
	envNATSToken        = "SFCONNECTOR_NATS_TOKEN"
	envNATSPassword     = "SFCONNECTOR_NATS_PASSWORD"
)

func secretEnv(name string) bus.Secret { return bus.Secret(os.Getenv(name)) }

// busKeys reads the keys shared by bus exporters (prefix "kafka." or
// "nats.") and sources (no prefix).
type busKeys struct {
	k      *config.Keys
	prefix string
}

func (b busKeys) s(key string) string { return b.k.String(b.prefix + key) }

func (b busKeys) tls() bus.TLSConfig {
	return bus.TLSConfig{Enable: b.k.Bool(b.prefix + "tls"), CA: b.s("tls.ca"), Cert: b.s("tls.cert"),
		Key: b.s("tls.key"), ServerName: b.s("tls.servername"), InsecureSkipVerify: b.k.Bool(b.prefix + "tls.insecure")}
}

func (b busKeys) sasl() kafkaconn.SASLConfig {
	return kafkaconn.SASLConfig{Mechanism: b.s("sasl.mechanism"), Username: b.s("sasl.username"),
		Password: secretEnv(envKafkaPassword), PasswordFile: b.s("sasl.password_file")}
}

func (b busKeys) nats() natsconn.Config {
	return natsconn.Config{URL: b.s("url"), Name: "sfconnector", Creds: b.s("creds"),
		NKey: b.s("nkey"), Token: secretEnv(envNATSToken), TokenFile: b.s("token_file"), User: b.s("user"),
		Password: secretEnv(envNATSPassword), PasswordFile: b.s("password_file"), TLS: b.tls()}
}

func (b busKeys) registry(schema avro.Schema) avro.Config {
	return avro.Config{RegistryURL: b.s("registry.url"), Username: b.s("registry.username"),
		Password: secretEnv(envRegistryPassword), PasswordFile: b.s("registry.password_file"), Schema: schema, KeyPrefix: b.prefix}
}

func splitBrokers(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// busEncoding is a bus exporter's payload choice, read before anything is
// built so that every key is checked.
type busEncoding struct {
	format string // json, ecs, avro or otel
	kind   string // flat, alert or raw (avro); proto or json (otel)
	rc     avro.Config
	// maxBytes bounds an otel message (0: the encoder's default): half the
	// Kafka sink's batch.bytes, which a single message must not exceed.
	maxBytes int
}

func readBusEncoding(b busKeys, format string) busEncoding {
	e := busEncoding{format: format, kind: b.k.Enum(b.prefix+"encoding", "flat", "alert", "raw", "proto", "json"),
		rc: b.registry(avro.SchemaEvent)}
	e.rc.Schema = map[string]avro.Schema{"flat": avro.SchemaEvent, "alert": avro.SchemaAlert, "raw": avro.SchemaRecord}[e.kind]
	return e
}

// encoder returns the registry Avro encoder (flat event, alert or raw
// SysFlow record) or the JSON/ECS encoder given, and whether it is raw.
func (e busEncoding) encoder(b busKeys, enc encoding.Encoder, where string, opts Options) (encoding.Encoder, bool, error) {
	if e.format == "otel" {
		return otelEncoder(b.prefix+"encoding", e.kind, where, opts.Version, e.maxBytes)
	}
	if e.kind == "proto" || e.kind == "json" {
		return nil, false, fmt.Errorf("%s: key %q: %s is an OpenTelemetry encoding: set format to otel", where, b.prefix+"encoding", e.kind)
	}
	dryRun := opts.DryRun
	if e.format != "avro" {
		if e.kind == "raw" {
			return nil, false, fmt.Errorf("%s: key %q: raw forwarding is Avro: set format to avro", where, b.prefix+"encoding")
		}
		return enc, false, nil
	}
	if e.rc.RegistryURL == "" {
		return nil, false, fmt.Errorf("%s: key %q: format avro needs a schema registry URL", where, b.prefix+"registry.url")
	}
	if dryRun {
		return noEncoder{}, e.kind == "raw", nil
	}
	reg, err := avro.NewRegistry(e.rc)
	if err != nil {
		return nil, false, fmt.Errorf("%s: %w", where, err)
	}
	ae, err := avro.NewEncoder(reg)
	if err != nil {
		return nil, false, fmt.Errorf("%s: %w", where, err)
	}
	return ae, e.kind == "raw", nil
}

func buildBusSink(ctx context.Context, export string, n *config.Node, k *config.Keys, enc encoding.Encoder, opts Options) (*Sink, error) {
	format := k.String("format")
	switch export {
	case "kafka":
		b := busKeys{k: k, prefix: "kafka."}
		c := kafkasink.Config{
			Brokers: splitBrokers(b.s("brokers")), Topic: b.s("topic"),
			Key: b.s("key"), Acks: b.s("acks"), Compression: b.s("compression"),
			BatchSize: k.Int("kafka.batch.size"), BatchBytes: int64(k.Int("kafka.batch.bytes")),
			BatchTimeout: k.Duration("kafka.batch.timeout"), CreateTopics: k.Bool("kafka.create.topics"),
			Partitions: k.Int("kafka.partitions"), ReplicationFactor: k.Int("kafka.replication_factor"),
			TLS: b.tls(), SASL: b.sasl(), Logger: watermillLogger{opts.Logger},
		}
		be := readBusEncoding(b, format)
		if c.BatchBytes > 0 {
			be.maxBytes = max(1, min(512<<10, int(c.BatchBytes/2)))
		}
		if err := k.Err(); err != nil {
			return nil, err
		}
		encoder, raw, err := be.encoder(b, enc, n.Where, opts)
		if err != nil {
			return nil, err
		}
		c.Encoder = encoder
		if opts.DryRun {
			return dryRunSink(c.Validate())
		}
		pub, err := kafkasink.New(c)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", n.Where, err)
		}
		return &Sink{Name: "kafka:" + c.Topic, Pub: pub, Raw: raw}, nil
	case "nats":
		b := busKeys{k: k, prefix: "nats."}
		c := natssink.Config{ConnConfig: b.nats(), Subject: b.s("subject"),
			CoreNATS: !k.Bool("nats.jetstream"), Stream: b.s("stream"),
			MaxPending: k.Int("nats.max_pending"), Logger: watermillLogger{opts.Logger}}
		c.CreateStream = c.Stream != ""
		be := readBusEncoding(b, format)
		if err := k.Err(); err != nil {
			return nil, err
		}
		encoder, raw, err := be.encoder(b, enc, n.Where, opts)
		if err != nil {
			return nil, err
		}
		c.Encoder = encoder
		if opts.DryRun {
			return dryRunSink(c.Validate())
		}
		pub, err := natssink.New(ctx, c)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", n.Where, err)
		}
		return &Sink{Name: "nats:" + c.Subject, Pub: pub, Raw: raw}, nil
	}
	return nil, fmt.Errorf("%s: unknown exporter %q", n.Where, export)
}

// otelEncoder is the OTLP encoder of a bus exporter: the sf-processor
// pipeline's "kafka.encoding": "proto" (and flat or alert, which mean
// the same here: alerts always carry their rules) is protobuf, json is
// OTLP/JSON.
func otelEncoder(key, kind, where, version string, maxBytes int) (encoding.Encoder, bool, error) {
	o := otel.Options{Encoding: otel.Proto, Version: version, MaxBytes: maxBytes}
	switch kind {
	case "raw":
		return nil, false, fmt.Errorf("%s: key %q: raw forwarding is Avro: format otel carries flat events and alerts", where, key)
	case "json":
		o.Encoding = otel.JSON
	}
	enc, err := otel.New(o)
	if err != nil {
		return nil, false, fmt.Errorf("%s: %w", where, err)
	}
	return enc, false, nil
}

// otelSourceBatch is a bus source's default messages per pipeline batch
// with format otel: each message holds up to 256 records, so 16 of them
// make a batch about as large as the file source's 4096 records.
const otelSourceBatch = 16

func buildBusSource(driver string, plug *config.Plugin, opts Options) (Source, error) {
	k := plug.Keys()
	b := busKeys{k: k}
	var format string
	if driver == "otelkafka" {
		// sf-processor's driver for OTLP logs on Kafka: our Kafka source
		// with format otel (its spec's batch.size default is otelSourceBatch)
		format = k.Enum("format", "otel")
		driver = "kafka"
	} else {
		format = k.Enum("format", "avro", "otel")
	}
	batch := k.Int("batch.size")
	if format == "otel" {
		if _, set := k.Lookup("batch.size"); !set {
			batch = otelSourceBatch
		}
		k.Enum("encoding", "proto", "json") // either is read: the decoder tells them apart
	}
	switch driver {
	case "kafka":
		c := kafkasrc.Config{Brokers: splitBrokers(b.s("brokers")), Topics: splitBrokers(b.s("topic")),
			Group: b.s("group"), StartOffset: b.s("start"), MaxInFlight: k.Int("inflight"),
			BatchSize: batch, BatchTimeout: k.Duration("batch.timeout"),
			TLS: b.tls(), SASL: b.sasl(), Logger: watermillLogger{opts.Logger}}
		dec, err := sourceDecoder(b, format, plug, opts)
		if err != nil || dec == nil {
			return nil, err
		}
		c.Decoder = dec
		src, err := kafkasrc.New(c)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", plug.Where, err)
		}
		return newEndless(src), nil
	case "nats":
		c := natssrc.Config{ConnConfig: b.nats(), Subject: b.s("subject"), CoreNATS: !k.Bool("jetstream"),
			Queue: b.s("queue"), Stream: b.s("stream"), Durable: b.s("durable"),
			DeliverPolicy: b.s("start"), MaxInFlight: k.Int("inflight"), BatchSize: batch, BatchTimeout: k.Duration("batch.timeout"),
			Logger: watermillLogger{opts.Logger}}
		dec, err := sourceDecoder(b, format, plug, opts)
		if err != nil || dec == nil {
			return nil, err
		}
		c.Decoder = dec
		src, err := natssrc.New(c)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", plug.Where, err)
		}
		return newEndless(src), nil
	}
	return nil, fmt.Errorf("%s: unknown source driver %q (file, socket, kafka, nats, otelkafka)", plug.Where, driver)
}

// sourceDecoder checks a bus source's keys and returns its decoder: OTLP
// logs (format otel) or registry Avro. It returns nil, with no error, in a
// dry run.
func sourceDecoder(b busKeys, format string, plug *config.Plugin, opts Options) (bus.Decoder, error) {
	if format == "otel" {
		if err := b.k.Err(); err != nil || opts.DryRun {
			return nil, err
		}
		return otel.NewDecoder(), nil
	}
	rc := b.registry(avro.SchemaEvent)
	if err := b.k.Err(); err != nil {
		return nil, err
	}
	if rc.RegistryURL == "" {
		return nil, fmt.Errorf("%s: key \"registry.url\": the %s source decodes registry Avro and needs the registry URL (or set format to otel)", plug.Where, plug.Kind)
	}
	if opts.DryRun {
		return nil, nil
	}
	reg, err := avro.NewRegistry(rc)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", plug.Where, err)
	}
	return avro.NewDecoder(reg), nil
}

// endless adapts a bus subscriber, which never finishes by itself, to
// Source: Done closes when the subscriber is closed (at shutdown).
type endless struct {
	message.Subscriber
	done chan struct{}
	once sync.Once
}

func newEndless(s message.Subscriber) *endless {
	return &endless{Subscriber: s, done: make(chan struct{})}
}

// Subscribe subscribes to the configured topics or subjects: the router's
// own topic name means nothing to a bus source.
func (e *endless) Subscribe(ctx context.Context, _ string) (<-chan *message.Message, error) {
	return e.Subscriber.Subscribe(ctx, "")
}

func (e *endless) Done() <-chan struct{} { return e.done }
func (e *endless) Err() error            { return nil }
func (e *endless) Close() error {
	err := e.Subscriber.Close()
	e.once.Do(func() { close(e.done) })
	return err
}

// noEncoder stands in for the Avro encoder in a dry run.
type noEncoder struct{}

func (noEncoder) AppendEvent(dst []byte, _ *sysflow.Event) ([]byte, error) { return dst, nil }
