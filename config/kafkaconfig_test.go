package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sfconnector/sfconnector/testenv/shared"
)

// sf-processor 0.7.0's pipeline.otel.json, shortened: no sysflowreader, an
// otelkafka driver writing into the policy engine's channel.
const otelPipeline = `{"pipeline":[
  {"processor":"policyengine","in":"otel otelchan","out":"evt eventchan","policies":"/p.yaml","mode":"alert"},
  {"processor":"exporter","in":"evt eventchan","export":"kafka","kafka.config":{"bootstrap.servers":"k1:29092"},"kafka.topic":"down"}],
 "drivers":[{"driver":"otelkafka","out":"otel otelchan","kafka.config":{"bootstrap.servers":"k1:29092","group.id":"g"},"kafka.topics":["otel-logs"]}]}`

func warningsWith(c *Config, words ...string) []string {
	var out []string
	for _, w := range c.Warnings() {
		all := true
		for _, word := range words {
			all = all && strings.Contains(w, word)
		}
		if all {
			out = append(out, w)
		}
	}
	return out
}

// Every librdkafka property with an equivalent lands on the Kafka
// exporter's key, converted to its vocabulary; the others are warnings
// naming the property, and a password is never taken from the file.
func TestKafkaConfigOntoSink(t *testing.T) {
	js := `{"pipeline":[{"processor":"sysflowreader","out":"a"},
	 {"processor":"exporter","in":"a","export":"kafka","kafka.topic":"t","kafka.acks":"one","kafka.config":{
	   "bootstrap.servers":"b1:9092,b2:9092","compression.type":"ZSTD","acks":"-1","security.protocol":"SASL_SSL",
	   "sasl.mechanisms":"SCRAM-SHA-512","sasl.username":"u","sasl.password":"hunter2",
	   "ssl.ca.location":"/ca.pem","ssl.certificate.location":"/c.pem","ssl.key.location":"/k.pem",
	   "enable.ssl.certificate.verification":false,"linger.ms":5,"batch.size":65536,"batch.num.messages":100,
	   "client.id":"sfp","message.max.bytes":1000000,"group.id":"g"}}]}`
	c, err := Parse("p.json", []byte(js), nil)
	if err != nil {
		t.Fatal(err)
	}
	k := c.Root.Children[0].Keys()
	want := map[string]string{
		"kafka.brokers": "b1:9092,b2:9092", "kafka.compression": "zstd", "kafka.tls": "true",
		"kafka.sasl.mechanism": "scram-sha-512", "kafka.sasl.username": "u", "kafka.tls.ca": "/ca.pem",
		"kafka.tls.cert": "/c.pem", "kafka.tls.key": "/k.pem", "kafka.tls.insecure": "true",
		"kafka.batch.timeout": "5ms", "kafka.batch.bytes": "65536", "kafka.batch.size": "100",
		"kafka.acks": "one", // set directly: wins over acks -1
	}
	for key, v := range want {
		if got := setOr(k, key, "<unset>"); got != v {
			t.Errorf("%s = %q, want %q", key, got, v)
		}
	}
	for _, key := range []string{"kafka.sasl.password", "kafka.sasl.password_file"} {
		if got := setOr(k, key, "<unset>"); got != "<unset>" {
			t.Errorf("%s = %q: a password in kafka.config must not be used", key, got)
		}
	}
	if strings.Contains(strings.Join(c.Warnings(), "\n"), "hunter2") {
		t.Errorf("a warning shows the password: %v", c.Warnings())
	}
	for _, w := range [][]string{
		{`"client.id"`, "no equivalent"},
		{`"message.max.bytes"`, "no equivalent"},
		{`"group.id"`, "consumer setting"},
		{`"sasl.password"`, "kafka.sasl.password_file", "SFCONNECTOR_KAFKA_PASSWORD"},
		{`"acks"`, `"kafka.acks" is set too`},
	} {
		if len(warningsWith(c, w...)) != 1 {
			t.Errorf("want one warning with %q; got %q", w, c.Warnings())
		}
	}
	if n := len(c.Warnings()); n != 5 {
		t.Errorf("%d warnings, want 5: %q", n, c.Warnings())
	}
	for _, w := range c.Warnings() {
		if !strings.HasPrefix(w, "p.json: pipeline[1] (exporter): kafka.config ") {
			t.Errorf("warning %q does not name the file, plugin and key", w)
		}
	}
}

// The Kafka source driver takes the consumer properties.
func TestKafkaConfigOntoSource(t *testing.T) {
	js := `{"pipeline":[{"processor":"sysflowreader","out":"a"},{"processor":"exporter","in":"a"}],
	 "drivers":[{"driver":"kafka","topic":"t","kafka.config":{"metadata.broker.list":"b:9092","group.id":"grp",
	   "auto.offset.reset":"largest","security.protocol":"ssl","linger.ms":"10"}}]}`
	c, err := Parse("p.json", []byte(js), nil)
	if err != nil {
		t.Fatal(err)
	}
	k := c.Driver("kafka").Keys()
	for key, v := range map[string]string{"brokers": "b:9092", "group": "grp", "start": "latest", "tls": "true"} {
		if got := setOr(k, key, "<unset>"); got != v {
			t.Errorf("%s = %q, want %q", key, got, v)
		}
	}
	if got := setOr(k, "batch.timeout", "<unset>"); got != "<unset>" {
		t.Errorf("batch.timeout = %q: linger.ms is a producer setting", got)
	}
	if len(c.Warnings()) != 1 || len(warningsWith(c, `"linger.ms"`, "producer setting")) != 1 {
		t.Errorf("warnings %q, want one for linger.ms", c.Warnings())
	}
	k.Given("topic")
	if err := k.Err(); err != nil {
		t.Errorf("the mapped keys are not all declared for the kafka driver: %v", err)
	}
}

func TestKafkaConfigErrors(t *testing.T) {
	for _, tc := range []struct{ name, exporter, want string }{
		{"bad acks", `"kafka.config":{"acks":"2"}`, `pipeline[1] (exporter): kafka.config "acks": invalid value "2"`},
		{"unsupported mechanism", `"kafka.config":{"sasl.mechanism":"GSSAPI"}`, `kafka.config "sasl.mechanism": invalid value "GSSAPI": sfconnector supports PLAIN`},
		{"bad protocol", `"kafka.config":{"security.protocol":"tls"}`, `"security.protocol": invalid value "tls"`},
		{"nested object", `"kafka.config":{"x":{"y":1}}`, `key "kafka.config": property "x": want a string`},
		{"other object", `"syslog.config":{"a":"b"}`, `key "syslog.config": want a string, number, boolean or list, got an object (only kafka.config takes an object)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			js := `{"pipeline":[{"processor":"sysflowreader","out":"a"},{"processor":"exporter","in":"a","export":"kafka",` + tc.exporter + `}]}`
			_, err := Parse("p.json", []byte(js), nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

// A syslog exporter's kafka.config (0.7.0 wants one on every exporter)
// loads without warnings: its keys are another export type's.
func TestKafkaConfigOnOtherExport(t *testing.T) {
	js := `{"pipeline":[{"processor":"sysflowreader","out":"a"},
	 {"processor":"exporter","in":"a","export":"syslog","kafka.config":{"bootstrap.servers":"b:1","client.id":"x"}}]}`
	c, err := Parse("p.json", []byte(js), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Warnings()) != 0 {
		t.Errorf("warnings %q for a syslog exporter", c.Warnings())
	}
	k := c.Root.Children[0].Keys()
	k.Given("export")
	if got := k.OtherExports("syslog"); len(got) != 1 || got[0] != "kafka.brokers" {
		t.Errorf("OtherExports = %q, want [kafka.brokers]", got)
	}
}

// Without a sysflowreader, the driver whose "out" is the first plugin's
// input is the root, as in the reference's OTel pipeline.
func TestDriverFedPipeline(t *testing.T) {
	c, err := Parse("otel.json", []byte(otelPipeline), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Root.Kind != KindInput || c.Root.Name != "otelkafka" {
		t.Fatalf("root = %s %q, want the otelkafka driver's input", c.Root.Kind, c.Root.Name)
	}
	if len(c.Root.Children) != 1 || c.Root.Children[0].Kind != KindPolicy ||
		len(c.Root.Children[0].Children) != 1 || c.Root.Children[0].Children[0].Kind != KindExporter {
		t.Fatalf("tree = %+v", c.Root)
	}
	d := c.Driver("otelkafka")
	if d == nil || d.Has("out") {
		t.Fatalf("driver %+v: want it found, its out channel not a key", d)
	}
	if got := d.Keys().Given("brokers"); got != "k1:29092" {
		t.Errorf("otelkafka brokers = %q, want kafka.config's bootstrap.servers", got)
	}

	for _, tc := range []struct{ name, js, want string }{
		{"no driver", `{"pipeline":[{"processor":"policyengine","in":"x","out":"y"},{"processor":"exporter","in":"y"}]}`,
			`pipeline[0] (policyengine): no plugin and no driver writes to its input channel "x"`},
		{"two inputs", `{"pipeline":[{"processor":"policyengine","in":"x","out":"y"},{"processor":"exporter","in":"z"}],"drivers":[{"driver":"otelkafka","out":"x"}]}`,
			`read channels no plugin writes ("x", "z")`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("p.json", []byte(tc.js), nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

// Every pipeline sf-processor 0.7.0 ships loads; the template is known as
// one and every key it lists is declared.
func TestReferencePipelinesLoad(t *testing.T) {
	dir := shared.Path(t, "pipelines", "sf-processor")
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no pipelines in %s", dir)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			c, err := Load(f, nil)
			if err != nil {
				t.Fatal(err)
			}
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if want := strings.Contains(string(data), "DO NOT EDIT THIS TEMPLATE"); c.Template() != want {
				t.Errorf("Template() = %v, want %v", c.Template(), want)
			}
			if c.Template() {
				if err := c.CheckKeyNames(); err != nil {
					t.Errorf("template keys: %v", err)
				}
			}
			if want := !strings.Contains(string(data), `"sysflowreader"`); (c.Root.Kind == KindInput) != want {
				t.Errorf("root kind %s; driver-fed expected: %v", c.Root.Kind, want)
			}
		})
	}
}

func TestCheckKeyNames(t *testing.T) {
	js := `{"pipeline":[{"processor":"sysflowreader","out":"a","filter.enabled":"on|off"},
	 {"processor":"exporter","in":"a","export":"a|b","syslog.hots":"x","findings.x":"y"}]}`
	c, err := Parse("p.json", []byte(js), nil)
	if err != nil {
		t.Fatal(err)
	}
	err = c.CheckKeyNames()
	if err == nil || !strings.Contains(err.Error(), `unknown key "syslog.hots" (did you mean "syslog.host"?)`) {
		t.Fatalf("err = %v, want syslog.hots named with a suggestion", err)
	}
	if strings.Count(err.Error(), "unknown key") != 1 {
		t.Errorf("err = %v: only syslog.hots is unknown (findings.* is declared)", err)
	}
}

// EXPORTER_KAFKA_CONFIG replaces the file's kafka.config, as the other
// <PLUGIN>_<KEY> variables replace their keys; a direct key's variable
// still wins over a property.
func TestKafkaConfigEnv(t *testing.T) {
	js := `{"pipeline":[{"processor":"sysflowreader","out":"a"},
	 {"processor":"exporter","in":"a","export":"kafka","kafka.config":{"bootstrap.servers":"file:1","acks":"1"}}]}`
	env := map[string]string{"EXPORTER_KAFKA_CONFIG": `{"bootstrap.servers":"env:1","compression.type":"gzip"}`, "EXPORTER_KAFKA_COMPRESSION": "zstd"}
	c, err := Parse("p.json", []byte(js), func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	k := c.Root.Children[0].Keys()
	for key, want := range map[string]string{"kafka.brokers": "env:1", "kafka.compression": "zstd", "kafka.acks": "<unset>"} {
		if got := setOr(k, key, "<unset>"); got != want {
			t.Errorf("%s = %q, want %q", key, got, want)
		}
	}
	env["EXPORTER_KAFKA_CONFIG"] = "bootstrap.servers=x"
	_, err = Parse("p.json", []byte(js), func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err == nil || !strings.Contains(err.Error(), "environment variable EXPORTER_KAFKA_CONFIG: want a JSON object") {
		t.Errorf("err = %v, want the variable named", err)
	}
}

// setOr returns the key's value as set, or unset when absent (the default
// from Specs would hide whether the mapping set it).
func setOr(k *Keys, key, unset string) string {
	if v, ok := k.Lookup(key); ok {
		return v
	}
	return unset
}
