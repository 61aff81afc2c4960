package testenv

import (
	"context"
	"time"

	"github.com/sfconnector/sfconnector/testenv/collector"
)

// Replay is the collector simulator: it streams the records of the trace
// files to the unix SOCK_SEQPACKET socket at socketPath, one v5 datum per
// message, each file over its own connection starting with its header, as
// fast as the reader takes them. It waits up to 10s for the socket to
// accept connections and returns how many records it sent.
func Replay(ctx context.Context, socketPath string, files ...string) (int64, error) {
	return collector.Replay(ctx, collector.Options{Socket: socketPath, Wait: 10 * time.Second}, files...)
}
