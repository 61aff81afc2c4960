package sysflow

import (
	"encoding/binary"
	"math/bits"
	"sync"
)

// inflate decodes the raw DEFLATE stream (RFC 1951) of one container block
// straight into dst, which it grows as needed, and returns the output.
//
// The streaming decompressor (klauspost/compress/flate) writes every byte
// into its 32 KiB window and copies it out again, and keeps its state
// across Read calls; a block is whole in memory, so here the output is the
// window, matches are copied inside it, and the bit buffer is refilled
// 56 bits at a time. inflate is strict: ok is false for anything it does
// not decode with certainty (damaged input, incomplete Huffman codes other
// than the one-code case, output over limit, running past the input), and
// the caller then decodes the block with the streaming decompressor, whose
// errors are the ones reported. A stream inflate accepts it decodes exactly
// as the streaming decompressor does: DEFLATE output is a function of the
// bits read, and inflate only ever returns ok after reading real input
// bits up to the end of the final block.
//
// An inflater keeps its tables between calls; it is not safe for
// concurrent use.
func (f *inflater) inflate(dst, src []byte, limit int) (out []byte, ok bool) {
	f.src, f.pos, f.pad, f.bits, f.nbits, f.out = src, 0, 0, 0, 0, dst[:0]
	ok = f.run(limit)
	out, f.out, f.src = f.out, nil, nil
	return out, ok
}

type inflater struct {
	src   []byte
	pos   int    // next byte of src to load into bits
	pad   int    // zero bytes loaded past the end of src
	bits  uint64 // bit buffer, least significant bit first
	nbits uint
	out   []byte

	lit, dist huffTable
}

// refill tops the bit buffer up to at least 56 bits.
func (f *inflater) refill() {
	if f.pos+8 <= len(f.src) {
		f.bits |= binary.LittleEndian.Uint64(f.src[f.pos:]) << f.nbits
		f.pos += int(63-f.nbits) >> 3
		f.nbits |= 56
		return
	}
	for f.nbits <= 56 {
		if f.pos < len(f.src) {
			f.bits |= uint64(f.src[f.pos]) << f.nbits
			f.pos++
		} else {
			f.pad++ // zeros: checked by overread
		}
		f.nbits += 8
	}
}

// overread tells whether more bits were used than the input holds.
func (f *inflater) overread() bool { return f.pad > 0 && uint(f.pad)*8 > f.nbits }

func (f *inflater) take(n uint) uint64 {
	v := f.bits & (1<<n - 1)
	f.bits >>= n
	f.nbits -= n
	return v
}

func (f *inflater) run(limit int) bool {
	for {
		f.refill()
		final := f.take(1)
		switch f.take(2) {
		case 0:
			if !f.stored(limit) {
				return false
			}
		case 1:
			fixedOnce.Do(buildFixed)
			if !f.codes(&fixedLit, &fixedDist, limit) {
				return false
			}
		case 2:
			if !f.dynamic() || !f.codes(&f.lit, &f.dist, limit) {
				return false
			}
		default:
			return false
		}
		if f.overread() {
			return false
		}
		if final == 1 {
			return true
		}
	}
}

func (f *inflater) stored(limit int) bool {
	// drop to a byte boundary, then give back the whole bytes still buffered
	f.take(f.nbits & 7)
	if f.overread() {
		return false
	}
	f.pos -= int(f.nbits>>3) - f.pad
	f.bits, f.nbits, f.pad = 0, 0, 0
	if f.pos+4 > len(f.src) {
		return false
	}
	n := int(binary.LittleEndian.Uint16(f.src[f.pos:]))
	if uint16(n) != ^binary.LittleEndian.Uint16(f.src[f.pos+2:]) {
		return false
	}
	f.pos += 4
	if f.pos+n > len(f.src) || len(f.out)+n > limit {
		return false
	}
	f.out = append(f.out, f.src[f.pos:f.pos+n]...)
	f.pos += n
	return true
}

var clOrder = [19]uint8{16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15}

func (f *inflater) dynamic() bool {
	f.refill()
	nlit := int(f.take(5)) + 257
	ndist := int(f.take(5)) + 1
	nclen := int(f.take(4)) + 4
	if nlit > 286 || ndist > 30 {
		return false
	}
	var lens [286 + 30]uint8
	for i := range nclen {
		if f.nbits < 3 {
			f.refill()
		}
		lens[clOrder[i]] = uint8(f.take(3))
	}
	var cl huffTable
	if !cl.build(lens[:19], clVals[:]) {
		return false
	}
	clear(lens[:19])
	for i := 0; i < nlit+ndist; {
		if f.nbits < 16 {
			f.refill()
			if f.overread() {
				return false
			}
		}
		sym, ok := cl.decode(f)
		if !ok {
			return false
		}
		if sym < 16 {
			lens[i] = uint8(sym)
			i++
			continue
		}
		var rep int
		var val uint8
		switch sym {
		case 16:
			if i == 0 {
				return false
			}
			val, rep = lens[i-1], 3+int(f.take(2))
		case 17:
			rep = 3 + int(f.take(3))
		default:
			rep = 11 + int(f.take(7))
		}
		if i+rep > nlit+ndist {
			return false
		}
		for ; rep > 0; rep-- {
			lens[i] = val
			i++
		}
	}
	if f.overread() || lens[256] == 0 {
		return false
	}
	return f.lit.build(lens[:nlit], litVals[:]) && f.dist.build(lens[nlit:nlit+ndist], distVals[:])
}

var (
	lenBase = [29]uint16{3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31,
		35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258}
	lenExtra = [29]uint8{0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2,
		3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0}
	distBase = [30]uint32{1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193,
		257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577}
	distExtra = [30]uint8{0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6,
		7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13}
)

// codes decodes the Huffman-coded data of one block up to its end marker.
// The bit buffer lives in locals here, the loop all inputs go through.
func (f *inflater) codes(lit, dist *huffTable, limit int) bool {
	out, src, pos := f.out, f.src, f.pos
	bb, nb := f.bits, f.nbits
	ok := false
	for {
		// 56 bits cover the longest length/distance pair: 15+5+15+13
		if nb < 48 {
			if pos+8 <= len(src) {
				bb |= binary.LittleEndian.Uint64(src[pos:]) << nb
				pos += int(63-nb) >> 3
				nb |= 56
			} else {
				f.bits, f.nbits, f.pos = bb, nb, pos
				f.refill()
				bb, nb, pos = f.bits, f.nbits, f.pos
				if f.overread() {
					break // decoding zeros past the end
				}
			}
		}
		e := lit.primary[bb&(1<<huffPrimary-1)]
		if e&huffLink != 0 {
			e = lit.sub[e>>16+uint32(bb>>huffPrimary)&(1<<(e&huffLenMask)-1)]
		}
		n := uint(e & huffLenMask)
		if n == 0 {
			break
		}
		bb >>= n
		nb -= n
		if e&huffKindMask == kindLiteral {
			if len(out) >= limit {
				break
			}
			out = append(out, byte(e>>16))
			continue
		}
		if e&huffKindMask != kindLength {
			ok = e&huffKindMask == kindEnd
			break
		}
		x := uint((e >> huffExtraShift) & 0xf)
		length := int(e>>16) + int(bb&(1<<x-1))
		bb >>= x
		nb -= x

		e = dist.primary[bb&(1<<huffPrimary-1)]
		if e&huffLink != 0 {
			e = dist.sub[e>>16+uint32(bb>>huffPrimary)&(1<<(e&huffLenMask)-1)]
		}
		n = uint(e & huffLenMask)
		if n == 0 || e&huffKindMask != kindLength {
			break
		}
		bb >>= n
		nb -= n
		x = uint((e >> huffExtraShift) & 0xf)
		d := int(e>>16) + int(bb&(1<<x-1))
		bb >>= x
		nb -= x

		n0 := len(out)
		if d > n0 || n0+length > limit {
			break
		}
		out = growOut(out, length)
		out = out[:n0+length]
		if d >= length {
			copy(out[n0:], out[n0-d:n0-d+length])
		} else {
			// overlapping: the run repeats with period d, so what is
			// already copied can be copied again, doubling each time
			for i := n0; i < n0+length; {
				i += copy(out[i:n0+length], out[n0-d:i])
			}
		}
	}
	f.out, f.bits, f.nbits, f.pos = out, bb, nb, pos
	return ok
}

func growOut(out []byte, n int) []byte {
	if cap(out)-len(out) >= n {
		return out
	}
	grown := make([]byte, len(out), max(2*cap(out), len(out)+n, 64<<10))
	copy(grown, out)
	return grown
}

// A huffTable decodes one canonical Huffman code: a primary table indexed
// by the next huffPrimary bits, whose entries for longer codes link to
// subtables indexed by the bits after those. An entry is
// value<<16 | link | kind | extra<<huffExtraShift | length, where length
// is the bits the code takes (0: no such code) and, for a link, the
// subtable's index bits; value is a literal byte, a length or distance
// base (kindLength, extra more bits to add) or a code length symbol.
type huffTable struct {
	primary [1 << huffPrimary]uint32
	sub     []uint32
}

const (
	huffPrimary    = 10
	huffLenMask    = 0xf
	huffExtraShift = 4
	huffKindMask   = 3 << 8
	huffLink       = 1 << 15

	kindLiteral = 0 << 8
	kindLength  = 1 << 8 // a length (lit/len code) or a distance
	kindEnd     = 2 << 8
	kindInvalid = 3 << 8
)

// Symbol values of the three codes, without the code length.
var litVals, distVals, clVals = func() (lit [288]uint32, dist [32]uint32, cl [19]uint32) {
	for i := range 256 {
		lit[i] = uint32(i)<<16 | kindLiteral
	}
	lit[256] = kindEnd
	for i := range 29 {
		lit[257+i] = uint32(lenBase[i])<<16 | kindLength | uint32(lenExtra[i])<<huffExtraShift
	}
	lit[286], lit[287] = kindInvalid, kindInvalid
	for i := range 30 {
		dist[i] = distBase[i]<<16 | kindLength | uint32(distExtra[i])<<huffExtraShift
	}
	dist[30], dist[31] = kindInvalid, kindInvalid
	for i := range 19 {
		cl[i] = uint32(i) << 16
	}
	return
}()

// build makes the table for the code lengths lens (0: symbol unused) of
// symbols whose values are vals. It fails for an over-subscribed code and
// for an incomplete one, except a single code of length 1, as zlib and the
// streaming decompressor allow.
func (h *huffTable) build(lens []uint8, vals []uint32) bool {
	var count [16]int
	for _, l := range lens {
		count[l]++
	}
	count[0] = 0
	left := 1
	maxLen := 0
	for l := 1; l <= 15; l++ {
		left <<= 1
		left -= count[l]
		if left < 0 {
			return false // over-subscribed
		}
		if count[l] > 0 {
			maxLen = l
		}
	}
	if left > 0 && !(maxLen == 1 && count[1] == 1) {
		return false // incomplete (no codes at all included)
	}
	// canonical codes: the first code of each length
	var next [16]uint32
	code := uint32(0)
	for l := 1; l <= 15; l++ {
		code = (code + uint32(count[l-1])) << 1
		next[l] = code
	}
	clear(h.primary[:])
	h.sub = h.sub[:0]
	subBits := uint(0)
	if maxLen > huffPrimary {
		subBits = uint(maxLen - huffPrimary)
	}
	for sym, l := range lens {
		if l == 0 {
			continue
		}
		c := next[l]
		next[l]++
		rev := uint32(bits.Reverse16(uint16(c))) >> (16 - uint(l))
		entry := vals[sym] | uint32(l)
		if int(l) <= huffPrimary {
			for i := rev; i < 1<<huffPrimary; i += 1 << l {
				h.primary[i] = entry
			}
			continue
		}
		lo := rev & (1<<huffPrimary - 1)
		link := h.primary[lo]
		if link == 0 {
			link = uint32(len(h.sub))<<16 | huffLink | uint32(subBits)
			h.primary[lo] = link
			h.sub = append(h.sub, make([]uint32, 1<<subBits)...)
		}
		base := link >> 16
		rest := l - huffPrimary
		for i := rev >> huffPrimary; i < 1<<subBits; i += 1 << rest {
			h.sub[base+i] = entry
		}
	}
	return true
}

// decode reads one symbol's entry; the bit buffer must hold at least 15
// bits. The code length entries' values are their symbols.
func (h *huffTable) decode(f *inflater) (int, bool) {
	e := h.primary[f.bits&(1<<huffPrimary-1)]
	if e&huffLink != 0 {
		idx := uint32(f.bits>>huffPrimary) & (1<<(e&huffLenMask) - 1)
		e = h.sub[e>>16+idx]
	}
	n := uint(e & huffLenMask)
	if n == 0 || n > f.nbits {
		return 0, false
	}
	f.bits >>= n
	f.nbits -= n
	return int(e >> 16), true
}

var (
	fixedOnce           sync.Once
	fixedLit, fixedDist huffTable
)

func buildFixed() {
	var lens [288]uint8
	for i := range lens {
		switch {
		case i < 144:
			lens[i] = 8
		case i < 256:
			lens[i] = 9
		case i < 280:
			lens[i] = 7
		default:
			lens[i] = 8
		}
	}
	fixedLit.build(lens[:], litVals[:])
	// all 32 five-bit codes, so that the table is complete; codes rejects
	// symbols 30 and 31, which the format reserves
	var d [32]uint8
	for i := range d {
		d[i] = 5
	}
	fixedDist.build(d[:], distVals[:])
}
