package file_test

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/sfconnector/sfconnector/internal/conformance"
	"github.com/sfconnector/sfconnector/sources/file"
	"github.com/sfconnector/sfconnector/sysflow"
)

// The file source runs the source half of the conformance suite as the
// collector feeds it in production: following a directory the collector
// rotates finished trace files into. Each Send is one rotated file,
// written under a hidden name and renamed into place, as the collector's
// rotation makes a file appear whole.
func TestConformance(t *testing.T) {
	setup := func(t *testing.T) conformance.SourcePair {
		dir := t.TempDir()
		var mu sync.Mutex
		n := 0
		return conformance.SourcePair{
			Send: func(t *testing.T, recs []sysflow.Record) error {
				mu.Lock()
				n++
				name := fmt.Sprintf("%06d.sf", n)
				mu.Unlock()
				return writeTrace(filepath.Join(dir, "."+name), filepath.Join(dir, name), recs)
			},
			NewSubscriber: func(t *testing.T) message.Subscriber {
				src, err := file.New(file.Config{Paths: []string{dir}, Follow: true, Settle: 100 * time.Millisecond,
					BatchSize: 64, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
				if err != nil {
					t.Fatal(err)
				}
				return src
			},
		}
	}
	conformance.RunSource(t, conformance.SourceFeatures{
		// a new source reads the directory's files again from the start
		Resume: true,
		// Reconnect is skipped: the file source has no connection; the
		// collector's restarts show as new files, which Delivery covers
	}, setup)
}

func writeTrace(tmp, final string, recs []sysflow.Record) error {
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	w, err := sysflow.NewWriter(f, sysflow.WriterOptions{BlockRecords: 50})
	if err != nil {
		f.Close()
		return err
	}
	for i := range recs {
		if err := w.Write(&recs[i]); err != nil {
			f.Close()
			return err
		}
	}
	if err := w.Close(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, final)
}
