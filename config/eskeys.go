package config

// esSpecs lists the Elasticsearch exporter's keys (export: es). The
// reference's names are kept (es.bulk.numWorkers is es.bulk.numworkers:
// keys are case-insensitive), so its pipeline.elk.json loads unchanged.
func esSpecs() []KeySpec {
	return []KeySpec{
		{Kind: KindExporter, Key: "es.addresses", Default: "http://localhost:9200", Doc: "comma-separated Elasticsearch URLs (http:// or https://)"},
		{Kind: KindExporter, Key: "es.index", Default: "sysflow-%Y.%m.%d", Doc: "index name; %Y, %m, %d, %H are the event's year, month, day and hour (UTC), %% a percent sign"},
		{Kind: KindExporter, Key: "es.username", Doc: "basic-auth user"},
		{Kind: KindExporter, Key: "es.password", Doc: "basic-auth password written in the configuration: accepted for sf-processor compatibility with a warning; prefer es.password_file or env SFCONNECTOR_ES_PASSWORD"},
		{Kind: KindExporter, Key: "es.password_file", Doc: "file holding the basic-auth password (or env SFCONNECTOR_ES_PASSWORD)"},
		{Kind: KindExporter, Key: "es.apikey", Doc: "API key (base64 id:key) written in the configuration: accepted with a warning; prefer es.apikey_file or env SFCONNECTOR_ES_APIKEY"},
		{Kind: KindExporter, Key: "es.apikey_file", Doc: "file holding the API key (or env SFCONNECTOR_ES_APIKEY); not with es.username"},
		{Kind: KindExporter, Key: "es.tls.ca", Aliases: []string{"es.tls.cafile"}, Doc: "CA bundle (PEM) to verify the server instead of the system roots"},
		{Kind: KindExporter, Key: "es.tls.cert", Doc: "client certificate (PEM)"},
		{Kind: KindExporter, Key: "es.tls.key", Doc: "client key (PEM)"},
		{Kind: KindExporter, Key: "es.tls.servername", Doc: "name to verify in the server's certificate (default: the address's host)"},
		{Kind: KindExporter, Key: "es.tls.insecure", Default: "false", Doc: "skip certificate verification (never in production)"},
		{Kind: KindExporter, Key: "es.bulk.numworkers", Default: "1", Doc: "bulk requests in flight at once (sf-processor's es.bulk.numWorkers; 0: 1)"},
		{Kind: KindExporter, Key: "es.bulk.flushbuffer", Default: "5000000", Doc: "largest bulk request body in bytes (es.bulk.flushBuffer)"},
		{Kind: KindExporter, Key: "es.bulk.flushtimeout", Default: "30s", Doc: "es.bulk.flushTimeout: a batch is flushed when it ends anyway (it is acknowledged only once Elasticsearch answered for every document), so this matters only within a very large batch"},
		{Kind: KindExporter, Key: "es.timeout", Default: "30s", Doc: "how long one bulk request may wait for its answer"},
		{Kind: KindExporter, Key: "es.retry.max", Default: "5", Doc: "rounds of re-sending the documents refused with 429 or 5xx (or of a failed request) within one batch, before the batch fails and the pipeline retries it (written documents then answer 409 and are not duplicated)"},
		{Kind: KindExporter, Key: "es.retry.initial", Default: "100ms", Doc: "first delay before re-sending (doubles each round, up to 5s)"},
	}
}
