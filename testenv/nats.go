package testenv

import (
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// MachineNATS is where this project's machines run a NATS server with
// JetStream.
const MachineNATS = "nats://127.0.0.1:4222"

// NATS returns the URL of a NATS server with JetStream for t: NATS_URL when
// set, else the machine's server at 127.0.0.1:4222 when it answers, else an
// embedded server started for this test. Tests sharing a server must use
// unique subjects and streams (Name) and delete the streams they create.
func NATS(t testing.TB) string {
	t.Helper()
	if u := os.Getenv("NATS_URL"); u != "" {
		return u
	}
	if c, err := net.DialTimeout("tcp", "127.0.0.1:4222", 300*time.Millisecond); err == nil {
		c.Close()
		return MachineNATS
	}
	return StartNATS(t, NATSOptions{}).URL()
}

// NATSOptions configures an embedded server.
type NATSOptions struct {
	// Port to listen on (default: a free loopback port, kept across restarts).
	Port int
	// StoreDir holds JetStream's data so streams survive a restart (default:
	// a temporary directory).
	StoreDir string
	// Token, when set, is required from clients.
	Token string
	// TLS, when set, makes the server require TLS with this configuration.
	TLS *tls.Config
	// NKeys, when set, are the public NKeys of the only users allowed in.
	NKeys []string
}

// NATSServer is an embedded nats-server with JetStream that can be stopped
// and started again on the same port with the same streams.
type NATSServer struct {
	mu   sync.Mutex
	opts NATSOptions
	s    *server.Server
}

// NewNATSServer starts an embedded server. Close stops it for good.
func NewNATSServer(opts NATSOptions) (*NATSServer, error) {
	if opts.Port == 0 {
		p, err := freePort()
		if err != nil {
			return nil, err
		}
		opts.Port = p
	}
	if opts.StoreDir == "" {
		d, err := os.MkdirTemp("", "testenv-nats-*")
		if err != nil {
			return nil, fmt.Errorf("testenv: nats store dir: %w", err)
		}
		opts.StoreDir = d
	}
	n := &NATSServer{opts: opts}
	return n, n.Start()
}

// Start starts the server if it is stopped.
func (n *NATSServer) Start() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.s != nil {
		return nil
	}
	so := &server.Options{
		Host:          "127.0.0.1",
		Port:          n.opts.Port,
		JetStream:     true,
		StoreDir:      n.opts.StoreDir,
		Authorization: n.opts.Token,
		NoSigs:        true,
		NoLog:         true,
	}
	for _, k := range n.opts.NKeys {
		so.Nkeys = append(so.Nkeys, &server.NkeyUser{Nkey: k})
	}
	if n.opts.TLS != nil {
		so.TLS, so.TLSConfig, so.TLSTimeout = true, n.opts.TLS, 5
	}
	var lastErr error
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		s, err := server.NewServer(so)
		if err != nil {
			return fmt.Errorf("testenv: nats server options: %w", err)
		}
		go s.Start()
		if s.ReadyForConnections(5 * time.Second) {
			n.s = s
			return nil
		}
		s.Shutdown()
		lastErr = fmt.Errorf("not ready on port %d", n.opts.Port)
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("testenv: start nats server: %w", lastErr)
}

// Stop shuts the server down; clients see it disappear until Start.
func (n *NATSServer) Stop() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.s != nil {
		n.s.Shutdown()
		n.s.WaitForShutdown()
		n.s = nil
	}
}

// Restart stops the server, waits down, and starts it again.
func (n *NATSServer) Restart(down time.Duration) error {
	n.Stop()
	time.Sleep(down)
	return n.Start()
}

// Close stops the server for good.
func (n *NATSServer) Close() { n.Stop() }

// URL is the server's client URL.
func (n *NATSServer) URL() string { return fmt.Sprintf("nats://127.0.0.1:%d", n.opts.Port) }

// StartNATS starts an embedded server for t (never the shared one: tests
// that restart the server need their own), stopped when the test ends.
func StartNATS(t testing.TB, opts NATSOptions) *NATSServer {
	t.Helper()
	if opts.StoreDir == "" {
		opts.StoreDir = t.TempDir()
	}
	n, err := NewNATSServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Close)
	return n
}
