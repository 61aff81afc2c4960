package connector

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// DefaultHeapFloor is the heap goal below which the connector does not let
// the garbage collector run (see heapFloor), unless GOGC or GOMEMLIMIT are
// set in the environment.
const DefaultHeapFloor = 24 << 20

// heapFloor keeps the garbage collector's heap goal at floor bytes or more.
//
// Why: a pipeline's live heap is small (a few batches and the flattener's
// tables: 3-5 MB on the real traces) while it allocates ~550 bytes per
// record, so with GOGC=100 the collector ran every 3 ms, 444-624 cycles for
// 4.4M records, 14% of the CPU, and most of the reader pipeline's system
// time (futex, madvise and preemption signals between the cores). A floor
// of 24 MiB turns that into a cycle every ~20 MB: the reader pipeline on
// the real traces went from 3.4 to 1.9 CPU seconds, its peak RSS from 34
// to 54 MB (32 MiB saved little more CPU and cost 70 MB). When the live
// heap is large, GOGC=100 (or the GOGC in force) decides as usual, so
// memory stays bounded by twice the live heap or the floor, whichever is
// larger.
//
// After each collection (a cleanup attached to a sentinel object, re-armed
// every cycle) it sets GOGC so that the next goal is max(floor, goal at
// the base GOGC). A raised GOGC multiplies whatever the live heap becomes
// before the next collection (a first version let a live heap growing
// from 3 to 22 MB at start-up reach a 190 MB peak RSS), so while GOGC is
// raised a soft memory limit of twice the floor caps the heap; the next
// collection then finds the larger live heap and drops both. It is
// process-wide: one per process; Stop restores GOGC and the memory limit.
type heapFloor struct {
	floor     uint64
	base      int
	baseLimit int64
	sample    []metrics.Sample

	mu      sync.Mutex // orders a late afterGC against Stop
	stopped bool
}

// startHeapFloor starts the controller, or returns nil when GOGC or
// GOMEMLIMIT say the user tunes the collector, or the collector is off.
func startHeapFloor(floor uint64) *heapFloor {
	if floor == 0 {
		return nil
	}
	for _, env := range []string{"GOGC", "GOMEMLIMIT"} {
		if _, set := os.LookupEnv(env); set {
			return nil
		}
	}
	base := debug.SetGCPercent(100)
	debug.SetGCPercent(base)
	if base <= 0 {
		return nil
	}
	h := &heapFloor{floor: floor, base: base, baseLimit: debug.SetMemoryLimit(-1),
		sample: []metrics.Sample{{Name: "/gc/heap/live:bytes"}}}
	h.arm()
	return h
}

// sentinel is allocated per cycle; it holds a pointer so that it is not
// batched by the tiny allocator (whose objects may never be cleaned up).
type sentinel struct {
	_ *int
	_ [2]uint64
}

func (h *heapFloor) arm() {
	runtime.AddCleanup(&sentinel{}, (*heapFloor).afterGC, h)
}

func (h *heapFloor) afterGC() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stopped {
		return
	}
	metrics.Read(h.sample)
	pct, limit := h.base, h.baseLimit
	if h.sample[0].Value.Kind() == metrics.KindUint64 {
		if live := h.sample[0].Value.Uint64(); live > 0 && live+live*uint64(h.base)/100 < h.floor {
			pct = int(h.floor*100/live) - 100
			limit = min(h.baseLimit, int64(2*h.floor))
		}
	}
	debug.SetGCPercent(pct)
	debug.SetMemoryLimit(limit)
	h.arm()
}

// Stop restores the GOGC and memory limit in force when the controller
// started.
func (h *heapFloor) Stop() {
	if h == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.stopped {
		h.stopped = true
		debug.SetGCPercent(h.base)
		debug.SetMemoryLimit(h.baseLimit)
	}
}
