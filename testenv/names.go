package testenv

import (
	"fmt"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9_-]+`)

// nameSeq makes names unique within one process; the time prefix makes them
// unique across runs that share a long-lived server (the machine's NATS).
var nameSeq atomic.Uint64

// Name returns a name unique to this test and run, usable as a Kafka topic,
// a consumer group, a NATS stream or a subject token: letters, digits, '-' and
// '_' only. Tests that share a server use it so they never see each other's
// data.
func Name(t testing.TB, prefix string) string {
	t.Helper()
	base := unsafeName.ReplaceAllString(t.Name(), "_")
	if len(base) > 40 {
		base = base[len(base)-40:]
	}
	base = strings.Trim(base, "_-")
	return fmt.Sprintf("%s_%s_%x_%d", prefix, base, time.Now().UnixNano()&0xffffffffff, nameSeq.Add(1))
}
