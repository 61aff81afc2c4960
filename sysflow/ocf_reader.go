package sysflow

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"slices"

	"github.com/golang/snappy"
	"github.com/klauspost/compress/flate"
	"github.com/linkedin/goavro/v2"
)

// ErrNotOCF is wrapped by the error NewReader returns for input that does not
// start like an Avro object container file.
var ErrNotOCF = errors.New("not an Avro object container file")

// DecodeError reports input that cannot be read: which file, which block
// (-1 for the file header), the byte offset where that block or header
// starts, and the record within the block when the problem was found while
// decoding records (-1 otherwise). The input is damaged, unless Err wraps a
// *SchemaError: then it is sound but written with a writer schema that does
// not resolve against the reader's (errors.As tells them apart).
type DecodeError struct {
	File   string
	Block  int
	Offset int64
	Record int
	Err    error
}

func (e *DecodeError) Error() string {
	where := fmt.Sprintf("block %d at byte %d", e.Block, e.Offset)
	if e.Block < 0 {
		where = fmt.Sprintf("header at byte %d", e.Offset)
	}
	if e.Record >= 0 {
		where += fmt.Sprintf(", record %d", e.Record)
	}
	return fmt.Sprintf("sysflow: %s: %s: %v", e.File, where, e.Err)
}

func (e *DecodeError) Unwrap() error { return e.Err }

// Limits that keep a corrupt or hostile file from allocating without bound:
// real SysFlow blocks are tens of kilobytes.
const (
	maxMetadataBytes = 16 << 20
	maxBlockBytes    = 256 << 20
)

var ocfMagic = []byte{'O', 'b', 'j', 1}

// Reader reads SysFlow records from an Avro object container file (OCF) of
// any SysFlow schema version. It decodes each block straight into typed
// records with a program built from the file's writer schema.
//
// A Reader is not safe for concurrent use. The records it returns are never
// touched by it again: they may be kept and shared.
type Reader struct {
	name   string
	in     *bufio.Reader
	off    int64
	schema string
	codec  string
	sync   [16]byte
	prog   *program

	d        dec
	block    int
	comp     []byte
	raw      []byte
	src      bytes.Reader
	inflater io.ReadCloser
	inflate  *inflater
	err      error
}

// NewReader reads and validates the container header of r. name is used in
// errors (usually the file's path).
func NewReader(r io.Reader, name string) (*Reader, error) {
	rd := &Reader{name: name, in: bufio.NewReaderSize(r, 64<<10)}
	if err := rd.readHeader(); err != nil {
		return nil, err
	}
	return rd, nil
}

// OpenFile opens path and reads its header. Close the returned Closer when
// done with the Reader.
func OpenFile(path string) (*Reader, io.Closer, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("sysflow: %w", err)
	}
	r, err := NewReader(f, path)
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return r, f, nil
}

// Schema returns the writer schema from the file's header.
func (r *Reader) Schema() string { return r.schema }

// Codec returns the file's compression codec: null, deflate or snappy.
func (r *Reader) Codec() string { return r.codec }

func (r *Reader) headerErr(err error) error {
	return &DecodeError{File: r.name, Block: -1, Offset: 0, Record: -1, Err: err}
}

func (r *Reader) readHeader() error {
	var magic [4]byte
	n, err := io.ReadFull(r.in, magic[:])
	r.off += int64(n)
	if err != nil || !bytes.Equal(magic[:], ocfMagic) {
		return r.headerErr(ErrNotOCF)
	}
	meta := map[string][]byte{}
	total := 0
	for {
		count, err := r.readLong()
		if err != nil {
			return r.headerErr(fmt.Errorf("metadata: %w", err))
		}
		if count == 0 {
			break
		}
		if count < 0 {
			count = -count
			if _, err := r.readLong(); err != nil {
				return r.headerErr(fmt.Errorf("metadata: %w", err))
			}
		}
		for i := int64(0); i < count; i++ {
			k, err := r.readBytes(&total)
			if err != nil {
				return r.headerErr(fmt.Errorf("metadata key: %w", err))
			}
			v, err := r.readBytes(&total)
			if err != nil {
				return r.headerErr(fmt.Errorf("metadata %q: %w", k, err))
			}
			meta[string(k)] = v
		}
	}
	n, err = io.ReadFull(r.in, r.sync[:])
	r.off += int64(n)
	if err != nil {
		return r.headerErr(fmt.Errorf("sync marker: %w", noEOF(err)))
	}

	r.codec = "null"
	if c, ok := meta["avro.codec"]; ok && len(c) > 0 {
		r.codec = string(c)
	}
	switch r.codec {
	case "null", "deflate", "snappy":
	default:
		return r.headerErr(fmt.Errorf("unsupported codec %q (want null, deflate or snappy)", r.codec))
	}
	schema, ok := meta["avro.schema"]
	if !ok {
		return r.headerErr(errors.New("no avro.schema in the header"))
	}
	r.schema = string(schema)
	if err := validateSchema(r.schema); err != nil {
		return r.headerErr(err)
	}
	r.prog, err = compileProgram(r.schema)
	if err != nil {
		return r.headerErr(err)
	}
	return nil
}

// validateSchema has goavro, the project's Avro codec, check the writer
// schema against the Avro specification before we build our own decoding
// program from it. goavro is not expected to panic, but the input is
// untrusted, so a panic becomes an error.
func validateSchema(schema string) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("invalid writer schema: %v", p)
		}
	}()
	if _, err := goavro.NewCodec(schema); err != nil {
		return fmt.Errorf("invalid writer schema: %w", err)
	}
	return nil
}

func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// readLong reads a zig-zag varint from the stream. io.EOF means the stream
// ended before its first byte.
func (r *Reader) readLong() (int64, error) {
	var u uint64
	for shift := uint(0); shift < 70; shift += 7 {
		c, err := r.in.ReadByte()
		if err != nil {
			if shift > 0 {
				return 0, io.ErrUnexpectedEOF
			}
			return 0, err
		}
		r.off++
		if shift == 63 && c > 1 {
			return 0, errVarint
		}
		u |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return int64(u>>1) ^ -int64(u&1), nil
		}
	}
	return 0, errVarint
}

func (r *Reader) readBytes(total *int) ([]byte, error) {
	n, err := r.readLong()
	if err != nil {
		return nil, noEOF(err)
	}
	if n < 0 {
		return nil, errNegLength
	}
	if n > int64(maxMetadataBytes-*total) {
		return nil, fmt.Errorf("metadata larger than %d bytes", maxMetadataBytes)
	}
	*total += int(n)
	b, err := r.readN(nil, int(n))
	return b, noEOF(err)
}

// readN reads n bytes into buf, growing it as data arrives so that a corrupt
// length cannot allocate more than the input holds.
func (r *Reader) readN(buf []byte, n int) ([]byte, error) {
	buf = buf[:0]
	for len(buf) < n {
		chunk := min(n-len(buf), 1<<20)
		buf = slices.Grow(buf, chunk)
		m, err := io.ReadFull(r.in, buf[len(buf):len(buf)+chunk])
		buf = buf[:len(buf)+m]
		r.off += int64(m)
		if err != nil {
			return buf, noEOF(err)
		}
	}
	return buf, nil
}

// Next appends the records of the next block to dst. At the end of the file
// it returns dst and io.EOF. On damaged input it returns the records decoded
// before the damage together with a *DecodeError; the error is sticky.
func (r *Reader) Next(dst []Record) ([]Record, error) {
	for r.err == nil {
		start := len(dst)
		dst = r.nextBlock(dst)
		if len(dst) > start {
			return dst, r.err
		}
	}
	return dst, r.err
}

func (r *Reader) blockErr(start int64, rec int, err error) {
	r.err = &DecodeError{File: r.name, Block: r.block, Offset: start, Record: rec, Err: err}
}

func (r *Reader) nextBlock(dst []Record) []Record {
	start := r.off
	count, err := r.readLong()
	if err == io.EOF {
		r.err = io.EOF
		return dst
	}
	if err != nil {
		r.blockErr(start, -1, fmt.Errorf("block record count: %w", err))
		return dst
	}
	size, err := r.readLong()
	if err != nil {
		r.blockErr(start, -1, fmt.Errorf("block size: %w", noEOF(err)))
		return dst
	}
	if count < 0 || size < 0 || size > maxBlockBytes {
		r.blockErr(start, -1, fmt.Errorf("bad block header: %d records in %d bytes", count, size))
		return dst
	}
	r.comp, err = r.readN(r.comp, int(size))
	if err != nil {
		r.blockErr(start, -1, fmt.Errorf("block data (%d of %d bytes): %w", len(r.comp), size, err))
		return dst
	}
	var sync [16]byte
	n, err := io.ReadFull(r.in, sync[:])
	r.off += int64(n)
	if err != nil {
		r.blockErr(start, -1, fmt.Errorf("sync marker: %w", noEOF(err)))
		return dst
	}
	if sync != r.sync {
		r.blockErr(start, -1, errors.New("sync marker mismatch"))
		return dst
	}
	raw, err := r.decompress()
	if err != nil {
		r.blockErr(start, -1, err)
		return dst
	}
	if count > int64(len(raw)) {
		r.blockErr(start, -1, fmt.Errorf("block claims %d records in %d bytes", count, len(raw)))
		return dst
	}
	d := &r.d
	d.reset(raw)
	dst = slices.Grow(dst, int(count))
	for i := 0; i < int(count); i++ {
		// Decode in place: a local Record would escape through the
		// program's function values and cost an allocation per record.
		dst = append(dst, Record{})
		if !r.prog.decodeOne(d, &dst[len(dst)-1]) {
			dst = dst[:len(dst)-1]
			if d.err != nil {
				r.blockErr(start, i, d.err)
				return dst
			}
		}
	}
	if d.p != len(raw) {
		r.blockErr(start, -1, fmt.Errorf("%d bytes left after the block's %d records", len(raw)-d.p, count))
		return dst
	}
	r.block++
	return dst
}

func (r *Reader) decompress() ([]byte, error) {
	switch r.codec {
	case "deflate":
		if r.inflate == nil {
			r.inflate = new(inflater)
		}
		raw, ok := r.inflate.inflate(r.raw, r.comp, maxBlockBytes)
		r.raw = raw[:0]
		if ok {
			r.raw = raw
			return raw, nil
		}
		// damaged or unusual: the streaming decompressor decodes it, or
		// says what is wrong with it
		r.src.Reset(r.comp)
		if r.inflater == nil {
			r.inflater = flate.NewReader(&r.src)
		} else if err := r.inflater.(flate.Resetter).Reset(&r.src, nil); err != nil {
			return nil, fmt.Errorf("deflate: %w", err)
		}
		raw = r.raw[:0]
		for {
			if len(raw) == cap(raw) {
				raw = slices.Grow(raw, max(64<<10, cap(raw)))
			}
			n, err := r.inflater.Read(raw[len(raw):cap(raw)])
			raw = raw[:len(raw)+n]
			if err == io.EOF {
				break
			}
			if err != nil {
				r.raw = raw
				return nil, fmt.Errorf("deflate: %w", noEOF(err))
			}
			if len(raw) > maxBlockBytes {
				return nil, fmt.Errorf("deflate: block inflates beyond %d bytes", maxBlockBytes)
			}
		}
		r.raw = raw
		return raw, nil
	case "snappy":
		if len(r.comp) < 4 {
			return nil, errors.New("snappy: block shorter than its checksum")
		}
		body := r.comp[:len(r.comp)-4]
		n, err := snappy.DecodedLen(body)
		if err != nil {
			return nil, fmt.Errorf("snappy: %w", err)
		}
		if n > maxBlockBytes {
			return nil, fmt.Errorf("snappy: block inflates beyond %d bytes", maxBlockBytes)
		}
		raw, err := snappy.Decode(r.raw[:cap(r.raw)], body)
		if err != nil {
			return nil, fmt.Errorf("snappy: %w", err)
		}
		r.raw = raw
		want := uint32(r.comp[len(r.comp)-4])<<24 | uint32(r.comp[len(r.comp)-3])<<16 |
			uint32(r.comp[len(r.comp)-2])<<8 | uint32(r.comp[len(r.comp)-1])
		if crc32.ChecksumIEEE(raw) != want {
			return nil, errors.New("snappy: checksum mismatch")
		}
		return raw, nil
	default:
		return r.comp, nil
	}
}
