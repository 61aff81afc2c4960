package connector_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sfconnector/sfconnector/config"
	"github.com/sfconnector/sfconnector/connector"
	"github.com/sfconnector/sfconnector/testenv/shared"
)

func checkYAML(t *testing.T, name, text string) error {
	t.Helper()
	cfg, err := config.Parse(filepath.Join(t.TempDir(), name), []byte(text), nil)
	if err != nil {
		return err
	}
	return connector.Check(context.Background(), cfg, connector.Options{Logger: quietLog(), DryRun: true})
}

// format otel is checked where it is set: only on the bus exporters and
// sources, with its own encodings, and the otelkafka driver takes
// sf-processor's key names.
func TestOTLPConfiguration(t *testing.T) {
	root := "pipeline:\n  - {processor: sysflowreader, handler: flattener, in: sysflow a, out: flat b}\n"
	sink := "  - {processor: exporter, in: flat b, export: null}\n"
	cases := []struct {
		name, yaml, want string // want "": valid
	}{
		{"kafka exporter", root + "  - {processor: exporter, in: flat b, export: kafka, format: otel, kafka.encoding: proto}\n", ""},
		{"nats exporter json", root + "  - {processor: exporter, in: flat b, export: nats, format: otel, nats.encoding: json}\n", ""},
		{"file exporter", root + "  - {processor: exporter, in: flat b, export: file, format: otel}\n", `key "format": otel is for kafka and nats exporters`},
		{"terminal exporter", root + "  - {processor: exporter, in: flat b, format: otel}\n", `key "format": otel is for kafka and nats exporters`},
		{"raw", root + "  - {processor: exporter, in: flat b, export: kafka, format: otel, kafka.encoding: raw}\n", `raw forwarding is Avro`},
		{"proto without otel", root + "  - {processor: exporter, in: flat b, export: kafka, format: json, kafka.encoding: proto}\n", `proto is an OpenTelemetry encoding: set format to otel`},
		{"kafka source", "source: {driver: kafka, format: otel, topic: t}\n" + root + sink, ""},
		{"nats source", "source: {driver: nats, format: otel, encoding: json}\n" + root + sink, ""},
		{"source encoding", "source: {driver: kafka, format: otel, encoding: xml}\n" + root, `key "encoding": invalid value "xml"`},
		{"otelkafka", "source: {driver: otelkafka, out: otel otelchan, kafka.topics: [a, b], kafka.encoding: proto, kafka.brokers: 'k:9092'}\n" + root + sink, ""},
		{"otelkafka avro", "source: {driver: otelkafka, format: avro}\n" + root, `key "format": invalid value "avro"`},
		{"avro source still needs its registry", "source: {driver: kafka}\n" + root, `needs the registry URL (or set format to otel)`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := checkYAML(t, "p.yaml", c.yaml)
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("rejected: %v", err)
			case c.want != "" && err == nil:
				t.Fatalf("accepted, want an error saying %q", c.want)
			case c.want != "" && !strings.Contains(err.Error(), c.want):
				t.Fatalf("error %q does not say %q", err, c.want)
			}
		})
	}
}

// sf-processor's own pipeline.otel.json loads as it is (its kafka.config
// maps, its driver-fed policy engine, format otel with kafka.encoding
// proto, the otelkafka driver with kafka.topics): the one complaint left
// is its policy path, which does not exist here.
func TestReferenceOTelPipelineLoads(t *testing.T) {
	path := shared.Path(t, "pipelines", "sf-processor", "pipeline.otel.json")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	err = checkYAML(t, "pipeline.otel.json", string(raw))
	if err == nil {
		t.Fatal("accepted, but its policy path /filter.yaml cannot exist here")
	}
	for _, line := range strings.Split(err.Error(), "\n") {
		if !strings.Contains(line, "/filter.yaml") {
			t.Errorf("refused: %s", line)
		}
	}
}
