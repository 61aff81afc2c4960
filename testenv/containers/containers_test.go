package containers

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/network"
	"github.com/testcontainers/testcontainers-go/wait"
)

// repoRoot is the sfconnector repository, seen from this directory.
const repoRoot = "../.."

func apply(t *testing.T, opts ...testcontainers.CustomizeRequestOption) (*testcontainers.GenericContainerRequest, error) {
	t.Helper()
	req := &testcontainers.GenericContainerRequest{}
	for _, o := range opts {
		if err := o.Customize(req); err != nil {
			return req, err
		}
	}
	return req, nil
}

func TestOptions(t *testing.T) {
	t.Run("WithConfig", func(t *testing.T) {
		req, err := apply(t, WithConfig("edge.yaml", []byte("pipeline: []\n")))
		if err != nil {
			t.Fatal(err)
		}
		if req.Env["CONFIG_PATH"] != "/etc/sfconnector/edge.yaml" {
			t.Errorf("CONFIG_PATH = %q", req.Env["CONFIG_PATH"])
		}
		if v, ok := req.Env["INPUT_PATH"]; !ok || v != "" {
			t.Errorf("INPUT_PATH = %q, %v: the image's socket input must be cleared", v, ok)
		}
		if len(req.Files) != 1 || req.Files[0].ContainerFilePath != "/etc/sfconnector/edge.yaml" || req.Files[0].FileMode&0o004 == 0 {
			t.Fatalf("files = %+v: want one world-readable file (the image runs as a non-root user)", req.Files)
		}
		data, _ := io.ReadAll(req.Files[0].Reader)
		if string(data) != "pipeline: []\n" {
			t.Errorf("content %q", data)
		}
	})
	t.Run("WithConfig rejects paths", func(t *testing.T) {
		for _, name := range []string{"", "a/b.yaml", "../x.yaml"} {
			if _, err := apply(t, WithConfig(name, nil)); err == nil {
				t.Errorf("WithConfig(%q): no error", name)
			}
		}
	})
	t.Run("WithConfigFile", func(t *testing.T) {
		req, err := apply(t, WithConfigFile("/some/where/consumer-group.json"))
		if err != nil {
			t.Fatal(err)
		}
		if req.Env["CONFIG_PATH"] != "/etc/sfconnector/consumer-group.json" || req.Files[0].HostFilePath != "/some/where/consumer-group.json" {
			t.Errorf("env %v files %+v", req.Env, req.Files)
		}
	})
	t.Run("WithInputFiles", func(t *testing.T) {
		req, err := apply(t, WithInputFiles("/a/trace.sf", "/b/trace.sf"))
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"run", "/input/000-trace.sf", "/input/001-trace.sf"}
		if strings.Join(req.Cmd, " ") != strings.Join(want, " ") {
			t.Errorf("cmd %v, want %v", req.Cmd, want)
		}
		if _, ok := req.WaitingFor.(*wait.ExitStrategy); !ok {
			t.Errorf("waits with %T, want the exit of the container", req.WaitingFor)
		}
		if _, err := apply(t, WithInputFiles()); err == nil {
			t.Error("WithInputFiles(): no error")
		}
	})
	t.Run("FromRepository", func(t *testing.T) {
		req, err := apply(t, FromRepository(repoRoot))
		if err != nil {
			t.Fatal(err)
		}
		df := req.FromDockerfile
		if df.Context != repoRoot || df.Dockerfile != "Dockerfile" || !df.KeepImage {
			t.Errorf("FromDockerfile = %+v", df)
		}
		if _, err := os.Stat(filepath.Join(df.Context, df.Dockerfile)); err != nil {
			t.Error(err)
		}
	})
}

func TestKafkaStartScript(t *testing.T) {
	s := kafkaStartScript("localhost:32771", "kafka:9094")
	for _, want := range []string{
		"KAFKA_ADVERTISED_LISTENERS=PLAINTEXT://localhost:32771,BROKER://kafka:9094\n",
		"exec /etc/kafka/docker/run\n",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("start script lacks %q:\n%s", want, s)
		}
	}
	if !strings.HasPrefix(s, "#!/bin/sh\n") {
		t.Error("not a shell script")
	}
}

// TestImagesMatchCompose keeps the images here equal to docker-compose.yml's.
func TestImagesMatchCompose(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(repoRoot, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	images := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^\s+image:\s*(\S+)`).FindAllStringSubmatch(string(data), -1) {
		images[m[1]] = true
	}
	for _, img := range []string{KafkaImage, RegistryImage, NATSImage} {
		if !images[img] {
			t.Errorf("%s is not an image of docker-compose.yml (%v)", img, images)
		}
	}
}

// requireDocker skips the test when no Docker engine answers. It skips under
// CI=true too: a machine without an engine cannot run these tests at all,
// and the in-process components of package testenv cover the same code.
func requireDocker(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: no containers")
	}
	if _, err := os.Stat("/var/run/docker.sock"); err != nil && os.Getenv("DOCKER_HOST") == "" {
		t.Skip("no Docker engine here (no /var/run/docker.sock, no DOCKER_HOST): testcontainers tests skipped")
	}
	testcontainers.SkipIfProviderIsNotHealthy(t)
}

// demoTrace writes a synthetic trace with the repository's generator.
func demoTrace(t *testing.T) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "demo.sf")
	cmd := exec.Command("go", "run", "./cmd/sfconnector", "gen", "--records", "5000", "--seed", "7", "-o", out)
	cmd.Dir = repoRoot
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sfconnector gen: %v\n%s", err, b)
	}
	return out
}

func TestConnectorAlertsOnTrace(t *testing.T) {
	requireDocker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	trace := demoTrace(t)
	c, err := Run(ctx, "", FromRepository(repoRoot), WithInputFiles(trace))
	testcontainers.CleanupContainer(t, c)
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.Output(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// the built-in pipeline prints one line per alert, with its rules
	n := strings.Count(out, " rules=")
	if n == 0 {
		t.Fatalf("no alert in the output:\n%s", out)
	}
	state, err := c.State(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if state.ExitCode != 0 {
		t.Errorf("exit code %d:\n%s", state.ExitCode, out)
	}
	t.Logf("%d alerts", n)
}

const forwarderConfig = `pipeline:
  - {processor: sysflowreader, handler: flattener, in: sysflow sysflowchan, out: flat flattenerchan}
  - processor: exporter
    in: flat flattenerchan
    export: kafka
    format: avro
    kafka.brokers: kafka:9094
    kafka.topic: sysflow
    kafka.registry.url: http://registry:8081
    kafka.create.topics: true
`

const consumerConfig = `source:
  driver: kafka
  brokers: kafka:9094
  topic: sysflow
  group: sfconnector-test
  start: earliest
  format: avro
  registry.url: http://registry:8081
settings: {metrics.addr: ":9090"}
pipeline:
  - {processor: sysflowreader, handler: flattener, in: sysflow sysflowchan, out: flat flattenerchan}
  - {processor: policyengine, in: flat flattenerchan, out: evt eventchan, mode: alert}
  - processor: exporter
    in: evt eventchan
    export: nats
    format: json
    nats.url: nats://nats:4222
    nats.subject: "sysflow.alerts.{priority}.{node}"
    nats.jetstream: true
    nats.stream: SYSFLOW_ALERTS
`

// TestEdgeToConsumerGroup runs shapes 2 and 3 of the compose stack: a
// forwarder publishes a trace's flat events to Kafka (Avro, registry), a
// consumer runs the bundled policies and publishes alerts on NATS, where
// this test receives them.
func TestEdgeToConsumerGroup(t *testing.T) {
	requireDocker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	trace := demoTrace(t)

	nw, err := network.New(ctx)
	if err != nil {
		t.Fatal(err)
	}
	testcontainers.CleanupNetwork(t, nw)

	kafka, err := RunKafka(ctx, KafkaImage, network.WithNetwork([]string{"kafka"}, nw))
	testcontainers.CleanupContainer(t, kafka)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := RunRegistry(ctx, RegistryImage, kafka.InternalBootstrap(), network.WithNetwork([]string{"registry"}, nw))
	testcontainers.CleanupContainer(t, reg)
	if err != nil {
		t.Fatal(err)
	}
	ns, err := RunNATS(ctx, NATSImage, network.WithNetwork([]string{"nats"}, nw))
	testcontainers.CleanupContainer(t, ns)
	if err != nil {
		t.Fatal(err)
	}
	url, err := ns.URL(ctx)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	alerts := make(chan *nats.Msg, 1024)
	if _, err := nc.ChanSubscribe("sysflow.alerts.>", alerts); err != nil {
		t.Fatal(err)
	}

	fw, err := Run(ctx, "", FromRepository(repoRoot), WithConfig("forwarder.yaml", []byte(forwarderConfig)),
		WithInputFiles(trace), network.WithNetwork(nil, nw))
	testcontainers.CleanupContainer(t, fw)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := fw.State(ctx); err != nil || st.ExitCode != 0 {
		out, _ := fw.Output(ctx)
		t.Fatalf("forwarder: %v, exit %v\n%s", err, st, out)
	}

	cons, err := Run(ctx, "", FromRepository(repoRoot), WithConfig("consumer.yaml", []byte(consumerConfig)),
		network.WithNetwork(nil, nw))
	testcontainers.CleanupContainer(t, cons)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-alerts:
		// the reference JSON shape: an alert lists its rules under "policies"
		if !strings.HasPrefix(m.Subject, "sysflow.alerts.") || !strings.Contains(string(m.Data), `"policies":[`) {
			t.Errorf("unexpected alert on %s: %.300s", m.Subject, m.Data)
		}
	case <-time.After(3 * time.Minute):
		out, _ := cons.Output(ctx)
		t.Fatalf("no alert on NATS within 3 minutes; consumer output:\n%s", out)
	}
}
