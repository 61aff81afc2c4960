package sysflow

import (
	"bytes"
	stdflate "compress/flate"
	"io"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/klauspost/compress/flate"

	"github.com/sfconnector/sfconnector/testenv/shared"
)

// streamInflate is the streaming decompressor the Reader falls back to.
func streamInflate(src []byte) ([]byte, error) {
	return io.ReadAll(flate.NewReader(bytes.NewReader(src)))
}

// traceBlocks returns the compressed blocks of an OCF file.
func traceBlocks(t testing.TB, path string) (codec string, blocks [][]byte) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewReader(bytes.NewReader(data), path)
	if err != nil {
		t.Fatal(err)
	}
	for {
		count, err := r.readLong()
		if err == io.EOF {
			return r.codec, blocks
		}
		size, err2 := r.readLong()
		if err != nil || err2 != nil || count < 0 || size < 0 {
			t.Fatalf("%s: block header: %v %v", path, err, err2)
		}
		b, err := r.readN(nil, int(size))
		if err != nil {
			t.Fatal(err)
		}
		var sync [16]byte
		if _, err := io.ReadFull(r.in, sync[:]); err != nil {
			t.Fatal(err)
		}
		blocks = append(blocks, b)
	}
}

// TestInflateTraces decodes every block of the real traces that use
// deflate: inflate must take each one (no fallback) and give the bytes the
// streaming decompressor gives.
func TestInflateTraces(t *testing.T) {
	n := 0
	var f inflater // one for all blocks, as a Reader has
	for _, p := range shared.Traces(t) {
		codec, blocks := traceBlocks(t, p)
		if codec != "deflate" {
			continue
		}
		for i, b := range blocks {
			want, err := streamInflate(b)
			if err != nil {
				t.Fatalf("%s block %d: %v", p, i, err)
			}
			got, ok := f.inflate(nil, b, maxBlockBytes)
			if !ok {
				t.Fatalf("%s block %d: inflate gave up on a sound block", p, i)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("%s block %d: %d bytes, want %d (differ)", p, i, len(got), len(want))
			}
			n++
		}
	}
	if n == 0 {
		t.Fatal("no deflate block in the traces")
	}
}

// TestInflateCompressors checks inflate against data compressed by both
// compressors at every level (stored, Huffman-only, fixed and dynamic
// blocks, long and overlapping matches), and that it refuses truncated
// streams and output over its limit.
func TestInflateCompressors(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var inputs [][]byte
	inputs = append(inputs, nil, []byte("a"), bytes.Repeat([]byte("ab"), 5000), bytes.Repeat([]byte{0}, 100_000))
	text := make([]byte, 0, 300_000)
	words := []string{"PATH=/usr/bin", "HOME=/root", "/bin/sh", " -c ", "open", "\x00\x01", "container"}
	for len(text) < 300_000 {
		text = append(text, words[rng.IntN(len(words))]...)
		if rng.IntN(10) == 0 {
			text = append(text, byte(rng.IntN(256)))
		}
	}
	noise := make([]byte, 70_000)
	for i := range noise {
		noise[i] = byte(rng.IntN(256))
	}
	inputs = append(inputs, text, noise, append(append([]byte{}, noise[:40_000]...), text[:100_000]...))
	checked := 0
	for _, in := range inputs {
		for level := -2; level <= 9; level++ {
			for _, std := range []bool{false, true} {
				var buf bytes.Buffer
				var w io.WriteCloser
				if std {
					w, _ = stdflate.NewWriter(&buf, level)
				} else {
					w, _ = flate.NewWriter(&buf, level)
				}
				// several writes and a flush: more than one block
				half := len(in) / 2
				w.Write(in[:half])
				w.(interface{ Flush() error }).Flush()
				w.Write(in[half:])
				w.Close()
				comp := buf.Bytes()
				got, ok := new(inflater).inflate(make([]byte, 0, 10), comp, maxBlockBytes)
				if !ok || !bytes.Equal(got, in) {
					t.Fatalf("level %d std %v, %d bytes: ok %v, %d bytes out", level, std, len(in), ok, len(got))
				}
				if len(comp) > 2 {
					if _, ok := new(inflater).inflate(nil, comp[:len(comp)-2], maxBlockBytes); ok {
						if _, err := streamInflate(comp[:len(comp)-2]); err != nil {
							t.Fatalf("level %d: a truncated stream was taken that the decompressor rejects", level)
						}
					}
				}
				if len(in) > 0 {
					if _, ok := new(inflater).inflate(nil, comp, len(in)-1); ok {
						t.Fatalf("level %d: output over the limit was taken", level)
					}
					if _, ok := new(inflater).inflate(nil, comp, len(in)); !ok {
						t.Fatalf("level %d: output at the limit was refused", level)
					}
				}
				checked++
			}
		}
	}
	t.Logf("%d streams", checked)
}

// FuzzInflate compares inflate with the streaming decompressor on
// arbitrary input: whatever inflate takes, the decompressor must decode to
// the same bytes without error. The input, compressed, must also inflate
// back to itself.
func FuzzInflate(f *testing.F) {
	for _, s := range []string{"hello, hello, hello", "PATH=/usr/bin:/bin HOME=/root"} {
		for _, level := range []int{0, 1, 6, 9, -2} {
			var buf bytes.Buffer
			w, _ := flate.NewWriter(&buf, level)
			w.Write([]byte(s))
			w.Close()
			f.Add(buf.Bytes())
		}
	}
	f.Add([]byte{0x03, 0x00})
	var reused inflater // tables left from earlier inputs must not matter
	f.Fuzz(func(t *testing.T, data []byte) {
		// the input, compressed, must come back whole
		if len(data) > 0 {
			var buf bytes.Buffer
			w, _ := flate.NewWriter(&buf, int(data[0])%12-2)
			w.Write(data)
			w.Close()
			back, ok := reused.inflate(nil, buf.Bytes(), 1<<20)
			if !ok || !bytes.Equal(back, data) {
				t.Fatalf("compressed input: ok %v, %d of %d bytes back", ok, len(back), len(data))
			}
		}
		// the input as a stream
		got, ok := reused.inflate(nil, data, 1<<20)
		if !ok {
			return
		}
		want, err := streamInflate(data)
		if err != nil {
			t.Fatalf("inflate took a stream the decompressor rejects (%v)", err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("inflate gave %q, the decompressor %q", got, want)
		}
	})
}

// BenchmarkInflate decodes every deflate block of the real traces with
// inflate and with the streaming decompressor (reset per block, as the
// Reader did).
func BenchmarkInflate(b *testing.B) {
	var blocks [][]byte
	raw := 0
	for _, p := range shared.Traces(b) {
		codec, bs := traceBlocks(b, p)
		if codec != "deflate" {
			continue
		}
		for _, blk := range bs {
			out, _ := streamInflate(blk)
			raw += len(out)
		}
		blocks = append(blocks, bs...)
	}
	b.Run("inflate", func(b *testing.B) {
		b.SetBytes(int64(raw))
		var out []byte
		var f inflater
		for b.Loop() {
			for _, blk := range blocks {
				var ok bool
				if out, ok = f.inflate(out[:0], blk, maxBlockBytes); !ok {
					b.Fatal("inflate failed")
				}
			}
		}
	})
	b.Run("stream", func(b *testing.B) {
		b.SetBytes(int64(raw))
		var src bytes.Reader
		var zr io.ReadCloser
		out := make([]byte, 0, 1<<20)
		for b.Loop() {
			for _, blk := range blocks {
				src.Reset(blk)
				if zr == nil {
					zr = flate.NewReader(&src)
				} else {
					zr.(flate.Resetter).Reset(&src, nil)
				}
				out = out[:0]
				for {
					n, err := zr.Read(out[len(out):cap(out)])
					out = out[:len(out)+n]
					if err == io.EOF {
						break
					}
					if err != nil {
						b.Fatal(err)
					}
				}
			}
		}
	})
}
