package avro

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/linkedin/goavro/v2"
	"github.com/riferrei/srclient"

	"github.com/sfconnector/sfconnector/internal/bus"
	"github.com/sfconnector/sfconnector/sysflow"
)

// Config configures the registry client shared by encoders and decoders.
type Config struct {
	// RegistryURL is the schema registry's base URL
	// (avro.registry.url); required.
	RegistryURL string
	// Username and Password (or PasswordFile) authenticate with HTTP basic
	// auth (avro.registry.username, avro.registry.password_file).
	Username     string
	Password     bus.Secret
	PasswordFile string
	// TLS for an https registry (avro.registry.tls.*); verified.
	TLS bus.TLSConfig
	// Timeout bounds one registry request (avro.registry.timeout); default 10s.
	Timeout time.Duration
	// Schema is what an Encoder writes (avro.schema): event (default),
	// alert or record.
	Schema Schema
	// Subject is the registry subject template (avro.subject); default
	// "{topic}-value" (Confluent's TopicNameStrategy).
	Subject string
}

func (c *Config) setDefaults() {
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Second
	}
	if c.Schema == "" {
		c.Schema = SchemaEvent
	}
	if c.Subject == "" {
		c.Subject = "{topic}-value"
	}
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	if c.RegistryURL == "" {
		return fmt.Errorf("avro.registry.url: required")
	}
	if !strings.HasPrefix(c.RegistryURL, "http://") && !strings.HasPrefix(c.RegistryURL, "https://") {
		return fmt.Errorf("avro.registry.url: %q is not an http(s) URL", c.RegistryURL)
	}
	if _, err := c.Schema.Text(); err != nil {
		return err
	}
	if !strings.Contains(c.Subject, "{topic}") && strings.Contains(c.Subject, "{") {
		return fmt.Errorf("avro.subject: %q: the only placeholder is {topic}", c.Subject)
	}
	return c.TLS.Validate("avro.registry")
}

// Registry is a schema registry client that caches subjects' ids and ids'
// schemas. It is safe for concurrent use.
type Registry struct {
	cfg    Config
	client *srclient.SchemaRegistryClient

	mu       sync.Mutex
	ids      map[string]int        // subject + "\x00" + schema text -> id
	byID     map[int]*writerSchema // id -> parsed writer schema
	inflight map[int]chan struct{} // ids being fetched
}

// writerSchema is a registered schema as a decoder needs it.
type writerSchema struct {
	id    int
	name  string // full name of the top-level record
	text  string
	codec *goavro.Codec

	// The reading plan for FlatEvent and Alert schemas, or why there is none.
	plan    []rstep
	planErr error

	// For SysFlow record schemas (any version a collector registered): the
	// writer schema resolved against the v5 reader, or why it does not
	// resolve, and decoders of it (not safe for concurrent use).
	datum    *sysflow.DatumSchema
	datumErr error
	decoders sync.Pool // *sysflow.DatumDecoder
}

// NewRegistry returns a client for cfg.RegistryURL. It does not connect.
func NewRegistry(cfg Config) (*Registry, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	tc, err := cfg.TLS.Build("avro.registry")
	if err != nil {
		return nil, err
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	if tc != nil {
		transport.TLSClientConfig = tc
	}
	client := srclient.NewSchemaRegistryClient(strings.TrimRight(cfg.RegistryURL, "/"),
		srclient.WithClient(&http.Client{Timeout: cfg.Timeout, Transport: transport}))
	// Our own caches hold what we need; srclient would build a goavro codec
	// for every schema it sees, decoders build theirs once.
	client.CodecCreationEnabled(false)
	if cfg.Username != "" {
		pw, err := bus.ReadSecret("avro.registry.password_file", cfg.Password, cfg.PasswordFile)
		if err != nil {
			return nil, err
		}
		client.SetCredentials(cfg.Username, pw.Reveal())
	}
	return &Registry{cfg: cfg, client: client, ids: map[string]int{}, byID: map[int]*writerSchema{},
		inflight: map[int]chan struct{}{}}, nil
}

// Register registers schema text under subject (a no-op for the registry
// when it already holds it) and returns its id, cached after the first call.
func (r *Registry) Register(subject, text string) (int, error) {
	key := subject + "\x00" + text
	r.mu.Lock()
	id, ok := r.ids[key]
	r.mu.Unlock()
	if ok {
		return id, nil
	}
	s, err := r.client.CreateSchema(subject, text, srclient.Avro)
	if err != nil {
		return 0, fmt.Errorf("register schema under %q at %s: %w", subject, r.cfg.RegistryURL, err)
	}
	r.mu.Lock()
	r.ids[key] = s.ID()
	r.mu.Unlock()
	return s.ID(), nil
}

// schema returns the writer schema with id, fetched once.
func (r *Registry) schema(id int) (*writerSchema, error) {
	for {
		r.mu.Lock()
		if ws, ok := r.byID[id]; ok {
			r.mu.Unlock()
			return ws, nil
		}
		if wait, ok := r.inflight[id]; ok {
			r.mu.Unlock()
			<-wait
			continue
		}
		done := make(chan struct{})
		r.inflight[id] = done
		r.mu.Unlock()

		ws, err := r.fetch(id)
		r.mu.Lock()
		delete(r.inflight, id)
		if err == nil {
			r.byID[id] = ws
		}
		r.mu.Unlock()
		close(done)
		return ws, err
	}
}

func (r *Registry) fetch(id int) (*writerSchema, error) {
	s, err := r.client.GetSchema(id)
	if err != nil {
		return nil, fmt.Errorf("schema id %d from %s: %w", id, r.cfg.RegistryURL, err)
	}
	codec, err := goavro.NewCodec(s.Schema())
	if err != nil {
		return nil, fmt.Errorf("schema id %d: %w", id, err)
	}
	var top struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
	}
	_ = jsonUnmarshal(s.Schema(), &top)
	name := top.Name
	if top.Namespace != "" && !strings.Contains(name, ".") {
		name = top.Namespace + "." + name
	}
	ws := &writerSchema{id: id, name: name, text: s.Schema(), codec: codec}
	switch name {
	case nameEvent, nameAlert:
		ws.plan, ws.planErr = compileReader(s.Schema())
	case nameRecord:
		ws.datum, ws.datumErr = sysflow.CompileDatumSchema(s.Schema())
		if ws.datumErr == nil {
			ws.decoders.New = func() any { return ws.datum.NewDecoder() }
		}
	}
	return ws, nil
}

// subject expands the subject template for topic.
func (r *Registry) subject(topic string) string {
	return strings.ReplaceAll(r.cfg.Subject, "{topic}", topic)
}
