package sysflow

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"
)

// refLong is the byte-at-a-time varint reader dec.long must agree with.
func refLong(b []byte) (v int64, n int, ok bool) {
	var u uint64
	for shift, i := uint(0), 0; shift < 70; shift, i = shift+7, i+1 {
		if i >= len(b) {
			return 0, 0, false
		}
		c := b[i]
		if shift == 63 && c > 1 {
			return 0, 0, false
		}
		u |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return int64(u>>1) ^ -int64(u&1), i + 1, true
		}
	}
	return 0, 0, false
}

// TestLongMatchesReference decodes varints of every length (1 to 10
// bytes, with and without bytes after them, malformed ones too) with
// dec.long and the reference loop.
func TestLongMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	vals := []int64{0, 1, -1, 63, -64, 64, math.MaxInt64, math.MinInt64, 1 << 55, -(1 << 55), 1<<62 + 5}
	for range 20_000 {
		vals = append(vals, rng.Int64()>>rng.IntN(64))
	}
	check := func(b []byte) {
		t.Helper()
		want, wn, wok := refLong(b)
		d := &dec{}
		d.reset(b)
		got := d.long()
		if wok != (d.err == nil) || got != want || (wok && d.p != wn) {
			t.Fatalf("% x: got %d at %d (err %v), want %d at %d (ok %v)", b, got, d.p, d.err, want, wn, wok)
		}
	}
	for _, v := range vals {
		enc := binary.AppendVarint(nil, v)
		check(enc)
		check(append(enc, 0xff, 0x80, 0x01, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff))
		check(append(enc, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0))
	}
	for range 50_000 {
		b := make([]byte, 1+rng.IntN(14))
		for i := range b {
			b[i] = byte(rng.IntN(256))
			if rng.IntN(3) == 0 {
				b[i] |= 0x80
			}
		}
		check(b)
	}
}
