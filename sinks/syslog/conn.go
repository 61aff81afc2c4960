package syslog

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// countingConn counts the bytes handed to the kernel (beneath TLS, so the
// count is in the same unit as the kernel's acknowledged-bytes counter) and
// gives every socket write its own deadline.
type countingConn struct {
	net.Conn
	written atomic.Int64 // TLS may write from the watcher's Read (alerts, key updates)
	timeout time.Duration
}

func (c *countingConn) Write(p []byte) (int, error) {
	if c.timeout > 0 {
		_ = c.Conn.SetWriteDeadline(time.Now().Add(c.timeout))
	}
	n, err := c.Conn.Write(p)
	c.written.Add(int64(n))
	return n, err
}

// conn is one TCP or TLS connection to the receiver.
//
// Ownership: the sink's mutex guards bw and the writes. dead, deadErr and
// deadAt are set once by markDead (before closing dead); acks has its own
// lock. Two goroutines belong to a connection and end with it (close()
// waits for both):
//   - the watcher reads from the connection, which a syslog receiver never
//     writes to: its Read returns only when the receiver closed or reset
//     the connection, which tells the sink that data it wrote since may be
//     lost, long before a write fails;
//   - the sampler reads the kernel's acknowledged-bytes count periodically,
//     so that the time the receiver last took data is known even while a
//     Publish is blocked in a write.
type conn struct {
	raw  net.Conn // the TCP connection
	cc   *countingConn
	tls  *tls.Conn // nil without TLS
	bw   *bufio.Writer
	acks ackState

	deadOnce    sync.Once
	dead        chan struct{} // closed when the connection is known broken
	deadErr     error
	deadAt      time.Time
	watching    chan struct{} // closed when the watcher returned
	sampling    chan struct{} // closed when the sampler returned
	onDead      func()
	certHint    bool      // the receiver asked for a client certificate and none is configured
	established time.Time // when the handshake completed
}

// hint adds to a failure soon after connecting that the receiver asked for
// a client certificate we do not have. Receivers may ask without requiring
// one (rsyslog does), so a connection that lived longer gets no hint.
func (c *conn) hint(err error) error {
	if !c.certHint || err == nil || errors.Is(err, errVerify) ||
		(!c.established.IsZero() && time.Since(c.established) > stableAfter) {
		return err
	}
	return fmt.Errorf("%w (the receiver asked for a client certificate and none is configured: "+
		"syslog.tls.cert, syslog.tls.key; if it requires one, that is why)", err)
}

// dialStream connects over TCP, and TLS when tc is set, and starts the
// watcher. onDead is called (from the watcher) when the connection breaks.
func dialStream(ctx context.Context, addr string, tc *tls.Config, dialTimeout, writeTimeout, samplePeriod time.Duration, onDead func()) (*conn, error) {
	ctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	d := net.Dialer{KeepAlive: 15 * time.Second}
	raw, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if tcp, ok := raw.(*net.TCPConn); ok {
		if rc, err := tcp.SyscallConn(); err == nil {
			setUserTimeout(rc, writeTimeout)
		}
	}
	c := &conn{
		raw:      raw,
		cc:       &countingConn{Conn: raw, timeout: writeTimeout},
		dead:     make(chan struct{}),
		watching: make(chan struct{}),
		sampling: make(chan struct{}),
		onDead:   onDead,
	}
	var stream io.ReadWriter = c.cc
	if tc != nil {
		// Note whether the receiver asks for a client certificate we do not
		// have: with TLS 1.3 it rejects us only after our handshake is done,
		// and the error we then read says little.
		tc = tc.Clone()
		certs := tc.Certificates
		tc.Certificates = nil
		tc.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			if len(certs) > 0 {
				return &certs[0], nil
			}
			c.certHint = true
			return &tls.Certificate{}, nil
		}
		c.tls = tls.Client(c.cc, tc)
		if err := c.tls.HandshakeContext(ctx); err != nil {
			raw.Close()
			return nil, c.hint(tlsError(err))
		}
		stream = c.tls
	}
	c.bw = bufio.NewWriterSize(stream, 64<<10)
	c.established = time.Now()
	c.acks.progressAt, c.acks.sampledAt = c.established, c.established
	rc, err := raw.(syscall.Conn).SyscallConn()
	if err != nil {
		raw.Close()
		return nil, err
	}
	c.acks.info = newTCPInfo(rc)
	c.acks.written = &c.cc.written
	go c.watch(stream)
	go c.sampleLoop(samplePeriod)
	return c, nil
}

// errPeerClosed is the watcher's finding when the receiver closed the
// connection in order (as opposed to resetting it).
var errPeerClosed = errors.New("the receiver closed the connection")

// errVerify marks a TLS verification failure: retrying cannot help.
var errVerify = errors.New("the receiver's certificate is not trusted")

func tlsError(err error) error {
	var verr *tls.CertificateVerificationError
	var unknown x509.UnknownAuthorityError
	var host x509.HostnameError
	var invalid x509.CertificateInvalidError
	if errors.As(err, &verr) || errors.As(err, &unknown) || errors.As(err, &host) || errors.As(err, &invalid) {
		return fmt.Errorf("TLS handshake: %w (syslog.tls.ca must name the CA that signed it and "+
			"syslog.tls.servername a name it carries): %w", errVerify, err)
	}
	return fmt.Errorf("TLS handshake: %w", err)
}

func (c *conn) watch(r io.Reader) {
	defer close(c.watching)
	buf := make([]byte, 512)
	for {
		if _, err := r.Read(buf); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				err = errPeerClosed
			}
			c.markDead(c.hint(err))
			return
		}
		// A syslog receiver sends nothing; whatever it does send is ignored.
	}
}

func (c *conn) markDead(err error) {
	c.deadOnce.Do(func() {
		c.deadErr, c.deadAt = err, time.Now()
		close(c.dead)
		if c.onDead != nil {
			c.onDead()
		}
	})
}

func (c *conn) isDead() bool {
	select {
	case <-c.dead:
		return true
	default:
		return false
	}
}

// ackState follows how much of the stream the receiver's kernel
// acknowledged, and when it last took data.
type ackState struct {
	written *atomic.Int64

	mu    sync.Mutex
	info  *tcpInfo
	acked int64 // bytes acknowledged, as last sampled
	// progressAt is a lower bound of the last time the receiver took data:
	// the time of the sample before the one that saw the count grow (or
	// nothing outstanding). A receiver that stopped reading stops the
	// acknowledgements once its buffer is full; the resend window counts
	// back from here, not from when the failure was noticed, so what its
	// kernel took before the stall is not trusted.
	progressAt time.Time
	sampledAt  time.Time
}

// sample reads the kernel's count and returns the acknowledged bytes and
// the progress time.
func (a *ackState) sample() (int64, time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := time.Now()
	written := a.written.Load()
	n, ok := a.info.bytesAcked()
	if !ok {
		n = written // without the kernel's count, trust that what was written arrived
	}
	if n > a.acked || n >= written {
		a.progressAt = a.sampledAt
	}
	if n > a.acked {
		a.acked = n
	}
	a.sampledAt = now
	return a.acked, a.progressAt
}

// cached returns the acknowledged bytes as last sampled.
func (a *ackState) cached() int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.acked
}

func (c *conn) sampleLoop(period time.Duration) {
	defer close(c.sampling)
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-c.dead:
			return
		case <-t.C:
			c.acks.sample()
		}
	}
}

// close closes the socket and waits for the watcher to return.
func (c *conn) close() {
	c.markDead(errors.New("closed by the sink"))
	_ = c.raw.Close()
	<-c.watching
	<-c.sampling
}

// closeGracefully flushes, shuts down the sending side and waits for the
// receiver to close its side. A receiver closes after it has read
// everything before our end of stream, so a clean close within the
// timeout proves delivery of everything written on this connection.
func (c *conn) closeGracefully(ctx context.Context) error {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(time.Minute)
	}
	timeout := time.Until(deadline)
	if err := c.bw.Flush(); err != nil {
		return err
	}
	if c.isDead() {
		return c.deadErr // it closed before our end of stream: no proof
	}
	if c.tls != nil {
		_ = c.tls.SetWriteDeadline(time.Now().Add(timeout))
		if err := c.tls.CloseWrite(); err != nil { // close_notify
			return err
		}
	}
	if tcp, ok := c.raw.(*net.TCPConn); ok {
		if err := tcp.CloseWrite(); err != nil {
			return err
		}
	}
	select {
	case <-c.dead:
	case <-ctx.Done():
		return fmt.Errorf("the receiver did not close the connection within %v of our end of stream", timeout.Round(time.Millisecond))
	}
	if errors.Is(c.deadErr, errPeerClosed) {
		return nil
	}
	return c.deadErr
}
