package connector

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sfconnector/sfconnector/config"
	"github.com/sfconnector/sfconnector/sinks/elasticsearch"
	filesink "github.com/sfconnector/sfconnector/sinks/file"
	kafkasink "github.com/sfconnector/sfconnector/sinks/kafka"
	natssink "github.com/sfconnector/sfconnector/sinks/nats"
	"github.com/sfconnector/sfconnector/sinks/syslog"
	filesrc "github.com/sfconnector/sfconnector/sources/file"
	kafkasrc "github.com/sfconnector/sfconnector/sources/kafka"
	natssrc "github.com/sfconnector/sfconnector/sources/nats"
	"github.com/sfconnector/sfconnector/sources/socket"
	"github.com/sfconnector/sfconnector/transforms/flatten"
	"github.com/sfconnector/sfconnector/transforms/policy"
)

// componentDefaults maps "kind key" to what the component does with the
// setting left zero, read from the component's own WithDefaults (or, for the
// pipeline settings, setDefaults). The connector passes the Specs default
// when a key is absent, but a library user of the component gets the
// component's: both must agree.
func componentDefaults() map[string]any {
	fsrc := filesrc.Config{}.WithDefaults()
	sock := socket.Config{}.WithDefaults()
	ksrc := kafkasrc.Config{}.WithDefaults()
	nsrc := natssrc.Config{}.WithDefaults()
	flat := flatten.Config{}.WithDefaults()
	pol := policy.Config{}.WithDefaults()
	watch := policy.WatcherConfig{}.WithDefaults()
	fsink := filesink.Config{}.WithDefaults()
	sys := syslog.Config{}.WithDefaults()
	ksink := kafkasink.Config{}.WithDefaults()
	nsink := natssink.Config{}.WithDefaults()
	es := elasticsearch.Config{}.WithDefaults()
	var settings Settings
	settings.setDefaults()
	return map[string]any{
		"file follow":        fsrc.Follow,
		"file follow.settle": fsrc.Settle,
		"file batch.size":    fsrc.BatchSize,

		"socket mode":          sock.Mode,
		"socket batch.size":    sock.BatchSize,
		"socket batch.timeout": sock.BatchTimeout,
		"socket max.message":   sock.MaxMessage,
		"socket buffer":        sock.Buffer,

		"reader tables.grace": flat.ExitGrace,

		"policy mode":             string(pol.Mode),
		"policy monitor.interval": watch.Debounce,
		"policy strict":           watch.Options.Strict,

		"exporter file.rotate.size": fsink.RotateSize,
		"exporter file.rotate.keep": fsink.RotateKeep,

		"exporter syslog.proto":             sys.Proto,
		"exporter syslog.tag":               sys.Tag,
		"exporter syslog.host":              sys.Host,
		"exporter syslog.port":              sys.Port,
		"exporter syslog.format":            sys.Format,
		"exporter syslog.tls.insecure":      sys.TLS.InsecureSkipVerify,
		"exporter syslog.buffer":            sys.Buffer,
		"exporter syslog.framing":           sys.Framing,
		"exporter syslog.facility":          sys.Facility,
		"exporter syslog.severity.high":     sys.Severity.High,
		"exporter syslog.severity.medium":   sys.Severity.Medium,
		"exporter syslog.severity.low":      sys.Severity.Low,
		"exporter syslog.severity.event":    sys.Severity.Event,
		"exporter syslog.resend_window":     sys.ResendWindow,
		"exporter syslog.dial_timeout":      sys.DialTimeout,
		"exporter syslog.write_timeout":     sys.WriteTimeout,
		"exporter syslog.reconnect_timeout": sys.ReconnectTimeout,

		"exporter kafka.key":                ksink.Key,
		"exporter kafka.acks":               ksink.Acks,
		"exporter kafka.compression":        ksink.Compression,
		"exporter kafka.batch.size":         ksink.BatchSize,
		"exporter kafka.batch.bytes":        ksink.BatchBytes,
		"exporter kafka.batch.timeout":      ksink.BatchTimeout,
		"exporter kafka.create.topics":      ksink.CreateTopics,
		"exporter kafka.partitions":         ksink.Partitions,
		"exporter kafka.replication_factor": ksink.ReplicationFactor,
		"exporter kafka.tls":                ksink.TLS.Enable,
		"exporter kafka.tls.insecure":       ksink.TLS.InsecureSkipVerify,

		"exporter nats.jetstream":    !nsink.CoreNATS,
		"exporter nats.max_pending":  nsink.MaxPending,
		"exporter nats.url":          nsink.URL,
		"exporter nats.tls":          nsink.TLS.Enable,
		"exporter nats.tls.insecure": nsink.TLS.InsecureSkipVerify,
		"kafka start":                ksrc.StartOffset,
		"kafka inflight":             ksrc.MaxInFlight,
		"kafka batch.size":           ksrc.BatchSize,
		"kafka batch.timeout":        ksrc.BatchTimeout,
		"kafka tls":                  ksrc.TLS.Enable,
		"kafka tls.insecure":         ksrc.TLS.InsecureSkipVerify,
		"nats jetstream":             !nsrc.CoreNATS,
		"nats start":                 nsrc.DeliverPolicy,
		"nats inflight":              nsrc.MaxInFlight,
		"nats batch.size":            nsrc.BatchSize,
		"nats batch.timeout":         nsrc.BatchTimeout,
		"nats url":                   nsrc.URL,
		"nats tls":                   nsrc.TLS.Enable,
		"nats tls.insecure":          nsrc.TLS.InsecureSkipVerify,
		"settings retry.initial":     settings.RetryInitial,
		"settings shutdown.timeout":  settings.ShutdownTimeout,
		"settings retry.failfast":    settings.FailFast,
		"settings chunk.records":     settings.ChunkRecords,

		"exporter es.index":             es.Index,
		"exporter es.tls.insecure":      es.TLS.InsecureSkipVerify,
		"exporter es.bulk.numworkers":   es.NumWorkers,
		"exporter es.bulk.flushbuffer":  es.FlushBytes,
		"exporter es.bulk.flushtimeout": es.FlushInterval,
		"exporter es.timeout":           es.Timeout,
		"exporter es.retry.initial":     es.RetryInitial,

		// the otelkafka driver is the Kafka source with format otel
		"otelkafka start":         ksrc.StartOffset,
		"otelkafka inflight":      ksrc.MaxInFlight,
		"otelkafka batch.size":    otelSourceBatch,
		"otelkafka batch.timeout": ksrc.BatchTimeout,
		"otelkafka tls":           ksrc.TLS.Enable,
		"otelkafka tls.insecure":  ksrc.TLS.InsecureSkipVerify,
	}
}

// connectorOnly are the keys with a default that no component applies
// itself: only the connector reads them, through config.Keys, which takes
// the default from Specs (so the value used is the documented one by
// construction). Each says why no component holds it.
var connectorOnly = map[string]string{
	"socket path":             "the socket source requires a path; the default is the connector's",
	"reader filter.enabled":   "accepted for compatibility, no effect",
	"reader filter.maxage":    "accepted for compatibility, no effect",
	"policy concurrency":      "0 is resolved by buildPolicy (one worker per CPU, as the transform's own default)",
	"policy monitor":          "whether buildPolicy starts a watcher at all",
	"policy language":         "checked by buildPolicy",
	"policy compat":           "chooses the options buildPolicy loads the policies with",
	"exporter export":         "chooses the sink",
	"exporter type":           "sets the sinks' Grouped flag",
	"exporter format":         "chooses the encoder",
	"exporter flat":           "chooses the encoder",
	"exporter buffer":         "accepted for compatibility, no effect",
	"exporter file.path":      "the file sink requires a path; the default is the connector's",
	"exporter vault.secrets":  "accepted for compatibility, no effect",
	"exporter vault.path":     "accepted for compatibility, no effect",
	"exporter kafka.brokers":  "the Kafka sink requires brokers; the default is the connector's",
	"exporter kafka.topic":    "the Kafka sink requires a topic; the default is the connector's",
	"exporter nats.subject":   "the NATS sink requires a subject; the default is the connector's",
	"kafka brokers":           "the Kafka source requires brokers; the default is the connector's",
	"kafka topic":             "the Kafka source requires topics; the default is the connector's",
	"kafka group":             "the Kafka source requires a group; the default is the connector's",
	"kafka format":            "avro or otel: chooses the decoder in buildBusSource",
	"kafka encoding":          "format otel only: checked by buildBusSource, the decoder tells proto from json itself",
	"nats subject":            "the NATS source requires a subject; the default is the connector's",
	"nats durable":            "the NATS source requires a durable name with JetStream; the default is the connector's",
	"nats format":             "avro or otel: chooses the decoder in buildBusSource",
	"nats encoding":           "format otel only: checked by buildBusSource, the decoder tells proto from json itself",
	"otelkafka brokers":       "the Kafka source requires brokers; the default is the connector's",
	"otelkafka topic":         "the Kafka source requires topics; the default is the connector's",
	"otelkafka group":         "the Kafka source requires a group; the default is the connector's",
	"otelkafka format":        "otel only; checked by buildBusSource",
	"otelkafka encoding":      "checked by buildBusSource, the decoder tells proto from json itself",
	"settings retry.max":      "0 is a valid Settings value (no retries): the pipeline cannot tell it from unset",
	"settings log.level":      "read by the command (its -log flag's default)",
	"settings log.format":     "read by the command (its -log-format flag's default)",
	"exporter es.addresses":   "the Elasticsearch sink requires addresses; the default is the connector's",
	"exporter es.retry.max":   "0 is a valid value (no re-sending within a batch): the sink cannot tell it from unset",
	"exporter kafka.encoding": "read by readBusEncoding; the sinks get an encoder, not this key",
	"exporter nats.encoding":  "read by readBusEncoding; the sinks get an encoder, not this key",
}

// TestSpecDefaultsAreComponentDefaults: every default config.Specs
// documents is either the one the component applies to a zero setting, or
// listed in connectorOnly with the reason no component holds it.
func TestSpecDefaultsAreComponentDefaults(t *testing.T) {
	comp := componentDefaults()
	for _, s := range config.Specs {
		if s.Default == "" {
			continue
		}
		name := s.Kind + " " + s.Key
		if why := connectorOnly[name]; why != "" {
			continue
		}
		got, ok := comp[name]
		if !ok {
			t.Errorf("%s: default %q is not compared with any component's (add it to componentDefaults or connectorOnly)", name, s.Default)
			continue
		}
		if err := sameDefault(s.Default, got); err != nil {
			t.Errorf("%s: config.Specs says %q, the component uses %v: %v", name, s.Default, got, err)
		}
	}
}

// sameDefault parses a Specs default the way config.Keys does for the
// component field's type and compares.
func sameDefault(spec string, got any) error {
	switch g := got.(type) {
	case string:
		if !strings.EqualFold(spec, g) {
			return errMismatch
		}
	case bool:
		b, ok := config.ParseBool(spec)
		if !ok || b != g {
			return errMismatch
		}
	case int:
		n, err := strconv.Atoi(spec)
		if err != nil || n != g {
			return errMismatch
		}
	case int64:
		n, err := strconv.ParseInt(spec, 10, 64)
		if err != nil || n != g {
			return errMismatch
		}
	case time.Duration:
		d, err := config.ParseDuration(spec)
		if err != nil || d != g {
			return errMismatch
		}
	case os.FileMode:
		m, err := strconv.ParseUint(spec, 8, 32)
		if err != nil || os.FileMode(m) != g {
			return errMismatch
		}
	default:
		return errUnknownType
	}
	return nil
}

type defaultError string

func (e defaultError) Error() string { return string(e) }

const (
	errMismatch    = defaultError("different")
	errUnknownType = defaultError("no comparison for this type")
)
