package connector_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sfconnector/sfconnector/config"
	"github.com/sfconnector/sfconnector/connector"
	"github.com/sfconnector/sfconnector/testenv"
)

// Records a sink keeps refusing go to a NATS JetStream subject, each with
// the reason, and nothing is lost: read back with nats.go, not our code.
func TestDeadLetterToNATS(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full on this system")
	}
	in, traces, _ := deliveryInput(t)
	url := testenv.NATS(t)
	stream := testenv.Name(t, "DL")
	subject := testenv.Name(t, "dl") + ".dead"
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx := context.Background()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: stream, Subjects: []string{subject}}); err != nil {
		t.Fatal(err)
	}
	defer js.DeleteStream(ctx, stream)

	dir := t.TempDir()
	yaml := fmt.Sprintf(`
source: {driver: file, batch.size: 1}
settings:
  retry.max: 1
  retry.initial: 1ms
  deadletter.export: nats
  deadletter.nats.url: %s
  deadletter.nats.subject: %s
pipeline:
  - {processor: sysflowreader, handler: flattener, in: sysflow a, out: flat b}
  - {processor: exporter, in: flat b, export: file, path: /dev/full}
`, url, subject)
	cfg, err := config.Parse(filepath.Join(dir, "p.yaml"), []byte(yaml), nil)
	if err != nil {
		t.Fatal(err)
	}
	built, err := connector.Build(ctx, cfg, connector.Options{Inputs: []string{in}, Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	built.Run(rctx) // the /dev/full sink's close error is expected
	if rctx.Err() != nil {
		t.Fatal("the pipeline did not finish")
	}

	cons, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	info, _ := js.Stream(ctx, stream)
	n := int(info.CachedInfo().State.Msgs)
	var records [][]byte
	for len(records) < n {
		batch, err := cons.Fetch(n-len(records), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		got := 0
		for m := range batch.Messages() {
			got++
			var dl struct {
				Reason string          `json:"reason"`
				Record json.RawMessage `json:"record"`
			}
			if err := json.Unmarshal(m.Data(), &dl); err != nil {
				t.Fatalf("dead letter %d: %v", len(records)+1, err)
			}
			if !strings.Contains(dl.Reason, "/dev/full") {
				t.Fatalf("reason %q does not name the failing sink", dl.Reason)
			}
			records = append(records, dl.Record)
		}
		if got == 0 {
			break
		}
	}
	// every record of every trace, in order, once
	compareOutput(t, traces, records)
}
