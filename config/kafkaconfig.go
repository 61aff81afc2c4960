package config

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// sf-processor 0.7.0 configures its Kafka exporter and its otelkafka driver
// with a "kafka.config" object of librdkafka properties, handed to
// librdkafka unchanged. sfconnector's Kafka sink and source are not
// librdkafka, so each property it has an equivalent for is rewritten into
// that key here, once, at load time; the rest are warnings naming the
// property, because a drop-in must load the file but the user must learn
// which tuning no longer applies.

// nestedKeys flattens an object-valued key. Only kafka.config takes an
// object, as in the reference; its entries must be scalars.
func nestedKeys(key string, obj map[string]any) (map[string]string, error) {
	if !strings.EqualFold(key, "kafka.config") {
		return nil, fmt.Errorf("key %q: want a string, number, boolean or list, got an object (only kafka.config takes an object)", key)
	}
	out := make(map[string]string, len(obj))
	for k, v := range obj {
		s, err := scalarString(v)
		if err != nil {
			return nil, fmt.Errorf("key %q: property %q: %w", key, k, err)
		}
		out[strings.ToLower(strings.TrimSpace(k))] = s
	}
	return out, nil
}

// nestedKey tells whether a key takes an object.
func nestedKey(key string) bool { return key == "kafka.config" }

// applyNestedEnv applies <PLUGIN>_KAFKA_CONFIG, a JSON object replacing the
// file's kafka.config, before the objects are mapped onto keys, so that
// the variable behaves as if the file said it.
func (c *Config) applyNestedEnv(env func(string) (string, bool)) error {
	var errs []string
	c.Root.Walk(func(n *Node) {
		if n.Kind != KindExporter {
			return
		}
		name := strings.ToUpper(n.Name) + "_KAFKA_CONFIG"
		v, ok := env(name)
		if !ok {
			return
		}
		var obj map[string]any
		if err := json.Unmarshal([]byte(v), &obj); err != nil || obj == nil {
			errs = append(errs, fmt.Sprintf("%s: environment variable %s: want a JSON object of librdkafka properties, as kafka.config takes", n.Where, name))
			return
		}
		m, err := nestedKeys("kafka.config", obj)
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s: environment variable %s: %v", n.Where, name, err))
			return
		}
		if n.nested == nil {
			n.nested = map[string]map[string]string{}
		}
		n.nested["kafka.config"] = m
	})
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "\n"))
	}
	return nil
}

// kafkaRole says which of our components a kafka.config feeds.
type kafkaRole int

const (
	kafkaSink   kafkaRole = iota // an exporter: keys prefixed "kafka."
	kafkaSource                  // a kafka (or otelkafka) driver: unprefixed keys
)

// rdProperty maps one librdkafka property. key is our key without the
// "kafka." prefix, "" when the role has no equivalent (why says so);
// conv rewrites the value (nil: as is).
type rdProperty struct {
	sink, source string
	why          string // for a role without an equivalent
	conv         func(string) (string, error)
}

var rdProperties = map[string]rdProperty{
	"bootstrap.servers":                   {sink: "brokers", source: "brokers"},
	"metadata.broker.list":                {sink: "brokers", source: "brokers"},
	"compression.type":                    {sink: "compression", why: "a producer setting; the consumer reads every codec", conv: lower},
	"compression.codec":                   {sink: "compression", why: "a producer setting; the consumer reads every codec", conv: lower},
	"acks":                                {sink: "acks", why: "a producer setting", conv: rdAcks},
	"request.required.acks":               {sink: "acks", why: "a producer setting", conv: rdAcks},
	"security.protocol":                   {sink: "tls", source: "tls", conv: rdSecurityProtocol},
	"sasl.mechanism":                      {sink: "sasl.mechanism", source: "sasl.mechanism", conv: rdSASLMechanism},
	"sasl.mechanisms":                     {sink: "sasl.mechanism", source: "sasl.mechanism", conv: rdSASLMechanism},
	"sasl.username":                       {sink: "sasl.username", source: "sasl.username"},
	"ssl.ca.location":                     {sink: "tls.ca", source: "tls.ca"},
	"ssl.certificate.location":            {sink: "tls.cert", source: "tls.cert"},
	"ssl.key.location":                    {sink: "tls.key", source: "tls.key"},
	"enable.ssl.certificate.verification": {sink: "tls.insecure", source: "tls.insecure", conv: rdNegate},
	"linger.ms":                           {sink: "batch.timeout", why: "a producer setting", conv: rdMillis},
	"queue.buffering.max.ms":              {sink: "batch.timeout", why: "a producer setting", conv: rdMillis},
	"batch.size":                          {sink: "batch.bytes", why: "a producer setting", conv: rdInt},
	"batch.num.messages":                  {sink: "batch.size", why: "a producer setting", conv: rdInt},
	"group.id":                            {source: "group", why: "a consumer setting; an exporter has no group"},
	"auto.offset.reset":                   {source: "start", why: "a consumer setting", conv: rdOffsetReset},
}

// rdPasswordKeys are secrets: sfconnector never reads a secret from the
// configuration file (connector/bus.go), so they are warned about and the
// warning says where the secret goes instead.
var rdPasswordKeys = map[string]bool{"sasl.password": true, "ssl.key.password": true, "ssl.keystore.password": true}

// mapNestedKeys rewrites the kafka.config objects of exporters and Kafka
// drivers into their keys. A key set directly wins over the property, with
// a warning; a value that cannot be rewritten is an error naming both.
func (c *Config) mapNestedKeys() error {
	var errs []string
	c.Root.Walk(func(n *Node) {
		if n.Kind != KindExporter {
			return
		}
		// every 0.7.0 exporter carries a kafka.config, whatever it exports;
		// its keys are mapped (they are kafka.* keys, unused by a syslog
		// exporter) but only a Kafka exporter warns about the rest
		warn := strings.EqualFold(strings.TrimSpace(n.keys["export"]), "kafka")
		errs = append(errs, c.mapKafkaConfig(&n.Plugin, kafkaSink, warn)...)
	})
	seen := map[*Plugin]bool{}
	for _, d := range append(append([]*Plugin(nil), c.drivers...), c.Source) {
		if d == nil || seen[d] {
			continue
		}
		seen[d] = true
		if d.Kind == "kafka" || d.Kind == "otelkafka" {
			errs = append(errs, c.mapKafkaConfig(d, kafkaSource, true)...)
		} else if d.nested != nil {
			for k := range d.nested {
				c.warnings = append(c.warnings, fmt.Sprintf("%s: key %q ignored: only Kafka drivers and exporters use it", d.Where, k))
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "\n"))
	}
	return nil
}

func (c *Config) mapKafkaConfig(p *Plugin, role kafkaRole, warn bool) []string {
	props := p.nested["kafka.config"]
	if props == nil {
		return nil
	}
	prefix := ""
	if role == kafkaSink {
		prefix = "kafka."
	}
	warnf := func(format string, a ...any) {
		if warn {
			c.warnings = append(c.warnings, fmt.Sprintf("%s: kafka.config %s", p.Where, fmt.Sprintf(format, a...)))
		}
	}
	var errs []string
	for _, name := range sortedKeys(props) {
		v := strings.TrimSpace(props[name])
		if rdPasswordKeys[name] {
			warnf("%q is not read: sfconnector never takes a secret from the configuration file; put it in the file named by %q or in the environment variable SFCONNECTOR_KAFKA_PASSWORD", name, prefix+"sasl.password_file")
			continue
		}
		m, known := rdProperties[name]
		target := m.sink
		if role == kafkaSource {
			target = m.source
		}
		if !known {
			warnf("%q has no equivalent in sfconnector and is ignored (mapped: %s)", name, strings.Join(mappedProperties(role), ", "))
			continue
		}
		if target == "" {
			warnf("%q is ignored here: %s", name, m.why)
			continue
		}
		if m.conv != nil {
			conv, err := m.conv(v)
			if err != nil {
				errs = append(errs, fmt.Sprintf("%s: kafka.config %q: invalid value %q: %v", p.Where, name, v, err))
				continue
			}
			v = conv
		}
		key := prefix + target
		if p.Has(key) {
			warnf("%q ignored: key %q is set too and wins", name, key)
			continue
		}
		p.keys[key] = v
	}
	return errs
}

// mappedProperties lists the librdkafka properties a role understands.
func mappedProperties(role kafkaRole) []string {
	var out []string
	for name, m := range rdProperties {
		if (role == kafkaSink && m.sink != "") || (role == kafkaSource && m.source != "") {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

func lower(s string) (string, error) { return strings.ToLower(s), nil }

func rdAcks(s string) (string, error) {
	switch strings.ToLower(s) {
	case "all", "-1":
		return "all", nil
	case "1":
		return "one", nil
	case "0":
		return "none", nil
	}
	return "", fmt.Errorf("want all, -1, 1 or 0")
}

func rdSecurityProtocol(s string) (string, error) {
	switch strings.ToLower(s) {
	case "plaintext", "sasl_plaintext":
		return "false", nil
	case "ssl", "sasl_ssl":
		return "true", nil
	}
	return "", fmt.Errorf("want plaintext, ssl, sasl_plaintext or sasl_ssl")
}

func rdSASLMechanism(s string) (string, error) {
	switch v := strings.ToLower(s); v {
	case "plain", "scram-sha-256", "scram-sha-512":
		return v, nil
	}
	return "", fmt.Errorf("sfconnector supports PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512")
}

func rdNegate(s string) (string, error) {
	switch strings.ToLower(s) {
	case "true", "1", "on", "yes":
		return "false", nil
	case "false", "0", "off", "no":
		return "true", nil
	}
	return "", fmt.Errorf("want true or false")
}

func rdMillis(s string) (string, error) {
	n, err := strconv.ParseFloat(s, 64)
	if err != nil || n < 0 {
		return "", fmt.Errorf("want milliseconds")
	}
	return strconv.FormatFloat(n, 'f', -1, 64) + "ms", nil
}

func rdInt(s string) (string, error) {
	if _, err := strconv.Atoi(s); err != nil {
		return "", fmt.Errorf("want an integer")
	}
	return s, nil
}

func rdOffsetReset(s string) (string, error) {
	switch strings.ToLower(s) {
	case "earliest", "smallest", "beginning":
		return "earliest", nil
	case "latest", "largest", "end":
		return "latest", nil
	}
	return "", fmt.Errorf("want earliest (smallest, beginning) or latest (largest, end)")
}
