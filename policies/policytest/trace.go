package policytest

import (
	"context"

	"github.com/sfconnector/sfconnector/policies/internal/tracefile"
	"github.com/sfconnector/sfconnector/sysflow"
)

// ReadTrace decodes a SysFlow trace file and flattens it into events, in
// stream order. Every event and every record it points to is its own: the
// reader's buffers are not reused.
func ReadTrace(ctx context.Context, path string) ([]*sysflow.Event, error) {
	return tracefile.Read(ctx, path)
}
