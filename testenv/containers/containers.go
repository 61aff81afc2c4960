package containers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"
)

// Images of the compose stack (docker-compose.yml uses the same; a test of
// the main module keeps them equal).
const (
	KafkaImage    = "apache/kafka:4.0.0"
	RegistryImage = "confluentinc/cp-schema-registry:7.9.0"
	NATSImage     = "nats:2.11-alpine"
)

// Ports inside the containers.
const (
	MetricsPort        = "9090/tcp" // sfconnector's /metrics, /healthz, /readyz
	KafkaPort          = "9092/tcp" // Kafka, advertised with the host's mapped port
	KafkaInternalPort  = "9094/tcp" // Kafka, advertised with the container's network name
	RegistryPort       = "8081/tcp"
	NATSPort           = "4222/tcp"
	NATSMonitoringPort = "8222/tcp"
)

// ConfigDir is where WithConfig and WithConfigFile put the configuration.
const ConfigDir = "/etc/sfconnector"

// InputDir is where WithInputFiles puts trace files.
const InputDir = "/input"

// Connector is a running sfconnector container.
type Connector struct {
	*testcontainers.DockerContainer
}

// Run starts an sfconnector container from image, or from the image that
// FromRepository builds when image is "". By default it runs the built-in
// pipeline on the collector's socket, serves metrics on MetricsPort, and
// Run returns once /readyz answers; WithConfig, WithConfigFile and
// WithInputFiles change what it runs, and any testcontainers option
// (networks, environment, wait strategies) applies.
func Run(ctx context.Context, image string, opts ...testcontainers.ContainerCustomizer) (*Connector, error) {
	base := []testcontainers.ContainerCustomizer{
		testcontainers.WithExposedPorts(MetricsPort),
		testcontainers.WithEnv(map[string]string{"SFCONNECTOR_METRICS_ADDR": ":9090"}),
		testcontainers.WithWaitStrategy(wait.ForHTTP("/readyz").WithPort(MetricsPort).WithStartupTimeout(2 * time.Minute)),
	}
	c, err := testcontainers.Run(ctx, image, append(base, opts...)...)
	var out *Connector
	if c != nil {
		out = &Connector{c}
	}
	if err != nil {
		return out, fmt.Errorf("sfconnector container: %w", err)
	}
	return out, nil
}

// MetricsURL returns the base URL of the container's metrics and health
// endpoints as seen from the test process, e.g. http://localhost:32768.
func (c *Connector) MetricsURL(ctx context.Context) (string, error) {
	return c.PortEndpoint(ctx, MetricsPort, "http")
}

// Output returns what the container wrote to its standard output and error
// so far (alerts of a terminal exporter, logs).
func (c *Connector) Output(ctx context.Context) (string, error) {
	rc, err := c.Logs(ctx)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	var b bytes.Buffer
	_, err = b.ReadFrom(rc)
	return b.String(), err
}

// FromRepository builds the image from the Dockerfile of the sfconnector
// repository at dir, tagged sfconnector:testcontainers and kept after the
// test so that the next run reuses Docker's build cache. Pass "" as Run's
// image with it.
func FromRepository(dir string) testcontainers.CustomizeRequestOption {
	return testcontainers.WithDockerfile(testcontainers.FromDockerfile{
		Context:    dir,
		Dockerfile: "Dockerfile",
		Repo:       "sfconnector",
		Tag:        "testcontainers",
		KeepImage:  true,
	})
}

// WithConfig puts a configuration (YAML, or pipeline.json when name ends in
// .json) in the container and runs it (CONFIG_PATH). Without inputs the
// pipeline reads the configuration's source; the image's default socket
// input is cleared.
func WithConfig(name string, content []byte) testcontainers.CustomizeRequestOption {
	return func(req *testcontainers.GenericContainerRequest) error {
		if name == "" || strings.ContainsAny(name, "/\\") {
			return fmt.Errorf("containers: WithConfig: %q: want a plain file name", name)
		}
		p := path.Join(ConfigDir, name)
		req.Files = append(req.Files, testcontainers.ContainerFile{
			Reader: bytes.NewReader(content), ContainerFilePath: p, FileMode: 0o644,
		})
		return setEnv(req, map[string]string{"CONFIG_PATH": p, "INPUT_PATH": ""})
	}
}

// WithConfigFile is WithConfig with the content of a file on the host.
func WithConfigFile(hostPath string) testcontainers.CustomizeRequestOption {
	return func(req *testcontainers.GenericContainerRequest) error {
		p := path.Join(ConfigDir, filepath.Base(hostPath))
		req.Files = append(req.Files, testcontainers.ContainerFile{
			HostFilePath: hostPath, ContainerFilePath: p, FileMode: 0o644,
		})
		return setEnv(req, map[string]string{"CONFIG_PATH": p, "INPUT_PATH": ""})
	}
}

// WithInputFiles copies trace files into the container and runs the
// pipeline on them (`sfconnector run FILE...`). The pipeline ends when the
// files are read, so Run then waits for the container to exit instead of
// for /readyz; read the result with Output.
func WithInputFiles(hostPaths ...string) testcontainers.CustomizeRequestOption {
	return func(req *testcontainers.GenericContainerRequest) error {
		if len(hostPaths) == 0 {
			return errors.New("containers: WithInputFiles: no files")
		}
		cmd := []string{"run"}
		for i, h := range hostPaths {
			// numbered, so that files of the same name do not collide and
			// the order given is the order read
			p := path.Join(InputDir, fmt.Sprintf("%03d-%s", i, filepath.Base(h)))
			req.Files = append(req.Files, testcontainers.ContainerFile{HostFilePath: h, ContainerFilePath: p, FileMode: 0o644})
			cmd = append(cmd, p)
		}
		req.Cmd = cmd
		req.WaitingFor = wait.ForExit().WithExitTimeout(5 * time.Minute)
		return nil
	}
}

func setEnv(req *testcontainers.GenericContainerRequest, env map[string]string) error {
	if req.Env == nil {
		req.Env = map[string]string{}
	}
	for k, v := range env {
		req.Env[k] = v
	}
	return nil
}

// Kafka is a single-node Kafka cluster in KRaft mode (broker and
// controller in one process), with two listeners: one for the test process
// on the host (Brokers) and one for containers on the same Docker network
// (InternalBootstrap).
type Kafka struct {
	*testcontainers.DockerContainer
	internal string
}

// kafkaStarter is where the container's command waits for the start
// script: the advertised host port is known only once the container runs.
const kafkaStarter = "/tmp/sfconnector-kafka-start.sh"

// RunKafka starts Kafka from image (KafkaImage: the apache/kafka images).
// Give it a network alias (network.WithNetwork([]string{"kafka"}, nw)) for
// other containers to reach it by name.
func RunKafka(ctx context.Context, image string, opts ...testcontainers.ContainerCustomizer) (*Kafka, error) {
	k := &Kafka{}
	base := []testcontainers.ContainerCustomizer{
		testcontainers.WithExposedPorts(KafkaPort),
		testcontainers.WithEnv(map[string]string{
			"KAFKA_NODE_ID":                                  "1",
			"KAFKA_PROCESS_ROLES":                            "broker,controller",
			"KAFKA_LISTENERS":                                "PLAINTEXT://:9092,CONTROLLER://:9093,BROKER://:9094",
			"KAFKA_LISTENER_SECURITY_PROTOCOL_MAP":           "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,BROKER:PLAINTEXT",
			"KAFKA_CONTROLLER_LISTENER_NAMES":                "CONTROLLER",
			"KAFKA_INTER_BROKER_LISTENER_NAME":               "BROKER",
			"KAFKA_CONTROLLER_QUORUM_VOTERS":                 "1@localhost:9093",
			"KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR":         "1",
			"KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": "1",
			"KAFKA_TRANSACTION_STATE_LOG_MIN_ISR":            "1",
			"KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS":         "0",
			"KAFKA_NUM_PARTITIONS":                           "6",
		}),
		testcontainers.WithEntrypoint("sh", "-c",
			"while [ ! -f "+kafkaStarter+" ]; do sleep 0.1; done; . "+kafkaStarter),
		testcontainers.WithAdditionalLifecycleHooks(testcontainers.ContainerLifecycleHooks{
			PostStarts: []testcontainers.ContainerHook{func(ctx context.Context, c testcontainers.Container) error {
				host, err := c.Host(ctx)
				if err != nil {
					return err
				}
				port, err := c.MappedPort(ctx, KafkaPort)
				if err != nil {
					return err
				}
				name, err := internalName(ctx, c)
				if err != nil {
					return err
				}
				k.internal = net.JoinHostPort(name, "9094")
				script := kafkaStartScript(net.JoinHostPort(host, port.Port()), k.internal)
				return c.CopyToContainer(ctx, []byte(script), kafkaStarter, 0o755)
			}},
		}),
		testcontainers.WithWaitStrategy(wait.ForLog("Kafka Server started").WithStartupTimeout(3 * time.Minute)),
	}
	c, err := testcontainers.Run(ctx, image, append(base, opts...)...)
	if c != nil {
		k.DockerContainer = c
	}
	if err != nil {
		return k, fmt.Errorf("kafka container: %w", err)
	}
	return k, nil
}

// kafkaStartScript sets the advertised listeners, which only the running
// container can know, and starts the image's own entry point.
func kafkaStartScript(external, internal string) string {
	return "#!/bin/sh\n" +
		"export KAFKA_ADVERTISED_LISTENERS=PLAINTEXT://" + external + ",BROKER://" + internal + "\n" +
		"exec /etc/kafka/docker/run\n"
}

// internalName is the name other containers reach c by: its first network
// alias, else its host name (Docker resolves it on user networks).
func internalName(ctx context.Context, c testcontainers.Container) (string, error) {
	aliases, err := c.NetworkAliases(ctx)
	if err != nil {
		return "", err
	}
	for _, list := range aliases {
		for _, a := range list {
			if a != "" {
				return a, nil
			}
		}
	}
	info, err := c.Inspect(ctx)
	if err != nil {
		return "", err
	}
	if info.Config == nil || info.Config.Hostname == "" {
		return "", errors.New("container has neither a network alias nor a host name")
	}
	return info.Config.Hostname, nil
}

// Brokers returns the bootstrap address for clients on the host.
func (k *Kafka) Brokers(ctx context.Context) ([]string, error) {
	host, err := k.Host(ctx)
	if err != nil {
		return nil, err
	}
	port, err := k.MappedPort(ctx, KafkaPort)
	if err != nil {
		return nil, err
	}
	return []string{net.JoinHostPort(host, port.Port())}, nil
}

// InternalBootstrap returns the bootstrap address for containers on the
// same Docker network, e.g. "kafka:9094".
func (k *Kafka) InternalBootstrap() string { return k.internal }

// Registry is a Confluent schema registry storing its schemas in Kafka.
type Registry struct {
	*testcontainers.DockerContainer
}

// RunRegistry starts a schema registry from image (RegistryImage) on the
// Kafka cluster at bootstrap, an address reachable from the container
// (Kafka.InternalBootstrap on a shared network).
func RunRegistry(ctx context.Context, image, bootstrap string, opts ...testcontainers.ContainerCustomizer) (*Registry, error) {
	base := []testcontainers.ContainerCustomizer{
		testcontainers.WithExposedPorts(RegistryPort),
		testcontainers.WithEnv(map[string]string{
			"SCHEMA_REGISTRY_HOST_NAME":                    "schema-registry",
			"SCHEMA_REGISTRY_LISTENERS":                    "http://0.0.0.0:8081",
			"SCHEMA_REGISTRY_KAFKASTORE_BOOTSTRAP_SERVERS": "PLAINTEXT://" + bootstrap,
		}),
		testcontainers.WithWaitStrategy(wait.ForHTTP("/subjects").WithPort(RegistryPort).WithStartupTimeout(3 * time.Minute)),
	}
	c, err := testcontainers.Run(ctx, image, append(base, opts...)...)
	var r *Registry
	if c != nil {
		r = &Registry{c}
	}
	if err != nil {
		return r, fmt.Errorf("schema registry container: %w", err)
	}
	return r, nil
}

// URL returns the registry's URL as seen from the host.
func (r *Registry) URL(ctx context.Context) (string, error) {
	return r.PortEndpoint(ctx, RegistryPort, "http")
}

// NATS is a NATS server with JetStream.
type NATS struct {
	*testcontainers.DockerContainer
}

// RunNATS starts a NATS server with JetStream from image (NATSImage).
func RunNATS(ctx context.Context, image string, opts ...testcontainers.ContainerCustomizer) (*NATS, error) {
	base := []testcontainers.ContainerCustomizer{
		testcontainers.WithExposedPorts(NATSPort, NATSMonitoringPort),
		testcontainers.WithCmd("--jetstream", "--store_dir", "/data", "--http_port", "8222"),
		testcontainers.WithWaitStrategy(wait.ForHTTP("/healthz?js-enabled-only=true").WithPort(NATSMonitoringPort).WithStartupTimeout(time.Minute)),
	}
	c, err := testcontainers.Run(ctx, image, append(base, opts...)...)
	var n *NATS
	if c != nil {
		n = &NATS{c}
	}
	if err != nil {
		return n, fmt.Errorf("nats container: %w", err)
	}
	return n, nil
}

// URL returns the server's client URL as seen from the host.
func (n *NATS) URL(ctx context.Context) (string, error) {
	return n.PortEndpoint(ctx, NATSPort, "nats")
}
