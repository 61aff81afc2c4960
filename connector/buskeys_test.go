package connector_test

import (
	"regexp"
	"testing"
)

// TestBusExporterErrorsNamePrefixedKeys checks, through Check, that errors
// from the shared Kafka/NATS connection code still name an exporter's keys
// with their kafka./nats. prefix now that the prefix is the caller's (the
// unprefixed source-driver side is checked in sources/kafka and in
// internal/kafkaconn and internal/natsconn: a dry run builds no source).
func TestBusExporterErrorsNamePrefixedKeys(t *testing.T) {
	root := "pipeline:\n  - {processor: sysflowreader, handler: flattener, in: sysflow a, out: flat b}\n"
	cases := []struct{ name, yaml, want string }{
		{"kafka exporter sasl", root + "  - {processor: exporter, in: flat b, export: kafka, kafka.sasl.mechanism: GSSAPI}\n",
			`kafka.sasl.mechanism: "GSSAPI" is not one of`},
		{"kafka exporter brokers", root + "  - {processor: exporter, in: flat b, export: kafka, kafka.brokers: nohost}\n",
			`kafka.brokers: "nohost" is not host:port`},
		{"nats exporter url", root + "  - {processor: exporter, in: flat b, export: nats, nats.url: 'nats://h:1,'}\n",
			`nats.url: empty server in "nats://h:1,"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := checkYAML(t, "p.yaml", c.yaml)
			if err == nil {
				t.Fatalf("accepted, want an error saying %q", c.want)
			}
			// the key starts the message or follows a "where: " prefix
			if !regexp.MustCompile(`(^|: )` + regexp.QuoteMeta(c.want)).MatchString(err.Error()) {
				t.Errorf("error %q does not say %q", err, c.want)
			}
		})
	}
}
