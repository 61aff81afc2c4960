package connector

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"
)

func gcPercent() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}

// With a small live heap the floor raises GOGC after a collection, and
// Stop puts the base GOGC back.
func TestHeapFloorRaisesGOGCAndRestores(t *testing.T) {
	base, baseLimit := gcPercent(), debug.SetMemoryLimit(-1)
	// a floor well above whatever the earlier tests left live
	runtime.GC()
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(sample)
	floor := 4*sample[0].Value.Uint64() + 64<<20
	h := startHeapFloor(floor)
	if h == nil {
		t.Skip("GOGC or GOMEMLIMIT is set in the environment")
	}
	deadline := time.Now().Add(5 * time.Second)
	for gcPercent() <= base && time.Now().Before(deadline) {
		runtime.GC() // the cleanup runs on its own goroutine after the cycle
		time.Sleep(10 * time.Millisecond)
	}
	if raised := gcPercent(); raised <= base {
		t.Fatalf("GOGC stayed %d with a floor of %d bytes, 4x the live heap", raised, floor)
	}
	if limit := debug.SetMemoryLimit(-1); limit != int64(2*floor) {
		t.Errorf("memory limit %d while GOGC is raised, want twice the floor", limit)
	}
	h.Stop()
	runtime.GC()
	time.Sleep(20 * time.Millisecond)
	if got := gcPercent(); got != base {
		t.Fatalf("GOGC %d after Stop, want %d", got, base)
	}
	if got := debug.SetMemoryLimit(-1); got != baseLimit {
		t.Fatalf("memory limit %d after Stop, want %d", got, baseLimit)
	}
}

// A floor below the live heap leaves GOGC alone.
func TestHeapFloorBelowLiveHeap(t *testing.T) {
	base := gcPercent()
	keep := make([][]byte, 0, 64)
	for range 64 {
		keep = append(keep, make([]byte, 1<<20)) // 64 MB live
	}
	h := startHeapFloor(1 << 20)
	if h == nil {
		t.Skip("GOGC or GOMEMLIMIT is set in the environment")
	}
	defer h.Stop()
	for range 3 {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	if got := gcPercent(); got != base {
		t.Errorf("GOGC %d with the live heap above the floor, want %d", got, base)
	}
	runtime.KeepAlive(keep)
}

// The user's GOGC or GOMEMLIMIT wins: no controller.
func TestHeapFloorRespectsEnvironment(t *testing.T) {
	for _, env := range []string{"GOGC", "GOMEMLIMIT"} {
		t.Run(env, func(t *testing.T) {
			t.Setenv(env, "100")
			if h := startHeapFloor(64 << 20); h != nil {
				h.Stop()
				t.Fatalf("a controller started with %s set", env)
			}
		})
	}
	if h := startHeapFloor(0); h != nil {
		t.Fatal("a controller started with a zero floor")
	}
}
