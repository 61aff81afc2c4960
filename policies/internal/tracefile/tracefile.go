// Package tracefile reads a SysFlow trace into flat events, for the policy
// tests and the policy test runner.
package tracefile

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/sfconnector/sfconnector/sysflow"
	"github.com/sfconnector/sfconnector/transforms/flatten"
)

// Read decodes a SysFlow trace file and flattens it into events, in
// stream order. Every event and every record it points to is its own: the
// reader's buffers are not reused.
func Read(ctx context.Context, path string) ([]*sysflow.Event, error) {
	r, c, err := sysflow.OpenFile(path)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	f := flatten.New(flatten.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	var out []*sysflow.Event
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		recs, err := r.Next(nil)
		out = f.Flatten(recs, out)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("trace %s: %w", path, err)
		}
	}
}
