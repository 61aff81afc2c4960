package file

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/sfconnector/sfconnector/sources/internal/sender"
	"github.com/sfconnector/sfconnector/sysflow"
)

// Config of the file source.
type Config struct {
	Paths     []string      // files, directories or globs, read in the given order
	Follow    bool          // keep watching directories for new files
	Settle    time.Duration // a followed file is finished when a newer one exists or it has been idle this long
	BatchSize int           // records per message
	Logger    *slog.Logger
	// OnStart, when set, is called once with the input's total size (files
	// known at start) for progress reporting.
	OnStart func(files int, bytes int64)
	// OnProgress, when set, is called after each batch is acknowledged with
	// the records it held and the bytes of the file consumed so far.
	OnProgress func(path string, records int, offset int64)
}

func (c *Config) setDefaults() {
	if c.BatchSize <= 0 {
		c.BatchSize = 4096
	}
	if c.Settle <= 0 {
		c.Settle = 2 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	if len(c.Paths) == 0 {
		return errors.New("file source: no input path")
	}
	return nil
}

// Source reads trace files. Create it with New.
type Source struct {
	cfg     Config
	closing chan struct{}
	once    sync.Once
	wg      sync.WaitGroup
	done    chan struct{}

	mu      sync.Mutex
	err     error
	records int64
	files   int
}

// New returns a file source.
func New(cfg Config) (*Source, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Source{cfg: cfg, closing: make(chan struct{}), done: make(chan struct{})}, nil
}

// Subscribe starts reading; the topic is ignored. The channel is closed when
// every file was read and every batch acknowledged (or on Close).
func (s *Source) Subscribe(ctx context.Context, _ string) (<-chan *message.Message, error) {
	out := make(chan *message.Message)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(s.done)
		defer close(out)
		if err := s.run(ctx, out); err != nil && !errors.Is(err, sender.ErrClosed) && !errors.Is(err, context.Canceled) {
			s.setErr(err)
		}
	}()
	return out, nil
}

// Done is closed when the source has finished (all input read and acked,
// an error, or Close).
func (s *Source) Done() <-chan struct{} { return s.done }

// Err returns the errors met while reading (damaged files, files whose
// writer schema does not resolve). Records before the damage were delivered.
func (s *Source) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Stats returns the records delivered and files read so far.
func (s *Source) Stats() (records int64, files int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.records, s.files
}

// Close stops reading and waits for the reading goroutine.
func (s *Source) Close() error {
	s.once.Do(func() { close(s.closing) })
	s.wg.Wait()
	return nil
}

func (s *Source) setErr(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.err = errors.Join(s.err, err)
}

func (s *Source) run(ctx context.Context, out chan<- *message.Message) error {
	seen := map[string]bool{}
	files, unreadable, err := expand(s.cfg.Paths)
	if err != nil {
		return err
	}
	s.reportUnreadable(unreadable, seen)
	if len(files) == 0 && !s.cfg.Follow {
		return fmt.Errorf("file source: no trace files in %s", strings.Join(s.cfg.Paths, ", "))
	}
	if s.cfg.OnStart != nil {
		var total int64
		for _, f := range files {
			if st, err := os.Stat(f); err == nil {
				total += st.Size()
			}
		}
		s.cfg.OnStart(len(files), total)
	}
	for _, f := range files {
		seen[f] = true
		if err := s.readFile(ctx, f, out); err != nil {
			if errors.Is(err, sender.ErrClosed) || ctx.Err() != nil {
				return err
			}
			// a damaged or unreadable file: report it and go on with the next one
			s.report(f, err)
		}
	}
	if !s.cfg.Follow {
		return nil
	}
	return s.follow(ctx, out, seen)
}

// follow polls the configured directories for new files. A file is read once
// it is finished: a newer file exists beside it, or it was idle for Settle.
func (s *Source) follow(ctx context.Context, out chan<- *message.Message, seen map[string]bool) error {
	tick := time.NewTicker(s.cfg.Settle / 4)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.closing:
			return sender.ErrClosed
		case <-tick.C:
		}
		files, unreadable, err := expand(s.cfg.Paths)
		if err != nil {
			s.cfg.Logger.Warn("follow: listing input", "error", err)
			continue
		}
		s.reportUnreadable(unreadable, seen)
		for i, f := range files {
			if seen[f] {
				continue
			}
			st, err := os.Stat(f)
			if err != nil {
				continue
			}
			newer := i+1 < len(files)
			if !newer && time.Since(st.ModTime()) < s.cfg.Settle {
				continue // the collector may still be writing it
			}
			seen[f] = true
			if err := s.readFile(ctx, f, out); err != nil {
				if errors.Is(err, sender.ErrClosed) || ctx.Err() != nil {
					return err
				}
				s.report(f, err)
			}
		}
	}
}

// ReadError reports a trace file that could not be opened or read (as
// opposed to one whose content is damaged, a sysflow.DecodeError).
type ReadError struct {
	Path string
	Err  error
}

func (e *ReadError) Error() string {
	reason := e.Err
	var pe *fs.PathError
	if errors.As(e.Err, &pe) { // the path is already said
		reason = pe.Err
	}
	return fmt.Sprintf("file source: cannot read %s: %v", e.Path, reason)
}

func (e *ReadError) Unwrap() error { return e.Err }

// reportUnreadable reports each entry that expand could not examine, once:
// a followed directory is listed again at every poll.
func (s *Source) reportUnreadable(unreadable []*ReadError, seen map[string]bool) {
	for _, u := range unreadable {
		if !seen[u.Path] {
			seen[u.Path] = true
			s.report(u.Path, u)
		}
	}
}

// report logs a file that was skipped, as damaged, as written with a schema
// that does not resolve, or as unreadable, and records it for Err (the run
// then ends with an error).
func (s *Source) report(path string, err error) {
	var re *ReadError
	var pe *fs.PathError
	var de *sysflow.DecodeError
	var se *sysflow.SchemaError
	switch {
	case errors.As(err, &re):
	case errors.As(err, &se):
		// sound, but not readable as SysFlow v5: saying "damaged" would
		// send the user looking for corruption that is not there
		s.cfg.Logger.Error("trace file schema cannot be read, skipped", "file", path,
			"type", se.Type, "field", se.Field, "error", err)
		s.setErr(err)
		return
	case errors.As(err, &pe) || !errors.As(err, &de):
		// the operating system refused to open or read it
		re = &ReadError{Path: path, Err: err}
		err = re
	}
	if re != nil {
		s.cfg.Logger.Error("cannot read trace file, skipped", "file", path, "error", re.Error())
	} else {
		s.cfg.Logger.Error("trace file damaged", "file", path, "error", err)
	}
	s.setErr(err)
}

type decoded struct {
	recs   []sysflow.Record
	offset int64
	err    error
}

// readFile decodes one file in a goroutine that runs up to two batches ahead
// of delivery.
func (s *Source) readFile(ctx context.Context, path string, out chan<- *message.Message) error {
	rd, closer, err := sysflow.OpenFile(path)
	if err != nil {
		return err
	}
	defer closer.Close()
	s.mu.Lock()
	s.files++
	s.mu.Unlock()

	ahead := make(chan decoded, 2)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(ahead)
		buf := make([]sysflow.Record, 0, s.cfg.BatchSize)
		for {
			// Whole blocks are appended while the next one, as large as
			// the last, still fits: growing past BatchSize would copy the
			// batch into an array twice as large (a profile showed two
			// batch-sized allocations per batch, a third of all the bytes
			// the reader pipeline allocated).
			recs, err := rd.Next(buf)
			last := len(recs)
			for err == nil && len(recs)+last <= s.cfg.BatchSize {
				n := len(recs)
				recs, err = rd.Next(recs)
				last = len(recs) - n
			}
			if len(recs) > 0 {
				select {
				case ahead <- decoded{recs: recs, offset: rd.Offset()}:
				case <-stop:
					return
				}
			}
			if err != nil {
				if !errors.Is(err, io.EOF) {
					select {
					case ahead <- decoded{err: err}:
					case <-stop:
					}
				}
				return
			}
			buf = make([]sysflow.Record, 0, s.cfg.BatchSize)
		}
	}()
	defer func() {
		close(stop)
		wg.Wait()
	}()
	for d := range ahead {
		if d.err != nil {
			return d.err
		}
		b := &sysflow.Batch{Source: path, Records: d.recs}
		if err := sender.Send(ctx, out, b, s.closing); err != nil {
			return err
		}
		s.mu.Lock()
		s.records += int64(len(d.recs))
		s.mu.Unlock()
		if s.cfg.OnProgress != nil {
			s.cfg.OnProgress(path, len(d.recs), d.offset)
		}
	}
	return nil
}

// Expand resolves paths into trace files: a file as is, a directory's regular
// files in name order (hidden files skipped), a glob's matches in name order.
// Entries of a directory or glob that cannot be examined (a dangling
// symbolic link...) are left out; see expand.
func Expand(paths []string) ([]string, error) {
	files, _, err := expand(paths)
	return files, err
}

// expand is Expand that also returns the entries of a directory or glob it
// could not examine, for the source to report. A named path that cannot be
// examined is an error.
func expand(paths []string) (files []string, unreadable []*ReadError, err error) {
	add := func(f string) {
		st, err := os.Stat(f) // follows links
		switch {
		case err != nil:
			if lt, lerr := os.Lstat(f); lerr == nil && lt.Mode()&os.ModeSymlink != 0 {
				if to, rerr := os.Readlink(f); rerr == nil {
					err = fmt.Errorf("symbolic link to %s: %w", to, err)
				}
			}
			unreadable = append(unreadable, &ReadError{Path: f, Err: err})
		case st.Mode().IsRegular():
			files = append(files, f)
		}
	}
	for _, p := range paths {
		if strings.ContainsAny(p, "*?[") {
			m, err := filepath.Glob(p)
			if err != nil {
				return nil, nil, fmt.Errorf("file source: bad glob %q: %w", p, err)
			}
			sort.Strings(m)
			for _, f := range m {
				add(f)
			}
			continue
		}
		st, err := os.Stat(p)
		if err != nil {
			return nil, nil, fmt.Errorf("file source: %w", err)
		}
		if !st.IsDir() {
			files = append(files, p)
			continue
		}
		ents, err := os.ReadDir(p)
		if err != nil {
			return nil, nil, fmt.Errorf("file source: %w", err)
		}
		for _, e := range ents { // ReadDir sorts by name
			if strings.HasPrefix(e.Name(), ".") {
				continue
			}
			add(filepath.Join(p, e.Name()))
		}
	}
	return files, unreadable, nil
}
