package deploy_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/sfconnector/sfconnector/config"
	"github.com/sfconnector/sfconnector/policies"
	"github.com/sfconnector/sfconnector/policies/policytest"
)

// ---------------------------------------------------------------- examples

// TestExamples loads every example configuration, checks its keys against
// config.Specs, checks that each YAML example and its pipeline.json twin
// describe the same pipeline, and that the three deployment shapes are all
// there.
func TestExamples(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(root, "examples", "*"))
	if err != nil {
		t.Fatal(err)
	}
	loaded := map[string]*config.Config{}
	for _, f := range files {
		ext := filepath.Ext(f)
		if ext != ".yaml" && ext != ".yml" && ext != ".json" {
			continue
		}
		t.Run(filepath.Base(f), func(t *testing.T) {
			cfg, err := config.Load(f, nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range checkConfig(cfg) {
				t.Error(e)
			}
			if c2, err := config.Load(f, nil); err == nil {
				checkBuild(t, filepath.Base(f), c2)
			}
			for _, n := range policyNodes(cfg) {
				p := n.Keys().Given("policies")
				if p == "" {
					continue
				}
				// examples/ is mounted at /etc/sfconnector in the compose stack
				local, ok := strings.CutPrefix(p, "/etc/sfconnector/")
				if !ok {
					t.Errorf("%s: policies %q: examples refer to policies under /etc/sfconnector/ (examples/ mounted there)", n.Where, p)
					continue
				}
				if _, err := os.Stat(filepath.Join(root, "examples", local)); err != nil {
					t.Errorf("%s: policies %q: %v", n.Where, p, err)
				}
			}
			loaded[filepath.Base(f)] = cfg
		})
	}

	// each shape has an example in both formats
	shapes := []struct {
		name  string
		match func(*config.Config) bool
	}{
		{"edge-processor", func(c *config.Config) bool {
			ps := policyNodes(c)
			return len(ps) > 0 && ps[0].Keys().String("mode") == "alert" && len(exporters(c, "syslog")) > 0
		}},
		{"edge-forwarder", func(c *config.Config) bool { return len(exporters(c, "kafka")) > 0 }},
		{"consumer-group", func(c *config.Config) bool {
			return c.Source != nil && c.Source.Kind == "kafka" && len(exporters(c, "nats")) > 0 && len(exporters(c, "syslog")) > 0
		}},
	}
	for _, sh := range shapes {
		for _, ext := range []string{".yaml", ".json"} {
			c, ok := loaded[sh.name+ext]
			if !ok {
				t.Errorf("examples/%s%s is missing", sh.name, ext)
				continue
			}
			if !sh.match(c) {
				t.Errorf("examples/%s%s does not have the shape its name says", sh.name, ext)
			}
		}
		y, j := loaded[sh.name+".yaml"], loaded[sh.name+".json"]
		if y == nil || j == nil {
			continue
		}
		ys, js := describe(y), describe(j)
		// the reference's pipeline.json has no source section: the
		// processor's -driver and PATH give it
		if j.Source == nil {
			ys = ys[1:]
			js = js[1:]
		}
		if strings.Join(ys, "\n") != strings.Join(js, "\n") {
			t.Errorf("examples/%s.yaml and .json differ:\nyaml:\n  %s\njson:\n  %s", sh.name, strings.Join(ys, "\n  "), strings.Join(js, "\n  "))
		}
	}
	// settings exist only in YAML; the rest must agree
}

// describe renders a configuration's source and plugin tree with canonical
// key names, so that two files describing the same pipeline compare equal
// (settings are left out: pipeline.json has none).
func describe(c *config.Config) []string {
	canon := func(p *config.Plugin) string {
		var kv []string
		for k, v := range p.Raw() {
			if s, ok := config.Spec(p.Kind, k); ok {
				k = s.Key
			}
			kv = append(kv, k+"="+v)
		}
		sortStrings(kv)
		return p.Kind + " {" + strings.Join(kv, " ") + "}"
	}
	out := []string{"source: <none>"}
	if c.Source != nil {
		out[0] = "source: " + canon(c.Source)
	}
	var walk func(n *config.Node, depth int)
	walk = func(n *config.Node, depth int) {
		out = append(out, strings.Repeat("  ", depth)+canon(&n.Plugin))
		for _, ch := range n.Children {
			walk(ch, depth+1)
		}
	}
	walk(c.Root, 0)
	return out
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// TestExamplePolicies loads the example policy files strictly.
func TestExamplePolicies(t *testing.T) {
	dir := filepath.Join(root, "examples", "policies")
	set, diags, err := policies.Load([]string{dir}, policies.Options{Strict: true})
	for _, d := range diags {
		t.Error(d)
	}
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Filters()) == 0 {
		t.Error("examples/policies/filter.yaml: no filters loaded")
	}
}

// ---------------------------------------------------------------- Dockerfile

type instruction struct {
	line int
	cmd  string // upper case
	args string
}

// parseDockerfile returns the instructions with continuations joined and
// comments dropped.
func parseDockerfile(t *testing.T, text string) []instruction {
	t.Helper()
	var out []instruction
	var cur strings.Builder
	start := 0
	sc := bufio.NewScanner(strings.NewReader(text))
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if cur.Len() == 0 && (line == "" || strings.HasPrefix(line, "#")) {
			continue
		}
		if cur.Len() > 0 && strings.HasPrefix(line, "#") {
			continue
		}
		if cur.Len() == 0 {
			start = n
		}
		if s, ok := strings.CutSuffix(line, "\\"); ok {
			cur.WriteString(s + " ")
			continue
		}
		cur.WriteString(line)
		full := cur.String()
		cur.Reset()
		cmd, args, _ := strings.Cut(full, " ")
		out = append(out, instruction{line: start, cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args)})
	}
	return out
}

// execForm parses a JSON-array form like ["a", "b"].
func execForm(t *testing.T, s string) []string {
	t.Helper()
	var out []string
	if err := yaml.Unmarshal([]byte(s), &out); err != nil {
		t.Errorf("not an exec-form array: %s", s)
	}
	return out
}

func TestDockerfile(t *testing.T) {
	ins := parseDockerfile(t, readFile(t, "Dockerfile"))
	cli := cliEnv(t)
	src := cliSource(t)

	var stages []int // indexes of FROM
	for i, in := range ins {
		if in.cmd == "FROM" {
			stages = append(stages, i)
		}
	}
	if len(stages) < 2 {
		t.Fatalf("Dockerfile: want a multi-stage build, found %d FROM", len(stages))
	}
	final := ins[stages[len(stages)-1]:]
	base := strings.Fields(final[0].args)[0]
	if !strings.HasPrefix(base, "gcr.io/distroless/static") && base != "scratch" {
		t.Errorf("Dockerfile:%d: final stage from %s; want distroless/static or scratch", final[0].line, base)
	}

	var built, cgoOff bool
	env := map[string]string{}
	var user, stopSignal string
	var volumes, entrypoint, cmd, health []string
	for _, in := range ins {
		switch in.cmd {
		case "RUN":
			if strings.Contains(in.args, "go build") && strings.Contains(in.args, "./cmd/sfconnector") {
				built = true
				cgoOff = strings.Contains(in.args, "CGO_ENABLED=0")
			}
		}
	}
	for _, in := range final {
		switch in.cmd {
		case "ENV":
			for _, kv := range splitEnv(in.args) {
				k, v, _ := strings.Cut(kv, "=")
				env[k] = v
			}
		case "USER":
			user = in.args
		case "VOLUME":
			volumes = append(volumes, execForm(t, in.args)...)
		case "ENTRYPOINT":
			entrypoint = execForm(t, in.args)
		case "CMD":
			cmd = execForm(t, in.args)
		case "HEALTHCHECK":
			_, after, ok := strings.Cut(in.args, "CMD ")
			if !ok {
				t.Errorf("Dockerfile:%d: HEALTHCHECK without CMD", in.line)
				continue
			}
			health = execForm(t, after)
		case "STOPSIGNAL":
			stopSignal = in.args
		}
	}
	// testcontainers-go (and older engines) build with the classic builder,
	// which knows neither cache mounts nor the BuildKit platform arguments
	for _, in := range ins {
		if strings.Contains(in.args, "--mount=") || strings.Contains(in.args, "$BUILDPLATFORM") || strings.Contains(in.args, "${BUILDPLATFORM}") {
			t.Errorf("Dockerfile:%d: %s %s: BuildKit-only syntax; the classic builder (testcontainers-go) cannot build it", in.line, in.cmd, in.args)
		}
	}
	if !built || !cgoOff {
		t.Errorf("Dockerfile: want `CGO_ENABLED=0 go build ... ./cmd/sfconnector` (built=%v, cgo off=%v)", built, cgoOff)
	}
	if u := strings.Split(user, ":")[0]; u == "" || u == "0" || u == "root" {
		t.Errorf("Dockerfile: final stage runs as %q; want a non-root USER", user)
	}
	if !contains(volumes, "/sock") {
		t.Errorf("Dockerfile: want VOLUME /sock, have %v", volumes)
	}
	if stopSignal != "SIGTERM" {
		t.Errorf("Dockerfile: STOPSIGNAL %q, want SIGTERM", stopSignal)
	}
	for k := range env {
		if !cli[k] {
			t.Errorf("Dockerfile: ENV %s is not read by the command line (it reads %v)", k, sortedSet(cli))
		}
	}
	for _, want := range []string{"CONFIG_PATH", "DRIVER", "INPUT_PATH", "LOG_LEVEL"} {
		if !cli[want] {
			t.Errorf("the command line does not read %s (the reference's variable, documented in the Dockerfile)", want)
		}
		if !strings.Contains(readFile(t, "Dockerfile"), want) {
			t.Errorf("Dockerfile does not document %s", want)
		}
	}
	if len(entrypoint) != 1 || !strings.HasSuffix(entrypoint[0], "/sfconnector") {
		t.Errorf("Dockerfile: ENTRYPOINT %v, want the sfconnector binary", entrypoint)
	}
	if len(cmd) == 0 || !hasSubcommand(src, cmd[0]) {
		t.Errorf("Dockerfile: CMD %v is not a subcommand of the CLI", cmd)
	}
	// the socket the image listens on by default is the one the examples use
	if in := env["INPUT_PATH"]; in != "" {
		if got := strings.TrimPrefix(in, "unix://"); got != "/sock/sysflow.sock" || !strings.HasPrefix(in, "unix://") {
			t.Errorf("Dockerfile: INPUT_PATH %q; want unix:///sock/sysflow.sock (the collector's socket in /sock)", in)
		}
	}
	// healthcheck: the binary's own subcommand, on the metrics address
	if len(health) < 2 || !strings.HasSuffix(health[0], "/sfconnector") || !hasSubcommand(src, health[1]) {
		t.Errorf("Dockerfile: HEALTHCHECK %v must run a subcommand of the sfconnector binary (no shell in the image)", health)
	} else {
		for i := 2; i < len(health); i++ {
			if strings.HasPrefix(health[i], "--") && !hasFlag(src, strings.TrimLeft(health[i], "-")) {
				t.Errorf("Dockerfile: HEALTHCHECK flag %s is not defined by the CLI", health[i])
			}
		}
		url := ""
		for i, a := range health {
			if a == "--url" && i+1 < len(health) {
				url = health[i+1]
			}
		}
		if url != "" {
			_, hp := hostPort(t, url, 80)
			_, mp := hostPort(t, env["SFCONNECTOR_METRICS_ADDR"], 0)
			if hp != mp || !strings.HasSuffix(url, "/healthz") {
				t.Errorf("Dockerfile: HEALTHCHECK asks %s but metrics are served on %q", url, env["SFCONNECTOR_METRICS_ADDR"])
			}
		}
	}
}

// splitEnv splits ENV arguments "A=1 B=two" (quotes allowed).
func splitEnv(s string) []string {
	var out []string
	var cur strings.Builder
	quote := byte(0)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0 && c == quote:
			quote = 0
		case quote == 0 && (c == '"' || c == '\''):
			quote = c
		case quote == 0 && (c == ' ' || c == '\t'):
			if cur.Len() > 0 {
				out = append(out, cur.String())
				cur.Reset()
			}
		default:
			cur.WriteByte(c)
		}
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestDockerignore checks that the build context keeps everything the binary
// is built from.
func TestDockerignore(t *testing.T) {
	var patterns []string
	for _, l := range strings.Split(readFile(t, ".dockerignore"), "\n") {
		l = strings.TrimSpace(l)
		if l != "" && !strings.HasPrefix(l, "#") {
			patterns = append(patterns, strings.TrimPrefix(l, "/"))
		}
	}
	ignored := func(rel string) string {
		for _, p := range patterns {
			for _, cand := range []string{p, strings.TrimPrefix(p, "**/")} {
				for dir := rel; dir != "."; dir = path.Dir(dir) {
					if ok, _ := path.Match(cand, dir); ok {
						return p
					}
					if strings.HasPrefix(p, "**/") {
						if ok, _ := path.Match(cand, path.Base(dir)); ok {
							return p
						}
					}
				}
			}
		}
		return ""
	}
	for _, f := range []string{"go.mod", "go.sum", "cmd/sfconnector/main.go"} {
		if p := ignored(f); p != "" {
			t.Errorf(".dockerignore: %q excludes %s", p, f)
		}
	}
	// every file the binary is built from: the packages it imports and the
	// files they embed
	gocmd := filepath.Join(runtime.GOROOT(), "bin", "go")
	cmd := exec.Command(gocmd, "list", "-deps", "-f",
		`{{if not .Standard}}{{$d := .Dir}}{{range .GoFiles}}{{$d}}/{{.}}{{"\n"}}{{end}}{{range .EmbedFiles}}{{$d}}/{{.}}{{"\n"}}{{end}}{{end}}`,
		"./cmd/sfconnector")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	abs, _ := filepath.Abs(root)
	n := 0
	for _, f := range strings.Fields(string(out)) {
		rel, err := filepath.Rel(abs, f)
		if err != nil || strings.HasPrefix(rel, "..") {
			continue // another module
		}
		n++
		if pat := ignored(filepath.ToSlash(rel)); pat != "" {
			t.Errorf(".dockerignore: %q excludes %s, which the build needs", pat, rel)
		}
	}
	if n == 0 {
		t.Error("go list found no files of ./cmd/sfconnector")
	}
}

// ---------------------------------------------------------------- compose

type composeFile struct {
	Name     string                    `yaml:"name"`
	Services map[string]composeService `yaml:"services"`
	Volumes  map[string]any            `yaml:"volumes"`
}

type composeService struct {
	Image       string `yaml:"image"`
	Build       any    `yaml:"build"`
	Command     any    `yaml:"command"`
	Entrypoint  any    `yaml:"entrypoint"`
	Environment any    `yaml:"environment"`
	Volumes     []any  `yaml:"volumes"`
	DependsOn   any    `yaml:"depends_on"`
	Privileged  bool   `yaml:"privileged"`
	Deploy      struct {
		Replicas int `yaml:"replicas"`
	} `yaml:"deploy"`
}

func (s composeService) env(t *testing.T) map[string]string {
	out := map[string]string{}
	switch e := s.Environment.(type) {
	case nil:
	case map[string]any:
		for k, v := range e {
			if v == nil {
				out[k] = ""
			} else {
				out[k] = fmt.Sprint(v)
			}
		}
	case []any:
		for _, x := range e {
			k, v, _ := strings.Cut(fmt.Sprint(x), "=")
			out[k] = v
		}
	default:
		t.Errorf("environment: unexpected %T", e)
	}
	return out
}

func stringList(v any) []string {
	switch x := v.(type) {
	case string:
		return strings.Fields(x)
	case []any:
		out := make([]string, len(x))
		for i, e := range x {
			out[i] = fmt.Sprint(e)
		}
		return out
	}
	return nil
}

type mount struct{ src, dst string }

func (s composeService) mounts(t *testing.T) []mount {
	var out []mount
	for _, v := range s.Volumes {
		switch x := v.(type) {
		case string:
			parts := strings.Split(x, ":")
			if len(parts) < 2 {
				t.Errorf("volume %q: want SOURCE:TARGET", x)
				continue
			}
			out = append(out, mount{parts[0], parts[1]})
		case map[string]any:
			out = append(out, mount{fmt.Sprint(x["source"]), fmt.Sprint(x["target"])})
		}
	}
	return out
}

func (s composeService) dependsOn() []string {
	switch d := s.DependsOn.(type) {
	case []any:
		return stringList(d)
	case map[string]any:
		var out []string
		for k := range d {
			out = append(out, k)
		}
		return out
	}
	return nil
}

// hostPathOf maps a path inside a service's container to the repository
// file bind-mounted there.
func hostPathOf(s composeService, t *testing.T, p string) (string, bool) {
	for _, m := range s.mounts(t) {
		if !strings.HasPrefix(m.src, ".") {
			continue
		}
		if rest, ok := strings.CutPrefix(p, m.dst); ok && (rest == "" || strings.HasPrefix(rest, "/")) {
			return filepath.Join(root, m.src, rest), true
		}
	}
	return "", false
}

func loadCompose(t *testing.T) composeFile {
	t.Helper()
	var c composeFile
	if err := yaml.Unmarshal([]byte(readFile(t, "docker-compose.yml")), &c); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	if len(c.Services) == 0 {
		t.Fatal("docker-compose.yml: no services")
	}
	return c
}

// composeConfig loads the configuration an sfconnector service runs: the
// file CONFIG_PATH (or -c in the command) names through its bind mounts.
func composeConfig(t *testing.T, name string, s composeService) (string, []byte, *config.Config) {
	t.Helper()
	cfgPath := s.env(t)["CONFIG_PATH"]
	args := stringList(s.Command)
	for i, a := range args {
		if (a == "-c" || a == "-config" || a == "--config") && i+1 < len(args) {
			cfgPath = args[i+1]
		}
	}
	if cfgPath == "" {
		t.Errorf("service %s: runs the built-in pipeline; the demo wants an explicit configuration", name)
		return "", nil, nil
	}
	host, ok := hostPathOf(s, t, cfgPath)
	if !ok {
		t.Errorf("service %s: configuration %s is not bind-mounted from the repository", name, cfgPath)
		return "", nil, nil
	}
	data, err := os.ReadFile(host)
	if err != nil {
		t.Errorf("service %s: %v", name, err)
		return "", nil, nil
	}
	cfg, err := config.Parse(host, data, nil)
	if err != nil {
		t.Errorf("service %s: %v", name, err)
		return "", nil, nil
	}
	return host, data, cfg
}

func TestCompose(t *testing.T) {
	c := loadCompose(t)
	cli := cliEnv(t)
	src := cliSource(t)

	ours := map[string]composeService{}
	for name, s := range c.Services {
		// images: ours are built from the Dockerfile, the others pinned
		if s.Build != nil || isOurImage(s.Image) {
			checkComposeBuild(t, name, s)
			ours[name] = s
		} else {
			repo, tag := imageName(s.Image)
			if repo == "" || tag == "" || tag == "latest" {
				t.Errorf("service %s: image %q: pin a version", name, s.Image)
			}
		}
		for _, d := range s.dependsOn() {
			if _, ok := c.Services[d]; !ok {
				t.Errorf("service %s depends on %s, which is not a service", name, d)
			}
		}
		for _, m := range s.mounts(t) {
			switch {
			case strings.HasPrefix(m.src, "."):
				if _, err := os.Stat(filepath.Join(root, m.src)); err != nil {
					t.Errorf("service %s: bind mount %s: %v", name, m.src, err)
				}
			case strings.HasPrefix(m.src, "/"):
			default:
				if _, ok := c.Volumes[m.src]; !ok {
					t.Errorf("service %s: volume %s is not declared", name, m.src)
				}
			}
		}
	}
	if len(ours) < 2 {
		t.Fatalf("docker-compose.yml: want the edge forwarder and the consumer group, found sfconnector services %v", keys(ours))
	}

	var forwarder, consumer string
	var forwarderCfg, consumerCfg *config.Config
	for name, s := range ours {
		if args := stringList(s.Command); len(args) > 0 && !hasSubcommand(src, args[0]) {
			t.Errorf("service %s: command %v: %q is not a subcommand", name, args, args[0])
		}
		host, data, cfg := composeConfig(t, name, s)
		if cfg == nil {
			continue
		}
		for _, e := range checkConfig(cfg) {
			t.Errorf("service %s: %v", name, e)
		}
		checkEnv(t, "service "+name, s.env(t), cli, host, data)
		// hosts named in the configuration are services of the stack
		for _, addr := range addresses(t, cfg) {
			if _, ok := c.Services[addr.host]; !ok {
				t.Errorf("service %s: %s names host %q, which is not a service of the stack", name, addr.where, addr.host)
			}
		}
		// policies named in the configuration are mounted
		for _, n := range policyNodes(cfg) {
			if p := n.Keys().Given("policies"); p != "" {
				h, ok := hostPathOf(s, t, p)
				if !ok {
					t.Errorf("service %s: policies %s are not mounted", name, p)
				} else if _, err := os.Stat(h); err != nil {
					t.Errorf("service %s: policies %s: %v", name, p, err)
				}
			}
		}
		if cfg.Source != nil && cfg.Source.Kind == "kafka" {
			consumer, consumerCfg = name, cfg
			if v, ok := s.env(t)["INPUT_PATH"]; !ok || v != "" {
				t.Errorf("service %s reads Kafka but does not clear the image's INPUT_PATH (set INPUT_PATH: \"\")", name)
			}
		}
		if len(exporters(cfg, "kafka")) > 0 {
			forwarder, forwarderCfg = name, cfg
		}
	}
	if forwarder == "" || consumer == "" {
		t.Fatalf("docker-compose.yml: want an edge forwarder (Kafka exporter) and a consumer (Kafka source); found %q and %q", forwarder, consumer)
	}

	t.Run("socket", func(t *testing.T) {
		fw := ours[forwarder]
		if forwarderCfg.Source == nil || forwarderCfg.Source.Kind != "socket" {
			t.Fatalf("service %s: want a socket source", forwarder)
		}
		sock := forwarderCfg.Source.Keys().String("path")
		vol := volumeAt(t, fw, path.Dir(sock))
		if vol == "" {
			t.Fatalf("service %s: no volume at %s for the socket", forwarder, path.Dir(sock))
		}
		var collector string
		for name, s := range c.Services {
			if sf := s.env(t)["SOCK_FILE"]; sf != "" {
				collector = name
				if sf != sock {
					t.Errorf("service %s: SOCK_FILE %s, but %s listens on %s", name, sf, forwarder, sock)
				}
				if v := volumeAt(t, s, path.Dir(sf)); v != vol {
					t.Errorf("service %s: %s is volume %q, %s's is %q", name, path.Dir(sf), v, forwarder, vol)
				}
				if !s.Privileged {
					t.Errorf("service %s: the collector must be privileged", name)
				}
				if repo, _ := imageName(s.Image); repo != "sysflowtelemetry/sf-collector" {
					t.Errorf("service %s: image %s, want sysflowtelemetry/sf-collector", name, s.Image)
				}
			}
		}
		if collector == "" {
			t.Error("docker-compose.yml: no collector service (with SOCK_FILE)")
		}
	})

	t.Run("kafka", func(t *testing.T) {
		fk := exporters(forwarderCfg, "kafka")[0].Keys()
		topic := fk.String("kafka.topic")
		if ct := consumerCfg.Source.Keys().String("topic"); ct != topic {
			t.Errorf("the forwarder writes topic %q, the consumers read %q", topic, ct)
		}
		if f := fk.String("format"); f != "avro" {
			t.Errorf("the forwarder's format is %q; the stack demonstrates avro with the registry", f)
		}
		// the topic is created with enough partitions for the consumers
		partitions := 0
		for _, s := range c.Services {
			args := append(stringList(s.Entrypoint), stringList(s.Command)...)
			if !contains(args, "--create") {
				continue
			}
			for i, a := range args {
				if a == "--topic" && i+1 < len(args) && args[i+1] == topic {
					for j, b := range args {
						if b == "--partitions" && j+1 < len(args) {
							partitions, _ = strconv.Atoi(args[j+1])
						}
					}
				}
			}
		}
		if partitions == 0 {
			t.Errorf("no service creates topic %q with --partitions", topic)
		} else if r := ours[consumer].Deploy.Replicas; partitions < r || partitions < 2 {
			t.Errorf("topic %q has %d partitions for %d consumers: scaling would leave consumers idle", topic, partitions, r)
		}
		// advertised listener matches what sfconnector dials
		for _, addr := range addresses(t, forwarderCfg) {
			if addr.kind != "kafka" {
				continue
			}
			adv := c.Services[addr.host].env(t)["KAFKA_ADVERTISED_LISTENERS"]
			if !strings.Contains(adv, fmt.Sprintf("//%s:%d", addr.host, addr.port)) {
				t.Errorf("%s dials %s:%d but the broker advertises %q", addr.where, addr.host, addr.port, adv)
			}
		}
		for _, cfg := range []*config.Config{forwarderCfg, consumerCfg} {
			for _, addr := range addresses(t, cfg) {
				if addr.kind != "registry" {
					continue
				}
				l := c.Services[addr.host].env(t)["SCHEMA_REGISTRY_LISTENERS"]
				if !strings.HasSuffix(l, fmt.Sprintf(":%d", addr.port)) {
					t.Errorf("%s dials port %d but the registry listens on %q", addr.where, addr.port, l)
				}
			}
		}
	})

	t.Run("rsyslog", func(t *testing.T) {
		sys := exporters(consumerCfg, "syslog")
		if len(sys) == 0 {
			t.Fatal("the consumers export no alerts to syslog")
		}
		k := sys[0].Keys()
		host := k.String("syslog.host")
		s, ok := c.Services[host]
		if !ok {
			t.Fatalf("syslog host %q is not a service", host)
		}
		confPath := ""
		for _, m := range s.mounts(t) {
			if strings.HasSuffix(m.src, ".conf") {
				confPath = filepath.Join(root, m.src)
				if !strings.Contains(strings.Join(stringList(s.Command), " "), m.dst) {
					t.Errorf("service %s mounts %s at %s but does not start with it", host, m.src, m.dst)
				}
			}
		}
		if confPath == "" {
			t.Fatalf("service %s: no rsyslog configuration mounted", host)
		}
		conf, err := os.ReadFile(confPath)
		if err != nil {
			t.Fatal(err)
		}
		proto := k.String("syslog.proto")
		port := k.String("syslog.port")
		want := map[string]string{"tcp": "imtcp", "udp": "imudp"}[proto]
		if want == "" {
			t.Fatalf("syslog.proto %q: the demo uses tcp or udp", proto)
		}
		if !regexp.MustCompile(`input\(type="` + want + `" port="` + port + `"\)`).Match(conf) {
			t.Errorf("%s: no %s input on port %s (the consumers send %s to %s:%s)", confPath, want, port, proto, host, port)
		}
		tag := k.String("syslog.tag")
		if !bytes.Contains(conf, []byte(`$app-name == "`+tag+`"`)) {
			t.Errorf("%s: does not select app-name %q (syslog.tag)", confPath, tag)
		}
		if !bytes.Contains(conf, []byte(`maxMessageSize="64k"`)) {
			t.Errorf("%s: rsyslog's default 8 KiB message limit would cut alerts; raise maxMessageSize", confPath)
		}
	})

	t.Run("nats", func(t *testing.T) {
		ns := exporters(consumerCfg, "nats")
		if len(ns) == 0 {
			t.Fatal("the consumers export no alerts to NATS")
		}
		k := ns[0].Keys()
		subject := templateExample(k.String("nats.subject"))
		if k.String("nats.jetstream") == "true" && k.Given("nats.stream") == "" {
			t.Error("the NATS exporter uses JetStream but names no nats.stream to create")
		}
		var nc composeService
		found := false
		for _, s := range c.Services {
			args := stringList(s.Command)
			for i, a := range args {
				if (a == "sub" || a == "subscribe") && i+1 < len(args) {
					found = true
					nc = s
					if !subjectMatches(args[i+1], subject) {
						t.Errorf("the NATS tail subscribes to %q, which does not match the consumers' subject %q", args[i+1], subject)
					}
				}
			}
		}
		if !found {
			t.Error("no service subscribes to the alerts on NATS")
		}
		_ = nc
		host, _ := hostPort(t, k.Given("nats.url"), 4222)
		if s := c.Services[host]; !contains(stringList(s.Command), "--jetstream") && !contains(stringList(s.Command), "-js") {
			t.Errorf("service %s: NATS without --jetstream", host)
		}
	})
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sortStrings(out)
	return out
}

func checkComposeBuild(t *testing.T, name string, s composeService) {
	t.Helper()
	if !isOurImage(s.Image) {
		t.Errorf("service %s: builds an image named %q; name it sfconnector:TAG", name, s.Image)
	}
	ctx, df := "", "Dockerfile"
	switch b := s.Build.(type) {
	case nil:
		t.Errorf("service %s: image %s is this repository's, but the service has no build section", name, s.Image)
		return
	case string:
		ctx = b
	case map[string]any:
		ctx = fmt.Sprint(b["context"])
		if d, ok := b["dockerfile"]; ok {
			df = fmt.Sprint(d)
		}
	}
	if filepath.Clean(ctx) != "." || df != "Dockerfile" {
		t.Errorf("service %s: built from %s/%s; want the repository's Dockerfile (context .)", name, ctx, df)
	}
}

// volumeAt returns the volume (or bind source) mounted at dir in s.
func volumeAt(t *testing.T, s composeService, dir string) string {
	for _, m := range s.mounts(t) {
		if path.Clean(m.dst) == path.Clean(dir) {
			return m.src
		}
	}
	return ""
}

type address struct {
	where, kind, host string
	port              int
}

// addresses lists the network peers a configuration names.
func addresses(t *testing.T, cfg *config.Config) []address {
	var out []address
	add := func(where, kind, value string, def int) {
		for _, v := range strings.Split(value, ",") {
			if strings.TrimSpace(v) == "" {
				continue
			}
			h, p := hostPort(t, v, def)
			out = append(out, address{where, kind, h, p})
		}
	}
	if s := cfg.Source; s != nil && s.Kind == "kafka" {
		k := s.Keys()
		add(s.Where+" brokers", "kafka", k.Given("brokers"), 9092)
		add(s.Where+" registry.url", "registry", k.Given("registry.url"), 80)
	}
	if s := cfg.Source; s != nil && s.Kind == "nats" {
		add(s.Where+" url", "nats", s.Keys().Given("url"), 4222)
	}
	cfg.Root.Walk(func(n *config.Node) {
		if n.Kind != config.KindExporter {
			return
		}
		k := n.Keys()
		switch k.String("export") {
		case "kafka":
			add(n.Where+" kafka.brokers", "kafka", k.Given("kafka.brokers"), 9092)
			add(n.Where+" kafka.registry.url", "registry", k.Given("kafka.registry.url"), 80)
		case "nats":
			add(n.Where+" nats.url", "nats", k.Given("nats.url"), 4222)
		case "syslog":
			add(n.Where+" syslog.host", "syslog", k.Given("syslog.host"), 514)
		}
	})
	return out
}

// ---------------------------------------------------------------- Kubernetes

type k8sDoc struct {
	file string
	m    map[string]any
}

func (d k8sDoc) kind() string { s, _ := d.m["kind"].(string); return s }
func (d k8sDoc) name() string { return str(get(d.m, "metadata", "name")) }

func get(m any, path ...string) any {
	for _, p := range path {
		mm, ok := m.(map[string]any)
		if !ok {
			return nil
		}
		m = mm[p]
	}
	return m
}

func str(v any) string {
	if v == nil {
		return ""
	}
	return fmt.Sprint(v)
}

func list(v any) []any { l, _ := v.([]any); return l }

func loadK8s(t *testing.T) []k8sDoc {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(root, "deploy", "kubernetes", "*.yaml"))
	if len(files) == 0 {
		t.Fatal("deploy/kubernetes: no manifests")
	}
	var docs []k8sDoc
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		for {
			var m map[string]any
			err := dec.Decode(&m)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if m != nil {
				docs = append(docs, k8sDoc{filepath.Base(f), m})
			}
		}
	}
	return docs
}

func TestKubernetes(t *testing.T) {
	docs := loadK8s(t)
	cli := cliEnv(t)
	configMaps := map[string]map[string]any{}
	var workloads, services []k8sDoc
	var kustomization map[string]any
	for _, d := range docs {
		if d.kind() == "Kustomization" {
			kustomization = d.m
			continue
		}
		if str(d.m["apiVersion"]) == "" || d.kind() == "" || d.name() == "" {
			t.Errorf("%s: a document without apiVersion, kind or metadata.name", d.file)
			continue
		}
		switch d.kind() {
		case "ConfigMap":
			data, _ := d.m["data"].(map[string]any)
			configMaps[d.name()] = data
		case "DaemonSet", "Deployment", "StatefulSet":
			workloads = append(workloads, d)
		case "Service":
			services = append(services, d)
		}
	}
	kinds := map[string]bool{}
	for _, w := range workloads {
		kinds[w.kind()] = true
	}
	if !kinds["DaemonSet"] || !kinds["Deployment"] {
		t.Errorf("deploy/kubernetes: want a DaemonSet (edge) and a Deployment (consumer group), have %v", kinds)
	}

	// kustomization: resources exist, the image entry names ours
	if kustomization == nil {
		t.Error("deploy/kubernetes: no kustomization.yaml")
	} else {
		for _, r := range list(kustomization["resources"]) {
			if _, err := os.Stat(filepath.Join(root, "deploy", "kubernetes", str(r))); err != nil {
				t.Errorf("kustomization.yaml: resource %v: %v", r, err)
			}
		}
		for _, im := range list(kustomization["images"]) {
			if n := str(get(im, "name")); !isOurImage(n) {
				t.Errorf("kustomization.yaml: images entry %q is not this repository's image", n)
			}
		}
	}

	for _, w := range workloads {
		where := w.file + ": " + w.kind() + " " + w.name()
		sel, _ := get(w.m, "spec", "selector", "matchLabels").(map[string]any)
		labels, _ := get(w.m, "spec", "template", "metadata", "labels").(map[string]any)
		if len(sel) == 0 {
			t.Errorf("%s: no selector", where)
		}
		for k, v := range sel {
			if labels[k] != v {
				t.Errorf("%s: selector %s=%v does not match the pod labels", where, k, v)
			}
		}
		pod := get(w.m, "spec", "template", "spec")
		volumes := map[string]map[string]any{}
		for _, v := range list(get(pod, "volumes")) {
			vm, _ := v.(map[string]any)
			volumes[str(vm["name"])] = vm
		}
		var ourConfig *config.Config
		var ourContainer map[string]any
		var collector map[string]any
		for _, c := range list(get(pod, "containers")) {
			cm, _ := c.(map[string]any)
			cname := where + " container " + str(cm["name"])
			image := str(cm["image"])
			mounts := map[string]string{} // mountPath -> volume
			for _, m := range list(cm["volumeMounts"]) {
				vol := str(get(m, "name"))
				if _, ok := volumes[vol]; !ok {
					t.Errorf("%s: mounts volume %q, which the pod does not define", cname, vol)
				}
				mounts[str(get(m, "mountPath"))] = vol
			}
			env := map[string]string{}
			for _, e := range list(cm["env"]) {
				env[str(get(e, "name"))] = str(get(e, "value"))
			}
			if sf := env["SOCK_FILE"]; sf != "" {
				collector = cm
				collector["_mounts"] = mounts
				collector["_env"] = env
			}
			if !isOurImage(image) {
				if _, tag := imageName(image); tag == "" || tag == "latest" {
					t.Errorf("%s: image %q: pin a version", cname, image)
				}
				continue
			}
			ourContainer = cm
			ourContainer["_mounts"] = mounts
			// the configuration: CONFIG_PATH inside a ConfigMap volume
			cfgPath := env["CONFIG_PATH"]
			if cfgPath == "" {
				t.Errorf("%s: no CONFIG_PATH", cname)
				continue
			}
			dir, file := path.Split(cfgPath)
			vol := mounts[path.Clean(dir)]
			cmName := str(get(volumes[vol], "configMap", "name"))
			data, ok := configMaps[cmName][file]
			if !ok {
				t.Errorf("%s: CONFIG_PATH %s: no key %q in ConfigMap %q mounted at %s", cname, cfgPath, file, cmName, dir)
				continue
			}
			cfg, err := config.Parse(file, []byte(str(data)), nil)
			if err != nil {
				t.Errorf("%s: ConfigMap %s: %v", cname, cmName, err)
				continue
			}
			ourConfig = cfg
			checkEnv(t, cname, env, cli, file, []byte(str(data)))
			if cfg.Source != nil && cfg.Source.Kind != "socket" {
				if v, ok := env["INPUT_PATH"]; !ok || v != "" {
					t.Errorf("%s: the source is %s but the image's INPUT_PATH is not cleared", cname, cfg.Source.Kind)
				}
			}
			// probes on the metrics port the configuration serves
			ports := map[string]int{}
			for _, p := range list(cm["ports"]) {
				n, _ := strconv.Atoi(str(get(p, "containerPort")))
				ports[str(get(p, "name"))] = n
			}
			metrics := ""
			if cfg.Settings != nil {
				metrics = cfg.Settings.Keys().Given("metrics.addr")
			}
			_, mport := hostPort(t, metrics, 0)
			for _, probe := range []string{"readinessProbe", "livenessProbe"} {
				pp := get(cm, probe, "httpGet", "path")
				port := str(get(cm, probe, "httpGet", "port"))
				n, err := strconv.Atoi(port)
				if err != nil {
					n = ports[port]
				}
				if pp == nil || n == 0 || n != mport {
					t.Errorf("%s: %s %v:%s does not reach metrics.addr %q", cname, probe, pp, port, metrics)
				}
			}
			if str(get(cm, "readinessProbe", "httpGet", "path")) != "/readyz" || str(get(cm, "livenessProbe", "httpGet", "path")) != "/healthz" {
				t.Errorf("%s: readiness on /readyz and liveness on /healthz", cname)
			}
		}
		if ourContainer == nil {
			t.Errorf("%s: no sfconnector container", where)
			continue
		}
		if ourConfig != nil && ourConfig.Source != nil && ourConfig.Source.Kind == "socket" {
			sock := ourConfig.Source.Keys().String("path")
			if collector == nil {
				t.Errorf("%s: socket source but no collector container", where)
				continue
			}
			if sf := collector["_env"].(map[string]string)["SOCK_FILE"]; sf != sock {
				t.Errorf("%s: the collector writes to %s, sfconnector listens on %s", where, sf, sock)
			}
			a := ourContainer["_mounts"].(map[string]string)[path.Dir(sock)]
			b := collector["_mounts"].(map[string]string)[path.Dir(sock)]
			if a == "" || a != b {
				t.Errorf("%s: sfconnector and the collector do not share a volume at %s (%q, %q)", where, path.Dir(sock), a, b)
			}
		}
	}

	// every configuration held in a ConfigMap loads and passes the checks
	for name, data := range configMaps {
		for file, text := range data {
			if ext := path.Ext(file); ext != ".yaml" && ext != ".json" {
				continue
			}
			cfg, err := config.Parse(file, []byte(str(text)), nil)
			if err != nil {
				t.Errorf("ConfigMap %s: %v", name, err)
				continue
			}
			for _, e := range checkConfig(cfg) {
				t.Errorf("ConfigMap %s: %v", name, e)
			}
			if c2, err := config.Parse(file, []byte(str(text)), nil); err == nil {
				checkBuild(t, "ConfigMap "+name+" "+file, c2)
			}
		}
	}

	// services select a workload's pods
	for _, s := range services {
		sel, _ := get(s.m, "spec", "selector").(map[string]any)
		matched := false
		for _, w := range workloads {
			labels, _ := get(w.m, "spec", "template", "metadata", "labels").(map[string]any)
			ok := len(sel) > 0
			for k, v := range sel {
				if labels[k] != v {
					ok = false
				}
			}
			matched = matched || ok
		}
		if !matched {
			t.Errorf("%s: Service %s selects no workload's pods", s.file, s.name())
		}
	}
}

// ---------------------------------------------------------------- systemd

// unitFile parses a systemd unit into section -> key -> values.
func unitFile(t *testing.T, rel string) map[string]map[string][]string {
	t.Helper()
	out := map[string]map[string][]string{}
	section := ""
	for i, l := range strings.Split(readFile(t, rel), "\n") {
		l = strings.TrimSpace(l)
		switch {
		case l == "" || strings.HasPrefix(l, "#") || strings.HasPrefix(l, ";"):
		case strings.HasPrefix(l, "["):
			section = strings.Trim(l, "[]")
			out[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(l, "=")
			if !ok || section == "" {
				t.Errorf("%s:%d: not KEY=VALUE in a section: %q", rel, i+1, l)
				continue
			}
			out[section][k] = append(out[section][k], v)
		}
	}
	return out
}

func TestSystemd(t *testing.T) {
	const unit = "deploy/systemd/sfconnector.service"
	u := unitFile(t, unit)
	svc := u["Service"]
	if svc == nil {
		t.Fatalf("%s: no [Service]", unit)
	}
	one := func(k string) string {
		v := svc[k]
		if len(v) == 0 {
			return ""
		}
		return v[len(v)-1]
	}
	want := map[string]string{
		"NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes",
		"PrivateDevices": "yes", "KillSignal": "SIGTERM", "Restart": "on-failure", "CapabilityBoundingSet": "",
		"RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6",
	}
	for k, v := range want {
		if _, ok := svc[k]; !ok || one(k) != v {
			t.Errorf("%s: want %s=%s, have %q", unit, k, v, one(k))
		}
	}
	// ExecStart runs the binary with a subcommand and flags the CLI has
	src := cliSource(t)
	args := strings.Fields(one("ExecStart"))
	if len(args) < 2 || path.Base(args[0]) != "sfconnector" || !hasSubcommand(src, args[1]) {
		t.Fatalf("%s: ExecStart %q: want sfconnector SUBCOMMAND ...", unit, one("ExecStart"))
	}
	cfgPath := ""
	for i := 2; i < len(args); i++ {
		if strings.HasPrefix(args[i], "-") && !hasFlag(src, strings.TrimLeft(args[i], "-")) {
			t.Errorf("%s: ExecStart flag %s is not defined by the CLI", unit, args[i])
		}
		if (args[i] == "-c" || args[i] == "-config") && i+1 < len(args) {
			cfgPath = args[i+1]
		}
	}
	if cfgPath == "" {
		t.Errorf("%s: ExecStart names no configuration (-c)", unit)
	}
	// the user and directories come from the sysusers and tmpfiles files
	user := one("User")
	if user == "" || user == "root" {
		t.Errorf("%s: User=%q: run as a dedicated user", unit, user)
	}
	sysusers := readFile(t, "deploy/systemd/sfconnector.sysusers")
	if !regexp.MustCompile(`(?m)^u\s+` + regexp.QuoteMeta(user) + `\s`).MatchString(sysusers) {
		t.Errorf("sfconnector.sysusers does not create user %s", user)
	}
	rw := strings.Fields(strings.Join(svc["ReadWritePaths"], " "))
	for _, l := range strings.Split(readFile(t, "deploy/systemd/sfconnector.tmpfiles"), "\n") {
		f := strings.Fields(l)
		if len(f) < 4 || f[0] != "d" {
			continue
		}
		if f[3] != user {
			t.Errorf("sfconnector.tmpfiles: %s owned by %s, the service runs as %s", f[1], f[3], user)
		}
		if !contains(rw, f[1]) && !contains(rw, "-"+f[1]) {
			t.Errorf("%s: ReadWritePaths %v does not include %s (created by sfconnector.tmpfiles)", unit, rw, f[1])
		}
	}
	// the edge example's socket and output live in writable paths
	cfg, err := config.Load(filepath.Join(root, "examples", "edge-processor.yaml"), nil)
	if err != nil {
		t.Fatal(err)
	}
	sock := cfg.Source.Keys().String("path")
	if !contains(rw, path.Dir(sock)) && !contains(rw, "-"+path.Dir(sock)) {
		t.Errorf("%s: the socket directory %s is not in ReadWritePaths %v", unit, path.Dir(sock), rw)
	}
	// the environment file's variables (commented examples included)
	cli := cliEnv(t)
	env := map[string]string{}
	for _, l := range strings.Split(readFile(t, "deploy/systemd/sfconnector.default"), "\n") {
		l = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(l), "#"))
		if k, v, ok := strings.Cut(l, "="); ok && regexp.MustCompile(`^[A-Z][A-Z0-9_]*$`).MatchString(k) {
			env[k] = v
		}
	}
	if len(env) == 0 {
		t.Error("sfconnector.default: no variables")
	}
	data := []byte(readFile(t, "examples/edge-processor.yaml"))
	checkEnv(t, "sfconnector.default", env, cli, "edge-processor.yaml", data)
	if files := svc["EnvironmentFile"]; len(files) == 0 || strings.TrimPrefix(files[0], "-") != "/etc/default/sfconnector" {
		t.Errorf("%s: EnvironmentFile %v, want -/etc/default/sfconnector (sfconnector.default)", unit, files)
	}

	// systemd's own checks, where systemd is installed
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Log("systemd-analyze not installed: the unit's directives were not checked by systemd")
		return
	}
	dir := t.TempDir()
	// verify needs an executable ExecStart: point it at /bin/true
	text := strings.Replace(readFile(t, unit), "ExecStart="+args[0], "ExecStart=/bin/true", 1)
	p := filepath.Join(dir, "sfconnector.service")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", p).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	out, err = exec.Command(analyze, "security", "--offline=yes", p).CombinedOutput()
	if err != nil {
		t.Logf("systemd-analyze security --offline: %v (older systemd?)", err)
		return
	}
	m := regexp.MustCompile(`Overall exposure level for [^:]+: ([0-9.]+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("systemd-analyze security: no exposure level in\n%s", out)
	}
	if lvl, _ := strconv.ParseFloat(string(m[1]), 64); lvl > 2.0 {
		t.Errorf("systemd-analyze security: exposure %s, want at most 2.0\n%s", m[1], out)
	}
}

// TestDemoWorkloadAlerts checks that the compose demo shows alerts: the
// commands of its demo-workload service, written as the events the collector
// records in deploy/compose/demo-workload.test.yaml, match the bundled
// policies.
func TestDemoWorkloadAlerts(t *testing.T) {
	const file = "deploy/compose/demo-workload.test.yaml"
	c := loadCompose(t)
	w, ok := c.Services["demo-workload"]
	if !ok {
		t.Fatal("docker-compose.yml: no demo-workload service")
	}
	script := strings.Join(stringList(w.Command), " ")
	// each event in the test file is introduced by the command that causes it
	n := 0
	lines := strings.Split(readFile(t, file), "\n")
	for i := 0; i+1 < len(lines); i++ {
		cmd, ok := strings.CutPrefix(strings.TrimSpace(lines[i]), "# ")
		if !ok || !strings.HasPrefix(strings.TrimSpace(lines[i+1]), "- {") {
			continue
		}
		cmd, _, _ = strings.Cut(cmd, ":")
		if !strings.Contains(script, strings.TrimSpace(cmd)) {
			t.Errorf("%s:%d: %q is not a command of demo-workload", file, i+1, cmd)
		}
		n++
	}
	if n < 3 {
		t.Errorf("%s: found %d commented commands, want one per event", file, n)
	}
	var out bytes.Buffer
	passed, failed, err := policytest.Run(context.Background(), []string{filepath.Join(root, file)}, &out)
	if err != nil || failed > 0 || passed == 0 {
		t.Errorf("%s: %d passed, %d failed, %v\n%s", file, passed, failed, err, out.String())
	}
}

// TestContainerImages keeps the images of testenv/containers (a separate
// module, whose own tests need Docker) equal to docker-compose.yml's.
func TestContainerImages(t *testing.T) {
	src := readFile(t, "testenv/containers/containers.go")
	c := loadCompose(t)
	images := map[string]bool{}
	for _, s := range c.Services {
		images[s.Image] = true
	}
	consts := regexp.MustCompile(`(\w+Image)\s*=\s*"([^"]+)"`).FindAllStringSubmatch(src, -1)
	if len(consts) < 3 {
		t.Fatalf("testenv/containers/containers.go: found %d image constants, want Kafka, registry and NATS", len(consts))
	}
	for _, m := range consts {
		if !images[m[2]] {
			t.Errorf("testenv/containers: %s = %q is not an image of docker-compose.yml", m[1], m[2])
		}
	}
}
