package sysflow_test

import (
	"bytes"
	"io"
	"os"
	"runtime"
	"testing"

	"github.com/linkedin/goavro/v2"

	"github.com/sfconnector/sfconnector/sysflow"
	"github.com/sfconnector/sfconnector/sysflow/synth"
	"github.com/sfconnector/sfconnector/testenv/shared"
)

// loadTraces reads every real trace into memory.
func loadTraces(b *testing.B) (files [][]byte, records int) {
	b.Helper()
	for _, p := range shared.Traces(b) {
		data, err := os.ReadFile(p)
		if err != nil {
			b.Fatal(err)
		}
		files = append(files, data)
		records += len(readAll(b, data, p))
	}
	return files, records
}

// BenchmarkDecode decodes all real traces (one op = every trace once).
func BenchmarkDecode(b *testing.B) {
	files, records := loadTraces(b)
	b.Run("traces", func(b *testing.B) { benchDecode(b, files, records) })
	// The same records, ten times over, in one v5 file as our Writer
	// writes it: the steady state of a long stream, without per-file costs.
	b.Run("traces-x10-onefile", func(b *testing.B) {
		var buf bytes.Buffer
		w, err := sysflow.NewWriter(&buf, sysflow.WriterOptions{})
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for range 10 {
			for _, data := range files {
				recs := readAll(b, data, "trace")
				for i := range recs {
					if err := w.Write(&recs[i]); err != nil {
						b.Fatal(err)
					}
					n++
				}
			}
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
		benchDecode(b, [][]byte{buf.Bytes()}, n)
	})
	b.Run("synth-500k", func(b *testing.B) {
		var buf bytes.Buffer
		st, err := synth.Generate(&buf, synth.Options{Seed: 1, Records: 500_000})
		if err != nil {
			b.Fatal(err)
		}
		benchDecode(b, [][]byte{buf.Bytes()}, st.Records)
	})
	b.Run("traces-goavro", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for _, data := range files {
				ocf, err := goavro.NewOCFReader(bytes.NewReader(data))
				if err != nil {
					b.Fatal(err)
				}
				for ocf.Scan() {
					if _, err := ocf.Read(); err != nil {
						b.Fatal(err)
					}
				}
			}
		}
		b.ReportMetric(float64(records*b.N)/b.Elapsed().Seconds(), "records/s")
		b.ReportMetric(0, "ns/op")
	})
}

func benchDecode(b *testing.B, files [][]byte, records int) {
	b.ReportAllocs()
	var recs []sysflow.Record
	var bytesIn int64
	for _, f := range files {
		bytesIn += int64(len(f))
	}
	b.SetBytes(bytesIn)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for b.Loop() {
		for _, data := range files {
			r, err := sysflow.NewReader(bytes.NewReader(data), "bench")
			if err != nil {
				b.Fatal(err)
			}
			for {
				recs, err = r.Next(recs[:0])
				if err == io.EOF {
					break
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	runtime.ReadMemStats(&after)
	n := float64(records) * float64(b.N)
	b.ReportMetric(n/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/n, "allocs/record")
}

// BenchmarkDatum decodes and encodes single datums, the socket path: every
// record of the real traces, one datum at a time.
func BenchmarkDatum(b *testing.B) {
	files, _ := loadTraces(b)
	var datums [][]byte
	var recs []sysflow.Record
	for _, data := range files {
		for _, r := range readAll(b, data, "trace") {
			d, err := sysflow.AppendDatum(nil, &r)
			if err != nil {
				b.Fatal(err)
			}
			datums = append(datums, d)
			recs = append(recs, r)
		}
	}
	b.Run("decode", func(b *testing.B) {
		b.ReportAllocs()
		dd := sysflow.NewDatumDecoder()
		var rec sysflow.Record
		for b.Loop() {
			for _, d := range datums {
				if err := dd.Decode(d, &rec); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportMetric(float64(len(datums)*b.N)/b.Elapsed().Seconds(), "records/s")
	})
	b.Run("encode", func(b *testing.B) {
		b.ReportAllocs()
		var buf []byte
		for b.Loop() {
			for i := range recs {
				var err error
				if buf, err = sysflow.AppendDatum(buf[:0], &recs[i]); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportMetric(float64(len(recs)*b.N)/b.Elapsed().Seconds(), "records/s")
	})
}
