// Command kafka runs a Kafka wire-protocol cluster (kfake) as a process, for
// trying the bus setups by hand and for end-to-end tests. It prints the
// brokers' addresses (comma-separated, as KAFKA_BROKERS takes them) on the
// first line of standard output, then, with -registry, the schema registry's
// URL on the second, and runs until interrupted.
//
//	go run ./testenv/cmd/kafka -data-dir /tmp/kafka -registry 127.0.0.1:8081
package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/sfconnector/sfconnector/testenv"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "kafka:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		port       = flag.Int("port", 0, "port of the first broker (0: a free port); further brokers take the next ports")
		brokers    = flag.Int("brokers", 1, "number of brokers")
		partitions = flag.Int("partitions", 3, "partitions of topics created on first use")
		topics     = flag.String("topics", "", "comma-separated topics to create at start")
		dataDir    = flag.String("data-dir", "", "directory keeping the log across restarts (default: memory only)")
		registry   = flag.String("registry", "", "also serve a schema registry (Confluent REST API) on this host:port")
	)
	flag.Parse()

	opts := testenv.KafkaOptions{Brokers: *brokers, Partitions: *partitions, DataDir: *dataDir}
	if *port != 0 {
		for i := 0; i < *brokers; i++ {
			opts.Ports = append(opts.Ports, *port+i)
		}
	}
	if *topics != "" {
		opts.Topics = strings.Split(*topics, ",")
	}
	k, err := testenv.NewKafkaCluster(opts)
	if err != nil {
		return err
	}
	defer k.Close()
	fmt.Println(strings.Join(k.Addrs(), ","))

	if *registry != "" {
		reg := srfake.New()
		defer reg.Close()
		l, err := net.Listen("tcp", *registry)
		if err != nil {
			return fmt.Errorf("schema registry on %s: %w", *registry, err)
		}
		srv := &http.Server{Handler: reg.Handler(), ReadHeaderTimeout: 5 * time.Second}
		go func() {
			if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
				fmt.Fprintln(os.Stderr, "kafka: schema registry:", err)
			}
		}()
		defer srv.Close()
		fmt.Println("http://" + l.Addr().String())
	}

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	return nil
}
