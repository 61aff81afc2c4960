package connector_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/sfconnector/sfconnector/config"
	"github.com/sfconnector/sfconnector/connector"
	"github.com/sfconnector/sfconnector/sysflow"
	"github.com/sfconnector/sfconnector/testenv"
	"github.com/sfconnector/sfconnector/testenv/shared"
	"github.com/sfconnector/sfconnector/transforms/flatten"
)

// otelTraces links every shared trace into one directory (the file
// source's input) and counts their flat events with the flattener alone.
// Under the race detector it takes the traces under 100 KiB.
func otelTraces(t *testing.T) (dir string, events int) {
	t.Helper()
	dir = t.TempDir()
	for _, tr := range shared.Traces(t) {
		if st, err := os.Stat(tr); raceDetector && (err != nil || st.Size() > 100<<10) {
			continue
		}
		if err := os.Symlink(tr, filepath.Join(dir, filepath.Base(tr))); err != nil {
			t.Fatal(err)
		}
		rd, c, err := sysflow.OpenFile(tr)
		if err != nil {
			t.Fatal(err)
		}
		var recs []sysflow.Record
		for {
			recs, err = rd.Next(recs)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", tr, err)
			}
		}
		c.Close()
		f := flatten.New(flatten.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		events += len(f.Flatten(recs, nil))
	}
	return dir, events
}

// runConfig builds a YAML configuration and runs it until it ends, or
// until done reports true (bus sources never end by themselves).
func runConfig(t *testing.T, yaml string, inputs []string, done func() bool) {
	t.Helper()
	cfg, err := config.Parse(filepath.Join(t.TempDir(), "p.yaml"), []byte(yaml), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Second)
	defer cancel()
	built, err := connector.Build(ctx, cfg, connector.Options{Inputs: inputs, Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	finished := make(chan error, 1)
	go func() { finished <- built.Run(ctx) }()
	if done != nil {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
	wait:
		for !done() {
			select {
			case <-tick.C:
			case <-ctx.Done():
				break wait
			}
		}
		if ctx.Err() != nil {
			t.Fatal("the pipeline did not deliver everything within 300s")
		}
		cancel()
	}
	if err := <-finished; err != nil && done == nil {
		t.Fatalf("Run: %v", err)
	}
	if done == nil && ctx.Err() != nil {
		t.Fatal("the pipeline did not finish within 300s")
	}
}

func fileLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		if len(sc.Bytes()) > 0 {
			out = append(out, sc.Text())
		}
	}
	return out
}

// directAlerts runs the reference's runtimeintegrity policies in alert
// mode over the trace files and returns the alerts, one JSON line each.
func directAlerts(t *testing.T, traces, policyDir string) []string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "direct.json")
	runConfig(t, fmt.Sprintf(`
source: {driver: file}
pipeline:
  - {processor: sysflowreader, handler: flattener, in: sysflow a, out: flat b}
  - {processor: policyengine, in: flat b, out: evt c, mode: alert, policies: %q}
  - {processor: exporter, in: evt c, export: file, format: json, file.path: %q}
`, policyDir, out), []string{traces}, nil)
	return fileLines(t, out)
}

// viaBus reads the bus back with format otel, runs the same policies and
// returns the alerts once as many as the direct run's have arrived. With
// fedBy (a driver's out channel) the policy engine reads that channel
// directly, with no sysflowreader, as sf-processor's OTel pipeline does.
func viaBus(t *testing.T, source, fedBy, policyDir string, want int) []string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "bus.json")
	head := "  - {processor: sysflowreader, handler: flattener, in: sysflow a, out: flat b}\n"
	in := "flat b"
	if fedBy != "" {
		head, in = "", fedBy
	}
	runConfig(t, fmt.Sprintf(`
%s
pipeline:
%s  - {processor: policyengine, in: %s, out: evt c, mode: alert, policies: %q}
  - {processor: exporter, in: evt c, export: file, format: json, file.path: %q}
`, source, head, in, policyDir, out), nil, func() bool { return len(fileLines(t, out)) >= want })
	return fileLines(t, out)
}

// sameMultiset reports the lines one side has more often than the other.
func sameMultiset(t *testing.T, got, want []string) {
	t.Helper()
	count := map[string]int{}
	for _, l := range want {
		count[l]++
	}
	for _, l := range got {
		count[l]--
	}
	bad := 0
	for l, n := range count {
		if n != 0 {
			if bad++; bad <= 3 {
				t.Errorf("alert %+d times in the bus run compared with the direct run: %.400s", -n, l)
			}
		}
	}
	if bad > 0 {
		t.Fatalf("%d distinct alerts differ (%d via the bus, %d direct)", bad, len(got), len(want))
	}
}

// checkLogs decodes one wire message with the OpenTelemetry library and
// returns its log records; every record is a SysFlow one of type typ
// (when not empty), and with oneResource all records of a message share
// one host and container (the Kafka sink groups by key).
func checkLogs(t *testing.T, where string, value []byte, typ string, oneResource bool) int {
	t.Helper()
	ld, err := (&plog.ProtoUnmarshaler{}).UnmarshalLogs(value)
	if err != nil {
		t.Fatalf("%s: the OpenTelemetry library rejects the message: %v", where, err)
	}
	hosts := map[string]bool{}
	for i := range ld.ResourceLogs().Len() {
		rl := ld.ResourceLogs().At(i)
		attr := func(k string) string {
			if v, ok := rl.Resource().Attributes().Get(k); ok {
				return v.AsString()
			}
			return ""
		}
		hosts[attr("sf.node.id")+"/"+attr("sf.container.id")] = true
		for j := range rl.ScopeLogs().Len() {
			lrs := rl.ScopeLogs().At(j).LogRecords()
			for k := range lrs.Len() {
				v, ok := lrs.At(k).Attributes().Get("sf.type")
				if !ok || v.Str() == "" {
					t.Fatalf("%s: record %d/%d/%d has no sf.type", where, i, j, k)
				}
				if typ != "" && v.Str() != typ {
					t.Fatalf("%s: record %d/%d/%d has sf.type %s", where, i, j, k, v.Str())
				}
			}
		}
	}
	if oneResource && len(hosts) > 1 {
		t.Fatalf("%s: one message holds the records of %d host/container pairs: %v", where, len(hosts), hosts)
	}
	return ld.LogRecordCount()
}

// The trace files, through Kafka as OTLP log records and back through the
// otelkafka driver in sf-processor's OTel pipeline shape (its keys and
// kafka.config, the driver feeding the policy engine with no
// sysflowreader), give the same alerts as the trace files read directly. The topic, read with franz-go and
// decoded by the OpenTelemetry library, holds exactly one log record per
// flat event, many records per message.
func TestOTLPThroughKafkaGivesTheDirectAlerts(t *testing.T) {
	traces, events := otelTraces(t)
	brokers := testenv.Kafka(t)
	topic := testenv.Name(t, "otel")
	policyDir := shared.Path(t, "policies", "sf-processor", "runtimeintegrity")

	runConfig(t, fmt.Sprintf(`
source: {driver: file}
pipeline:
  - {processor: sysflowreader, handler: flattener, in: sysflow a, out: flat b}
  - {processor: exporter, in: flat b, export: kafka, format: otel, kafka.encoding: proto,
     kafka.brokers: %q, kafka.topic: %q, kafka.create.topics: true, kafka.partitions: 3}
`, strings.Join(brokers, ","), topic), []string{traces}, nil)

	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	records, messages := 0, 0
	for records < events {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d log records in %d messages, want %d", records, messages, events)
		}
		for _, fe := range fs.Errors() {
			t.Fatalf("fetch %s/%d: %v", fe.Topic, fe.Partition, fe.Err)
		}
		for it := fs.RecordIter(); !it.Done(); {
			r := it.Next()
			records += checkLogs(t, fmt.Sprintf("partition %d offset %d", r.Partition, r.Offset), r.Value, "", true)
			messages++
		}
	}
	if records != events {
		t.Fatalf("the topic holds %d log records, the traces %d flat events", records, events)
	}
	if messages*4 > events {
		t.Errorf("%d messages for %d records: records are not batched", messages, events)
	}
	t.Logf("%d flat events in %d Kafka messages", events, messages)

	want := directAlerts(t, traces, policyDir)
	if len(want) == 0 {
		t.Fatal("the direct run raised no alert: nothing to compare")
	}
	got := viaBus(t, fmt.Sprintf(`drivers:
  - {driver: otelkafka, out: otel otelchan, kafka.config: {bootstrap.servers: %q, group.id: %q}, kafka.topics: [%q], kafka.encoding: proto}`,
		strings.Join(brokers, ","), testenv.Name(t, "g"), topic), "otel otelchan", policyDir, len(want))
	sameMultiset(t, got, want)
	t.Logf("%d alerts, as in the direct run", len(got))
}

// The same through NATS JetStream: the stream, read with nats.go and
// decoded by the OpenTelemetry library, holds one log record per flat
// event; the NATS source with format otel gives the direct run's alerts.
func TestOTLPThroughNATSGivesTheDirectAlerts(t *testing.T) {
	traces, events := otelTraces(t)
	url := testenv.NATS(t)
	stream := testenv.Name(t, "OTEL")
	prefix := testenv.Name(t, "otel")
	policyDir := shared.Path(t, "policies", "sf-processor", "runtimeintegrity")
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	defer js.DeleteStream(context.Background(), stream)

	runConfig(t, fmt.Sprintf(`
source: {driver: file}
pipeline:
  - {processor: sysflowreader, handler: flattener, in: sysflow a, out: flat b}
  - {processor: exporter, in: flat b, export: nats, format: otel, nats.url: %q,
     nats.subject: "%s.{type}", nats.stream: %q}
`, url, prefix, stream), []string{traces}, nil)

	cons, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	info, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	n := int(info.CachedInfo().State.Msgs)
	records := 0
	for i := 0; i < n; {
		batch, err := cons.Fetch(n-i, jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		got := 0
		for m := range batch.Messages() {
			// the subject is prefix.{type}: a message holds one type
			typ := m.Subject()[strings.LastIndexByte(m.Subject(), '.')+1:]
			records += checkLogs(t, fmt.Sprintf("message %d (%s)", i+got, m.Subject()), m.Data(), typ, false)
			got++
		}
		if got == 0 {
			t.Fatalf("read %d of %d messages", i, n)
		}
		i += got
	}
	if records != events {
		t.Fatalf("the stream holds %d log records in %d messages, the traces %d flat events", records, n, events)
	}
	if n == 0 || n*4 > events {
		t.Errorf("%d messages for %d records: records are not batched", n, events)
	}

	want := directAlerts(t, traces, policyDir)
	if len(want) == 0 {
		t.Fatal("the direct run raised no alert: nothing to compare")
	}
	got := viaBus(t, fmt.Sprintf(`source: {driver: nats, format: otel, url: %q, subject: "%s.>", stream: %q, durable: %q}`,
		url, prefix, stream, testenv.Name(t, "d")), "", policyDir, len(want))
	sameMultiset(t, got, want)
	t.Logf("%d flat events in %d NATS messages; %d alerts, as in the direct run", events, n, len(got))
}

// alertKey is what identifies an alert across encodings: its event time,
// type, process, the matched rules in order and the highest priority.
func alertKey(ts int64, typ string, pid int64, rules []string, priority string) string {
	return fmt.Sprintf("%d %s %d [%s] %s", ts, typ, pid, strings.Join(rules, ","), priority)
}

// Alerts written as OTLP log records carry their rules and a severity
// from their highest priority: the runtimeintegrity alerts of the traces,
// sent to Kafka with format otel and decoded by the OpenTelemetry library,
// are the direct run's JSON alerts (read with encoding/json), as
// multisets, with WARN, ERROR and FATAL for low, medium and high.
func TestOTLPAlertsThroughKafka(t *testing.T) {
	traces, _ := otelTraces(t)
	brokers := testenv.Kafka(t)
	topic := testenv.Name(t, "otelalerts")
	policyDir := shared.Path(t, "policies", "sf-processor", "runtimeintegrity")

	want := map[string]int{}
	direct := directAlerts(t, traces, policyDir)
	for _, line := range direct {
		var a struct {
			TS       int64               `json:"ts"`
			Type     string              `json:"type"`
			Proc     struct{ PID int64 } `json:"proc"`
			Policies []struct {
				ID       string `json:"id"`
				Priority int    `json:"priority"`
			} `json:"policies"`
		}
		if err := json.Unmarshal([]byte(line), &a); err != nil {
			t.Fatalf("direct alert %.200s: %v", line, err)
		}
		var rules []string
		top := 0
		for _, p := range a.Policies {
			rules = append(rules, p.ID)
			top = max(top, p.Priority)
		}
		want[alertKey(a.TS, a.Type, a.Proc.PID, rules, []string{"", "low", "medium", "high"}[top])]++
	}
	if len(direct) == 0 {
		t.Fatal("the direct run raised no alert: nothing to compare")
	}

	runConfig(t, fmt.Sprintf(`
source: {driver: file}
pipeline:
  - {processor: sysflowreader, handler: flattener, in: sysflow a, out: flat b}
  - {processor: policyengine, in: flat b, out: evt c, mode: alert, policies: %q}
  - {processor: exporter, in: evt c, export: kafka, format: otel,
     kafka.brokers: %q, kafka.topic: %q, kafka.create.topics: true, kafka.partitions: 2}
`, policyDir, strings.Join(brokers, ","), topic), []string{traces}, nil)

	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	severity := map[string]plog.SeverityNumber{"low": plog.SeverityNumberWarn, "medium": plog.SeverityNumberError, "high": plog.SeverityNumberFatal}
	got := 0
	for got < len(direct) {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d alerts of %d", got, len(direct))
		}
		for it := fs.RecordIter(); !it.Done(); {
			ld, err := (&plog.ProtoUnmarshaler{}).UnmarshalLogs(it.Next().Value)
			if err != nil {
				t.Fatal(err)
			}
			for i := range ld.ResourceLogs().Len() {
				sls := ld.ResourceLogs().At(i).ScopeLogs()
				for j := range sls.Len() {
					lrs := sls.At(j).LogRecords()
					for k := range lrs.Len() {
						lr := lrs.At(k)
						attrs := lr.Attributes()
						var rules []string
						if v, ok := attrs.Get("sf.alert.rules"); ok {
							for _, r := range v.Slice().All() {
								rules = append(rules, r.Str())
							}
						}
						typ, _ := attrs.Get("sf.type")
						var pid int64
						if v, ok := attrs.Get("sf.proc.pid"); ok {
							pid = v.Int()
						}
						if sev, ok := severity[lr.SeverityText()]; !ok || sev != lr.SeverityNumber() || lr.EventName() != "sysflow.alert" {
							t.Fatalf("alert with severity %s %q, event name %q", lr.SeverityNumber(), lr.SeverityText(), lr.EventName())
						}
						want[alertKey(int64(lr.Timestamp()), typ.Str(), pid, rules, lr.SeverityText())]--
						got++
					}
				}
			}
		}
	}
	for k, n := range want {
		if n != 0 {
			t.Errorf("%+d times more in the direct run than on the topic: %s", n, k)
		}
	}
	t.Logf("%d alerts on the topic, as in the direct run", got)
}

// With a small kafka.batch.bytes the OTLP messages stay within it (kafka-go
// refuses a larger one): every message on the topic, read with franz-go,
// is at most batch.bytes long, and messages still hold many records.
func TestOTLPMessagesFitKafkaBatchBytes(t *testing.T) {
	traces, events := otelTraces(t)
	brokers := testenv.Kafka(t)
	topic := testenv.Name(t, "otelsmall")
	const batchBytes = 64 << 10
	runConfig(t, fmt.Sprintf(`
source: {driver: file}
pipeline:
  - {processor: sysflowreader, handler: flattener, in: sysflow a, out: flat b}
  - {processor: exporter, in: flat b, export: kafka, format: otel, kafka.batch.bytes: %d,
     kafka.brokers: %q, kafka.topic: %q, kafka.create.topics: true, kafka.partitions: 1}
`, batchBytes, strings.Join(brokers, ","), topic), []string{traces}, nil)
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	records, messages, largest := 0, 0, 0
	for records < events {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d log records of %d", records, events)
		}
		for it := fs.RecordIter(); !it.Done(); {
			r := it.Next()
			largest = max(largest, len(r.Value))
			records += checkLogs(t, fmt.Sprintf("offset %d", r.Offset), r.Value, "", true)
			messages++
		}
	}
	if largest > batchBytes {
		t.Fatalf("a message of %d bytes, over kafka.batch.bytes %d", largest, batchBytes)
	}
	if messages*4 > events {
		t.Errorf("%d messages for %d records", messages, events)
	}
	t.Logf("%d records in %d messages of at most %d bytes", records, messages, largest)
}
