package connector

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sfconnector/sfconnector/config"
	"github.com/sfconnector/sfconnector/encoding"
	"github.com/sfconnector/sfconnector/sinks/elasticsearch"
)

// Elasticsearch credentials from the environment (the files named by
// es.password_file and es.apikey_file are read when these are unset).
const (
	envESPassword = "SFCONNECTOR_ES_PASSWORD"
	envESAPIKey   = "SFCONNECTOR_ES_APIKEY"
)

// buildESSink builds the es exporter from its keys.
func buildESSink(n *config.Node, k *config.Keys, enc encoding.Encoder, opts Options) (*Sink, error) {
	c := elasticsearch.Config{
		Addresses: elasticsearch.SplitAddresses(k.String("es.addresses")),
		Index:     k.String("es.index"),
		Username:  k.String("es.username"),
		Password:  secretEnv(envESPassword), PasswordFile: k.String("es.password_file"),
		APIKey: secretEnv(envESAPIKey), APIKeyFile: k.String("es.apikey_file"),
		TLS: elasticsearch.TLSConfig{CA: k.String("es.tls.ca"), Cert: k.String("es.tls.cert"),
			Key: k.String("es.tls.key"), ServerName: k.String("es.tls.servername"),
			InsecureSkipVerify: k.Bool("es.tls.insecure")},
		NumWorkers: k.Int("es.bulk.numworkers"), FlushBytes: k.Int("es.bulk.flushbuffer"),
		FlushInterval: k.Duration("es.bulk.flushtimeout"), Timeout: k.Duration("es.timeout"),
		MaxRetries: k.Int("es.retry.max"), RetryInitial: k.Duration("es.retry.initial"),
		Encoder: enc, DeadLetter: opts.deadLetter, Logger: opts.Logger,
	}
	// the reference writes the password into pipeline.json; its files load,
	// but a secret in a configuration file ends up in backups and images
	if pw := k.String("es.password"); pw != "" {
		opts.Logger.Warn("es.password is written in the configuration: put it in the file es.password_file names, or in env "+envESPassword,
			"plugin", n.Where)
		if c.Password == "" && c.PasswordFile == "" {
			c.Password = elasticsearch.Secret(pw)
		}
	}
	if key := k.String("es.apikey"); key != "" {
		opts.Logger.Warn("es.apikey is written in the configuration: put it in the file es.apikey_file names, or in env "+envESAPIKey,
			"plugin", n.Where)
		if c.APIKey == "" && c.APIKeyFile == "" {
			c.APIKey = elasticsearch.Secret(key)
		}
	}
	if err := k.Err(); err != nil {
		return nil, err
	}
	if opts.DryRun {
		if err := c.Validate(); err != nil {
			return nil, fmt.Errorf("%s: %w", n.Where, err)
		}
		return dryRunSink(nil)
	}
	pub, err := elasticsearch.New(c)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", n.Where, err)
	}
	return &Sink{Name: "es:" + c.Index, Pub: pub}, nil
}

// esCollector exports the Elasticsearch sinks' item counters.
type esCollector struct {
	sinks []*Sink
	items *prometheus.Desc
}

func newESCollector(sinks []*Sink) *esCollector {
	var es []*Sink
	for _, s := range sinks {
		if _, ok := s.Pub.(*elasticsearch.Sink); ok {
			es = append(es, s)
		}
	}
	if len(es) == 0 {
		return nil
	}
	return &esCollector{sinks: es, items: prometheus.NewDesc("sfconnector_elasticsearch_items_total",
		"Documents of each Elasticsearch sink by outcome: indexed (created), duplicate (create refused with 409: written by an earlier attempt), retried (sent again after 429, 5xx or a failed request), rejected (refused for good, sent to the dead-letter sink with the reason).",
		[]string{"sink", "outcome"}, nil)}
}

func (c *esCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.items }

func (c *esCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.sinks {
		st := s.Pub.(*elasticsearch.Sink).Stats()
		for _, o := range []struct {
			name string
			n    int64
		}{{"indexed", st.Indexed}, {"duplicate", st.Duplicates}, {"retried", st.Retried}, {"rejected", st.Rejected}} {
			ch <- prometheus.MustNewConstMetric(c.items, prometheus.CounterValue, float64(o.n), s.Name, o.name)
		}
	}
}
