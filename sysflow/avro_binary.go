package sysflow

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"unsafe"
)

// Errors of the Avro binary decoder. They are sticky: once a read fails, the
// decoder returns zero values and does not advance, and the record loop
// reports the first error.
var (
	errTruncated   = errors.New("data truncated")
	errVarint      = errors.New("malformed variable-length integer")
	errIntRange    = errors.New("int value out of range")
	errBool        = errors.New("boolean byte is neither 0 nor 1")
	errNegLength   = errors.New("negative length")
	errTooDeep     = errors.New("data nested too deeply")
	errHugeCollect = errors.New("collection of zero-size items is too large")
)

// dec reads Avro binary data from b. It allocates the records it decodes from
// slabs and copies strings into an arena, both owned by the dec; see
// arena and slab for why that is safe.
type dec struct {
	b   []byte
	p   int
	err error

	strs  arena
	slabs recordSlabs
	// scratch holds the entity being decoded before it is detached
	scratch struct {
		process  Process
		file     File
		envOwned bool // process.Env is detached already (from cache.env)
	}
	cache decoderCache
}

func (d *dec) reset(b []byte) {
	d.b, d.p, d.err = b, 0, nil
}

func (d *dec) fail(err error) {
	if d.err == nil {
		d.err = err
	}
	d.p = len(d.b) // stop every further read
}

func (d *dec) remaining() int { return len(d.b) - d.p }

// long reads a zig-zag varint (Avro int, long and enum index share the
// encoding). The one-byte case is kept small enough to inline.
func (d *dec) long() int64 {
	if d.p < len(d.b) {
		if c := d.b[d.p]; c < 0x80 {
			d.p++
			return int64(c>>1) ^ -int64(c&1)
		}
	}
	return d.longSlow()
}

func (d *dec) longSlow() int64 {
	if len(d.b)-d.p >= 10 {
		// Timestamps and OIDs take 5 to 9 bytes: load 8 at once, find
		// the last byte by its clear top bit, and gather the 7-bit groups
		// with shifts instead of a loop.
		x := binary.LittleEndian.Uint64(d.b[d.p:])
		if stop := ^x & 0x8080808080808080; stop != 0 {
			n := uint(bits.TrailingZeros64(stop)>>3) + 1 // bytes used, 1 to 8
			x &= 1<<(8*n) - 1                            // n = 8: 1<<64 is 0, all ones
			d.p += int(n)
			u := gather7(x)
			return int64(u>>1) ^ -int64(u&1)
		}
		if c := d.b[d.p+8]; c < 0x80 {
			d.p += 9
			u := gather7(x) | uint64(c)<<56
			return int64(u>>1) ^ -int64(u&1)
		}
		// ten bytes, or malformed: the loop below decides
	}
	var u uint64
	for shift := uint(0); shift < 70; shift += 7 {
		if d.p >= len(d.b) {
			d.fail(errTruncated)
			return 0
		}
		c := d.b[d.p]
		d.p++
		if shift == 63 && c > 1 {
			d.fail(errVarint)
			return 0
		}
		u |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return int64(u>>1) ^ -int64(u&1)
		}
	}
	d.fail(errVarint)
	return 0
}

// gather7 packs the low 7 bits of each byte of x, least significant first.
func gather7(x uint64) uint64 {
	return x&0x7f | (x>>1)&(0x7f<<7) | (x>>2)&(0x7f<<14) | (x>>3)&(0x7f<<21) |
		(x>>4)&(0x7f<<28) | (x>>5)&(0x7f<<35) | (x>>6)&(0x7f<<42) | (x>>7)&(0x7f<<49)
}

func (d *dec) int() int32 {
	v := d.long()
	if v < math.MinInt32 || v > math.MaxInt32 {
		d.fail(errIntRange)
		return 0
	}
	return int32(v)
}

func (d *dec) boolean() bool {
	if d.p >= len(d.b) {
		d.fail(errTruncated)
		return false
	}
	c := d.b[d.p]
	d.p++
	if c > 1 {
		d.fail(errBool)
		return false
	}
	return c == 1
}

// bytes returns a view of the next length-prefixed byte string. The length
// is bounded by the bytes left, so a corrupt length never allocates.
func (d *dec) bytes() []byte {
	n := d.long()
	if n < 0 {
		d.fail(errNegLength)
		return nil
	}
	if n > int64(len(d.b)-d.p) {
		d.fail(errTruncated)
		return nil
	}
	b := d.b[d.p : d.p+int(n)]
	d.p += int(n)
	return b
}

func (d *dec) string() string { return d.strs.string(d.bytes()) }

func (d *dec) fixed(dst []byte) {
	if len(dst) > len(d.b)-d.p {
		d.fail(errTruncated)
		return
	}
	copy(dst, d.b[d.p:])
	d.p += len(dst)
}

func (d *dec) skipN(n int) {
	if n > len(d.b)-d.p {
		d.fail(errTruncated)
		return
	}
	d.p += n
}

// blockCount reads the item count of an array or map block. A negative count
// is followed by the block's size in bytes, which we do not need. minItem is
// the smallest encoding of one item: counts are bounded by the bytes left.
func (d *dec) blockCount(minItem int) int {
	n := d.long()
	if n < 0 {
		if n == math.MinInt64 {
			d.fail(errVarint)
			return 0
		}
		n = -n
		d.long() // block size in bytes
	}
	if minItem > 0 && n > int64(d.remaining()/minItem) {
		d.fail(errTruncated)
		return 0
	}
	if minItem == 0 && n > 1<<20 {
		d.fail(errHugeCollect)
		return 0
	}
	return int(n)
}

// skipStrings reads past an array of strings (or bytes) and returns how
// many items it held and their total length, in a loop tight enough for
// environments of hundreds of short strings.
func (d *dec) skipStrings() (count, total int) {
	for d.err == nil {
		n := d.blockCount(1)
		if n == 0 {
			break
		}
		count += n
		for i := 0; i < n; i++ {
			if d.p < len(d.b) {
				if c := d.b[d.p]; c < 0x80 && c&1 == 0 {
					// a one-byte length, not negative
					l := int(c >> 1)
					if l > len(d.b)-d.p-1 {
						d.fail(errTruncated)
						return
					}
					d.p += 1 + l
					total += l
					continue
				}
			}
			total += len(d.bytes())
			if d.err != nil {
				return
			}
		}
	}
	return
}

// skip reads past one value of the writer type n: fields we have no place for.
func (d *dec) skip(n *schemaNode, depth int) {
	if d.err != nil {
		return // a failed read ends the walk at once, however wide the schema
	}
	if depth > maxSchemaDepth {
		d.fail(errTooDeep)
		return
	}
	switch n.typ {
	case tNull:
	case tBoolean:
		d.skipN(1)
	case tInt, tLong, tEnum:
		d.long()
	case tFloat:
		d.skipN(4)
	case tDouble:
		d.skipN(8)
	case tBytes, tString:
		d.bytes()
	case tFixed:
		d.skipN(n.size)
	case tRecord:
		for i := range n.fields {
			d.skip(n.fields[i].typ, depth+1)
		}
	case tUnion:
		i := d.long()
		if i < 0 || i >= int64(len(n.branches)) {
			d.fail(fmt.Errorf("union index %d out of range for %d branches", i, len(n.branches)))
			return
		}
		d.skip(n.branches[i], depth+1)
	case tArray, tMap:
		if n.typ == tArray && (n.items.typ == tString || n.items.typ == tBytes) {
			d.skipStrings() // environments and argument lists: hundreds of items
			return
		}
		min := minSize(n.items, 0)
		if n.typ == tMap {
			min++ // the key's length
		}
		for d.err == nil {
			c := d.blockCount(min)
			if c == 0 {
				return
			}
			for i := 0; i < c && d.err == nil; i++ {
				if n.typ == tMap {
					d.bytes()
				}
				d.skip(n.items, depth+1)
			}
		}
	}
}

// minSize is the fewest bytes a value of type n takes. It is memoized on the
// node, and a record met again while its own size is being computed (a
// recursive type) counts as 0, so that hostile schemas cost linear time.
func minSize(n *schemaNode, depth int) int {
	if depth > maxSchemaDepth {
		return 0
	}
	switch n.typ {
	case tNull:
		return 0
	case tFloat:
		return 4
	case tDouble:
		return 8
	case tFixed:
		return n.size
	case tRecord:
		switch n.minState {
		case minDone:
			return n.min
		case minComputing:
			return 0
		}
		n.minState = minComputing
		s := 0
		for _, f := range n.fields {
			s = min(s+minSize(f.typ, depth+1), 1<<30)
		}
		n.min, n.minState = s, minDone
		return s
	default:
		return 1
	}
}

// arena hands out strings carved from shared chunks, so that decoding a
// record with several strings costs no allocation per string. A chunk is
// written once, below its length, and never modified afterwards, which is
// what makes the unsafe.String view immutable. A kept string keeps its 4 KiB
// chunk alive, not the decompressed block it came from.
type arena struct {
	buf []byte
}

const (
	arenaChunk     = 4 << 10
	arenaMaxString = 512 // longer strings get their own allocation
)

func (a *arena) string(b []byte) string {
	n := len(b)
	if n == 0 {
		return ""
	}
	if n > arenaMaxString {
		return string(b)
	}
	if len(a.buf)+n > cap(a.buf) {
		a.buf = make([]byte, 0, arenaChunk)
	}
	start := len(a.buf)
	a.buf = append(a.buf, b...)
	return unsafe.String(&a.buf[start], n)
}

// slab hands out *T from chunks. Records are immutable once decoded and the
// pipeline may keep pointers to them, so chunks are never reused: a new one
// is allocated when the current one is full.
type slab[T any] struct {
	buf []T
}

const slabChunk = 64

func (s *slab[T]) next() *T {
	if len(s.buf) == cap(s.buf) {
		s.buf = make([]T, 0, slabChunk)
	}
	s.buf = s.buf[:len(s.buf)+1]
	return &s.buf[len(s.buf)-1]
}

// slice returns a zeroed []T of length n carved from the slab (capacity
// clipped, so appending to it never touches a neighbour).
func (s *slab[T]) slice(n int) []T {
	if n > slabChunk/4 {
		return make([]T, n)
	}
	if len(s.buf)+n > cap(s.buf) {
		s.buf = make([]T, 0, slabChunk)
	}
	start := len(s.buf)
	s.buf = s.buf[:start+n]
	return s.buf[start : start+n : start+n]
}

type recordSlabs struct {
	header       slab[Header]
	container    slab[Container]
	processEvent slab[ProcessEvent]
	networkFlow  slab[NetworkFlow]
	fileFlow     slab[FileFlow]
	fileEvent    slab[FileEvent]
	networkEvent slab[NetworkEvent]
	processFlow  slab[ProcessFlow]
	pod          slab[Pod]
	k8sEvent     slab[K8sEvent]
	oid          slab[OID]
	foid         slab[FOID]
	str          slab[string]
}
