package socket

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/sfconnector/sfconnector/sources/internal/sender"
	"github.com/sfconnector/sfconnector/sysflow"
)

// Config of the socket source.
type Config struct {
	Path         string      // socket file
	Mode         os.FileMode // permissions of the socket file; default 0600
	BatchSize    int         // records per message; default 1024
	BatchTimeout time.Duration
	MaxMessage   int // largest message accepted, bytes; default 16 MiB
	Buffer       int // batches queued ahead of the pipeline; default 64
	// DrainTimeout bounds how long Close keeps delivering the batches
	// already read; default 10s. What is still queued then is dropped,
	// counted and logged.
	DrainTimeout time.Duration
	Logger       *slog.Logger
}

// WithDefaults returns c with the defaults New applies filled in: what the
// component uses for a setting left zero. A test compares them with the
// defaults config.Specs documents.
func (c Config) WithDefaults() Config {
	c.setDefaults()
	return c
}

func (c *Config) setDefaults() {
	if c.Mode == 0 {
		c.Mode = 0o600
	}
	if c.BatchSize <= 0 {
		c.BatchSize = 1024
	}
	if c.BatchTimeout <= 0 {
		c.BatchTimeout = 100 * time.Millisecond
	}
	if c.MaxMessage <= 0 {
		c.MaxMessage = 16 << 20
	}
	if c.Buffer <= 0 {
		c.Buffer = 64
	}
	if c.DrainTimeout <= 0 {
		c.DrainTimeout = 10 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	if c.Path == "" {
		return errors.New("socket source: no socket path")
	}
	if len(c.Path) > 107 {
		return fmt.Errorf("socket source: path %q is longer than a unix socket address allows (107 bytes)", c.Path)
	}
	return nil
}

// Stats are the socket source's counters.
type Stats struct {
	Connections int64
	Messages    int64
	Records     int64
	Malformed   int64 // messages that did not decode
	Oversized   int64 // messages above MaxMessage
	Dropped     int64 // records read but not delivered because a shutdown outlasted DrainTimeout
}

// Source listens on the collector socket. Create it with Listen.
type Source struct {
	cfg Config
	ln  *net.UnixListener

	// stopRead ends reading (Close); abort ends delivery of what was read
	// (DrainTimeout passed during Close).
	stopRead chan struct{}
	abort    chan struct{}
	once     sync.Once
	wg       sync.WaitGroup
	done     chan struct{}

	mu   sync.Mutex
	conn *net.UnixConn

	subscribed atomic.Bool

	connections, messages, records, malformed, oversized, dropped atomic.Int64
}

// Listen creates the socket file and starts listening.
func Listen(cfg Config) (*Source, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := removeStale(cfg.Path); err != nil {
		return nil, err
	}
	// The umask keeps the socket private from the moment it exists; the
	// chmod below then sets exactly the configured mode.
	old := syscall.Umask(0o177)
	ln, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: cfg.Path, Net: "unixpacket"})
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("socket source: listen on %s: %w", cfg.Path, err)
	}
	ln.SetUnlinkOnClose(true)
	if err := os.Chmod(cfg.Path, cfg.Mode); err != nil {
		ln.Close()
		return nil, fmt.Errorf("socket source: chmod %s: %w", cfg.Path, err)
	}
	cfg.Logger.Info("listening for the collector", "socket", cfg.Path)
	return &Source{cfg: cfg, ln: ln, stopRead: make(chan struct{}), abort: make(chan struct{}), done: make(chan struct{})}, nil
}

// removeStale removes a socket file left by a previous run, but never a live
// socket another process listens on, nor a file that is not a socket.
func removeStale(path string) error {
	st, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("socket source: %w", err)
	}
	if st.Mode()&os.ModeSocket == 0 {
		return fmt.Errorf("socket source: %s exists and is not a socket", path)
	}
	if c, err := net.DialTimeout("unixpacket", path, 200*time.Millisecond); err == nil {
		c.Close()
		return fmt.Errorf("socket source: %s is in use by another process", path)
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("socket source: removing stale %s: %w", path, err)
	}
	return nil
}

// Addr is the socket path.
func (s *Source) Addr() string { return s.cfg.Path }

// Stats returns the counters.
func (s *Source) Stats() Stats {
	return Stats{Connections: s.connections.Load(), Messages: s.messages.Load(), Records: s.records.Load(),
		Malformed: s.malformed.Load(), Oversized: s.oversized.Load(), Dropped: s.dropped.Load()}
}

// Done is closed when the source stopped (after Close).
func (s *Source) Done() <-chan struct{} { return s.done }

// Err is always nil: the socket source reports damaged messages as counters
// and log lines, and keeps serving.
func (s *Source) Err() error { return nil }

// Subscribe starts accepting connections; the topic is ignored.
func (s *Source) Subscribe(ctx context.Context, _ string) (<-chan *message.Message, error) {
	if !s.subscribed.CompareAndSwap(false, true) {
		return nil, errors.New("socket source: already subscribed")
	}
	select {
	case <-s.stopRead:
		return nil, errors.New("socket source: closed")
	default:
	}
	out := make(chan *message.Message)
	batches := make(chan *sysflow.Batch, s.cfg.Buffer)
	s.wg.Add(2)
	go func() { // reader: accepts connections one after another
		defer s.wg.Done()
		defer close(batches)
		s.acceptLoop(ctx, batches)
	}()
	go func() { // sender: delivers batches in order, one ack at a time
		defer s.wg.Done()
		defer close(s.done)
		defer close(out)
		for b := range batches {
			if err := sender.Send(ctx, out, b, s.abort); err != nil {
				lost := int64(len(b.Records))
				for rest := range batches { // drain so the reader can finish
					lost += int64(len(rest.Records))
				}
				s.dropped.Add(lost)
				s.cfg.Logger.Error("socket source: records read but not delivered before the shutdown deadline",
					"records", lost, "error", err)
				return
			}
		}
	}()
	return out, nil
}

// Close stops reading: it stops listening, closes the current connection
// and removes the socket file. The batches already read are still delivered
// to the pipeline, for up to DrainTimeout; what remains after that is
// dropped, counted (Stats.Dropped) and logged. Messages the collector wrote
// that were still in the kernel's socket buffer are lost with the
// connection: the collector sees the connection close.
func (s *Source) Close() error {
	s.once.Do(func() {
		close(s.stopRead)
		s.ln.Close()
		s.mu.Lock()
		if s.conn != nil {
			s.conn.Close()
		}
		s.mu.Unlock()
		if s.subscribed.Load() {
			t := time.NewTimer(s.cfg.DrainTimeout)
			defer t.Stop()
			select {
			case <-s.done:
			case <-t.C:
			}
		} else {
			close(s.done)
		}
		close(s.abort)
	})
	s.wg.Wait()
	return nil
}

func (s *Source) acceptLoop(ctx context.Context, batches chan<- *sysflow.Batch) {
	for {
		conn, err := s.ln.AcceptUnix()
		if err != nil {
			select {
			case <-s.stopRead:
			default:
				if ctx.Err() == nil {
					s.cfg.Logger.Error("socket source: accept", "path", s.cfg.Path, "error", err)
				}
			}
			return
		}
		n := s.connections.Add(1)
		s.mu.Lock()
		s.conn = conn
		s.mu.Unlock()
		name := fmt.Sprintf("unix://%s#%d", s.cfg.Path, n)
		s.cfg.Logger.Info("collector connected", "connection", name)
		err = s.serve(ctx, conn, name, batches)
		conn.Close()
		s.mu.Lock()
		s.conn = nil
		s.mu.Unlock()
		if err != nil && !errors.Is(err, io.EOF) {
			select {
			case <-s.stopRead:
				return
			default:
			}
			s.cfg.Logger.Error("socket source: connection ended", "connection", name, "error", err)
		} else {
			s.cfg.Logger.Info("collector disconnected", "connection", name)
		}
	}
}

// serve reads one connection's messages until EOF.
func (s *Source) serve(ctx context.Context, conn *net.UnixConn, name string, batches chan<- *sysflow.Batch) error {
	rc, err := conn.SyscallConn()
	if err != nil {
		return err
	}
	dec := sysflow.NewDatumDecoder()
	buf := make([]byte, 64<<10)
	batch := &sysflow.Batch{Source: name, Records: make([]sysflow.Record, 0, s.cfg.BatchSize)}
	flush := func() bool {
		if len(batch.Records) == 0 {
			return true
		}
		select {
		case batches <- batch:
		case <-s.abort:
			s.dropped.Add(int64(len(batch.Records)))
			return false
		case <-ctx.Done():
			return false
		}
		batch = &sysflow.Batch{Source: name, Records: make([]sysflow.Record, 0, s.cfg.BatchSize)}
		return true
	}
	var msgNo int64
	for {
		// A partial batch waits at most BatchTimeout for more messages.
		if len(batch.Records) > 0 {
			conn.SetReadDeadline(time.Now().Add(s.cfg.BatchTimeout))
		} else {
			conn.SetReadDeadline(time.Time{})
		}
		n, err := recvMessage(rc, &buf, s.cfg.MaxMessage)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				if !flush() {
					return nil
				}
				continue
			}
			flush()
			return err
		}
		msgNo++
		if n < 0 { // oversized: already discarded
			s.oversized.Add(1)
			s.cfg.Logger.Error("socket source: message too large, skipped", "connection", name, "message", msgNo, "bytes", -n, "max", s.cfg.MaxMessage)
			continue
		}
		if n == 0 {
			flush()
			return io.EOF // a zero-length read on SEQPACKET is the peer's close
		}
		s.messages.Add(1)
		batch.Records = append(batch.Records, sysflow.Record{})
		if err := dec.Decode(buf[:n], &batch.Records[len(batch.Records)-1]); err != nil {
			batch.Records = batch.Records[:len(batch.Records)-1]
			if s.malformed.Add(1) <= 100 {
				s.cfg.Logger.Error("socket source: malformed message skipped", "connection", name, "message", msgNo, "bytes", n, "error", err)
			}
			continue
		}
		s.records.Add(1)
		if len(batch.Records) >= s.cfg.BatchSize && !flush() {
			return nil
		}
	}
}

// recvMessage reads one whole SEQPACKET message into *buf, growing it as
// needed: the length is peeked first (MSG_PEEK|MSG_TRUNC reports the full
// size), so no message is ever truncated. It returns the length, 0 at EOF,
// or -size for a message above max, which it discards.
func recvMessage(rc syscall.RawConn, buf *[]byte, max int) (int, error) {
	var n int
	var opErr error
	peek := func(fd uintptr) bool {
		n, _, opErr = syscall.Recvfrom(int(fd), (*buf)[:1], syscall.MSG_PEEK|syscall.MSG_TRUNC)
		return opErr != syscall.EAGAIN
	}
	if err := rc.Read(peek); err != nil {
		return 0, err
	}
	if opErr != nil {
		return 0, opErr
	}
	if n == 0 {
		return 0, nil
	}
	size := n
	var dst []byte
	if size > max {
		dst = (*buf)[:0] // a zero-length read discards the message
	} else {
		if size > len(*buf) {
			*buf = make([]byte, size)
		}
		dst = (*buf)[:size]
	}
	read := func(fd uintptr) bool {
		n, _, opErr = syscall.Recvfrom(int(fd), dst, 0)
		return opErr != syscall.EAGAIN
	}
	if err := rc.Read(read); err != nil {
		return 0, err
	}
	if opErr != nil {
		return 0, opErr
	}
	if size > max {
		return -size, nil
	}
	return n, nil
}
