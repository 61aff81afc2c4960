package sysflow

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"sync"

	"github.com/golang/snappy"
	"github.com/klauspost/compress/flate"
)

// WriterOptions configure a Writer.
type WriterOptions struct {
	// Codec compresses blocks: "deflate" (the default, what the collector
	// writes), "snappy" or "null".
	Codec string
	// BlockRecords and BlockBytes end a block when it holds that many
	// records or that many uncompressed bytes (defaults 1000 and 64 KiB).
	BlockRecords int
	BlockBytes   int
	// Sync is the file's 16-byte sync marker. Zero means random; set it to
	// get byte-identical files from identical records.
	Sync [16]byte
}

func (o *WriterOptions) setDefaults() {
	if o.Codec == "" {
		o.Codec = "deflate"
	}
	if o.BlockRecords == 0 {
		o.BlockRecords = 1000
	}
	if o.BlockBytes == 0 {
		o.BlockBytes = 64 << 10
	}
}

// Validate reports options the Writer cannot honour.
func (o *WriterOptions) Validate() error {
	switch o.Codec {
	case "deflate", "snappy", "null":
	default:
		return fmt.Errorf("sysflow: writer codec %q: want deflate, snappy or null", o.Codec)
	}
	if o.BlockRecords < 0 || o.BlockBytes < 0 || o.BlockBytes > maxBlockBytes {
		return fmt.Errorf("sysflow: writer block limits %d records / %d bytes out of range", o.BlockRecords, o.BlockBytes)
	}
	return nil
}

// Writer writes SysFlow records to an Avro object container file with the
// v5 schema. It buffers one block; Close (or Flush) writes it out. Close does
// not close the underlying io.Writer.
type Writer struct {
	w     io.Writer
	opts  WriterOptions
	block []byte
	n     int
	out   []byte
	comp  bytes.Buffer
	sbuf  []byte
	fw    *flate.Writer
	err   error
}

var errWriterClosed = errors.New("sysflow: write to a closed Writer")

// NewWriter writes the container header to w and returns a Writer.
func NewWriter(w io.Writer, opts WriterOptions) (*Writer, error) {
	opts.setDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if opts.Sync == ([16]byte{}) {
		if _, err := rand.Read(opts.Sync[:]); err != nil {
			return nil, fmt.Errorf("sysflow: sync marker: %w", err)
		}
	}
	wr := &Writer{w: w, opts: opts}
	hdr := append([]byte(nil), ocfMagic...)
	hdr = appendLong(hdr, 2)
	hdr = appendString(hdr, "avro.codec")
	hdr = appendString(hdr, opts.Codec)
	hdr = appendString(hdr, "avro.schema")
	hdr = appendString(hdr, SchemaV5())
	hdr = append(hdr, 0)
	hdr = append(hdr, opts.Sync[:]...)
	if _, err := w.Write(hdr); err != nil {
		return nil, fmt.Errorf("sysflow: write header: %w", err)
	}
	return wr, nil
}

// Write adds rec to the current block, writing the block out when full.
func (w *Writer) Write(rec *Record) error {
	if w.err != nil {
		return w.err
	}
	b, err := AppendDatum(w.block, rec)
	if err != nil {
		return err
	}
	w.block = b
	w.n++
	if w.n >= w.opts.BlockRecords || len(w.block) >= w.opts.BlockBytes {
		return w.Flush()
	}
	return nil
}

// Flush writes the records buffered so far as one block.
func (w *Writer) Flush() error {
	if w.err != nil {
		return w.err
	}
	if w.n == 0 {
		return nil
	}
	data, err := w.compress()
	if err != nil {
		w.err = err
		return err
	}
	out := appendLong(w.out[:0], int64(w.n))
	out = appendLong(out, int64(len(data)))
	out = append(out, data...)
	out = append(out, w.opts.Sync[:]...)
	w.out = out
	if _, err := w.w.Write(out); err != nil {
		w.err = fmt.Errorf("sysflow: write block: %w", err)
		return w.err
	}
	w.block, w.n = w.block[:0], 0
	return nil
}

// Close flushes the last block. Later writes fail.
func (w *Writer) Close() error {
	if err := w.Flush(); err != nil {
		return err
	}
	w.err = errWriterClosed
	return nil
}

func (w *Writer) compress() ([]byte, error) {
	switch w.opts.Codec {
	case "deflate":
		w.comp.Reset()
		if w.fw == nil {
			fw, err := flate.NewWriter(&w.comp, flate.DefaultCompression)
			if err != nil {
				return nil, fmt.Errorf("sysflow: deflate: %w", err)
			}
			w.fw = fw
		} else {
			w.fw.Reset(&w.comp)
		}
		if _, err := w.fw.Write(w.block); err != nil {
			return nil, fmt.Errorf("sysflow: deflate: %w", err)
		}
		if err := w.fw.Close(); err != nil {
			return nil, fmt.Errorf("sysflow: deflate: %w", err)
		}
		return w.comp.Bytes(), nil
	case "snappy":
		if n := snappy.MaxEncodedLen(len(w.block)) + 4; cap(w.sbuf) < n {
			w.sbuf = make([]byte, n)
		}
		enc := snappy.Encode(w.sbuf[:cap(w.sbuf)], w.block)
		return binary.BigEndian.AppendUint32(enc, crc32.ChecksumIEEE(w.block)), nil
	default:
		return w.block, nil
	}
}

// DatumDecoder decodes single v5 datums, as the collector sends them over its
// socket. It is not safe for concurrent use; the records it returns are never
// touched by it again.
type DatumDecoder struct {
	prog *program
	d    dec
	rec  Record // scratch: a local would escape through the program and cost an allocation per datum
}

// v5Program is compiled once: the embedded schema never changes.
var v5Program = sync.OnceValue(func() *program {
	p, err := compileProgram(SchemaV5())
	if err != nil {
		panic("sysflow: embedded v5 schema does not compile: " + err.Error())
	}
	return p
})

// NewDatumDecoder returns a decoder for datums written with the v5 schema.
func NewDatumDecoder() *DatumDecoder {
	return &DatumDecoder{prog: v5Program()}
}

// DatumSchema is a SysFlow writer schema other than v5 (a schema registry
// may hold any version a collector registered), resolved against the v5
// reader once. It is safe for concurrent use; its decoders are not.
type DatumSchema struct {
	prog *program
}

// CompileDatumSchema resolves the writer schema text against the v5 reader
// schema. A schema that does not resolve gives an error wrapping a
// *SchemaError.
func CompileDatumSchema(text string) (*DatumSchema, error) {
	if err := validateSchema(text); err != nil {
		return nil, fmt.Errorf("sysflow: %w", err)
	}
	p, err := compileProgram(text)
	if err != nil {
		return nil, fmt.Errorf("sysflow: %w", err)
	}
	return &DatumSchema{prog: p}, nil
}

// NewDecoder returns a decoder for datums written with s.
func (s *DatumSchema) NewDecoder() *DatumDecoder {
	return &DatumDecoder{prog: s.prog}
}

// Decode decodes the single datum b into dst. Strings are copied: b may be
// reused by the caller. Truncated input, trailing bytes and out-of-range
// values are errors.
func (dd *DatumDecoder) Decode(b []byte, dst *Record) error {
	d := &dd.d
	d.reset(b)
	rec := &dd.rec
	ok := dd.prog.decodeOne(d, rec)
	if d.err != nil {
		return fmt.Errorf("sysflow: datum of %d bytes: %w", len(b), d.err)
	}
	if !ok {
		return fmt.Errorf("sysflow: datum of %d bytes: unknown record type", len(b))
	}
	if d.p != len(b) {
		return fmt.Errorf("sysflow: datum of %d bytes: %d trailing bytes after the %s record", len(b), len(b)-d.p, rec.Kind)
	}
	*dst = *rec
	return nil
}
