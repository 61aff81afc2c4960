//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sfconnector/sfconnector/sysflow"
	"github.com/sfconnector/sfconnector/testenv"
	"github.com/sfconnector/sfconnector/testenv/collector"
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

// eventKey identifies a flat event by what its record carries: node, type,
// time, thread, end time. The expected set comes from the raw records of the
// traces, not from the code under test.
func eventKey(node, typ string, ts, tid, endts int64) string {
	return fmt.Sprintf("%s|%s|%d|%d|%d", node, typ, ts, tid, endts)
}

// expectedEvents reads the traces' records: each PE, FE, FF, NF and KE
// becomes one flat event (FIELDS.md).
func expectedEvents(t *testing.T, files []string) map[string]int {
	want := map[string]int{}
	for _, path := range files {
		r, c, err := sysflow.OpenFile(path)
		if err != nil {
			t.Fatal(err)
		}
		node := ""
		var recs []sysflow.Record
		for {
			recs, err = r.Next(recs[:0])
			for i := range recs {
				rec := &recs[i]
				switch rec.Kind {
				case sysflow.KindHeader:
					node = rec.Header.Exporter
				case sysflow.KindProcessEvent:
					e := rec.ProcessEvent
					want[eventKey(node, "PE", e.TS, e.TID, 0)]++
				case sysflow.KindFileEvent:
					e := rec.FileEvent
					want[eventKey(node, "FE", e.TS, e.TID, 0)]++
				case sysflow.KindFileFlow:
					e := rec.FileFlow
					want[eventKey(node, "FF", e.TS, e.TID, e.EndTS)]++
				case sysflow.KindNetworkFlow:
					e := rec.NetworkFlow
					want[eventKey(node, "NF", e.TS, e.TID, e.EndTS)]++
				case sysflow.KindK8sEvent:
					want[eventKey(node, "KE", rec.K8sEvent.TS, 0, 0)]++
				}
			}
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
		}
		c.Close()
	}
	return want
}

// keyOfJSON extracts the event key from one exported JSON line.
func keyOfJSON(line []byte) (string, error) {
	var ev struct {
		Type  string `json:"type"`
		TS    int64  `json:"ts"`
		EndTS int64  `json:"endts"`
		Node  struct {
			ID string `json:"id"`
		} `json:"node"`
		Proc struct {
			TID int64 `json:"tid"`
		} `json:"proc"`
	}
	if err := json.Unmarshal(line, &ev); err != nil {
		return "", err
	}
	if ev.Type == "KE" {
		ev.EndTS = 0 // Kubernetes events carry no end time; the JSON repeats ts there
	}
	return eventKey(ev.Node.ID, ev.Type, ev.TS, ev.Proc.TID, ev.EndTS), nil
}

func repoRoot(t *testing.T) string {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Dir(wd)
}

func build(t *testing.T) string {
	bin := filepath.Join(t.TempDir(), "sfconnector")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/sfconnector")
	cmd.Dir = repoRoot(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/sfconnector: %v\n%s", err, out)
	}
	return bin
}

// proc is one sfconnector process.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan error
}

func start(t *testing.T, bin, name, config string) *proc {
	logPath := filepath.Join(filepath.Dir(config), name+".log")
	lf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "run", "-c", config)
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: logPath, done: make(chan error, 1)}
	go func() { p.done <- cmd.Wait(); lf.Close() }()
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

func (p *proc) tail() string {
	b, _ := os.ReadFile(p.log)
	if len(b) > 3000 {
		b = b[len(b)-3000:]
	}
	return string(b)
}

// stop sends SIGTERM and waits for a clean exit.
func (p *proc) stop(timeout time.Duration) error {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		return err
	case <-time.After(timeout):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%s did not exit within %s of SIGTERM", p.name, timeout)
	}
}

func writeFile(t *testing.T, path, content string) {
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// natsKeys reads every message of the stream with nats.go.
func natsKeys(ctx context.Context, url, stream string) (map[string]int, int, error) {
	nc, err := nats.Connect(url)
	if err != nil {
		return nil, 0, err
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	cons, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		return nil, 0, err
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return nil, 0, err
	}
	total := int(info.NumPending)
	got := map[string]int{}
	bad := 0
	for read := 0; read < total; {
		batch, err := cons.Fetch(1000, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			return nil, 0, err
		}
		n := 0
		for m := range batch.Messages() {
			n++
			k, err := keyOfJSON(m.Data())
			if err != nil {
				bad++
				continue
			}
			got[k]++
		}
		if n == 0 {
			break
		}
		read += n
	}
	return got, bad, nil
}

func fileKeys(paths []string) (map[string]int, int) {
	got := map[string]int{}
	bad := 0
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 16<<20)
		for sc.Scan() {
			if len(sc.Bytes()) == 0 {
				continue
			}
			k, err := keyOfJSON(sc.Bytes())
			if err != nil {
				bad++ // a line cut by SIGKILL
				continue
			}
			got[k]++
		}
		f.Close()
	}
	return got, bad
}

func covered(want, got map[string]int) (missing int, example string) {
	for k, n := range want {
		if got[k] < n {
			missing += n - got[k]
			example = k
		}
	}
	return missing, example
}

func TestBusPipeline(t *testing.T) {
	traces := shared.Traces(t)
	want := expectedEvents(t, traces)
	total := 0
	for _, n := range want {
		total += n
	}
	t.Logf("%d flat events expected from %d traces", total, len(traces))

	bin := build(t)
	dir := t.TempDir()
	cluster := testenv.StartKafka(t, testenv.KafkaOptions{Partitions: 6})
	brokers := strings.Join(cluster.Addrs(), ",")
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
    kafka.partitions: 6
`, sock, brokers, topic, registry))

	var outFiles []string
	consumerCfg := func(i int) string {
		out := filepath.Join(dir, fmt.Sprintf("consumer%d.jsonl", i))
		outFiles = append(outFiles, out)
		p := filepath.Join(dir, fmt.Sprintf("consumer%d.yaml", i))
		writeFile(t, p, fmt.Sprintf(`source:
  driver: kafka
  brokers: %q
  topic: %q
  group: e2e-group
  start: earliest
  format: avro
  registry.url: %q
settings: {shutdown.timeout: 20s, retry.max: 50}
pipeline:
  - {processor: sysflowreader, handler: flattener, in: sysflow sysflowchan, out: flat flattenerchan}
  - processor: exporter
    in: flat flattenerchan
    export: nats
    format: json
    nats.url: %q
    nats.subject: %q
    nats.jetstream: true
    nats.stream: %q
  - processor: exporter
    in: flat flattenerchan
    export: file
    format: json
    file.path: %q
`, brokers, topic, registry, natsURL, subject, stream, out))
		return p
	}

	edge := start(t, bin, "edge", edgeCfg)
	var consumers []*proc
	for i := 0; i < 3; i++ {
		consumers = append(consumers, start(t, bin, fmt.Sprintf("consumer%d", i), consumerCfg(i)))
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var replayed int64
	var replayErr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		// At a bounded rate, so the faults below land while data flows.
		replayed, replayErr = collector.Replay(ctx, collector.Options{Socket: sock, Rate: 4000, Wait: 30 * time.Second}, traces...)
	}()

	// Faults while the data flows: once NATS has a part of it, kill one
	// consumer without warning, then restart the broker.
	deadline := time.Now().Add(3 * time.Minute)
	for {
		got, _, err := natsKeys(ctx, natsURL, stream)
		n := 0
		for _, c := range got {
			n += c
		}
		if err == nil && n >= total/5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 3 minutes NATS holds %d of %d events (err %v)\nedge log:\n%s\nconsumer0 log:\n%s", n, total, err, edge.tail(), consumers[0].tail())
		}
		time.Sleep(200 * time.Millisecond)
	}
	_ = consumers[1].cmd.Process.Signal(syscall.SIGKILL)
	<-consumers[1].done
	t.Logf("consumer1 killed with SIGKILL at %d%% of the events", progress(ctx, natsURL, stream, total))
	if err := cluster.Restart(2 * time.Second); err != nil {
		t.Fatal(err)
	}
	restarted := time.Now()
	t.Logf("broker restarted after 2s down, at %d%% of the events", progress(ctx, natsURL, stream, total))
	wg.Wait()

	check(t, "ReplayDelivered", func(t *testing.T) {
		if replayErr != nil {
			t.Fatalf("replay: %v (sent %d records)", replayErr, replayed)
		}
		t.Logf("replayed %d records", replayed)
	})

	// Wait for every expected event to reach NATS.
	var got map[string]int
	var bad int
	for {
		var err error
		got, bad, err = natsKeys(ctx, natsURL, stream)
		if err == nil {
			if missing, _ := covered(want, got); missing == 0 {
				break
			}
		}
		if time.Since(restarted) > 4*time.Minute {
			break
		}
		time.Sleep(time.Second)
	}
	recovered := time.Since(restarted)

	check(t, "EveryEventReachedNATS", func(t *testing.T) {
		missing, example := covered(want, got)
		if missing > 0 {
			t.Fatalf("%d of %d events missing from NATS (e.g. %s)\nconsumer0 log:\n%s", missing, total, example, consumers[0].tail())
		}
		dups := 0
		for k, n := range got {
			if n > want[k] {
				dups += n - want[k]
			}
		}
		t.Logf("all %d events in NATS %s after the broker restart; %d duplicates (at-least-once)", total, recovered.Round(time.Second), dups)
	})
	check(t, "NATSHoldsOnlyExpectedEvents", func(t *testing.T) {
		if bad > 0 {
			t.Errorf("%d NATS messages are not JSON events", bad)
		}
		for k := range got {
			if want[k] == 0 {
				t.Fatalf("NATS holds an event no trace has: %s", k)
			}
		}
	})

	// Stop the consumers cleanly: they must flush and exit 0.
	check(t, "GracefulShutdown", func(t *testing.T) {
		for i, c := range consumers {
			if i == 1 {
				continue
			}
			if err := c.stop(30 * time.Second); err != nil {
				t.Errorf("%s: %v\n%s", c.name, err, c.tail())
			}
		}
		if err := edge.stop(30 * time.Second); err != nil {
			t.Errorf("edge: %v\n%s", err, edge.tail())
		}
	})
	check(t, "EveryEventInTheFiles", func(t *testing.T) {
		fgot, cut := fileKeys(outFiles)
		if missing, example := covered(want, fgot); missing > 0 {
			t.Fatalf("%d of %d events missing from the consumers' files (e.g. %s)", missing, total, example)
		}
		t.Logf("files cover every event; %d lines cut by the SIGKILL", cut)
	})
	check(t, "GroupCommittedEverything", func(t *testing.T) {
		committed, end := groupOffsets(t, cluster.Addrs(), "e2e-group", topic)
		if len(end) == 0 {
			t.Fatal("no partitions listed")
		}
		for p, e := range end {
			if committed[p] != e {
				t.Errorf("partition %d: committed %d, end %d", p, committed[p], e)
			}
		}
	})
	check(t, "KafkaTopicHoldsEveryEvent", func(t *testing.T) {
		n := countTopic(t, cluster.Addrs(), topic, total)
		if n < total {
			t.Fatalf("topic holds %d messages, %d events were forwarded", n, total)
		}
		t.Logf("topic holds %d messages for %d events", n, total)
	})
}

// groupOffsets returns the group's committed offsets and the partitions'
// end offsets, asked with franz-go's raw requests.
func groupOffsets(t *testing.T, brokers []string, group, topic string) (committed, end map[int32]int64) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	of := kmsg.NewPtrOffsetFetchRequest()
	of.Group = group
	oft := kmsg.NewOffsetFetchRequestTopic()
	oft.Topic = topic
	oft.Partitions = []int32{0, 1, 2, 3, 4, 5}
	of.Topics = append(of.Topics, oft)
	resp, err := of.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	committed = map[int32]int64{}
	for _, rt := range resp.Topics {
		for _, p := range rt.Partitions {
			committed[p.Partition] = p.Offset
		}
	}
	lo := kmsg.NewPtrListOffsetsRequest()
	lt := kmsg.NewListOffsetsRequestTopic()
	lt.Topic = topic
	for p := int32(0); p < 6; p++ {
		lp := kmsg.NewListOffsetsRequestTopicPartition()
		lp.Partition = p
		lp.Timestamp = -1 // the end
		lt.Partitions = append(lt.Partitions, lp)
	}
	lo.Topics = append(lo.Topics, lt)
	lresp, err := lo.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	end = map[int32]int64{}
	for _, rt := range lresp.Topics {
		for _, p := range rt.Partitions {
			end[p.Partition] = p.Offset
		}
	}
	return committed, end
}

// progress is the share of the expected events NATS holds, in percent.
func progress(ctx context.Context, url, stream string, total int) int {
	got, _, err := natsKeys(ctx, url, stream)
	if err != nil {
		return -1
	}
	n := 0
	for _, c := range got {
		n += c
	}
	return 100 * n / total
}

// countTopic counts the topic's messages with franz-go.
func countTopic(t *testing.T, brokers []string, topic string, atLeast int) int {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n := 0
	for n < atLeast {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			break
		}
		n += fs.NumRecords()
	}
	return n
}
