package elasticsearch

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/sfconnector/sfconnector/encoding"
	"github.com/sfconnector/sfconnector/internal/bus"
)

// Secret is a credential that never prints (see bus.Secret).
type Secret = bus.Secret

// TLSConfig are the TLS settings (es.tls.*); the server's certificate is
// verified unless InsecureSkipVerify is set.
type TLSConfig = bus.TLSConfig

// Config of the Elasticsearch sink.
type Config struct {
	// Addresses are the servers' URLs (es.addresses), http:// or https://.
	Addresses []string
	// Index is the index name pattern (es.index): %Y, %m, %d, %H are the
	// event's year, month, day and hour (UTC), %% a percent sign.
	Index string

	Username     string
	Password     Secret // inline or SFCONNECTOR_ES_PASSWORD
	PasswordFile string // read when Password is empty
	APIKey       Secret // base64 "id:key" as Elasticsearch issues it
	APIKeyFile   string
	TLS          TLSConfig

	NumWorkers    int           // bulk requests in flight (es.bulk.numWorkers); default 1
	FlushBytes    int           // largest bulk request body (es.bulk.flushBuffer); default 5 MB
	FlushInterval time.Duration // es.bulk.flushTimeout; default 30s
	Timeout       time.Duration // one bulk request's deadline (es.timeout); default 30s
	MaxRetries    int           // rounds of re-sending refused items within one Publish (es.retry.max); default 5
	RetryInitial  time.Duration // first back-off (es.retry.initial); default 100ms, doubling up to 5s

	// Encoder writes the documents (an ECS encoder).
	Encoder encoding.Encoder
	// DeadLetter receives items Elasticsearch refused for good, one message
	// per item with metadata "reason" and "source"; nil: Publish fails.
	DeadLetter message.Publisher
	Logger     *slog.Logger
}

// WithDefaults returns c with every unset field at the value the sink uses
// for it (the connector's tests compare these with config.Specs).
func (c Config) WithDefaults() Config {
	c.setDefaults()
	return c
}

func (c *Config) setDefaults() {
	if c.Index == "" {
		c.Index = "sysflow-%Y.%m.%d"
	}
	if c.NumWorkers <= 0 {
		c.NumWorkers = 1
	}
	if c.FlushBytes <= 0 {
		c.FlushBytes = 5_000_000
	}
	if c.FlushInterval <= 0 {
		c.FlushInterval = 30 * time.Second
	}
	if c.Timeout <= 0 {
		c.Timeout = 30 * time.Second
	}
	if c.MaxRetries < 0 {
		c.MaxRetries = 0
	}
	if c.RetryInitial <= 0 {
		c.RetryInitial = 100 * time.Millisecond
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Validate checks the configuration without reading files or connecting.
func (c *Config) Validate() error {
	var errs []error
	if len(c.Addresses) == 0 {
		errs = append(errs, errors.New("elasticsearch sink: key es.addresses: no server address"))
	}
	for _, a := range c.Addresses {
		u, err := url.Parse(a)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("elasticsearch sink: key es.addresses: %q: want http://host:port or https://host:port", a))
		}
	}
	if _, err := ParseIndexPattern(c.Index); err != nil {
		errs = append(errs, fmt.Errorf("elasticsearch sink: key es.index: %w", err))
	}
	if c.Username == "" && (c.Password != "" || c.PasswordFile != "") {
		errs = append(errs, errors.New("elasticsearch sink: key es.username: a password is set but no user name"))
	}
	if (c.APIKey != "" || c.APIKeyFile != "") && c.Username != "" {
		errs = append(errs, errors.New("elasticsearch sink: keys es.apikey and es.username: use an API key or basic auth, not both"))
	}
	if err := c.TLS.Validate("es"); err != nil {
		errs = append(errs, fmt.Errorf("elasticsearch sink: %w", err))
	}
	if c.FlushBytes < 0 || c.NumWorkers < 0 || c.MaxRetries < 0 {
		errs = append(errs, errors.New("elasticsearch sink: es.bulk.flushBuffer, es.bulk.numWorkers and es.retry.max must not be negative"))
	}
	if c.Encoder == nil {
		errs = append(errs, errors.New("elasticsearch sink: no encoder"))
	}
	return errors.Join(errs...)
}

// SplitAddresses splits a comma-separated es.addresses value.
func SplitAddresses(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, strings.TrimRight(p, "/"))
		}
	}
	return out
}
