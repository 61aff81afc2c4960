package connector

import (
	"errors"
	"fmt"
	"sync"
	"time"
)

// failureLogEvery is how often a sink that keeps failing is logged again
// after the first failure of a streak, which is logged at once.
const failureLogEvery = 10 * time.Second

// sinkHealth follows one sink's consecutive failed writes: for /readyz
// (Unready) and for logs that say at once that a sink fails, then at most
// every failureLogEvery while it keeps failing, then once when it recovers.
//
// Written by the handler goroutines (one batch of a stream at a time, but
// streams in parallel) and read by the HTTP server: mu guards it, and is
// never held while writing to a sink or logging.
type sinkHealth struct {
	mu       sync.Mutex
	failures int       // consecutive failed writes; 0: healthy
	since    time.Time // the first failure of the streak
	lastErr  error
	loggedAt time.Time // the last log line of the streak
	unlogged int       // failures since that line
}

// healthReporter is a sink that knows by itself that it cannot deliver (a
// syslog receiver unreachable), before a write fails.
type healthReporter interface{ Health() error }

func (p *Pipeline) sinkFailed(i, records int, err error) {
	h, name := &p.health[i], p.sinks[i].Name
	now := time.Now()
	h.mu.Lock()
	h.failures++
	h.lastErr = err
	if h.failures == 1 {
		h.since = now
	}
	h.unlogged++
	first := h.failures == 1
	logNow := first || now.Sub(h.loggedAt) >= failureLogEvery
	failures, unlogged, since := h.failures, h.unlogged, h.since
	if logNow {
		h.loggedAt, h.unlogged = now, 0
	}
	h.mu.Unlock()
	switch {
	case p.abortCtx.Err() != nil:
		// the write was cut short on purpose; abort logged why
	case first:
		p.log.Error("sink write failed; retrying", "sink", name, "records", records, "error", err)
	case logNow:
		p.log.Error("sink still failing", "sink", name, "consecutive_failures", failures,
			"failures_since_last_log", unlogged, "failing_for", now.Sub(since).Round(time.Second), "error", err)
	}
}

func (p *Pipeline) sinkWrote(i int) {
	h := &p.health[i]
	h.mu.Lock()
	failures, since := h.failures, h.since
	h.failures, h.lastErr, h.unlogged = 0, nil, 0
	h.mu.Unlock()
	if failures > 0 {
		p.log.Info("sink recovered", "sink", p.sinks[i].Name, "failed_writes", failures,
			"failed_for", time.Since(since).Round(time.Millisecond))
	}
}

// Unready says why the pipeline cannot deliver right now, one line per
// sink: a sink whose latest writes failed (retries in progress, or a batch
// waiting for redelivery) or that reports itself unable to reach its
// receiver. nil: every sink is healthy. It is what /readyz answers.
func (p *Pipeline) Unready() error {
	var errs []error
	for i, k := range p.sinks {
		h := &p.health[i]
		h.mu.Lock()
		failures, since, last := h.failures, h.since, h.lastErr
		h.mu.Unlock()
		if failures > 0 {
			errs = append(errs, fmt.Errorf("sink %s: %d consecutive failed writes since %s; last error: %w",
				k.Name, failures, since.UTC().Format(time.RFC3339), last))
			continue
		}
		if r, ok := k.Pub.(healthReporter); ok {
			if err := r.Health(); err != nil {
				errs = append(errs, fmt.Errorf("sink %s: %w", k.Name, err))
			}
		}
	}
	return errors.Join(errs...)
}
