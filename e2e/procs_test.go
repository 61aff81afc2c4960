//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

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

// start runs `sfconnector run -c config` with its output in NAME.log
// beside the config.
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

// kill sends SIGKILL and waits for the process to be gone.
func (p *proc) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// tool runs a one-shot sfconnector command and returns its combined output.
func tool(ctx context.Context, bin string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func writeFile(t *testing.T, path, content string) {
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// busyWith tells which of the files grows with lines holding marker: it
// looks at their sizes, waits window, and counts the marker in what each
// gained. It returns the index of the only file that gained it, or -1 when
// none or several did.
func busyWith(files []string, marker []byte, window time.Duration) (int, error) {
	sizes := make([]int64, len(files))
	for i, f := range files {
		st, err := os.Stat(f)
		if err == nil {
			sizes[i] = st.Size()
		}
	}
	time.Sleep(window)
	busy := -1
	for i, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			if os.IsNotExist(err) {
				continue
			}
			return -1, err
		}
		if int64(len(b)) > sizes[i] && bytes.Contains(b[sizes[i]:], marker) {
			if busy >= 0 {
				return -1, nil
			}
			busy = i
		}
	}
	return busy, nil
}
