package connector_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sfconnector/sfconnector/config"
	"github.com/sfconnector/sfconnector/connector"
	"github.com/sfconnector/sfconnector/testenv/esbulk"
	"github.com/sfconnector/sfconnector/testenv/shared"
)

// esAlertConfig is an alert pipeline (the reference's runtimeintegrity
// policies) with exporters written by the caller.
const esAlertConfig = `settings:
  retry.max: 20
  retry.initial: 5ms
  deadletter.path: {{DEADLETTERS}}
pipeline:
  - processor: sysflowreader
    handler: flattener
    in: sysflow sysflowchan
    out: flat flattenerchan
  - processor: policyengine
    in: flat flattenerchan
    out: evt eventchan
    mode: alert
    monitor: none
    policies: {{POLICIES}}
{{EXPORTERS}}`

const esFileExporter = `  - processor: exporter
    in: evt eventchan
    export: file
    format: ecs
    file.path: {{OUT}}
`

const esExporter = `  - processor: exporter
    in: evt eventchan
    export: es
    es.addresses: {{ES}}
    es.index: sysflow-%Y.%m.%d
    es.bulk.flushBuffer: 20000
    es.bulk.numWorkers: 2
    es.retry.max: 3
    es.retry.initial: 1ms
`

func runESPipeline(t *testing.T, cfgText string, input string) *connector.Metrics {
	t.Helper()
	cfg, err := config.Parse("es.yaml", []byte(cfgText), nil)
	if err != nil {
		t.Fatal(err)
	}
	metrics := connector.NewMetrics(nil)
	built, err := connector.Build(context.Background(), cfg, connector.Options{Inputs: []string{input}, Logger: quietLog(),
		Version: "test", Metrics: metrics})
	if err != nil {
		t.Fatal(err)
	}
	// a loaded machine: generous, but a hang still fails
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := built.Run(ctx); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if ctx.Err() != nil {
		t.Fatal("the pipeline did not finish within 3 minutes")
	}
	return metrics
}

func canonicalJSON(t *testing.T, doc []byte) string {
	t.Helper()
	var v any
	if err := json.Unmarshal(doc, &v); err != nil {
		t.Fatalf("not JSON: %v: %s", err, doc)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func esItems(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "sfconnector_elasticsearch_items_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "outcome" {
					out[l.GetValue()] += m.GetCounter().GetValue()
				}
			}
		}
	}
	return out
}

// Every alert of the real traces reaches the Elasticsearch stand-in exactly
// once although the server refuses whole requests and single items with
// 429, loses the answer to a request it wrote and restarts, and refuses one
// process's documents with a mapping error; those are in the dead letters
// with the server's reason. The expectation is a direct run of the same
// traces and policies into a file with format ecs (encoding/ecs).
func TestElasticsearchAlertsExactlyOnce(t *testing.T) {
	policies := shared.Path(t, "policies", "sf-processor", "runtimeintegrity")
	dir := t.TempDir()
	// every trace but tcp.sf: it is a second recording of the capture in
	// collector-client-server-tcp-client-server.sf, whose records the sink
	// rightly stores once (same _id), while the direct run writes them twice
	traces := filepath.Join(dir, "traces")
	if err := os.Mkdir(traces, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tr := range shared.Traces(t) {
		if filepath.Base(tr) == "tcp.sf" {
			continue
		}
		if err := os.Symlink(tr, filepath.Join(traces, filepath.Base(tr))); err != nil {
			t.Fatal(err)
		}
	}
	fill := func(exporters, out, es string) string {
		text := strings.Replace(esAlertConfig, "{{EXPORTERS}}", exporters, 1)
		return strings.NewReplacer("{{OUT}}", out, "{{ES}}", es, "{{POLICIES}}", policies,
			"{{DEADLETTERS}}", filepath.Join(dir, "dead-"+filepath.Base(out))).Replace(text)
	}

	// the direct run
	direct := filepath.Join(dir, "direct.json")
	runESPipeline(t, fill(esFileExporter, direct, ""), traces)
	lines := readLines(t, direct)
	if len(lines) < 100 {
		t.Fatalf("%d alerts: the test wants a real alert stream", len(lines))
	}
	want := map[string]int{}
	var pid float64 = -1
	for _, l := range lines {
		want[canonicalJSON(t, l)]++
		var d struct {
			Process struct{ PID *float64 } `json:"process"`
		}
		json.Unmarshal(l, &d)
		if pid < 0 && d.Process.PID != nil {
			pid = *d.Process.PID
		}
	}
	hasPID := func(doc map[string]any) bool {
		p, _ := doc["process"].(map[string]any)
		n, ok := p["pid"].(float64)
		return ok && n == pid
	}
	wantStored := map[string]int{}
	wantRejected := 0
	for _, l := range lines {
		var doc map[string]any
		json.Unmarshal(l, &doc)
		if hasPID(doc) {
			wantRejected++
		} else {
			wantStored[canonicalJSON(t, l)]++
		}
	}
	if wantRejected == 0 || wantRejected == len(lines) {
		t.Fatalf("process %v has %d of %d alerts: pick another", pid, wantRejected, len(lines))
	}

	srv := esbulk.Start(t)
	srv.RejectRequests(3)
	srv.RejectItems(4)
	srv.DropAfterApply(6)
	srv.MappingError(func(doc map[string]any) string {
		if hasPID(doc) {
			return "failed to parse field [process.pid] of type [long] in document"
		}
		return ""
	})
	viaES := filepath.Join(dir, "via-es.json")
	metrics := runESPipeline(t, fill(esExporter+esFileExporter, viaES, srv.URL()), traces)

	// the file exporter beside it wrote what the direct run wrote
	if got := readLines(t, viaES); len(got) != len(lines) {
		t.Fatalf("the file exporter beside es wrote %d alerts, the direct run %d", len(got), len(lines))
	}
	stored := map[string]int{}
	for index, docs := range srv.Docs() {
		if !strings.HasPrefix(index, "sysflow-") {
			t.Errorf("index %q", index)
		}
		for _, d := range docs {
			stored[canonicalJSON(t, d)]++
		}
	}
	if !reflect.DeepEqual(stored, wantStored) {
		missing, extra := 0, 0
		for k, n := range wantStored {
			if stored[k] < n {
				missing += n - stored[k]
			}
		}
		for k, n := range stored {
			if wantStored[k] < n {
				extra += n - wantStored[k]
			}
		}
		t.Fatalf("the server holds %d documents, want %d: %d missing, %d not expected", len(stored), len(wantStored), missing, extra)
	}
	for _, r := range srv.Received() {
		if want[canonicalJSON(t, r.Raw)] == 0 {
			t.Fatalf("the server received a document the direct run did not write: %s", r.Raw)
		}
	}
	if srv.Restarts() != 1 {
		t.Fatalf("%d restarts of the stand-in, want 1", srv.Restarts())
	}
	items := esItems(t, metrics.Registry)
	if items["rejected"] != float64(wantRejected) || items["duplicate"] == 0 || items["retried"] == 0 ||
		items["indexed"]+items["duplicate"] < float64(len(wantStored)) {
		t.Fatalf("sfconnector_elasticsearch_items_total %v: want %d rejected, duplicates after the lost answer, retries", items, wantRejected)
	}

	t.Logf("%d alerts, %d refused; %d bulk requests; items %v", len(lines), wantRejected, srv.Requests(), items)

	// the dead letters: the refused alerts, each with the server's reason
	dead := readLines(t, filepath.Join(dir, "dead-via-es.json"))
	if len(dead) != wantRejected {
		t.Fatalf("%d dead letters, want %d", len(dead), wantRejected)
	}
	for _, l := range dead {
		var d struct {
			Reason string
			Record struct {
				Proc struct{ PID float64 }
			}
		}
		if err := json.Unmarshal(l, &d); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(d.Reason, "mapper_parsing_exception") || !strings.Contains(d.Reason, "process.pid") || d.Record.Proc.PID != pid {
			t.Fatalf("dead letter %s: want the mapping error and process %v", l, pid)
		}
	}
}

// sf-processor's pipeline.elk.json loads: only its policy path, which
// points into the reference's source tree, is missing; its inline
// es.password is accepted with a warning that does not print it.
func TestElasticsearchReferencePipeline(t *testing.T) {
	path := shared.Path(t, "pipelines", "sf-processor", "pipeline.elk.json")
	cfg, err := config.Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	err = connector.Check(context.Background(), cfg, connector.Options{Logger: log})
	if err == nil {
		t.Fatal("the reference's policy path exists here: the test expected it missing")
	}
	for _, line := range strings.Split(err.Error(), "\n") {
		if !strings.Contains(line, "filter.yaml") {
			t.Errorf("a problem other than the policy path: %s", line)
		}
	}
	raw, _ := os.ReadFile(path)
	var ref struct{ Pipeline []map[string]any }
	if err := json.Unmarshal(raw, &ref); err != nil {
		t.Fatal(err)
	}
	password, _ := ref.Pipeline[2]["es.password"].(string)
	if password == "" {
		t.Fatal("pipeline.elk.json has no inline es.password")
	}
	if !strings.Contains(logs.String(), "es.password is written in the configuration") || strings.Contains(logs.String(), password) {
		t.Fatalf("warning: %s", logs.String())
	}
}

// The environment forms: EXPORTER_ES_INDEX (the <PLUGIN>_<KEY> override)
// replaces es.index, and SFCONNECTOR_ES_PASSWORD gives the basic-auth
// password, which then reaches the server and nothing warns about.
func TestElasticsearchFromEnvironment(t *testing.T) {
	srv := esbulk.Start(t)
	t.Setenv("SFCONNECTOR_ES_PASSWORD", "from-env")
	text := `pipeline:
  - processor: sysflowreader
    handler: flattener
    in: sysflow sysflowchan
    out: flat flattenerchan
  - processor: exporter
    in: flat flattenerchan
    export: es
    es.addresses: ` + srv.URL() + `
    es.index: not-this-one
    es.username: sysflow
`
	cfg, err := config.Parse("es.yaml", []byte(text), func(k string) (string, bool) {
		if k == "EXPORTER_ES_INDEX" {
			return "env-%Y", true
		}
		return "", false
	})
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	built, err := connector.Build(context.Background(), cfg, connector.Options{Inputs: []string{shared.Path(t, "traces", "httpd.sf")}, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := built.Run(ctx); err != nil {
		t.Fatal(err)
	}
	docs := srv.Docs()
	if len(docs) == 0 {
		t.Fatal("nothing indexed")
	}
	for index := range docs {
		if !strings.HasPrefix(index, "env-") {
			t.Errorf("index %q: EXPORTER_ES_INDEX not applied", index)
		}
	}
	for _, a := range srv.Auth() {
		if a != "Basic "+base64.StdEncoding.EncodeToString([]byte("sysflow:from-env")) {
			t.Fatalf("Authorization %q", a)
		}
	}
	if strings.Contains(logs.String(), "es.password") || strings.Contains(logs.String(), "from-env") {
		t.Fatalf("logs: %s", logs.String())
	}
}
