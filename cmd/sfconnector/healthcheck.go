package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"
)

// cmdHealthcheck asks a running sfconnector's /healthz; the container image
// has no shell or curl, so its HEALTHCHECK runs this.
func cmdHealthcheck(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("healthcheck", "sfconnector healthcheck [--url URL] [--timeout D]", stderr)
	def := "http://127.0.0.1:9090/healthz"
	if addr := os.Getenv("SFCONNECTOR_METRICS_ADDR"); addr != "" {
		host, port, err := net.SplitHostPort(addr)
		if err == nil {
			if host == "" || host == "0.0.0.0" || host == "::" {
				host = "127.0.0.1"
			}
			def = "http://" + net.JoinHostPort(host, port) + "/healthz"
		}
	}
	url := fs.String("url", def, "health endpoint of the running sfconnector (default from SFCONNECTOR_METRICS_ADDR)")
	timeout := fs.Duration("timeout", 3*time.Second, "how long to wait for the answer")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return exitError{code: 2}
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, *url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s answered %s", *url, resp.Status)
	}
	fmt.Fprintln(stdout, "healthy")
	return nil
}
