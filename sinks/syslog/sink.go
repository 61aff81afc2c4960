package syslog

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/sfconnector/sfconnector/sysflow"
)

// ErrClosed is returned by Publish after Close.
var ErrClosed = errors.New("syslog sink: closed")

// Reconnection backoff: doubled after every failed dial or short-lived
// connection, reset by a connection that lived longer than stableAfter.
const (
	initialBackoff = 100 * time.Millisecond
	maxBackoff     = 5 * time.Second
	stableAfter    = time.Second
	closeGrace     = time.Second // how long Close lets a Publish in progress finish
	// downLogEvery: an unreachable receiver is logged at the first failed
	// dial, then at most this often until a connection is made.
	downLogEvery = 10 * time.Second
)

// Stats are the sink's counters since New.
type Stats struct {
	Sent       int64 // messages written (each counted once)
	Resent     int64 // messages written again on a new connection after a broken one
	Reconnects int64 // connections made after the first
	Truncated  int64 // messages whose body was cut to MaxMessageSize
	Kept       int   // messages kept for a possible resend right now
}

// Sink is a Watermill Publisher that sends every event as one syslog
// message. It is safe for concurrent use; Publish calls are serialized.
//
// Concurrency: mu guards everything but the counters, ctx, kick and
// active. The goroutines are the supervisor (one per sink, started by New,
// ended and waited for by Close) and a watcher and a sampler per TCP/TLS
// connection (ended and waited for by conn.close, which runs under mu).
// Neither takes mu: a watcher records the failure on its conn and kicks
// the supervisor, which takes mu to reconnect and resend. Publish may block
// in a socket write while holding mu (at most WriteTimeout per write);
// Close cuts such a write short through active.
type Sink struct {
	cfg  Config
	f    *formatter
	tc   *tls.Config // nil without TLS
	addr string
	log  watermill.LoggerAdapter

	ctx    context.Context // cancelled when Close begins: aborts waits and dials
	cancel context.CancelFunc
	// abortCtx is cancelled by Abort: it also cuts short Close's drain
	abortCtx    context.Context
	cancelAbort context.CancelFunc
	kick        chan struct{} // a connection broke; capacity 1
	wg          sync.WaitGroup

	mu        sync.Mutex
	closed    bool
	closeOnce sync.Once
	closeErr  error
	conn      *conn                // TCP/TLS: the current connection, nil when none
	active    atomic.Pointer[conn] // conn, readable without mu (for Close)
	udp       *countingConn        // UDP: the connected socket
	ring      ring                 // TCP/TLS: written messages kept for resending, oldest first
	pushed    int                  // messages the Publish in progress added to ring
	connected bool                 // a connection was made before
	connAt    time.Time            // when the current connection was made
	nextDial  time.Time            // no dial before this (backoff)
	backoff   time.Duration
	lastErr   error
	certAsked bool   // a receiver asked for a client certificate and none is configured
	frame     []byte // scratch: the framed message
	body      []byte // scratch: the encoded event

	// down is set while the receiver cannot be reached (dials failing),
	// for Health, which must not wait for mu (a Publish may hold it for
	// ReconnectTimeout); nil once a connection is made.
	down      atomic.Pointer[downState]
	downLogAt time.Time // under mu: when down was last logged
	downDials int       // under mu: failed dials since then
	aborted   atomic.Bool
	// drainHook, when set (tests only), runs when Close starts delivering
	// what it kept, so that a test can abort a drain in progress
	drainHook func()

	sent, resent, reconnects, truncated atomic.Int64
}

// downState is why and since when the receiver is unreachable.
type downState struct {
	since time.Time
	err   error
}

// New validates cfg and returns a sink. It reads the TLS files but does
// not connect: the first Publish does, or Connect.
func New(cfg Config) (*Sink, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Sink{
		cfg:  cfg,
		f:    newFormatter(&cfg),
		addr: net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port)),
		log:  cfg.Logger.With(watermill.LogFields{"sink": "syslog"}),
		kick: make(chan struct{}, 1),
	}
	if cfg.Proto == ProtoTLS {
		tc, err := cfg.tlsConfig()
		if err != nil {
			return nil, err
		}
		s.tc = tc
		if cfg.TLS.InsecureSkipVerify {
			s.log.Info("syslog: TLS certificate verification is OFF (syslog.tls.insecure)", nil)
		}
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.abortCtx, s.cancelAbort = context.WithCancel(context.Background())
	if s.f.stream {
		s.ring = newRing(cfg.Buffer)
		s.wg.Add(1)
		go s.supervise()
	}
	return s, nil
}

// Connect connects now, once, so that a wrong address or an untrusted
// certificate is reported at start-up rather than at the first Publish.
func (s *Sink) Connect(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if !s.f.stream {
		return s.dialUDPLocked(ctx)
	}
	if s.conn != nil && !s.conn.isDead() {
		return nil
	}
	s.failLocked(nil)
	if err := s.connectLocked(ctx); err != nil {
		return s.errorf("connect: %w", err)
	}
	return nil
}

// Publish writes every event of every message's batch as one syslog
// message (a message without a batch: its payload), in order, and returns
// once they are all written and, over TCP and TLS, flushed to the kernel.
// The topic is ignored. On error none of the call's messages is kept by the
// sink; the router's retry sends them again.
func (s *Sink) Publish(_ string, msgs ...*message.Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.aborted.Load() {
		return ErrClosed
	}
	s.pushed = 0
	err := s.publishLocked(msgs, time.Now().Add(s.cfg.ReconnectTimeout))
	if err != nil {
		for n := min(s.pushed, s.ring.len()); n > 0; n-- {
			s.ring.popBack()
		}
	}
	return err
}

func (s *Sink) publishLocked(msgs []*message.Message, deadline time.Time) error {
	for _, m := range msgs {
		b := sysflow.BatchOf(m)
		if b == nil {
			if len(m.Payload) == 0 {
				continue
			}
			if err := s.sendLocked(nil, m.Payload, deadline); err != nil {
				return err
			}
			continue
		}
		if len(b.Events) == 0 && len(b.Records) > 0 {
			return s.errorf("message %s carries %d raw records and no flat events; syslog sends flat events (flatten first)", m.UUID, len(b.Records))
		}
		for _, ev := range b.Events {
			body, err := s.cfg.Encoder.AppendEvent(s.body[:0], ev)
			s.body = body
			if err != nil {
				return s.errorf("encode event of message %s: %w", m.UUID, err)
			}
			if err := s.sendLocked(ev, body, deadline); err != nil {
				return err
			}
		}
	}
	if s.f.stream && (s.pushed > 0 || s.conn != nil) {
		return s.flushAllLocked(deadline)
	}
	return nil
}

func (s *Sink) sendLocked(ev *sysflow.Event, body []byte, deadline time.Time) error {
	frame, cut := s.f.appendFrame(s.frame[:0], ev, body)
	s.frame = frame
	if cut {
		s.truncated.Add(1)
	}
	if s.f.stream {
		return s.sendStreamLocked(frame, deadline)
	}
	return s.sendUDPLocked(frame)
}

// sendStreamLocked keeps frame and writes it. When the write fails, the
// reconnection sends it again with the other kept messages.
func (s *Sink) sendStreamLocked(frame []byte, deadline time.Time) error {
	if err := s.ensureConnLocked(deadline); err != nil {
		return err
	}
	if err := s.makeRoomLocked(deadline); err != nil {
		return err
	}
	e := s.ring.push(frame)
	s.pushed++
	s.sent.Add(1)
	if _, err := s.conn.bw.Write(e.frame); err != nil {
		s.failLocked(err)
		return s.ensureConnLocked(deadline)
	}
	return nil
}

// flushAllLocked hands everything written to the kernel, on a connection
// still alive afterwards.
func (s *Sink) flushAllLocked(deadline time.Time) error {
	for {
		if err := s.ensureConnLocked(deadline); err != nil {
			return err
		}
		if err := s.flushLocked(); err != nil {
			s.failLocked(err)
			continue
		}
		if s.conn.isDead() {
			// The receiver went away while we wrote: resend now rather
			// than leave it to the supervisor.
			s.failLocked(nil)
			continue
		}
		s.pruneLocked(time.Now())
		return nil
	}
}

// flushLocked flushes the connection's buffer and stamps the newly flushed
// messages with their end offset and time.
func (s *Sink) flushLocked() error {
	c := s.conn
	if err := c.bw.Flush(); err != nil {
		return err
	}
	now, off := time.Now(), c.cc.written.Load()
	for i := s.ring.len() - 1; i >= 0; i-- {
		e := s.ring.at(i)
		if e.end != notFlushed {
			break // flushed messages are a prefix of the ring
		}
		e.end, e.at = off, now
	}
	return nil
}

// pruneLocked drops the oldest messages once the receiver's kernel has
// acknowledged them and they are older than the resend window.
func (s *Sink) pruneLocked(now time.Time) {
	if s.conn == nil {
		return
	}
	acked, progress := s.conn.acks.sample()
	cut := earliest(now, progress).Add(-s.cfg.ResendWindow)
	for s.ring.len() > 0 {
		e := s.ring.front()
		if e.end > acked || !e.at.Before(cut) {
			return
		}
		s.ring.popFront()
	}
}

// makeRoomLocked frees a slot in a full ring. The oldest message may go
// once the receiver acknowledged it, even inside the resend window (the
// window is then shortened to Buffer messages); an unacknowledged one is
// never dropped: Publish waits, and a connection that acknowledges nothing
// for WriteTimeout is replaced.
func (s *Sink) makeRoomLocked(deadline time.Time) error {
	if !s.ring.full() {
		return nil
	}
	s.pruneLocked(time.Now())
	stalled := time.Now()
	for s.ring.full() {
		if err := s.ensureConnLocked(deadline); err != nil {
			return err
		}
		if !s.ring.full() {
			return nil // the reconnection dropped confirmed messages
		}
		c, front := s.conn, s.ring.front()
		if front.end == notFlushed {
			if err := s.flushLocked(); err != nil {
				s.failLocked(err)
				continue
			}
		}
		acked := c.acks.cached()
		if front.end > acked {
			acked, _ = c.acks.sample()
		}
		// A connection must also have lived a while: a receiver that
		// rejects us right after connecting (a client certificate it does
		// not accept) still acknowledges the bytes.
		if front.end <= acked && time.Since(s.connAt) >= stableAfter {
			s.ring.popFront()
			return nil
		}
		if c.isDead() {
			s.failLocked(nil)
			continue
		}
		if time.Since(stalled) > s.cfg.WriteTimeout {
			s.failLocked(fmt.Errorf("the receiver acknowledged nothing for %v", s.cfg.WriteTimeout))
			stalled = time.Now()
			continue
		}
		select {
		case <-s.ctx.Done():
			return ErrClosed
		case <-time.After(time.Millisecond):
		}
	}
	return nil
}

// ensureConnLocked makes sure there is a live connection, dialling with
// backoff until deadline. A new connection first carries the kept messages.
func (s *Sink) ensureConnLocked(deadline time.Time) error {
	for {
		if s.conn != nil && s.conn.isDead() {
			s.failLocked(nil)
		}
		if s.conn != nil {
			return nil
		}
		if wait := time.Until(s.nextDial); wait > 0 {
			if time.Now().Add(wait).After(deadline) {
				return s.errorf("unreachable for %v (%d messages kept for it): %w",
					s.cfg.ReconnectTimeout, s.ring.len(), s.cause())
			}
			select {
			case <-s.ctx.Done():
				return ErrClosed
			case <-time.After(wait):
			}
		}
		err := s.connectLocked(s.ctx)
		if err == nil {
			continue // verify it survived the resend
		}
		if s.ctx.Err() != nil {
			return ErrClosed
		}
		if errors.Is(err, errVerify) {
			return s.errorf("%w", err)
		}
	}
}

// connectLocked dials and writes every kept message on the new
// connection. After failLocked the ring holds exactly the messages that
// may not have arrived.
func (s *Sink) connectLocked(ctx context.Context) error {
	c, err := dialStream(ctx, s.addr, s.tc, s.cfg.DialTimeout, s.cfg.WriteTimeout, s.samplePeriod(), s.kickSupervisor)
	if err != nil {
		s.lastErr = err
		s.backOff()
		if ctx.Err() == nil {
			s.noteDownLocked(err)
		}
		return err
	}
	if d := s.down.Swap(nil); d != nil {
		s.log.Info("syslog: receiver reachable again", watermill.LogFields{"addr": s.addr,
			"unreachable_for": time.Since(d.since).Round(time.Millisecond).String()})
	}
	if s.connected {
		s.reconnects.Add(1)
	}
	s.connected, s.conn, s.connAt = true, c, time.Now()
	s.certAsked = s.certAsked || c.certHint
	s.active.Store(c)
	n := s.ring.len()
	if n == 0 {
		return nil
	}
	for i := range n {
		e := s.ring.at(i)
		e.end = notFlushed
		if _, err := c.bw.Write(e.frame); err != nil {
			s.failLocked(err)
			return err
		}
	}
	if err := s.flushLocked(); err != nil {
		s.failLocked(err)
		return err
	}
	s.resent.Add(int64(n))
	s.log.Info("syslog: reconnected, sent the kept messages again", watermill.LogFields{"addr": s.addr, "messages": n})
	return nil
}

// noteDownLocked records a failed dial. The first of a series is logged
// at once (a Publish keeps trying for ReconnectTimeout before it fails, and
// that must not hide the problem), the next ones at most every
// downLogEvery.
func (s *Sink) noteDownLocked(err error) {
	now := time.Now()
	s.downDials++
	d := s.down.Load()
	if d == nil {
		s.down.Store(&downState{since: now, err: err})
		s.downLogAt, s.downDials = now, 0
		s.log.Error("syslog: cannot reach the receiver; retrying", err, watermill.LogFields{"addr": s.addr, "proto": s.cfg.Proto})
		return
	}
	s.down.Store(&downState{since: d.since, err: err})
	if now.Sub(s.downLogAt) >= downLogEvery {
		s.log.Error("syslog: receiver still unreachable", err, watermill.LogFields{"addr": s.addr, "proto": s.cfg.Proto,
			"unreachable_for": now.Sub(d.since).Round(time.Second).String(), "failed_dials": s.downDials})
		s.downLogAt, s.downDials = now, 0
	}
}

// Health is nil unless the receiver is unreachable right now (the last
// dials failed); then it says since when and why. It does not wait for a
// Publish in progress.
func (s *Sink) Health() error {
	d := s.down.Load()
	if d == nil {
		return nil
	}
	return s.errorf("receiver unreachable since %s: %w", d.since.UTC().Format(time.RFC3339), d.err)
}

// Abort gives up on the receiver, for a shutdown deadline: a Publish
// waiting for it fails at once with ErrClosed, later ones too, and Close
// no longer waits to deliver the kept messages: it reports how many it had.
func (s *Sink) Abort() {
	s.aborted.Store(true)
	s.cancel()
	s.cancelAbort()
	if c := s.active.Load(); c != nil {
		_ = c.raw.SetWriteDeadline(time.Now())
	}
}

func (s *Sink) backOff() {
	s.backoff = min(max(2*s.backoff, initialBackoff), maxBackoff)
	s.nextDial = time.Now().Add(s.backoff)
}

// failLocked retires the current connection (err, when not nil, is why)
// and drops from the ring the messages it proved delivered: those the
// receiver's kernel acknowledged and written more than ResendWindow before
// the failure was noticed (or before the receiver stopped taking data, if
// that was earlier). The rest are sent again on the next connection.
func (s *Sink) failLocked(err error) {
	c := s.conn
	if c == nil {
		return
	}
	s.conn = nil
	s.active.Store(nil)
	if err != nil {
		c.markDead(err)
	}
	acked, progress := c.acks.sample() // the kernel's count survives a reset
	c.close()
	if time.Since(s.connAt) < stableAfter {
		s.backOff()
	} else {
		s.backoff, s.nextDial = 0, time.Time{}
	}
	cut := earliest(c.deadAt, progress).Add(-s.cfg.ResendWindow)
	for s.ring.len() > 0 {
		e := s.ring.front()
		if e.end > acked || !e.at.Before(cut) {
			break
		}
		s.ring.popFront()
	}
	s.lastErr = c.deadErr
	s.log.Error("syslog: connection lost", c.deadErr, watermill.LogFields{"addr": s.addr, "to_resend": s.ring.len()})
}

// samplePeriod is how often a connection samples the acknowledgements: a
// quarter of the resend window, between 5ms and 250ms.
func (s *Sink) samplePeriod() time.Duration {
	return min(max(s.cfg.ResendWindow/4, 5*time.Millisecond), 250*time.Millisecond)
}

func earliest(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func (s *Sink) kickSupervisor() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// supervise reconnects after a connection broke while no Publish was
// running, so that kept messages reach the receiver without waiting for
// the next event (alerts can be minutes apart).
func (s *Sink) supervise() {
	defer s.wg.Done()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-s.kick:
		}
		for {
			s.mu.Lock()
			if s.closed {
				s.mu.Unlock()
				return
			}
			if s.conn != nil && s.conn.isDead() {
				s.failLocked(nil)
			}
			var wait time.Duration
			need := s.conn == nil && s.ring.len() > 0
			if need {
				if wait = time.Until(s.nextDial); wait <= 0 {
					if err := s.connectLocked(s.ctx); err == nil {
						need = false
					}
					wait = time.Until(s.nextDial)
				}
			}
			s.mu.Unlock()
			if !need {
				break
			}
			select {
			case <-s.ctx.Done():
				return
			case <-time.After(max(wait, initialBackoff)):
			}
		}
	}
}

func (s *Sink) dialUDPLocked(ctx context.Context) error {
	if s.udp != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.DialTimeout)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "udp", s.addr)
	if err != nil {
		return s.errorf("%w", err)
	}
	s.udp = &countingConn{Conn: c, timeout: s.cfg.WriteTimeout}
	return nil
}

// sendUDPLocked sends one datagram. UDP cannot tell whether it arrived;
// a write can only fail with the ICMP error a previous datagram caused
// (that write sent nothing), so it is tried once more.
func (s *Sink) sendUDPLocked(frame []byte) error {
	if err := s.dialUDPLocked(s.ctx); err != nil {
		return err
	}
	if _, err := s.udp.Write(frame); err != nil {
		if _, err := s.udp.Write(frame); err != nil {
			return s.errorf("%w", err)
		}
	}
	s.sent.Add(1)
	return nil
}

// cause is the last connection error.
func (s *Sink) cause() error {
	if s.lastErr == nil {
		return errors.New("no connection")
	}
	if s.certAsked && !strings.Contains(s.lastErr.Error(), "client certificate") {
		// The hint on the connection's own errors depends on how soon the
		// receiver hung up, which a loaded machine stretches; that the
		// receiver asked is reason enough to say it here.
		return fmt.Errorf("%w (the receiver asked for a client certificate and none is configured: "+
			"syslog.tls.cert, syslog.tls.key; if it requires one, that is why)", s.lastErr)
	}
	return s.lastErr
}

func (s *Sink) errorf(format string, args ...any) error {
	return fmt.Errorf("syslog sink (%s %s): %w", s.cfg.Proto, s.addr, fmt.Errorf(format, args...))
}

// Stats returns the counters.
func (s *Sink) Stats() Stats {
	s.mu.Lock()
	kept := s.ring.len()
	s.mu.Unlock()
	return Stats{
		Sent: s.sent.Load(), Resent: s.resent.Load(), Reconnects: s.reconnects.Load(),
		Truncated: s.truncated.Load(), Kept: kept,
	}
}

// Close stops the sink. Over TCP and TLS it first delivers what it kept:
// it ends the stream and waits (up to WriteTimeout) for the receiver to
// close its side, which proves the receiver read everything, reconnecting
// and resending if the connection breaks meanwhile. It reports messages it
// could not prove delivered. Publish calls waiting for the receiver fail
// with ErrClosed.
func (s *Sink) Close() error {
	s.closeOnce.Do(func() {
		s.cancel()
		// A Publish blocked in a write to a stalled receiver holds the lock
		// until its write deadline: after a grace period, cut that write
		// short (the Publish then fails with ErrClosed).
		for start := time.Now(); !s.mu.TryLock(); {
			if c := s.active.Load(); c != nil && time.Since(start) > closeGrace {
				_ = c.raw.SetWriteDeadline(time.Now())
			}
			time.Sleep(10 * time.Millisecond)
		}
		s.closed = true
		if s.f.stream {
			s.closeErr = s.drainLocked()
			if s.conn != nil {
				s.conn.close()
				s.conn = nil
				s.active.Store(nil)
			}
		}
		if s.udp != nil {
			if err := s.udp.Close(); err != nil && s.closeErr == nil {
				s.closeErr = s.errorf("%w", err)
			}
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return s.closeErr
}

func (s *Sink) drainLocked() error {
	if s.aborted.Load() {
		if n := s.ring.len(); n > 0 {
			return s.errorf("aborted with %d messages not proven delivered: %w", n, s.cause())
		}
		return nil
	}
	if s.drainHook != nil {
		s.drainHook()
	}
	deadline := time.Now().Add(s.cfg.WriteTimeout)
	ctx, cancel := context.WithDeadline(s.abortCtx, deadline)
	defer cancel()
	sleep := func(d time.Duration) {
		select {
		case <-ctx.Done():
		case <-time.After(d):
		}
	}
	for ctx.Err() == nil {
		if s.conn != nil && s.conn.isDead() {
			s.failLocked(nil)
		}
		if s.ring.len() == 0 {
			if s.conn != nil {
				_ = s.conn.closeGracefully(ctx) // nothing left to prove
			}
			return nil
		}
		if s.conn == nil {
			if wait := time.Until(s.nextDial); wait > 0 {
				sleep(wait)
				continue
			}
			if err := s.connectLocked(ctx); err != nil {
				continue // connectLocked backed off
			}
		}
		// A young connection may still be refused (TLS 1.3 rejects a
		// client certificate after the handshake, and the refusal can look
		// like an orderly close): let it live a while before its close
		// counts as proof.
		if wait := stableAfter - time.Since(s.connAt); wait > 0 {
			if err := s.flushLocked(); err != nil {
				s.failLocked(err)
				continue
			}
			select {
			case <-s.conn.dead:
			case <-ctx.Done():
			case <-time.After(wait):
			}
			continue
		}
		if err := s.conn.closeGracefully(ctx); err != nil {
			s.failLocked(err)
			continue
		}
		s.conn.close()
		s.conn = nil
		s.active.Store(nil)
		for s.ring.len() > 0 {
			s.ring.popFront()
		}
		return nil
	}
	if s.aborted.Load() {
		return s.errorf("aborted with %d messages not proven delivered: %w", s.ring.len(), s.cause())
	}
	return s.errorf("closed with %d messages not proven delivered: %w", s.ring.len(), s.cause())
}
