package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
)

// machine describes where the figures were taken.
type machine struct {
	CPUs    int
	Model   string
	MemGiB  float64
	Go      string
	Commit  string
	Kernel  string
	LoadNow string
}

func describeMachine(o *options) machine {
	m := machine{CPUs: runtime.NumCPU(), Go: runtime.Version(), LoadNow: loadAverage()}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.Model = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "MemTotal:" {
				kb, _ := strconv.ParseFloat(f[1], 64)
				m.MemGiB = kb / (1 << 20)
			}
		}
	}
	if data, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(data))
	}
	if out, err := exec.Command("git", "-C", filepath.Dir(o.bin), "describe", "--always", "--dirty", "--abbrev=12").Output(); err == nil {
		m.Commit = strings.TrimSpace(string(out))
	}
	return m
}

// loadAverage is /proc/loadavg's first three fields.
func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

var ddRate = regexp.MustCompile(`copied, ([0-9.]+) s, ([0-9.]+) ([kMGT]?B)/s`)

// ddSpeed writes mib MiB of zeros with dd and flag (oflag=direct: bypassing
// the page cache; conv=fdatasync: through it, synced at the end, as the file
// sink writes) and returns the bytes per second.
func ddSpeed(ctx context.Context, dir string, mib int64, flag string) (float64, error) {
	path := filepath.Join(dir, "ddtest")
	defer os.Remove(path)
	cmd := exec.CommandContext(ctx, "dd", "if=/dev/zero", "of="+path, "bs=1M", fmt.Sprintf("count=%d", mib), flag)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("%s: %w\n%s", cmd, err, out)
	}
	m := ddRate.FindStringSubmatch(string(out))
	if m == nil {
		return 0, fmt.Errorf("%s: cannot read its speed from %q", cmd, out)
	}
	secs, _ := strconv.ParseFloat(m[1], 64)
	if secs <= 0 {
		return 0, fmt.Errorf("%s: no time in %q", cmd, out)
	}
	// dd's own unit is decimal; recompute from the byte count for precision
	return float64(mib<<20) / secs, nil
}
