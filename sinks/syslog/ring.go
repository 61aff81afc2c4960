package syslog

import (
	"math"
	"time"
)

// notFlushed is the end offset of a message written into the connection's
// buffer but not yet handed to the kernel.
const notFlushed = math.MaxInt64

// entry is one framed message the sink keeps after writing it.
type entry struct {
	frame []byte
	end   int64     // stream offset just past the message on the current connection, or notFlushed
	at    time.Time // when it was last handed to the kernel
}

// ring keeps the most recent messages in write order. Slots keep their
// byte slices when they are reused, so a warm ring allocates nothing.
type ring struct {
	e    []entry
	head int // index of the oldest entry
	n    int
}

func newRing(size int) ring { return ring{e: make([]entry, size)} }

func (r *ring) len() int   { return r.n }
func (r *ring) full() bool { return r.n == len(r.e) }

// at returns the i-th oldest entry.
func (r *ring) at(i int) *entry { return &r.e[(r.head+i)%len(r.e)] }

func (r *ring) front() *entry { return r.at(0) }

// push copies frame into a new newest entry; the ring must not be full.
func (r *ring) push(frame []byte) *entry {
	e := r.at(r.n)
	e.frame = append(e.frame[:0], frame...)
	e.end, e.at = notFlushed, time.Time{}
	r.n++
	return e
}

func (r *ring) popFront() {
	r.head = (r.head + 1) % len(r.e)
	r.n--
}

func (r *ring) popBack() { r.n-- }
