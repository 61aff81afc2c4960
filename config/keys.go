package config

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// KeySpec documents one configuration key: the kind of plugin it belongs to,
// its default, and the older names that mean the same.
type KeySpec struct {
	Kind    string
	Key     string
	Default string
	Aliases []string
	Doc     string
}

// Specs lists every key a plugin accepts. docs/configuration.md is checked
// against it by a test, and env overrides are looked up for each.
var Specs = append(append(baseSpecs, busSpecs()...), esSpecs()...)

var baseSpecs = []KeySpec{
	// source drivers
	{Kind: "file", Key: "path", Doc: "trace file, directory (files in name order) or glob"},
	{Kind: "file", Key: "follow", Default: "false", Doc: "watch the directory for new trace files the collector rotates in; each finished file is read once"},
	{Kind: "file", Key: "follow.settle", Default: "2s", Doc: "a followed file counts as finished when a newer file exists or it was not modified for this long"},
	{Kind: "file", Key: "batch.size", Default: "4096", Doc: "records per pipeline message (files are read a block at a time)"},
	{Kind: "socket", Key: "path", Default: "/sock/sysflow.sock", Doc: "unix SOCK_SEQPACKET socket the collector connects to"},
	{Kind: "socket", Key: "mode", Default: "0600", Doc: "permissions of the socket file (octal)"},
	{Kind: "socket", Key: "batch.size", Default: "1024", Doc: "records per pipeline message"},
	{Kind: "socket", Key: "batch.timeout", Default: "100ms", Doc: "a partial batch is sent after this long"},
	{Kind: "socket", Key: "max.message", Default: "16777216", Doc: "largest socket message accepted, in bytes"},
	{Kind: "socket", Key: "buffer", Default: "64", Doc: "batches queued ahead of the pipeline; when full the socket is not read (the collector is slowed), nothing is dropped"},

	// reader / flattener
	{Kind: KindReader, Key: "tables.max", Doc: "entries per entity table; the oldest are evicted beyond it (default: 65536 processes, 262144 files, 16384 containers and pods)"},
	{Kind: KindReader, Key: "tables.grace", Default: "30s", Doc: "how long (in event time) an exited process stays in the table"},
	{Kind: KindReader, Key: "filter.enabled", Default: "off", Doc: "accepted for sf-processor compatibility; has no effect"},
	{Kind: KindReader, Key: "filter.maxage", Default: "24h", Doc: "accepted for sf-processor compatibility; has no effect"},

	// policy engine
	{Kind: KindPolicy, Key: "policies", Doc: "policy file or directory (recursive .yaml/.yml); empty: enrich/filter pass records through, alert mode uses the bundled default policies"},
	{Kind: KindPolicy, Key: "mode", Default: "enrich", Doc: "alert (only records matching a rule), enrich (every record, matches attached) or filter (drop rules applied, rules not evaluated)"},
	{Kind: KindPolicy, Key: "concurrency", Default: "0", Doc: "policy evaluation workers; 0 means one per CPU"},
	{Kind: KindPolicy, Key: "strict", Default: "false", Doc: "treat policy warnings (unknown fields, duplicate rules) as errors"},
	{Kind: KindPolicy, Key: "monitor", Default: "local", Doc: "local: reload the policies when their files change (and on SIGHUP); none: only on SIGHUP"},
	{Kind: KindPolicy, Key: "monitor.interval", Default: "300ms", Doc: "how long file changes settle before a reload"},
	{Kind: KindPolicy, Key: "action_dir", Aliases: []string{"actiondir"}, Doc: "accepted for sf-processor compatibility; action plugins are not loaded"},
	{Kind: KindPolicy, Key: "language", Default: "falco", Doc: "falco or sigma; either way Falco-style files (YAML lists) and Sigma rules (mappings with a detection) are told apart by their content, so one directory may hold both"},
	{Kind: KindPolicy, Key: "config", Doc: "Sigma field-mapping file (sigmac format: logsources, fieldmappings) for the Sigma rules among the policies; empty: the built-in mapping (docs/policies.md)"},
	{Kind: KindPolicy, Key: "compat", Default: "none", Doc: "sf-processor: evaluate as sf-processor 0.7.0 does (macros and lists resolved within their own file, every rule of a repeated name evaluated, a process outside any container typed DOCKER), to compare alerts side by side; none: sfconnector's semantics (docs/migrating.md)"},

	// exporter
	{Kind: KindExporter, Key: "export", Default: "terminal", Doc: "terminal, file, syslog, kafka, nats, es (Elasticsearch) or null"},
	{Kind: KindExporter, Key: "type", Default: "telemetry", Doc: "telemetry: one record per line; alert: buffered records grouped by node and container"},
	{Kind: KindExporter, Key: "format", Default: "json", Doc: "json, ecs, text (terminal), avro or otel (OTLP log records; kafka, nats); es writes ecs"},
	{Kind: KindExporter, Key: "flat", Default: "false", Doc: "true: one flat object keyed by policy field names"},
	{Kind: KindExporter, Key: "buffer", Default: "0", Doc: "accepted for sf-processor compatibility: records are already written in batches (a trace block, or up to batch.size socket records), each acknowledged only once written"},
	{Kind: KindExporter, Key: "file.path", Default: "./export.out", Aliases: []string{"path"}, Doc: "output file; appended to, never truncated"},
	{Kind: KindExporter, Key: "file.rotate.size", Default: "0", Doc: "rotate the output file when it exceeds this many bytes (0: never)"},
	{Kind: KindExporter, Key: "file.rotate.keep", Default: "5", Doc: "rotated files kept"},
	{Kind: KindExporter, Key: "syslog.proto", Default: "tcp", Aliases: []string{"proto"}, Doc: "tcp, udp, tcp+tls (tls)"},
	{Kind: KindExporter, Key: "syslog.tag", Default: "sysflow", Aliases: []string{"tag"}, Doc: "syslog app name"},
	{Kind: KindExporter, Key: "syslog.source", Aliases: []string{"source"}, Doc: "syslog hostname; default the host's name"},
	{Kind: KindExporter, Key: "syslog.host", Default: "localhost", Aliases: []string{"host"}, Doc: "syslog receiver host"},
	{Kind: KindExporter, Key: "syslog.port", Default: "514", Aliases: []string{"port"}, Doc: "syslog receiver port"},
	{Kind: KindExporter, Key: "syslog.format", Default: "rfc5424", Doc: "rfc5424 or rfc3164"},
	{Kind: KindExporter, Key: "syslog.tls.ca", Doc: "CA bundle to verify the receiver (default: system roots)"},
	{Kind: KindExporter, Key: "syslog.tls.cert", Doc: "client certificate (PEM)"},
	{Kind: KindExporter, Key: "syslog.tls.key", Doc: "client key (PEM)"},
	{Kind: KindExporter, Key: "syslog.tls.servername", Doc: "name to verify in the receiver's certificate (default: syslog.host)"},
	{Kind: KindExporter, Key: "syslog.tls.insecure", Default: "false", Doc: "skip certificate verification (never in production)"},
	{Kind: KindExporter, Key: "syslog.buffer", Default: "10000", Doc: "written messages kept until the receiver's kernel acknowledged them, to send again after a broken connection (a write does not queue while the receiver is down: it waits up to syslog.reconnect_timeout, then fails and is retried)"},
	{Kind: KindExporter, Key: "syslog.framing", Default: "octet-counting", Doc: "TCP/TLS framing: octet-counting or non-transparent"},
	{Kind: KindExporter, Key: "syslog.facility", Default: "daemon", Doc: "syslog facility by name or number"},
	{Kind: KindExporter, Key: "syslog.severity.high", Default: "crit", Doc: "severity of alerts with a high-priority rule"},
	{Kind: KindExporter, Key: "syslog.severity.medium", Default: "warning", Doc: "severity of alerts with a medium-priority rule"},
	{Kind: KindExporter, Key: "syslog.severity.low", Default: "notice", Doc: "severity of alerts with only low-priority rules"},
	{Kind: KindExporter, Key: "syslog.severity.event", Default: "info", Doc: "severity of records no rule matched (telemetry)"},
	{Kind: KindExporter, Key: "syslog.resend_window", Default: "2s", Doc: "how far back written messages are sent again after a broken connection"},
	{Kind: KindExporter, Key: "syslog.max_message_size", Doc: "largest message in bytes; longer bodies are cut (default 2048 UDP, 65536 TCP/TLS)"},
	{Kind: KindExporter, Key: "syslog.dial_timeout", Default: "5s", Doc: "connect and TLS handshake timeout"},
	{Kind: KindExporter, Key: "syslog.write_timeout", Default: "10s", Doc: "a stalled connection is replaced after this long"},
	{Kind: KindExporter, Key: "syslog.reconnect_timeout", Default: "30s", Doc: "how long one write keeps trying an unreachable receiver before it fails (then retried or dead-lettered)"},
	{Kind: KindExporter, Key: "vault.secrets", Default: "false", Doc: "accepted for sf-processor compatibility and ignored: credentials come from the *_file keys or SFCONNECTOR_* environment variables"},
	{Kind: KindExporter, Key: "vault.path", Default: "/run/secrets", Doc: "accepted for sf-processor compatibility and ignored (see vault.secrets)"},
	{Kind: KindExporter, Key: "findings.*", Doc: "sf-processor's IBM Findings exporter keys (findings.url, findings.apikey, ...): accepted so its pipeline.json loads; the findings export is not supported"},

	// dead letters
	{Kind: "settings", Key: "deadletter.export", Doc: "where records a sink still rejects after every retry go, each with the reason: file, kafka or nats (default: file when deadletter.path is set; none: such a batch is redelivered until it is written)"},
	{Kind: "settings", Key: "deadletter.path", Doc: "file receiving the dead letters (deadletter.export file)"},
	{Kind: "settings", Key: "deadletter.kafka.*", Doc: "the kafka exporter's keys for a Kafka dead-letter topic, e.g. deadletter.kafka.brokers, deadletter.kafka.topic"},
	{Kind: "settings", Key: "deadletter.nats.*", Doc: "the nats exporter's keys for a NATS dead-letter subject, e.g. deadletter.nats.url, deadletter.nats.subject"},
	{Kind: "settings", Key: "retry.max", Default: "5", Doc: "retries of a failed sink write before the dead-letter sink"},
	{Kind: "settings", Key: "retry.initial", Default: "100ms", Doc: "first retry delay (doubles each time)"},
	{Kind: "settings", Key: "retry.failfast", Default: "false", Doc: "without a dead-letter sink: stop the run with an error (non-zero exit) once a batch still fails after retry.max retries, instead of retrying it until the sink takes it (flag -fail-fast)"},

	// top-level settings of our YAML
	{Kind: "settings", Key: "log.level", Default: "info", Doc: "debug, info, warn, error"},
	{Kind: "settings", Key: "log.format", Default: "text", Doc: "text or json"},
	{Kind: "settings", Key: "metrics.addr", Doc: "address for /metrics, /healthz and /readyz (e.g. :9090); empty: off"},
	{Kind: "settings", Key: "chunk.records", Default: "1024", Doc: "a batch is flattened, transformed and written in chunks of about this many records: while the sinks write one chunk, the next is flattened and transformed on the other core; a sink still gets a batch's chunks in order and the batch is acknowledged once every chunk is written"},
	{Kind: "settings", Key: "shutdown.timeout", Default: "10s", Doc: "how long SIGTERM waits for in-flight records to be written; then retries are abandoned, what is undelivered goes to the dead-letter sink or is logged as lost (non-zero exit)"},
}

// KnownKeys lists the keys (canonical names and aliases) of a plugin kind.
func KnownKeys(kind string) []string {
	var out []string
	for _, s := range allSpecs() {
		if s.Kind == kind {
			out = append(out, s.Key)
			out = append(out, s.Aliases...)
		}
	}
	return out
}

func allSpecs() []KeySpec { return Specs }

// Spec returns the spec of a key of a plugin kind, by name or alias.
func Spec(kind, key string) (KeySpec, bool) {
	for _, s := range allSpecs() {
		if s.Kind != kind {
			continue
		}
		if s.Key == key {
			return s, true
		}
		for _, a := range s.Aliases {
			if a == key {
				return s, true
			}
		}
	}
	return KeySpec{}, false
}

// Default returns the default Specs declares for a key of a plugin kind
// ("" when it has none or the key is not declared): for defaults needed
// outside a Keys reader, such as command-line flags.
func Default(kind, key string) string {
	s, _ := Spec(kind, key)
	return s.Default
}

// Keys reads a plugin's keys with types and defaults, collecting errors.
// Every key read is marked used; Err reports the unused ones as unknown.
type Keys struct {
	p    *Plugin
	used map[string]bool
	errs []error
}

// Keys starts reading p's keys.
func (p *Plugin) Keys() *Keys { return &Keys{p: p, used: map[string]bool{}} }

// Has reports whether key (or one of its aliases) was set.
func (p *Plugin) Has(key string) bool {
	_, ok := p.lookup(key)
	return ok
}

// Set sets a key (command-line overrides).
func (p *Plugin) Set(key, value string) {
	if p.keys == nil {
		p.keys = map[string]string{}
	}
	p.keys[strings.ToLower(key)] = value
}

// Raw returns every key and value as written (for diagnostics; values of
// keys whose name mentions a secret are masked).
func (p *Plugin) Raw() map[string]string {
	out := make(map[string]string, len(p.keys))
	for k, v := range p.keys {
		if isSecretKey(k) {
			v = "***"
		}
		out[k] = v
	}
	return out
}

func isSecretKey(k string) bool {
	for _, w := range []string{"password", "secret", "token", "apikey", "nkey"} {
		if strings.Contains(k, w) {
			return true
		}
	}
	return false
}

// NewPlugin builds a plugin from keys (for the command line and tests).
func NewPlugin(kind, where string, keys map[string]string) *Plugin {
	p := &Plugin{Kind: kind, Name: kind, Where: where, keys: map[string]string{}}
	for k, v := range keys {
		p.keys[strings.ToLower(k)] = v
	}
	return p
}

func (p *Plugin) lookup(key string) (string, bool) {
	if v, ok := p.keys[key]; ok {
		return v, true
	}
	if s, ok := Spec(p.Kind, key); ok {
		for _, a := range append([]string{s.Key}, s.Aliases...) {
			if v, ok := p.keys[a]; ok {
				return v, true
			}
		}
	}
	return "", false
}

// get returns the key's value, or the default config.Specs declares for it
// when the key is absent or empty: Specs is the one place a default is
// written, so the documentation cannot drift from what the code uses.
// fromSpec tells that the value is that default.
func (k *Keys) get(key string) (v string, fromSpec bool) {
	k.used[key] = true
	s, ok := Spec(k.p.Kind, key)
	if ok {
		k.used[s.Key] = true
		for _, a := range s.Aliases {
			k.used[a] = true
		}
	} else {
		// every key a component reads must be in Specs: the documentation,
		// env overrides and validation depend on it
		k.errs = append(k.errs, fmt.Errorf("%s: key %q is read but not declared in config.Specs (a bug)", k.p.Where, key))
	}
	v, set := k.p.lookup(key)
	if !set || strings.TrimSpace(v) == "" {
		return s.Default, true
	}
	return strings.TrimSpace(v), false
}

// Lookup returns the key's value and whether it was set (a caller whose
// default comes from elsewhere, such as a command-line flag).
func (k *Keys) Lookup(key string) (string, bool) {
	v, fromSpec := k.get(key)
	return v, !fromSpec
}

// Given returns the key's value as set, "" when it is absent: no default
// (a check of what a configuration names, such as the peers it dials).
func (k *Keys) Given(key string) string {
	v, set := k.Lookup(key)
	if !set {
		return ""
	}
	return v
}

func (k *Keys) fail(key, v, want string) {
	k.errs = append(k.errs, fmt.Errorf("%s: key %q: invalid value %q: %s", k.p.Where, key, v, want))
}

// bad reports an invalid value: the user's, or a default in Specs that the
// reading method cannot parse (a bug in Specs, caught by every test that
// builds the component).
func (k *Keys) bad(key, v string, fromSpec bool, want string) {
	if fromSpec {
		k.errs = append(k.errs, fmt.Errorf("%s: key %q: the default %q in config.Specs is invalid: %s (a bug)", k.p.Where, key, v, want))
		return
	}
	k.fail(key, v, want)
}

// String returns the key's value or its default.
func (k *Keys) String(key string) string {
	v, _ := k.get(key)
	return v
}

// Enum returns the key's value (lower-cased), which must be one of allowed;
// an empty default is allowed too (the key is optional).
func (k *Keys) Enum(key string, allowed ...string) string {
	v, fromSpec := k.get(key)
	v = strings.ToLower(v)
	if fromSpec && v == "" {
		return v
	}
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	k.bad(key, v, fromSpec, "want one of "+strings.Join(allowed, ", "))
	// carry on with the default, so that the error reported is this one,
	// not one about an empty choice further on
	return strings.ToLower(Default(k.p.Kind, key))
}

// Int returns the key's value as an integer (0 when neither set nor
// defaulted).
func (k *Keys) Int(key string) int {
	v, fromSpec := k.get(key)
	if v == "" {
		return 0
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		k.bad(key, v, fromSpec, "want an integer")
		return 0
	}
	return n
}

// Bool accepts true/false, on/off, yes/no, 1/0 (false when neither set nor
// defaulted).
func (k *Keys) Bool(key string) bool {
	v, fromSpec := k.get(key)
	if v == "" {
		return false
	}
	b, ok := ParseBool(v)
	if !ok {
		k.bad(key, v, fromSpec, "want true or false")
	}
	return b
}

// ParseBool parses the boolean spellings configuration values accept.
func ParseBool(v string) (value, ok bool) {
	switch strings.ToLower(v) {
	case "true", "on", "yes", "1":
		return true, true
	case "false", "off", "no", "0":
		return false, true
	}
	return false, false
}

// Duration accepts Go durations ("500ms", "2s") and plain numbers of seconds
// (0 when neither set nor defaulted).
func (k *Keys) Duration(key string) time.Duration {
	v, fromSpec := k.get(key)
	if v == "" {
		return 0
	}
	d, err := ParseDuration(v)
	if err != nil {
		k.bad(key, v, fromSpec, "want a duration such as 500ms or 2s")
		return 0
	}
	return d
}

// ParseDuration parses a duration as configuration values give it: a Go
// duration or a plain number of seconds.
func ParseDuration(v string) (time.Duration, error) {
	if n, err := strconv.ParseFloat(v, 64); err == nil {
		return time.Duration(n * float64(time.Second)), nil
	}
	return time.ParseDuration(v)
}

// Prefixed returns the keys that start with prefix, with strip removed from
// their names, and marks them read: they are handed to another component
// (a dead-letter exporter), which checks them itself.
func (k *Keys) Prefixed(prefix, strip string) map[string]string {
	out := map[string]string{}
	for key, v := range k.p.keys {
		if strings.HasPrefix(key, prefix) {
			k.used[key] = true
			out[strings.TrimPrefix(key, strip)] = v
		}
	}
	return out
}

// Fail records an error about a key found by the caller.
func (k *Keys) Fail(key, value, want string) { k.fail(key, value, want) }

// Err returns every invalid value and every key that was set but never read.
func (k *Keys) Err() error {
	errs := append([]error(nil), k.errs...)
	var unknown []string
	for key := range k.p.keys {
		if !k.used[key] {
			unknown = append(unknown, key)
		}
	}
	sort.Strings(unknown)
	for _, key := range unknown {
		errs = append(errs, fmt.Errorf("%s: unknown key %q%s", k.p.Where, key, suggestKey(k.p.Kind, key, k.used)))
	}
	return errors.Join(errs...)
}

// OtherExports marks as read every key set on an exporter that belongs to
// another export type than export (syslog.host on a file exporter, or
// sf-processor's findings.* keys) and returns them, sorted: the
// reference's pipeline.json template sets the keys of every export type at
// once, and sf-processor accepts them whatever "export" says.
func (k *Keys) OtherExports(export string) []string {
	var out []string
	for key := range k.p.keys {
		if k.used[key] || !isOtherExportKey(key, export) {
			continue
		}
		k.used[key] = true
		out = append(out, key)
	}
	sort.Strings(out)
	return out
}

// isOtherExportKey tells whether an exporter key is declared in Specs
// (directly, by alias or under a "prefix.*" entry) for an export type other
// than export.
func isOtherExportKey(key, export string) bool {
	if _, ok := Spec(KindExporter, key); ok {
		return !keyForExport(key, export)
	}
	for _, s := range allSpecs() {
		if s.Kind == KindExporter && strings.HasSuffix(s.Key, ".*") && strings.HasPrefix(key, strings.TrimSuffix(s.Key, "*")) {
			return true
		}
	}
	return false
}

func suggestKey(kind, key string, used map[string]bool) string {
	if _, declared := Spec(kind, key); declared {
		// a declared key that was not read does not apply in this place;
		// suggesting its own name back would contradict the error
		return " (declared, but not used by this plugin's settings)"
	}
	best, bestD := "", 4
	cands := KnownKeys(kind)
	for u := range used {
		cands = append(cands, u)
	}
	for _, c := range cands {
		if c == key || strings.HasSuffix(c, ".*") {
			continue
		}
		if d := editDistance(key, c); d < bestD {
			best, bestD = c, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := 1
			if a[i-1] == b[j-1] {
				c = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+c)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// busSpecs lists the Kafka and NATS keys: the exporters' (prefixed kafka.
// and nats.) and the source drivers' (unprefixed), which share TLS, SASL,
// NATS authentication and schema-registry settings.
func busSpecs() []KeySpec {
	tls := func(kind, p string) []KeySpec {
		return []KeySpec{
			{Kind: kind, Key: p + "tls", Default: "false", Doc: "use TLS (the server's certificate is verified)"},
			{Kind: kind, Key: p + "tls.ca", Doc: "CA bundle (PEM) to verify the server instead of the system roots"},
			{Kind: kind, Key: p + "tls.cert", Doc: "client certificate (PEM)"},
			{Kind: kind, Key: p + "tls.key", Doc: "client key (PEM)"},
			{Kind: kind, Key: p + "tls.servername", Doc: "name to verify in the server's certificate"},
			{Kind: kind, Key: p + "tls.insecure", Default: "false", Doc: "skip certificate verification (never in production)"},
		}
	}
	registry := func(kind, p string) []KeySpec {
		return []KeySpec{
			{Kind: kind, Key: p + "registry.url", Doc: "schema registry URL (Confluent REST API) for Avro"},
			{Kind: kind, Key: p + "registry.username", Doc: "registry basic-auth user"},
			{Kind: kind, Key: p + "registry.password_file", Doc: "file holding the registry password (or env SFCONNECTOR_REGISTRY_PASSWORD)"},
		}
	}
	sasl := func(kind, p string) []KeySpec {
		return []KeySpec{
			{Kind: kind, Key: p + "sasl.mechanism", Doc: "plain, scram-sha-256 or scram-sha-512"},
			{Kind: kind, Key: p + "sasl.username", Doc: "SASL user"},
			{Kind: kind, Key: p + "sasl.password_file", Doc: "file holding the SASL password (or env SFCONNECTOR_KAFKA_PASSWORD)"},
		}
	}
	natsAuth := func(kind, p string) []KeySpec {
		return []KeySpec{
			{Kind: kind, Key: p + "url", Default: "nats://127.0.0.1:4222", Doc: "server URL(s), comma-separated"},
			{Kind: kind, Key: p + "creds", Doc: "credentials file (JWT + NKey)"},
			{Kind: kind, Key: p + "nkey", Doc: "NKey seed file"},
			{Kind: kind, Key: p + "token_file", Doc: "file holding an auth token (or env SFCONNECTOR_NATS_TOKEN)"},
			{Kind: kind, Key: p + "user", Doc: "user name"},
			{Kind: kind, Key: p + "password_file", Doc: "file holding the password (or env SFCONNECTOR_NATS_PASSWORD)"},
		}
	}
	var out []KeySpec
	add := func(s ...KeySpec) { out = append(out, s...) }
	// the kafka exporter
	add([]KeySpec{
		{Kind: KindExporter, Key: "kafka.brokers", Default: "localhost:9092", Doc: "comma-separated broker addresses"},
		{Kind: KindExporter, Key: "kafka.topic", Default: "sysflow", Doc: "topic; may use {node}, {container}, {type}, {priority}"},
		{Kind: KindExporter, Key: "kafka.key", Default: "{node}:{container}", Doc: "message key template; - for none"},
		{Kind: KindExporter, Key: "kafka.acks", Default: "all", Doc: "all, one or none (none loses messages on close)"},
		{Kind: KindExporter, Key: "kafka.compression", Default: "none", Doc: "none, gzip, snappy, lz4 or zstd"},
		{Kind: KindExporter, Key: "kafka.batch.size", Default: "1000", Doc: "messages per produce request"},
		{Kind: KindExporter, Key: "kafka.batch.bytes", Default: "1048576", Doc: "bytes per produce request"},
		{Kind: KindExporter, Key: "kafka.batch.timeout", Default: "10us", Doc: "longest wait to fill a produce request (a write waits for its acks, so a short wait is faster)"},
		{Kind: KindExporter, Key: "kafka.create.topics", Default: "false", Doc: "create missing topics"},
		{Kind: KindExporter, Key: "kafka.partitions", Default: "6", Doc: "partitions of topics it creates"},
		{Kind: KindExporter, Key: "kafka.replication_factor", Default: "1", Doc: "replication factor of topics it creates"},
		{Kind: KindExporter, Key: "kafka.config", Doc: "sf-processor 0.7.0's object of librdkafka properties (bootstrap.servers, acks, compression.type, security.protocol, sasl.*, ssl.*, linger.ms, batch.size ...), rewritten into the kafka.* keys at load time; a property without an equivalent is a warning (docs/migrating.md); its variable takes a JSON object"},
		{Kind: KindExporter, Key: "kafka.encoding", Default: "flat", Doc: "Avro payload: flat (flat event), alert (flat event and matched rules) or raw (the collector's SysFlow records); with format otel: proto (OTLP protobuf, also for flat and alert) or json (OTLP/JSON)"},
	}...)
	add(tls(KindExporter, "kafka.")...)
	add(sasl(KindExporter, "kafka.")...)
	add(registry(KindExporter, "kafka.")...)
	// the nats exporter
	add([]KeySpec{
		{Kind: KindExporter, Key: "nats.subject", Default: "sysflow.{type}.{node}", Doc: "subject template: {node}, {container}, {type}, {priority}"},
		{Kind: KindExporter, Key: "nats.jetstream", Default: "true", Doc: "publish with JetStream acks (false: core NATS, no delivery guarantee)"},
		{Kind: KindExporter, Key: "nats.stream", Doc: "JetStream stream to create for the subjects when missing"},
		{Kind: KindExporter, Key: "nats.max_pending", Default: "4096", Doc: "JetStream publishes awaiting their ack at once"},
		{Kind: KindExporter, Key: "nats.encoding", Default: "flat", Doc: "Avro payload: flat, alert or raw; with format otel: proto or json"},
	}...)
	add(natsAuth(KindExporter, "nats.")...)
	add(tls(KindExporter, "nats.")...)
	add(registry(KindExporter, "nats.")...)
	// the kafka source driver
	add([]KeySpec{
		{Kind: "kafka", Key: "brokers", Default: "localhost:9092", Doc: "comma-separated broker addresses"},
		{Kind: "kafka", Key: "topic", Default: "sysflow", Doc: "topic(s) to consume, comma-separated"},
		{Kind: "kafka", Key: "group", Default: "sfconnector", Doc: "consumer group id"},
		{Kind: "kafka", Key: "start", Default: "earliest", Doc: "earliest or latest, for a group with no committed offset"},
		{Kind: "kafka", Key: "format", Default: "avro", Doc: "payload format: avro (schema registry) or otel (OTLP LogsData, as the otel format writes)"},
		{Kind: "kafka", Key: "encoding", Default: "proto", Doc: "format otel: proto or json; either is read, this only checks the value"},
		{Kind: "kafka", Key: "inflight", Default: "16", Doc: "pipeline batches delivered and awaiting their ack at once; 1 delivers one batch at a time"},
		{Kind: "kafka", Key: "batch.size", Default: "500", Doc: "messages per pipeline batch (default 16 with format otel: each message holds up to 256 records)"},
		{Kind: "kafka", Key: "batch.timeout", Default: "10ms", Doc: "a partial batch is handed on after this long"},
		{Kind: "kafka", Key: "kafka.config", Doc: "sf-processor 0.7.0's object of librdkafka properties (bootstrap.servers, group.id, auto.offset.reset, security.protocol, sasl.*, ssl.* ...), rewritten into this driver's keys at load time; a property without an equivalent is a warning (docs/migrating.md)"},
	}...)
	add(tls("kafka", "")...)
	add(sasl("kafka", "")...)
	add(registry("kafka", "")...)
	// the nats source driver
	add([]KeySpec{
		{Kind: "nats", Key: "subject", Default: "sysflow.>", Doc: "subject filter"},
		{Kind: "nats", Key: "jetstream", Default: "true", Doc: "consume from JetStream with a durable pull consumer and explicit acks (false: core NATS)"},
		{Kind: "nats", Key: "stream", Doc: "JetStream stream (default: the stream holding the subject)"},
		{Kind: "nats", Key: "durable", Default: "sfconnector", Doc: "durable consumer name"},
		{Kind: "nats", Key: "queue", Doc: "core NATS queue group"},
		{Kind: "nats", Key: "start", Default: "all", Doc: "deliver policy of a new durable: all or new"},
		{Kind: "nats", Key: "format", Default: "avro", Doc: "payload format: avro (schema registry) or otel (OTLP LogsData)"},
		{Kind: "nats", Key: "encoding", Default: "proto", Doc: "format otel: proto or json; either is read, this only checks the value"},
		{Kind: "nats", Key: "inflight", Default: "16", Doc: "pipeline batches delivered and awaiting their ack at once; 1 delivers one batch at a time"},
		{Kind: "nats", Key: "batch.size", Default: "500", Doc: "messages per pipeline batch (default 16 with format otel: each message holds up to 256 records)"},
		{Kind: "nats", Key: "batch.timeout", Default: "10ms", Doc: "a partial batch is handed on after this long"},
	}...)
	add(natsAuth("nats", "")...)
	add(tls("nats", "")...)
	add(registry("nats", "")...)
	add(otelKafkaSpecs(out)...)
	return out
}

// otelKafkaSpecs are the keys of sf-processor's otelkafka driver: our
// Kafka source with format otel, under the source's own names and the
// reference's kafka.-prefixed ones (kafka.topics, kafka.encoding).
func otelKafkaSpecs(bus []KeySpec) []KeySpec {
	var out []KeySpec
	for _, s := range bus {
		if s.Kind != "kafka" || strings.HasPrefix(s.Key, "registry.") {
			continue
		}
		s.Kind = "otelkafka"
		if strings.HasPrefix(s.Key, "kafka.") { // kafka.config
			out = append(out, s)
			continue
		}
		s.Aliases = []string{"kafka." + s.Key}
		switch s.Key {
		case "format":
			s.Default, s.Doc = "otel", "payload format: otel only (OTLP LogsData)"
		case "topic":
			s.Aliases = append(s.Aliases, "topics", "kafka.topics")
		case "batch.size":
			s.Default = "16"
		}
		out = append(out, s)
	}
	return out
}

// CheckKeyNames reports every key of every plugin and driver that Specs
// does not declare for its kind (directly, by alias or under a "prefix.*"
// entry), without reading any value. It is the check for sf-processor's
// pipeline template, whose values are descriptions.
func (c *Config) CheckKeyNames() error {
	var errs []error
	check := func(p *Plugin) {
		for _, key := range sortedKeys(p.keys) {
			if declaredKey(p.Kind, key) {
				continue
			}
			errs = append(errs, fmt.Errorf("%s: unknown key %q%s", p.Where, key, suggestKey(p.Kind, key, nil)))
		}
	}
	c.Root.Walk(func(n *Node) { check(&n.Plugin) })
	seen := map[*Plugin]bool{}
	for _, d := range append(append([]*Plugin(nil), c.drivers...), c.Source) {
		if d != nil && !seen[d] {
			seen[d] = true
			check(d)
		}
	}
	if c.Settings != nil {
		check(c.Settings)
	}
	return errors.Join(errs...)
}

func declaredKey(kind, key string) bool {
	if _, ok := Spec(kind, key); ok {
		return true
	}
	for _, s := range allSpecs() {
		if s.Kind == kind && strings.HasSuffix(s.Key, ".*") && strings.HasPrefix(key, strings.TrimSuffix(s.Key, "*")) {
			return true
		}
	}
	return false
}
