package testenv

import (
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// KafkaOptions configures a kfake cluster. The zero value is a one-broker
// cluster on a random loopback port that creates topics on first use with
// three partitions.
type KafkaOptions struct {
	// Brokers is the number of brokers (default 1).
	Brokers int
	// Ports fixes the brokers' ports; 0 or absent picks a free port.
	Ports []int
	// Partitions is the partition count of topics created on first use
	// (default 3).
	Partitions int
	// Topics are created at start with Partitions partitions.
	Topics []string
	// DataDir keeps the cluster's log and group state on disk, so a stopped
	// cluster restarts with its data. Empty keeps everything in memory (then
	// a restart starts empty).
	DataDir string
	// TLS, when set, makes every listener speak TLS with this configuration.
	TLS *tls.Config
	// Users enables SASL with these accounts (mechanism PLAIN,
	// SCRAM-SHA-256 or SCRAM-SHA-512).
	Users []KafkaUser
	// MinSessionTimeout is the smallest group session timeout the brokers
	// accept (default 1s, so tests may use short sessions; real Kafka's
	// default is 6s).
	MinSessionTimeout time.Duration
}

// KafkaUser is one SASL account of a test cluster.
type KafkaUser struct {
	Mechanism string
	User      string
	Password  string
}

func (o *KafkaOptions) setDefaults() {
	if o.Brokers <= 0 {
		o.Brokers = 1
	}
	if len(o.Ports) > o.Brokers {
		o.Brokers = len(o.Ports)
	}
	if o.Partitions <= 0 {
		o.Partitions = 3
	}
	if o.MinSessionTimeout <= 0 {
		o.MinSessionTimeout = time.Second
	}
}

// KafkaCluster is a kfake cluster that can be stopped and started again on
// the same ports, which is how tests simulate a broker restart.
type KafkaCluster struct {
	mu    sync.Mutex
	opts  KafkaOptions
	c     *kfake.Cluster
	addrs []string
}

// NewKafkaCluster starts a cluster. Close stops it for good.
func NewKafkaCluster(opts KafkaOptions) (*KafkaCluster, error) {
	opts.setDefaults()
	k := &KafkaCluster{opts: opts}
	ports := make([]int, opts.Brokers)
	copy(ports, opts.Ports)
	// kfake picks ports only when none are given; to restart on the same
	// ports we reserve them ourselves first.
	for i, p := range ports {
		if p == 0 {
			free, err := freePort()
			if err != nil {
				return nil, err
			}
			ports[i] = free
		}
	}
	k.opts.Ports = ports
	if err := k.Start(); err != nil {
		return nil, err
	}
	return k, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("testenv: reserve a loopback port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Start starts the cluster if it is stopped, on the same ports and, with a
// DataDir, with the same data. It retries briefly while the old listeners'
// ports are being released.
func (k *KafkaCluster) Start() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.c != nil {
		return nil
	}
	o := k.opts
	opts := []kfake.Opt{
		kfake.Ports(o.Ports...),
		kfake.AllowAutoTopicCreation(),
		kfake.DefaultNumPartitions(o.Partitions),
		kfake.GroupMinSessionTimeout(o.MinSessionTimeout),
	}
	if len(o.Topics) > 0 {
		opts = append(opts, kfake.SeedTopics(int32(o.Partitions), o.Topics...))
	}
	if o.DataDir != "" {
		opts = append(opts, kfake.DataDir(o.DataDir))
	}
	if o.TLS != nil {
		opts = append(opts, kfake.TLS(o.TLS))
	}
	if len(o.Users) > 0 {
		opts = append(opts, kfake.EnableSASL())
		for _, u := range o.Users {
			opts = append(opts, kfake.Superuser(u.Mechanism, u.User, u.Password))
		}
	}
	var err error
	deadline := time.Now().Add(5 * time.Second)
	for {
		var c *kfake.Cluster
		c, err = kfake.NewCluster(opts...)
		if err == nil {
			k.c = c
			k.addrs = c.ListenAddrs()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("testenv: start kfake on ports %v: %w", o.Ports, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop stops the brokers; clients see connections refused until Start.
func (k *KafkaCluster) Stop() {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.c != nil {
		k.c.Close()
		k.c = nil
	}
}

// Restart stops the cluster, waits down, and starts it again.
func (k *KafkaCluster) Restart(down time.Duration) error {
	k.Stop()
	time.Sleep(down)
	return k.Start()
}

// Close stops the cluster for good.
func (k *KafkaCluster) Close() { k.Stop() }

// Addrs returns the brokers' host:port addresses.
func (k *KafkaCluster) Addrs() []string {
	out := make([]string, len(k.opts.Ports))
	for i, p := range k.opts.Ports {
		out[i] = net.JoinHostPort("127.0.0.1", strconv.Itoa(p))
	}
	return out
}

// Persistent reports whether the cluster keeps its data across restarts.
func (k *KafkaCluster) Persistent() bool { return k.opts.DataDir != "" }

// Kafka returns the bootstrap addresses of a Kafka cluster for t: the
// comma-separated KAFKA_BROKERS when set, else a one-broker kfake cluster
// started for this test and stopped when it ends.
func Kafka(t testing.TB) []string {
	t.Helper()
	if env := os.Getenv("KAFKA_BROKERS"); env != "" {
		return strings.Split(env, ",")
	}
	return StartKafka(t, KafkaOptions{}).Addrs()
}

// StartKafka starts a kfake cluster for t (never the KAFKA_BROKERS one: tests
// that stop and restart brokers need a cluster of their own). With no DataDir,
// the cluster persists into a temporary directory so Restart keeps the data.
func StartKafka(t testing.TB, opts KafkaOptions) *KafkaCluster {
	t.Helper()
	if opts.DataDir == "" {
		opts.DataDir = t.TempDir()
	}
	k, err := NewKafkaCluster(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(k.Close)
	return k
}

// DisturbProduce makes the cluster misbehave on produce requests, counted
// from 1 in the order it receives them: every failEvery-th is answered
// with NOT_LEADER_OR_FOLLOWER for all its partitions and appends nothing (a
// retriable error, as during a leader change); every delayEvery-th is held
// for delay before the cluster handles it, so requests sent after it may be
// handled first. 0 disables either. It returns how many requests were
// failed and delayed so far. Ordering and delivery tests use it: a client
// with several produce requests in flight per partition that retried or
// raced them naively would reorder or duplicate records.
func (k *KafkaCluster) DisturbProduce(failEvery, delayEvery int, delay time.Duration) (stats func() (failed, delayed int)) {
	k.mu.Lock()
	c := k.c
	k.mu.Unlock()
	var mu sync.Mutex
	n, failed, delayed := 0, 0, 0
	c.ControlKey(int16(kmsg.Produce), func(kr kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		req := kr.(*kmsg.ProduceRequest)
		mu.Lock()
		n++
		fail := failEvery > 0 && n%failEvery == 0
		hold := !fail && delayEvery > 0 && n%delayEvery == 0
		if fail {
			failed++
		}
		if hold {
			delayed++
		}
		mu.Unlock()
		if hold {
			c.SleepControl(func() { time.Sleep(delay) })
			return nil, nil, false
		}
		if !fail {
			return nil, nil, false
		}
		resp := req.ResponseKind().(*kmsg.ProduceResponse)
		for _, t := range req.Topics {
			rt := kmsg.NewProduceResponseTopic()
			rt.Topic, rt.TopicID = t.Topic, t.TopicID
			for _, p := range t.Partitions {
				rp := kmsg.NewProduceResponseTopicPartition()
				rp.Partition = p.Partition
				rp.ErrorCode = kerr.NotLeaderForPartition.Code
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp, nil, true
	})
	return func() (int, int) {
		mu.Lock()
		defer mu.Unlock()
		return failed, delayed
	}
}
