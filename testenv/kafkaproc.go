package testenv

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// KafkaProcess is a kfake cluster running in a process of its own
// (testenv/cmd/kafka), so a benchmark's figure is the client's and the
// broker's CPU can be told apart from the test process's.
type KafkaProcess struct {
	cmd   *exec.Cmd
	addrs []string
}

var kafkaBin struct {
	once sync.Once
	path string
	err  error
}

// kafkaBinary builds testenv/cmd/kafka once per test binary.
func kafkaBinary() (string, error) {
	kafkaBin.once.Do(func() {
		dir, err := os.MkdirTemp("", "sfc-kafka-bin-")
		if err != nil {
			kafkaBin.err = err
			return
		}
		path := filepath.Join(dir, "kafka")
		out, err := exec.Command("go", "build", "-o", path, "github.com/sfconnector/sfconnector/testenv/cmd/kafka").CombinedOutput()
		if err != nil {
			kafkaBin.err = fmt.Errorf("testenv: build testenv/cmd/kafka: %w: %s", err, out)
			return
		}
		kafkaBin.path = path
	})
	return kafkaBin.path, kafkaBin.err
}

// StartKafkaProcess builds and starts testenv/cmd/kafka with the given
// partition count (memory only) and stops it when t ends.
func StartKafkaProcess(t testing.TB, partitions int) *KafkaProcess {
	t.Helper()
	bin, err := kafkaBinary()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-partitions", strconv.Itoa(partitions))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("testenv: start %s: %v", bin, err)
	}
	k := &KafkaProcess{cmd: cmd}
	t.Cleanup(k.stop)
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		if sc.Scan() {
			line <- sc.Text()
		}
		close(line)
		for sc.Scan() {
		}
	}()
	select {
	case l, ok := <-line:
		if !ok || l == "" {
			t.Fatal("testenv: testenv/cmd/kafka exited before printing its addresses")
		}
		k.addrs = strings.Split(l, ",")
	case <-time.After(30 * time.Second):
		t.Fatal("testenv: testenv/cmd/kafka printed no addresses within 30s")
	}
	return k
}

// Addrs returns the brokers' host:port addresses.
func (k *KafkaProcess) Addrs() []string { return k.addrs }

// CPU returns the user+system CPU time the broker process has used so far
// (Linux: /proc/PID/stat; 0 elsewhere).
func (k *KafkaProcess) CPU() time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", k.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	// The command name (field 2) may hold spaces; fields count from after it.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	const clockTicks = 100 // USER_HZ on Linux
	return time.Duration(ut+st) * time.Second / clockTicks
}

func (k *KafkaProcess) stop() {
	if k.cmd.Process == nil {
		return
	}
	_ = k.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = k.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = k.cmd.Process.Kill()
		<-done
	}
}
