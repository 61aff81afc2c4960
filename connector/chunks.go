package connector

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/sfconnector/sfconnector/sysflow"
)

// DefaultChunkRecords is the chunk size when Settings.ChunkRecords is zero
// (chunk.records).
const DefaultChunkRecords = 1024

// A batch goes through the tree in chunks: the handler's goroutine
// flattens a chunk and runs the tree's transforms over it, then hands it to
// a second goroutine that writes it to the sinks while the next chunk is
// flattened and transformed. Flattening (stateful, in stream order) and the
// sinks' encoding thus run side by side on two cores, and a sink sees the
// chunks of a batch in order. The batch is acknowledged only once every
// chunk is written to every sink; a retry starts again at the first chunk a
// sink has not taken, and every chunk keeps the sink message id it had on
// the first attempt.

// progress is what a batch has gone through so far, kept across retries.
type progress struct {
	// id is the batch's message id at first sight; a sink's message id is
	// derived from it, so every attempt of a batch carries the same one
	// (the NATS sink's Nats-Msg-Id, which JetStream de-duplicates)
	id     string
	chunks []chunk
}

// chunk is a run of a batch's records (or of its flat events, when the
// source delivered those) that is flattened, transformed and written
// together.
type chunk struct {
	lo, hi int // its records in Batch.Records, or events in Batch.Events when there are no records
	flat   bool
	events []*sysflow.Event // flattened, once flat
	done   []bool           // per sink index: written (or nothing to write)
	outs   []sinkOut        // what the transforms gave each sink, until written
}

// sinkOut is the events one sink gets for a chunk.
type sinkOut struct {
	sink   int
	events []*sysflow.Event
}

// newProgress splits b into chunks of about size records.
func newProgress(b *sysflow.Batch, size, sinks int) *progress {
	n := len(b.Records)
	if n == 0 {
		n = len(b.Events)
	}
	if len(b.Records) > 0 && len(b.Events) > 0 {
		// flat events ahead of records: one chunk, flattened as one
		size = n
	}
	k := 1
	if n > size {
		k = (n + size - 1) / size
	}
	per := (n + k - 1) / k
	st := &progress{chunks: make([]chunk, k)}
	done := make([]bool, k*sinks)
	for i := range st.chunks {
		st.chunks[i] = chunk{lo: min(i*per, n), hi: min((i+1)*per, n), done: done[i*sinks : (i+1)*sinks : (i+1)*sinks]}
	}
	return st
}

// allDone reports whether every sink has the chunk.
func (c *chunk) allDone() bool {
	for _, d := range c.done {
		if !d {
			return false
		}
	}
	return true
}

// frontier is the first chunk some sink has not taken (len(chunks) when
// the batch is written).
func (st *progress) frontier() int {
	for i := range st.chunks {
		if !st.chunks[i].allDone() {
			return i
		}
	}
	return len(st.chunks)
}

// events returns the flat events of every flattened chunk, in order, and
// how many records of chunks not flattened are left out.
func (st *progress) events(b *sysflow.Batch) ([]*sysflow.Event, int) {
	if len(st.chunks) == 1 {
		return st.chunks[0].events, st.chunks[0].unflattened()
	}
	var out []*sysflow.Event
	missing := 0
	for i := range st.chunks {
		out = append(out, st.chunks[i].events...)
		missing += st.chunks[i].unflattened()
	}
	return out, missing
}

func (c *chunk) unflattened() int {
	if c.flat {
		return 0
	}
	return c.hi - c.lo
}

// handle runs one batch message through the tree.
func (p *Pipeline) handle(msg *message.Message) error {
	b := sysflow.BatchOf(msg)
	if b == nil {
		return fmt.Errorf("message %s carries no batch", msg.UUID)
	}
	st := p.progressOf(b, msg)
	ctx := msg.Context()
	var err error
	if len(st.chunks) == 1 {
		err = p.handleInline(ctx, b, st)
	} else {
		err = p.handleChunks(ctx, b, st)
	}
	if err != nil {
		return err
	}
	p.forget(b)
	return nil
}

// handleInline runs a one-chunk batch on the handler's goroutine.
func (p *Pipeline) handleInline(ctx context.Context, b *sysflow.Batch, st *progress) error {
	c := &st.chunks[0]
	p.flattenChunk(b, c)
	if err := p.transformChunk(ctx, c); err != nil {
		return err
	}
	return p.publishChunk(b, st, 0, make([]bool, len(p.sinks)))
}

// handleChunks flattens and transforms chunk i+1 while a second goroutine
// writes chunk i. Every chunk is flattened even when a transform failed:
// the flattener's tables must see every record of the stream once, in
// order, whatever becomes of the batch.
func (p *Pipeline) handleChunks(ctx context.Context, b *sysflow.Batch, st *progress) (err error) {
	ready := make(chan int, 1)
	written := make(chan error, 1)
	go func() {
		var errs []error
		defer func() {
			if r := recover(); r != nil {
				errs = append(errs, fmt.Errorf("panic writing a chunk: %v", r))
				for range ready { // let the producer finish
				}
			}
			written <- errors.Join(errs...)
		}()
		failed := make([]bool, len(p.sinks)) // a sink that failed a chunk gets no later one
		for i := range ready {
			if err := p.publishChunk(b, st, i, failed); err != nil {
				errs = append(errs, err)
			}
		}
	}()
	var transformErr error
	func() {
		// also on a panic: the writer must have stopped before the
		// batch is retried or given up
		defer close(ready)
		for i := range st.chunks {
			c := &st.chunks[i]
			p.flattenChunk(b, c)
			if transformErr != nil || c.allDone() {
				continue
			}
			if transformErr = p.transformChunk(ctx, c); transformErr == nil {
				ready <- i
			}
		}
	}()
	return errors.Join(transformErr, <-written)
}

// flattenChunk flattens c once (a retry reuses its events).
func (p *Pipeline) flattenChunk(b *sysflow.Batch, c *chunk) {
	if c.flat {
		return
	}
	start := time.Now()
	if len(b.Records) == 0 {
		c.events = b.Events[c.lo:c.hi:c.hi]
	} else {
		f := p.flattener(b.Source)
		// flat events ahead of records (one chunk): the records' events
		// are appended to a copy, never to the source's array
		pre := b.Events[:len(b.Events):len(b.Events)]
		c.events = f.Flatten(b.Records[c.lo:c.hi], pre)
		p.metrics.observeFlattener(f)
	}
	c.flat = true
	p.eventsMade.Add(int64(len(c.events)))
	p.metrics.stageSeconds.WithLabelValues("flatten").Observe(time.Since(start).Seconds())
	p.metrics.batchSize.Observe(float64(len(c.events)))
}

// transformChunk runs the tree's transforms over c and records, in c.outs,
// what each sink that does not have c yet is to get, in the tree's order.
// On an error nothing of c is written.
func (p *Pipeline) transformChunk(ctx context.Context, c *chunk) error {
	outs, err := p.transformStage(ctx, p.root, c.events, c, c.outs[:0], false)
	if err != nil {
		c.outs = nil
		return err
	}
	c.outs = outs
	return nil
}

// transformStage adds s's sinks and those of the stages below to outs.
// shared says that events are also what a sink above s is to write: a
// transform below then gets copies, since it sets matches on the events
// it is given and that sink is written afterwards.
func (p *Pipeline) transformStage(ctx context.Context, s *Stage, events []*sysflow.Event, c *chunk, outs []sinkOut, shared bool) ([]sinkOut, error) {
	if !p.pending(s, c) {
		return outs, nil // every sink below has this chunk (a retry)
	}
	if s.Transform != nil {
		start := time.Now()
		// A transform may reorder or compact the slice it is given (the
		// policy stage drops events in place); it gets its own, so the
		// chunk's events stay whole for a retry, the dead-letter sink and
		// the stage's siblings.
		var err error
		events, err = s.Transform.Process(ctx, slices.Clone(events))
		if err != nil {
			p.log.Error("transform failed; retrying", "stage", s.Name, "error", err)
			return outs, fmt.Errorf("%s: %w", s.Name, err)
		}
		p.metrics.stageSeconds.WithLabelValues(s.Name).Observe(time.Since(start).Seconds())
	}
	for _, k := range s.Sinks {
		i := p.sinkIndex[k]
		if c.done[i] {
			continue
		}
		outs = append(outs, sinkOut{sink: i, events: events})
		if !k.Raw {
			shared = true
		}
	}
	var errs []error
	for j, ch := range s.Children {
		sub, subShared := events, shared
		// children of a fan-out each get their own copies (a policy stage
		// sets matches on the events it is given), and so does a
		// transform whose input a sink above still has to write
		if ch.Transform != nil && ((len(s.Children) > 1 && j > 0) || shared) {
			sub, subShared = cloneEvents(events), false
		}
		var err error
		outs, err = p.transformStage(ctx, ch, sub, c, outs, subShared)
		if err != nil {
			errs = append(errs, err)
		}
	}
	return outs, errors.Join(errs...)
}

// pending reports whether a sink of s or below does not have c yet.
func (p *Pipeline) pending(s *Stage, c *chunk) bool {
	for _, i := range p.below[s] {
		if !c.done[i] {
			return true
		}
	}
	return false
}

// publishChunk writes chunk i to every sink in its outs that has not
// failed an earlier chunk of this attempt, marking the ones that took it.
func (p *Pipeline) publishChunk(b *sysflow.Batch, st *progress, i int, failed []bool) error {
	c := &st.chunks[i]
	var errs []error
	for _, o := range c.outs {
		k := p.sinks[o.sink]
		if c.done[o.sink] || failed[o.sink] {
			continue
		}
		out := &sysflow.Batch{Source: b.Source, Events: o.events}
		n := len(o.events)
		if k.Raw {
			out = &sysflow.Batch{Source: b.Source}
			if len(b.Records) > 0 {
				out.Records = b.Records[c.lo:c.hi]
			}
			n = len(out.Records)
		}
		if n > 0 {
			start := time.Now()
			id := st.id + "/" + k.Name
			if i > 0 {
				id += "#" + strconv.Itoa(i)
			}
			if err := k.Pub.Publish(k.Name, sysflow.WithBatch(message.NewMessage(id, nil), out)); err != nil {
				failed[o.sink] = true
				p.metrics.sinkErrors.WithLabelValues(k.Name).Inc()
				p.failed[o.sink].Add(1)
				p.sinkFailed(o.sink, n, err)
				errs = append(errs, fmt.Errorf("sink %s: %w", k.Name, err))
				continue
			}
			p.sinkWrote(o.sink)
			p.metrics.sinkSeconds.WithLabelValues(k.Name).Observe(time.Since(start).Seconds())
			p.metrics.recordsOut.WithLabelValues(k.Name).Add(float64(n))
			p.written[o.sink].Add(int64(n))
		}
		c.done[o.sink] = true
	}
	clear(c.outs) // written: the sinks' events are not needed again
	c.outs = c.outs[:0]
	return errors.Join(errs...)
}

// progressOf returns b's progress, creating it (and counting b's records)
// at first sight.
func (p *Pipeline) progressOf(b *sysflow.Batch, msg *message.Message) *progress {
	p.mu.Lock()
	defer p.mu.Unlock()
	if st, ok := p.progress[b]; ok {
		return st
	}
	st := newProgress(b, p.settings.ChunkRecords, len(p.sinks))
	if msg != nil {
		st.id = msg.UUID
	}
	if st.id == "" {
		st.id = watermill.NewUUID()
	}
	p.progress[b] = st
	p.metrics.recordsIn.Add(float64(len(b.Records) + len(b.Events)))
	p.recordsRead.Add(int64(len(b.Records) + len(b.Events)))
	return st
}

// frontierOf is the first chunk of msg's batch some sink has not taken,
// or -1 when the batch is not in progress.
func (p *Pipeline) frontierOf(msg *message.Message) int {
	b := sysflow.BatchOf(msg)
	if b == nil {
		return -1
	}
	p.mu.Lock()
	st, ok := p.progress[b]
	p.mu.Unlock()
	if !ok {
		return -1
	}
	return st.frontier()
}
