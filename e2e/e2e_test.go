//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sfconnector/sfconnector/testenv"
	"github.com/sfconnector/sfconnector/testenv/shared"
)

// The checks are counted across the run for the closing line.
var passed, failed atomic.Int64

func TestMain(m *testing.M) {
	code := m.Run()
	fmt.Printf("%d passed, %d failed\n", passed.Load(), failed.Load())
	if failed.Load() > 0 && code == 0 {
		code = 1
	}
	os.Exit(code)
}

// check runs one named check as a subtest and counts it.
func check(t *testing.T, name string, fn func(t *testing.T)) {
	ok := t.Run(name, fn)
	if ok {
		passed.Add(1)
	} else {
		failed.Add(1)
	}
}

const (
	// rounds is how many times the trace set is replayed: the alerts are
	// few (about 640 a round), so the topic is made long enough for the
	// faults to land while the consumers still have work.
	rounds     = 12
	partitions = 6
	group      = "e2e-group"
	// killAt is the share of the busiest partition the group has committed
	// when the consumer holding it is killed.
	killAt = 0.25
)

func TestBusPipeline(t *testing.T) {
	traces := shared.Traces(t)
	policyDir := shared.Path(t, "policies", "sf-processor", "runtimeintegrity")

	// What the edge must put on the topic, from the raw records: each
	// event once per round with its key, and per key the replay order.
	wantEvents := map[string]int{}
	wantOrder := map[string][]string{}
	known := map[string]string{}
	expected := expectFromTraces(t, traces)
	for range rounds {
		for _, te := range expected {
			for _, e := range te.events {
				wantEvents[e.key+" "+e.id]++
				wantOrder[e.key] = append(wantOrder[e.key], e.id)
				known[e.key], known[e.id] = e.key, e.id
			}
		}
	}
	nEvents := total(wantEvents)
	t.Logf("%d flat events expected under %d keys: %d traces x %d rounds", nEvents, len(wantOrder), len(traces), rounds)

	bin := build(t)
	dir := t.TempDir()
	cluster := testenv.StartKafka(t, testenv.KafkaOptions{Partitions: partitions})
	brokers := cluster.Addrs()
	registry := testenv.SchemaRegistry(t)
	natsURL := testenv.NATS(t)
	topic := testenv.Name(t, "e2e")
	stream := testenv.Name(t, "E2E")
	subject := testenv.Name(t, "e2e") + ".{type}.{node}"
	t.Cleanup(func() {
		nc, err := nats.Connect(natsURL)
		if err == nil {
			js, _ := jetstream.New(nc)
			_ = js.DeleteStream(context.Background(), stream)
			nc.Close()
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	// ---- The edge: replay -> socket -> sfconnector -> Kafka, no faults.
	sock := filepath.Join(dir, "sysflow.sock")
	edgeCfg := filepath.Join(dir, "edge.yaml")
	writeFile(t, edgeCfg, fmt.Sprintf(`source: {driver: socket, path: %q}
settings: {shutdown.timeout: 20s}
pipeline:
  - {processor: sysflowreader, handler: flattener, in: sysflow sysflowchan, out: flat flattenerchan}
  - processor: exporter
    in: flat flattenerchan
    export: kafka
    format: avro
    kafka.brokers: %q
    kafka.topic: %q
    kafka.registry.url: %q
    kafka.encoding: flat
    kafka.acks: all
    kafka.compression: zstd
    kafka.create.topics: true
    kafka.partitions: %d
`, sock, strings.Join(brokers, ","), topic, registry, partitions))
	edge := start(t, bin, "edge", edgeCfg)
	replayArgs := []string{"replay", "--to", "unix://" + sock, "--wait", "30s"}
	for range rounds {
		replayArgs = append(replayArgs, traces...)
	}
	began := time.Now()
	replayOut, replayErr := tool(ctx, bin, replayArgs...)
	check(t, "EdgeReplay", func(t *testing.T) {
		if replayErr != nil {
			t.Fatalf("sfconnector replay: %v\n%s\nedge log:\n%s", replayErr, replayOut, edge.tail())
		}
		t.Logf("%s in %s", strings.TrimSpace(replayOut), time.Since(began).Round(100*time.Millisecond))
	})
	// The replay returns once the socket took everything; the edge then
	// still writes. Wait until the topic stops growing before stopping it.
	var onTopic int64
	for last, still := int64(-1), 0; still < 6 && time.Since(began) < 3*time.Minute; {
		time.Sleep(500 * time.Millisecond)
		end, err := endOffsets(ctx, brokers, topic)
		if err != nil {
			continue
		}
		onTopic = 0
		for _, e := range end {
			onTopic += e
		}
		if onTopic == last {
			still++
		} else {
			still = 0
		}
		if onTopic >= int64(nEvents) {
			break
		}
		last = onTopic
	}
	t.Logf("topic holds %d messages %s after the replay began", onTopic, time.Since(began).Round(100*time.Millisecond))
	check(t, "EdgeGracefulShutdown", func(t *testing.T) {
		if err := edge.stop(30 * time.Second); err != nil {
			t.Fatalf("edge: %v\n%s", err, edge.tail())
		}
	})

	reg := newRegistryCodecs(registry)
	recs, undecodable, readErr := readTopic(ctx, brokers, topic, reg, known)
	check(t, "EdgeRegistryAvro", func(t *testing.T) {
		if readErr != nil {
			t.Fatalf("reading the topic with franz-go: %v", readErr)
		}
		if len(undecodable) > 0 {
			t.Errorf("%d+ messages do not decode with the registry's schema:\n%s", len(undecodable), strings.Join(undecodable, "\n"))
		}
		registered, err := reg.subjectIDs(ctx, topic+"-value")
		if err != nil {
			t.Fatalf("registry subject %s-value: %v", topic, err)
		}
		used := map[uint32]int{}
		for _, r := range recs {
			used[r.schemaID]++
		}
		for id, n := range used {
			if !slices.Contains(registered, id) {
				t.Errorf("%d messages carry schema id %d, not registered under %s-value (ids %v)", n, id, topic, registered)
			}
		}
		t.Logf("%d messages decoded with goavro; schema ids used %v, registered under %s-value: %v", len(recs), used, topic, registered)
	})
	check(t, "EdgeEveryEventOnce", func(t *testing.T) {
		got := map[string]int{}
		for _, r := range recs {
			got[r.key+" "+r.id]++
		}
		d := diffMultiset(wantEvents, got)
		t.Logf("topic: %d decoded events, %d expected; %d missing, %d unexpected, %d duplicates", len(recs), nEvents, d.missing, d.extra, d.dups)
		if d.missing > 0 {
			t.Errorf("%d events missing from the topic, e.g. %s", d.missing, d.exMissing)
		}
		if d.extra > 0 {
			t.Errorf("%d events on the topic that no trace record gives (or under another key), e.g. %s", d.extra, d.exExtra)
		}
		if d.dups > 0 {
			t.Errorf("%d events on the topic more than once", d.dups)
		}
	})
	check(t, "EdgeOrderPerKey", func(t *testing.T) {
		sort.Slice(recs, func(i, j int) bool {
			if recs[i].partition != recs[j].partition {
				return recs[i].partition < recs[j].partition
			}
			return recs[i].offset < recs[j].offset
		})
		gotOrder := map[string][]string{}
		parts := map[string]map[int32]bool{}
		for _, r := range recs {
			gotOrder[r.key] = append(gotOrder[r.key], r.id)
			if parts[r.key] == nil {
				parts[r.key] = map[int32]bool{}
			}
			parts[r.key][r.partition] = true
		}
		for key, want := range wantOrder {
			if len(parts[key]) > 1 {
				t.Errorf("key %s spread over partitions %v", key, parts[key])
			}
			got := gotOrder[key]
			for i := range min(len(got), len(want)) {
				if got[i] != want[i] {
					t.Errorf("key %s: record %d of %d out of replay order:\n got  %s\n want %s", key, i, len(want), got[i], want[i])
					break
				}
			}
			if len(got) != len(want) {
				t.Errorf("key %s: %d records, want %d", key, len(got), len(want))
			}
		}
	})

	// ---- The cluster: three consumers in one group, policies in alert
	// mode, alerts to NATS JetStream and a file each, one SIGKILLed and the
	// broker restarted while they work.
	policyStep := fmt.Sprintf(`  - {processor: sysflowreader, handler: flattener, in: sysflow sysflowchan, out: flat flattenerchan}
  - processor: policyengine
    in: flat flattenerchan
    out: evt eventchan
    mode: alert
    policies: %q
`, policyDir)

	// The reference: one process reading the trace files directly.
	directOut := filepath.Join(dir, "direct.jsonl")
	directCfg := filepath.Join(dir, "direct.yaml")
	writeFile(t, directCfg, "pipeline:\n"+policyStep+fmt.Sprintf(`  - {processor: exporter, in: evt eventchan, export: file, format: json, file.path: %q}
`, directOut))
	runOut, runErr := tool(ctx, bin, append([]string{"run", "-c", directCfg}, traces...)...)
	direct, directBad, _, directErr := alertLines(directOut)
	wantAlerts := map[string]int{}
	for k, n := range direct {
		wantAlerts[k] = n * rounds
	}
	check(t, "DirectRunAlerts", func(t *testing.T) {
		if runErr != nil {
			t.Fatalf("sfconnector run -c direct.yaml TRACES: %v\n%s", runErr, runOut)
		}
		if directErr != nil {
			t.Fatal(directErr)
		}
		if directBad > 0 || total(direct) == 0 {
			t.Fatalf("direct run wrote %d alerts and %d other lines", total(direct), directBad)
		}
		t.Logf("direct run: %d alerts (%d distinct) from the trace files; %d expected from %d rounds", total(direct), len(direct), total(wantAlerts), rounds)
	})

	var outFiles []string
	var consumers []*proc
	for i := range 3 {
		out := filepath.Join(dir, fmt.Sprintf("consumer%d.jsonl", i))
		outFiles = append(outFiles, out)
		cfg := filepath.Join(dir, fmt.Sprintf("consumer%d.yaml", i))
		writeFile(t, cfg, fmt.Sprintf(`source:
  driver: kafka
  brokers: %q
  topic: %q
  group: %s
  start: earliest
  format: avro
  registry.url: %q
settings: {shutdown.timeout: 20s, retry.max: 50}
pipeline:
`, strings.Join(brokers, ","), topic, group, registry)+policyStep+fmt.Sprintf(`  - processor: exporter
    in: evt eventchan
    export: nats
    format: json
    nats.url: %q
    nats.subject: %q
    nats.jetstream: true
    nats.stream: %q
  - processor: exporter
    in: evt eventchan
    export: file
    format: json
    file.path: %q
`, natsURL, subject, stream, out))
		consumers = append(consumers, start(t, bin, fmt.Sprintf("consumer%d", i), cfg))
	}
	consumersBegan := time.Now()

	// The busiest partition (the big trace's key) decides when to strike.
	end, err := endOffsets(ctx, brokers, topic)
	if err != nil {
		t.Fatal(err)
	}
	var parts []int32
	var hot int32
	var endTotal int64
	for p, e := range end {
		parts = append(parts, p)
		endTotal += e
		if e > end[hot] {
			hot = p
		}
	}
	sort.Slice(parts, func(i, j int) bool { return parts[i] < parts[j] })
	share := func(c map[int32]int64) (sum int64) {
		for _, p := range parts {
			sum += max(c[p], 0)
		}
		return sum
	}

	var atKill, atRestart map[int32]int64
	for {
		c, err := committedOffsets(ctx, brokers, group, topic, parts)
		if err == nil && float64(c[hot]) >= killAt*float64(end[hot]) {
			break
		}
		if time.Since(consumersBegan) > 2*time.Minute {
			t.Fatalf("after 2 minutes the group committed %v of %v (err %v)\nconsumer0 log:\n%s", c, end, err, consumers[0].tail())
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Kill whichever consumer holds the busiest partition, so the others
	// must take over its unfinished work. The broker knows members only by
	// generated ids, so the holder is found by its output: the one process
	// whose file keeps gaining alerts of the partition's key (its container).
	hotKey := ""
	for _, r := range recs {
		if r.partition == hot && (hotKey == "" || len(wantOrder[r.key]) > len(wantOrder[hotKey])) {
			hotKey = r.key
		}
	}
	marker := []byte(`"container":{"id":"` + hotKey[strings.LastIndexByte(hotKey, ':')+1:] + `"`)
	victim, victimErr := -1, error(nil)
	for try := 0; victim < 0 && victimErr == nil && try < 20; try++ {
		victim, victimErr = busyWith(outFiles, marker, 200*time.Millisecond)
	}
	if victim < 0 {
		if victimErr == nil {
			victimErr = fmt.Errorf("no single consumer writes alerts of key %s", hotKey)
		}
		victim = 1 // still strike, and let FaultsMidStream report why
	}
	consumers[victim].kill()
	// Dead, it commits nothing more: what remains of its partition past
	// this point the others must do.
	atKill, _ = committedOffsets(ctx, brokers, group, topic, parts)
	t.Logf("%s (holding partition %d, key %s, committed %d of %d records) killed with SIGKILL; the group had committed %d of %d records %s after the consumers started",
		consumers[victim].name, hot, hotKey, atKill[hot], end[hot], share(atKill), endTotal, time.Since(consumersBegan).Round(100*time.Millisecond))
	atRestart, _ = committedOffsets(ctx, brokers, group, topic, parts)
	if err := cluster.Restart(2 * time.Second); err != nil {
		t.Fatal(err)
	}
	restarted := time.Now()
	t.Logf("broker restarted after 2s down; the group had committed %d of %d records before it went down", share(atRestart), endTotal)
	check(t, "FaultsMidStream", func(t *testing.T) {
		if victimErr != nil {
			t.Errorf("could not tell which consumer holds partition %d: %v (killed %s at a guess)", hot, victimErr, consumers[victim].name)
		}
		if atKill[hot] >= end[hot] {
			t.Errorf("the killed consumer had committed its partition %d to the end (%d of %d): nothing left to take over", hot, atKill[hot], end[hot])
		}
		if share(atRestart) >= endTotal {
			t.Errorf("the broker restarted after the group had committed everything (%d of %d)", share(atRestart), endTotal)
		}
	})

	// The survivors finish: every partition committed to its end.
	var committed map[int32]int64
	for {
		c, err := committedOffsets(ctx, brokers, group, topic, parts)
		if err == nil {
			committed = c
			if share(c) == endTotal {
				break
			}
		}
		if time.Since(restarted) > 3*time.Minute {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Logf("group committed %d of %d records %s after the broker restart (%s after the consumers started)",
		share(committed), endTotal, time.Since(restarted).Round(100*time.Millisecond), time.Since(consumersBegan).Round(100*time.Millisecond))
	check(t, "GroupCommittedEverything", func(t *testing.T) {
		for _, p := range parts {
			if committed[p] != end[p] {
				t.Errorf("partition %d: committed %d, end %d", p, committed[p], end[p])
			}
		}
	})
	check(t, "ConsumersGracefulShutdown", func(t *testing.T) {
		for i, c := range consumers {
			if i == victim {
				continue
			}
			if err := c.stop(30 * time.Second); err != nil {
				t.Errorf("%s: %v\n%s", c.name, err, c.tail())
			}
		}
	})

	var dupSummary []string
	compareAlerts := func(t *testing.T, where string, got map[string]int, bad int) {
		d := diffMultiset(wantAlerts, got)
		t.Logf("%s: %d alerts, %d expected; %d missing, %d the direct run lacks, %d duplicates (at-least-once redelivery)",
			where, total(got), total(wantAlerts), d.missing, d.extra, d.dups)
		dupSummary = append(dupSummary, fmt.Sprintf("%s %d", where, d.dups))
		if bad > 0 {
			t.Logf("%s: %d lines or messages are not alerts (lines cut by the SIGKILL)", where, bad)
		}
		if d.missing > 0 {
			t.Errorf("%s: %d alerts missing, e.g. %s", where, d.missing, d.exMissing)
		}
		if d.extra > 0 {
			t.Errorf("%s: %d alerts the direct run does not produce, e.g. %s", where, d.extra, d.exExtra)
		}
	}
	check(t, "NATSAlertsEqualDirectRun", func(t *testing.T) {
		got, bad, err := natsAlerts(ctx, natsURL, stream)
		if err != nil {
			t.Fatalf("reading stream %s: %v", stream, err)
		}
		if bad > 0 {
			t.Errorf("%d NATS messages are not alerts", bad)
		}
		compareAlerts(t, "NATS", got, 0)
	})
	check(t, "FileAlertsEqualDirectRun", func(t *testing.T) {
		got, bad, firstBad, err := alertLines(outFiles...)
		if err != nil {
			t.Fatal(err)
		}
		// Only the killed consumer may have left a cut last line.
		if bad > 1 {
			t.Errorf("%d lines of the consumers' files are not alerts, e.g. %s", bad, firstBad)
		}
		compareAlerts(t, "files", got, bad)
	})
	t.Logf("duplicates: %s", strings.Join(dupSummary, ", "))
}
