package deploy_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/sfconnector/sfconnector/config"
	"github.com/sfconnector/sfconnector/connector"
)

// root is the repository, seen from this package's directory.
const root = ".."

func readFile(t *testing.T, rel string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

var envReadRE = regexp.MustCompile(`(?:Getenv|LookupEnv|envOr)\("([A-Z][A-Z0-9_]*)"`)

// cliEnv returns the environment variables the command line reads, found in
// the sources of cmd/sfconnector (not a list kept here, so that a variable
// the code stops reading fails the test).
func cliEnv(t *testing.T) map[string]bool {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(root, "cmd", "sfconnector", "*.go"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no sources in cmd/sfconnector: %v", err)
	}
	out := map[string]bool{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range envReadRE.FindAllStringSubmatch(string(data), -1) {
			out[m[1]] = true
		}
	}
	return out
}

// cliSource is the text of the command line's sources, to find subcommands
// and flags in.
func cliSource(t *testing.T) string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(root, "cmd", "sfconnector", "*.go"))
	var b strings.Builder
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(data)
	}
	return b.String()
}

// hasSubcommand reports whether the CLI dispatches on name.
func hasSubcommand(src, name string) bool {
	return strings.Contains(src, `case "`+name+`"`) || strings.Contains(src, `"`+name+`",`)
}

// hasFlag reports whether the CLI defines a flag with this name.
func hasFlag(src, name string) bool {
	re := regexp.MustCompile(`fs\.\w+\((?:&\w+, )?"` + regexp.QuoteMeta(name) + `"`)
	return re.MatchString(src)
}

// envName is the documented override name of a plugin's key:
// <PLUGIN>_<KEY>, upper case, dots and dashes as underscores.
func envName(plugin, key string) string {
	return strings.ToUpper(plugin) + "_" + strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(key))
}

type override struct {
	node *config.Node
	key  string
}

// overrides maps every <PLUGIN>_<KEY> name that applies to cfg to the
// plugin and key it sets, from config.Specs.
func overrides(cfg *config.Config) map[string][]override {
	out := map[string][]override{}
	cfg.Root.Walk(func(n *config.Node) {
		for _, k := range config.KnownKeys(n.Kind) {
			name := envName(n.Name, k)
			out[name] = append(out[name], override{n, k})
		}
	})
	return out
}

// checkEnv checks that every variable of env is read by the command line or
// is a <PLUGIN>_<KEY> override of cfg that the loader applies, and that the
// configuration loaded with env still passes checkConfig.
func checkEnv(t *testing.T, where string, env map[string]string, cli map[string]bool, cfgPath string, cfgData []byte) {
	t.Helper()
	cfg, err := config.Parse(cfgPath, cfgData, nil)
	if err != nil {
		t.Errorf("%s: %v", where, err)
		return
	}
	ovr := overrides(cfg)
	for name := range env {
		if cli[name] {
			continue
		}
		targets, ok := ovr[name]
		if !ok {
			t.Errorf("%s: environment variable %s is neither read by the command line (%s) nor a <PLUGIN>_<KEY> override of %s (plugins: %s)",
				where, name, strings.Join(sortedSet(cli), ", "), cfgPath, pluginNames(cfg))
			continue
		}
		// the loader must apply it: parse again with only this variable set
		const sentinel = "sentinel-value-from-the-environment"
		c2, err := config.Parse(cfgPath, cfgData, func(k string) (string, bool) {
			if k == name {
				return sentinel, true
			}
			return "", false
		})
		if err != nil {
			t.Errorf("%s: %s: %v", where, name, err)
			continue
		}
		// read back through the canonical name, as the plugins do: an
		// override of an alias must win over the canonical key in the file
		applied := false
		c2.Root.Walk(func(n *config.Node) {
			for _, o := range targets {
				key := o.key
				if s, ok := config.Spec(n.Kind, key); ok {
					key = s.Key
				}
				if n.Where == o.node.Where && n.Keys().Given(key) == sentinel {
					applied = true
				}
			}
		})
		if !applied {
			t.Errorf("%s: %s should set %s of %s, but the loader did not apply it", where, name, targets[0].key, targets[0].node.Where)
		}
	}
	// with the whole environment applied, the configuration is still valid
	full, err := config.Parse(cfgPath, cfgData, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Errorf("%s: with its environment: %v", where, err)
		return
	}
	for _, e := range checkConfig(full) {
		t.Errorf("%s: with its environment: %v", where, e)
	}
	checkBuild(t, where+" (with its environment)", full)
}

func pluginNames(cfg *config.Config) string {
	var names []string
	cfg.Root.Walk(func(n *config.Node) { names = append(names, strings.ToUpper(n.Name)) })
	return strings.Join(names, ", ")
}

func sortedSet(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// busPrefixes are the exporter keys that belong to one export type: an
// exporter reads only the keys of its own type, so the others are errors.
var busPrefixes = []string{"file.", "syslog.", "kafka.", "nats."}

// checkPlugin reads every key config.Specs knows for p's kind and reports
// the keys that are set but unknown, and invalid values.
func checkPlugin(p *config.Plugin) []error {
	k := p.Keys()
	for _, s := range config.Specs {
		if s.Kind == p.Kind {
			k.Given(s.Key)
		}
	}
	var errs []error
	if err := k.Err(); err != nil {
		errs = append(errs, err)
	}
	if p.Kind == config.KindExporter {
		export := p.Keys().String("export")
		for key := range p.Raw() {
			canon := key
			if s, ok := config.Spec(p.Kind, key); ok {
				canon = s.Key
			}
			for _, pre := range busPrefixes {
				if strings.HasPrefix(canon, pre) && pre != export+"." {
					errs = append(errs, fmt.Errorf("%s: key %q (%s) is for %s exporters, this one exports to %s", p.Where, key, canon, strings.TrimSuffix(pre, "."), export))
				}
			}
		}
	}
	return errs
}

// checkConfig checks every plugin of a loaded configuration.
func checkConfig(cfg *config.Config) []error {
	var errs []error
	if cfg.Settings != nil {
		errs = append(errs, checkPlugin(cfg.Settings)...)
	}
	if cfg.Source != nil {
		switch cfg.Source.Kind {
		case "file", "socket", "kafka", "nats", "otelkafka":
		default:
			errs = append(errs, fmt.Errorf("%s: unknown source driver %q", cfg.Source.Where, cfg.Source.Kind))
		}
		errs = append(errs, checkPlugin(cfg.Source)...)
	}
	cfg.Root.Walk(func(n *config.Node) { errs = append(errs, checkPlugin(&n.Plugin)...) })
	return errs
}

// exporters returns the exporter nodes of cfg with the given export type.
func exporters(cfg *config.Config, export string) []*config.Node {
	var out []*config.Node
	cfg.Root.Walk(func(n *config.Node) {
		if n.Kind == config.KindExporter && n.Keys().String("export") == export {
			out = append(out, n)
		}
	})
	return out
}

func policyNodes(cfg *config.Config) []*config.Node {
	var out []*config.Node
	cfg.Root.Walk(func(n *config.Node) {
		if n.Kind == config.KindPolicy {
			out = append(out, n)
		}
	})
	return out
}

// hostPort splits "host:port", "scheme://host:port/..." or a bare host
// (with the given default port).
func hostPort(t *testing.T, s string, defPort int) (string, int) {
	t.Helper()
	s = strings.TrimSpace(s)
	if strings.Contains(s, "://") {
		u, err := url.Parse(s)
		if err != nil {
			t.Errorf("bad URL %q: %v", s, err)
			return "", 0
		}
		s = u.Host
	}
	h, p, err := net.SplitHostPort(s)
	if err != nil {
		return s, defPort
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Errorf("bad port in %q", s)
	}
	return h, n
}

// subjectMatches reports whether a NATS subscription pattern (with * and >)
// matches a subject.
func subjectMatches(pattern, subject string) bool {
	pt := strings.Split(pattern, ".")
	st := strings.Split(subject, ".")
	for i, p := range pt {
		if p == ">" {
			return len(st) > i
		}
		if i >= len(st) || (p != "*" && p != st[i]) {
			return false
		}
	}
	return len(pt) == len(st)
}

// templateExample replaces the {placeholders} of a subject or topic template
// with sample values.
func templateExample(tmpl string) string {
	return regexp.MustCompile(`\{[a-z]+\}`).ReplaceAllString(tmpl, "x")
}

// imageName splits an image reference into repository path and tag.
func imageName(ref string) (repo, tag string) {
	ref = strings.SplitN(ref, "@", 2)[0]
	i := strings.LastIndex(ref, ":")
	if i > strings.LastIndex(ref, "/") {
		return ref[:i], ref[i+1:]
	}
	return ref, ""
}

// isOurImage reports whether an image reference names the image built from
// this repository's Dockerfile (its last path element is "sfconnector").
func isOurImage(ref string) bool {
	repo, _ := imageName(ref)
	return repo == "sfconnector" || strings.HasSuffix(repo, "/sfconnector")
}

// checkBuild runs the connector's own dry run (connector.Check, what
// `sfconnector validate` does) on cfg. Policies and the dead-letter file are
// blanked first: they name paths inside the container, checked separately.
func checkBuild(t *testing.T, where string, cfg *config.Config) {
	t.Helper()
	cfg.Root.Walk(func(n *config.Node) {
		if n.Kind == config.KindPolicy && n.Has("policies") {
			n.Set("policies", "")
		}
	})
	if cfg.Settings != nil && cfg.Settings.Has("deadletter.path") {
		cfg.Settings.Set("deadletter.path", "")
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	err := connector.Check(context.Background(), cfg, connector.Options{Logger: quiet})
	if err == nil {
		return
	}
	for _, line := range strings.Split(err.Error(), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		t.Errorf("%s: connector.Check: %s", where, line)
	}
}
