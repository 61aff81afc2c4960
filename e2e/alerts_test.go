//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// alertID is the identity of one exported alert: the identity fields of
// its record and the set of rule ids that matched it.
func alertID(line []byte) (string, error) {
	var a struct {
		Type  string `json:"type"`
		TS    int64  `json:"ts"`
		EndTS int64  `json:"endts"`
		Ret   int64  `json:"ret"`
		Node  struct {
			ID string `json:"id"`
		} `json:"node"`
		Proc struct {
			PID      int64 `json:"pid"`
			TID      int64 `json:"tid"`
			CreateTS int64 `json:"createts"`
		} `json:"proc"`
		File struct {
			OID    string `json:"oid"`
			NewOID string `json:"newoid"`
		} `json:"file"`
		Flow struct {
			ROps   int64 `json:"rops"`
			WOps   int64 `json:"wops"`
			RBytes int64 `json:"rbytes"`
			WBytes int64 `json:"wbytes"`
		} `json:"flow"`
		Net struct {
			SPort int64 `json:"sport"`
			DPort int64 `json:"dport"`
			Proto int64 `json:"proto"`
		} `json:"net"`
		Policies []struct {
			ID string `json:"id"`
		} `json:"policies"`
	}
	if err := json.Unmarshal(line, &a); err != nil {
		return "", err
	}
	if len(a.Policies) == 0 {
		return "", fmt.Errorf("not an alert: no policies")
	}
	var rules []string
	for _, p := range a.Policies {
		rules = append(rules, p.ID)
	}
	sort.Strings(rules)
	rules = slices.Compact(rules)
	id := flatID{node: a.Node.ID, typ: a.Type, ts: a.TS, endts: a.EndTS, ret: a.Ret,
		pid: a.Proc.PID, tid: a.Proc.TID, createts: a.Proc.CreateTS,
		fileOID: a.File.OID, newFileOID: a.File.NewOID,
		rops: a.Flow.ROps, wops: a.Flow.WOps, rbytes: a.Flow.RBytes, wbytes: a.Flow.WBytes,
		sport: a.Net.SPort, dport: a.Net.DPort, proto: a.Net.Proto}
	return id.String() + " rules=" + strings.Join(rules, ","), nil
}

// alertLines reads JSON lines files; lines that do not parse as alerts are
// counted (a line cut by SIGKILL), with the first one kept.
func alertLines(paths ...string) (got map[string]int, bad int, firstBad string, err error) {
	got = map[string]int{}
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return nil, 0, "", err
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 16<<20)
		for sc.Scan() {
			if len(sc.Bytes()) == 0 {
				continue
			}
			k, err := alertID(sc.Bytes())
			if err != nil {
				if bad == 0 {
					firstBad = fmt.Sprintf("%s: %v: %.200s", p, err, sc.Text())
				}
				bad++
				continue
			}
			got[k]++
		}
		f.Close()
		if err := sc.Err(); err != nil {
			return nil, 0, "", fmt.Errorf("%s: %w", p, err)
		}
	}
	return got, bad, firstBad, nil
}

// natsAlerts reads every message of the stream with nats.go.
func natsAlerts(ctx context.Context, url, stream string) (got map[string]int, bad int, err error) {
	nc, err := nats.Connect(url)
	if err != nil {
		return nil, 0, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, 0, err
	}
	cons, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		return nil, 0, err
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return nil, 0, err
	}
	total := int(info.NumPending)
	got = map[string]int{}
	for read := 0; read < total; {
		batch, err := cons.Fetch(1000, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			return nil, 0, err
		}
		n := 0
		for m := range batch.Messages() {
			n++
			k, err := alertID(m.Data())
			if err != nil {
				bad++
				continue
			}
			got[k]++
		}
		if n == 0 {
			return nil, 0, fmt.Errorf("stream %s: read %d of %d messages", stream, read, total)
		}
		read += n
	}
	return got, bad, nil
}

// multisetDiff compares got with want: missing counts what want has more
// of, extra what got holds that want lacks entirely, dups the surplus
// copies of what want does have.
type multisetDiff struct {
	missing, extra, dups int
	exMissing, exExtra   string
}

func diffMultiset(want, got map[string]int) multisetDiff {
	var d multisetDiff
	for k, n := range want {
		if got[k] < n {
			d.missing += n - got[k]
			d.exMissing = k
		}
	}
	for k, n := range got {
		switch w := want[k]; {
		case w == 0:
			d.extra += n
			d.exExtra = k
		case n > w:
			d.dups += n - w
		}
	}
	return d
}

func total(m map[string]int) int {
	n := 0
	for _, c := range m {
		n += c
	}
	return n
}
