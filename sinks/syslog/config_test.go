package syslog

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sfconnector/sfconnector/encoding/ecs"
	"github.com/sfconnector/sfconnector/testenv/rsyslog"
)

func testEncoder(t testing.TB) *ecs.Encoder {
	t.Helper()
	enc, err := ecs.New(ecs.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return enc
}

func TestDefaults(t *testing.T) {
	c := Config{Proto: "TLS", Encoder: testEncoder(t)}
	c.setDefaults()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	want := Config{
		Proto: ProtoTLS, Host: "localhost", Port: 514, Tag: "sysflow", Source: host, Format: FormatRFC5424,
		Framing: FramingOctetCounting, Facility: "daemon",
		Severity: SeverityMap{High: "crit", Medium: "warning", Low: "notice", Event: "info"},
		Buffer:   10000, ResendWindow: 2 * time.Second, MaxMessageSize: 64 << 10,
		DialTimeout: 5 * time.Second, WriteTimeout: 10 * time.Second, ReconnectTimeout: 30 * time.Second,
	}
	got := c
	got.Encoder, got.Logger = nil, nil
	if got != want {
		t.Errorf("defaults\n got %+v\nwant %+v", got, want)
	}
	u := Config{Proto: "udp", Encoder: testEncoder(t)}
	u.setDefaults()
	if u.MaxMessageSize != 2048 {
		t.Errorf("UDP max message size %d, want 2048", u.MaxMessageSize)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Config)
		want string // a substring of the error, naming the key
	}{
		{"proto", func(c *Config) { c.Proto = "sctp" }, "syslog.proto: \"sctp\""},
		{"port", func(c *Config) { c.Port = 70000 }, "syslog.port: 70000"},
		{"host", func(c *Config) { c.Host = "a b" }, "syslog.host"},
		{"tag space", func(c *Config) { c.Tag = "sys flow" }, "syslog.tag"},
		{"tag long", func(c *Config) { c.Tag = strings.Repeat("t", 49) }, "syslog.tag"},
		{"tag 3164", func(c *Config) { c.Format = "rfc3164"; c.Tag = "a:b" }, "syslog.tag"},
		{"tag 3164 long", func(c *Config) { c.Format = "rfc3164"; c.Tag = strings.Repeat("t", 33) }, "RFC 3164 TAG"},
		{"source", func(c *Config) { c.Source = "my host" }, "syslog.source"},
		{"format", func(c *Config) { c.Format = "cef" }, "syslog.format"},
		{"framing", func(c *Config) { c.Framing = "lf" }, "syslog.framing"},
		{"facility", func(c *Config) { c.Facility = "local9" }, "syslog.facility"},
		{"severity", func(c *Config) { c.Severity.High = "urgent" }, "syslog.severity.high"},
		{"tls without tls", func(c *Config) { c.TLS.CAFile = "ca.pem" }, "syslog.tls"},
		{"cert without key", func(c *Config) { c.Proto = "tls"; c.TLS.CertFile = "c.pem" }, "syslog.tls.cert"},
		{"buffer", func(c *Config) { c.Buffer = -1 }, "syslog.buffer"},
		{"udp size", func(c *Config) { c.Proto = "udp"; c.MaxMessageSize = 70000 }, "syslog.max_message_size"},
		{"small size", func(c *Config) { c.MaxMessageSize = 100 }, "syslog.max_message_size"},
		{"timeout", func(c *Config) { c.WriteTimeout = -time.Second }, "syslog.write_timeout"},
		{"encoder", func(c *Config) { c.Encoder = nil }, "encoder is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Config{Encoder: testEncoder(t)}
			tt.edit(&c)
			_, err := New(c)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New: %v, want an error containing %q", err, tt.want)
			}
		})
	}
	for _, ok := range []Config{
		{Facility: "local7", Severity: SeverityMap{High: "1", Medium: "err", Low: "debug", Event: "informational"}},
		{Proto: "udp", MaxMessageSize: 65507},
		{Format: "RFC3164", Tag: "sysflow-1"},
		{Framing: "non-transparent", Facility: "23"},
	} {
		ok.Encoder = testEncoder(t)
		if s, err := New(ok); err != nil {
			t.Errorf("New(%+v): %v", ok, err)
		} else {
			s.Close()
		}
	}
}

func TestTLSFiles(t *testing.T) {
	dir := t.TempDir()
	certs, err := rsyslog.NewCerts(dir)
	if err != nil {
		t.Fatal(err)
	}
	junk := filepath.Join(dir, "junk.pem")
	os.WriteFile(junk, []byte("not a certificate"), 0o600)
	tests := []struct {
		tls  TLSConfig
		want string
	}{
		{TLSConfig{CAFile: filepath.Join(dir, "missing.pem")}, "syslog.tls.ca: open"},
		{TLSConfig{CAFile: junk}, "syslog.tls.ca: " + junk + " holds no PEM certificate"},
		{TLSConfig{CertFile: certs.ClientCertFile, KeyFile: certs.ServerKeyFile}, "syslog.tls.cert/syslog.tls.key"},
		{TLSConfig{CAFile: certs.CAFile, CertFile: certs.ClientCertFile, KeyFile: certs.ClientKeyFile}, ""},
	}
	for _, tt := range tests {
		s, err := New(Config{Proto: ProtoTLS, TLS: tt.tls, Encoder: testEncoder(t)})
		if tt.want == "" {
			if err != nil {
				t.Errorf("%+v: %v", tt.tls, err)
			} else {
				s.Close()
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: %v, want %q", tt.tls, err, tt.want)
		}
	}
}
