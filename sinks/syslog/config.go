package syslog

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill"

	"github.com/sfconnector/sfconnector/encoding"
)

// Protocols (syslog.proto).
const (
	ProtoTCP = "tcp"
	ProtoUDP = "udp"
	ProtoTLS = "tcp+tls"
)

// Formats (syslog.format).
const (
	FormatRFC5424 = "rfc5424"
	FormatRFC3164 = "rfc3164"
)

// Framings of messages on a TCP or TLS stream (syslog.framing).
const (
	// FramingOctetCounting prefixes each message with its length (RFC 6587
	// section 3.4.1, RFC 5425): messages may hold any byte.
	FramingOctetCounting = "octet-counting"
	// FramingNonTransparent ends each message with a line feed (RFC 6587
	// section 3.4.2), for receivers that only know the old framing; line
	// feeds inside a message are replaced by spaces.
	FramingNonTransparent = "non-transparent"
)

// Default sizes. UDP messages are cut to 2048 bytes by default: RFC 5426
// requires receivers to accept 480 bytes and recommends 2048, and larger
// datagrams are fragmented on most networks. Raise it (up to 65507) when
// the receiver and the path allow. Over TCP and TLS the default is 64 KiB;
// rsyslog accepts only 8 KiB unless its global maxMessageSize is raised.
const (
	DefaultMaxMessageSizeUDP    = 2048
	DefaultMaxMessageSizeStream = 64 << 10
	maxUDPPayload               = 65507 // IPv4: 65535 - 20 (IP) - 8 (UDP)
	minMessageSize              = 480
)

// Config configures the sink. The comments name the configuration keys;
// the seed's short keys (proto, tag, source, host, port) mean the same as
// their syslog.* forms. Fill it and call New, which applies the defaults
// and validates it.
type Config struct {
	// Proto is the transport (syslog.proto): "tcp" (default), "udp" or
	// "tcp+tls" ("tls" is accepted for it).
	Proto string
	// Host and Port locate the receiver (syslog.host, default "localhost";
	// syslog.port, default 514, also for TLS whose registered port is 6514).
	Host string
	Port int
	// Tag is the APP-NAME (RFC 5424) or TAG (RFC 3164) of every message
	// (syslog.tag); default "sysflow".
	Tag string
	// Source is the HOSTNAME of every message (syslog.source); default the
	// name of the host the connector runs on.
	Source string
	// Format is "rfc5424" (default) or "rfc3164" (syslog.format).
	Format string
	// Framing is "octet-counting" (default) or "non-transparent" for TCP and
	// TLS (syslog.framing); UDP sends one message per datagram.
	Framing string
	// Facility is the syslog facility by name (kern, user, mail, daemon,
	// auth, syslog, lpr, news, uucp, cron, authpriv, ftp, ntp, security,
	// console, solaris-cron, local0 ... local7) or number (syslog.facility);
	// default "daemon", the reference processor's.
	Facility string
	// Severity maps alert priorities and plain events to syslog severities
	// (syslog.severity.high, .medium, .low, .event).
	Severity SeverityMap
	// TLS are the settings of tcp+tls (syslog.tls.*).
	TLS TLSConfig
	// Buffer is how many written messages the sink keeps so that it can
	// send them again after a broken connection (syslog.buffer, default
	// 10000). See the package documentation for what it protects.
	Buffer int
	// ResendWindow is how far back, before a connection was found broken,
	// written messages are sent again on the next connection
	// (syslog.resend_window, default 2s). Messages the receiver's kernel
	// had not acknowledged are sent again whatever their age.
	ResendWindow time.Duration
	// MaxMessageSize is the largest message in bytes, header included and
	// framing excluded (syslog.max_message_size); longer bodies are cut at a
	// UTF-8 character boundary and counted in Stats.Truncated. Default
	// 2048 for UDP, 64 KiB for TCP and TLS.
	MaxMessageSize int
	// DialTimeout bounds connecting, TLS handshake included
	// (syslog.dial_timeout, default 5s).
	DialTimeout time.Duration
	// WriteTimeout bounds each write to the socket and the wait for the
	// receiver to acknowledge data when the buffer is full
	// (syslog.write_timeout, default 10s); a connection that stalls longer
	// is dropped and replaced. On Linux it is also the connection's
	// TCP_USER_TIMEOUT, so a vanished receiver is noticed.
	WriteTimeout time.Duration
	// ReconnectTimeout is how long one Publish keeps trying to reach an
	// unreachable receiver (with backoff from 100ms to 5s) before it fails
	// (syslog.reconnect_timeout, default 30s); the router then retries or
	// dead-letters the message.
	ReconnectTimeout time.Duration

	// Encoder writes the body of each message (required), e.g. JSON or ECS.
	Encoder encoding.Encoder
	// Logger receives connection events; default none.
	Logger watermill.LoggerAdapter
}

// SeverityMap chooses the syslog severity of a message by name (emerg,
// alert, crit, err, warning, notice, info, debug) or number. An alert
// takes the severity of its highest rule priority.
type SeverityMap struct {
	High   string // default "crit"
	Medium string // default "warning"
	Low    string // default "notice"
	Event  string // an event no rule matched (telemetry); default "info"
}

// TLSConfig are the TLS settings. The receiver's certificate is always
// verified, against the system's roots or CAFile, unless InsecureSkipVerify
// is set explicitly.
type TLSConfig struct {
	CAFile   string // PEM CA bundle to trust instead of the system's (syslog.tls.ca)
	CertFile string // PEM client certificate, for receivers that require one (syslog.tls.cert)
	KeyFile  string // its PEM private key (syslog.tls.key)
	// ServerName is the name the receiver's certificate must carry
	// (syslog.tls.servername); default Host (an IP address is checked
	// against the certificate's IP addresses).
	ServerName string
	// InsecureSkipVerify accepts any certificate (syslog.tls.insecure): the
	// connection is encrypted but not authenticated. Never in production.
	InsecureSkipVerify bool
}

func (c *TLSConfig) set() bool {
	return c.CAFile != "" || c.CertFile != "" || c.KeyFile != "" || c.ServerName != "" || c.InsecureSkipVerify
}

// WithDefaults returns c with the defaults New applies filled in: what the
// component uses for a setting left zero. A test compares them with the
// defaults config.Specs documents.
func (c Config) WithDefaults() Config {
	c.setDefaults()
	return c
}

func (c *Config) setDefaults() {
	c.Proto = strings.ToLower(strings.TrimSpace(c.Proto))
	switch c.Proto {
	case "":
		c.Proto = ProtoTCP
	case "tls", "tcp-tls", "tcp_tls":
		c.Proto = ProtoTLS
	}
	if c.Host == "" {
		c.Host = "localhost"
	}
	if c.Port == 0 {
		c.Port = 514
	}
	if c.Tag == "" {
		c.Tag = "sysflow"
	}
	if c.Source == "" {
		c.Source = defaultHostname()
	}
	c.Format = strings.ToLower(c.Format)
	if c.Format == "" {
		c.Format = FormatRFC5424
	}
	c.Framing = strings.ToLower(c.Framing)
	if c.Framing == "" {
		c.Framing = FramingOctetCounting
	}
	if c.Facility == "" {
		c.Facility = "daemon"
	}
	if c.Severity.High == "" {
		c.Severity.High = "crit"
	}
	if c.Severity.Medium == "" {
		c.Severity.Medium = "warning"
	}
	if c.Severity.Low == "" {
		c.Severity.Low = "notice"
	}
	if c.Severity.Event == "" {
		c.Severity.Event = "info"
	}
	if c.Buffer == 0 {
		c.Buffer = 10000
	}
	if c.ResendWindow == 0 {
		c.ResendWindow = 2 * time.Second
	}
	if c.MaxMessageSize == 0 {
		c.MaxMessageSize = DefaultMaxMessageSizeStream
		if c.Proto == ProtoUDP {
			c.MaxMessageSize = DefaultMaxMessageSizeUDP
		}
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = 5 * time.Second
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = 10 * time.Second
	}
	if c.ReconnectTimeout == 0 {
		c.ReconnectTimeout = 30 * time.Second
	}
	if c.Logger == nil {
		c.Logger = watermill.NopLogger{}
	}
}

// defaultHostname is the host's name as a valid HOSTNAME field, or
// "localhost" when the system does not say.
func defaultHostname() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "localhost"
	}
	b := []byte(h)
	for i, c := range b {
		if c < 33 || c > 126 {
			b[i] = '_'
		}
	}
	if len(b) > 255 {
		b = b[:255]
	}
	return string(b)
}

// Validate checks the configuration (after New applied the defaults);
// errors name the configuration key. It does not read the TLS files: New
// does, and names the key of a file it cannot use.
func (c *Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("syslog.%s: %s", key, fmt.Sprintf(format, args...)))
	}
	switch c.Proto {
	case ProtoTCP, ProtoUDP, ProtoTLS:
	default:
		bad("proto", "%q is not one of tcp, udp, tcp+tls (tls)", c.Proto)
	}
	if strings.ContainsAny(c.Host, " /") {
		bad("host", "%q is not a host name or address", c.Host)
	}
	if c.Port < 1 || c.Port > 65535 {
		bad("port", "%d is not a port number (1-65535)", c.Port)
	}
	switch c.Format {
	case FormatRFC5424:
		if err := printable(c.Tag, 48); err != nil {
			bad("tag", "%v (RFC 5424 APP-NAME)", err)
		}
	case FormatRFC3164:
		if err := printable(c.Tag, 32); err != nil {
			bad("tag", "%v (RFC 3164 TAG)", err)
		} else if strings.ContainsAny(c.Tag, "[]:") {
			bad("tag", "%q: an RFC 3164 TAG cannot hold '[', ']' or ':'", c.Tag)
		}
	default:
		bad("format", "%q is not one of rfc5424, rfc3164", c.Format)
	}
	if err := printable(c.Source, 255); err != nil {
		bad("source", "%v (HOSTNAME)", err)
	}
	switch c.Framing {
	case FramingOctetCounting, FramingNonTransparent:
	default:
		bad("framing", "%q is not one of octet-counting, non-transparent", c.Framing)
	}
	if _, err := facilityCode(c.Facility); err != nil {
		bad("facility", "%v", err)
	}
	for _, s := range []struct{ key, v string }{
		{"severity.high", c.Severity.High}, {"severity.medium", c.Severity.Medium},
		{"severity.low", c.Severity.Low}, {"severity.event", c.Severity.Event},
	} {
		if _, err := severityCode(s.v); err != nil {
			bad(s.key, "%v", err)
		}
	}
	if c.TLS.set() && c.Proto != ProtoTLS {
		bad("tls", "TLS settings are given but syslog.proto is %q; use tcp+tls", c.Proto)
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		bad("tls.cert", "syslog.tls.cert and syslog.tls.key must be given together")
	}
	if c.Buffer < 1 {
		bad("buffer", "%d: must be at least 1", c.Buffer)
	}
	if c.ResendWindow < 0 {
		bad("resend_window", "%v is negative", c.ResendWindow)
	}
	maxSize := 1 << 30
	if c.Proto == ProtoUDP {
		maxSize = maxUDPPayload
	}
	if c.MaxMessageSize < minMessageSize || c.MaxMessageSize > maxSize {
		bad("max_message_size", "%d: must be between %d and %d for %s", c.MaxMessageSize, minMessageSize, maxSize, c.Proto)
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"dial_timeout", c.DialTimeout}, {"write_timeout", c.WriteTimeout}, {"reconnect_timeout", c.ReconnectTimeout}} {
		if d.v < 0 {
			bad(d.key, "%v is negative", d.v)
		}
	}
	if c.Encoder == nil {
		errs = append(errs, errors.New("syslog: an encoder is required (format)"))
	}
	return errors.Join(errs...)
}

// printable checks a header field: 1 to max printable US-ASCII characters.
func printable(s string, max int) error {
	if s == "" || len(s) > max {
		return fmt.Errorf("%q: want 1 to %d characters", s, max)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 33 || s[i] > 126 {
			return fmt.Errorf("%q: character %d is not printable US-ASCII (no spaces)", s, i)
		}
	}
	return nil
}

var facilities = map[string]int{
	"kern": 0, "user": 1, "mail": 2, "daemon": 3, "auth": 4, "syslog": 5, "lpr": 6, "news": 7,
	"uucp": 8, "cron": 9, "authpriv": 10, "ftp": 11, "ntp": 12, "security": 13, "audit": 13,
	"console": 14, "solaris-cron": 15, "clock": 15,
	"local0": 16, "local1": 17, "local2": 18, "local3": 19, "local4": 20, "local5": 21, "local6": 22, "local7": 23,
}

func facilityCode(s string) (int, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if n, ok := facilities[s]; ok {
		return n, nil
	}
	if n, err := strconv.Atoi(s); err == nil && n >= 0 && n <= 23 {
		return n, nil
	}
	return 0, fmt.Errorf("%q is not a facility (kern, user, daemon, auth, local0-local7, ... or 0-23)", s)
}

var severities = map[string]int{
	"emerg": 0, "emergency": 0, "panic": 0, "alert": 1, "crit": 2, "critical": 2,
	"err": 3, "error": 3, "warning": 4, "warn": 4, "notice": 5, "info": 6, "informational": 6, "debug": 7,
}

func severityCode(s string) (int, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if n, ok := severities[s]; ok {
		return n, nil
	}
	if n, err := strconv.Atoi(s); err == nil && n >= 0 && n <= 7 {
		return n, nil
	}
	return 0, fmt.Errorf("%q is not a severity (emerg, alert, crit, err, warning, notice, info, debug or 0-7)", s)
}

// tlsConfig builds the client's TLS configuration, reading the files.
func (c *Config) tlsConfig() (*tls.Config, error) {
	tc := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         c.TLS.ServerName,
		InsecureSkipVerify: c.TLS.InsecureSkipVerify, //nolint:gosec // explicit, documented opt-in
	}
	if tc.ServerName == "" {
		tc.ServerName = c.Host
	}
	if c.TLS.CAFile != "" {
		pem, err := os.ReadFile(c.TLS.CAFile)
		if err != nil {
			return nil, fmt.Errorf("syslog.tls.ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("syslog.tls.ca: %s holds no PEM certificate", c.TLS.CAFile)
		}
		tc.RootCAs = pool
	}
	if c.TLS.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.TLS.CertFile, c.TLS.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("syslog.tls.cert/syslog.tls.key (%s, %s): %w", c.TLS.CertFile, c.TLS.KeyFile, err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}
