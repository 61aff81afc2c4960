package policies

import "embed"

// defaultFS holds the bundled policies (policies/default/*.yaml); the tests
// below it are not policies.
//
//go:embed default/*.yaml
var defaultFS embed.FS

// LoadDefault loads the bundled runtime-integrity policies: suspicious
// shells and interpreters, sensitive file reads and writes, privilege
// changes, software brought into containers, reverse shells and unexpected
// connections, container escapes and log tampering, each tagged with its
// MITRE ATT&CK technique. The default pipeline uses them when no policies
// are configured.
func LoadDefault(opts Options) (*Set, []Diagnostic, error) {
	return LoadFS(defaultFS, []string{"default/*.yaml"}, opts)
}

// DefaultFiles returns the names and contents of the bundled policy files,
// for tools that show or export them.
func DefaultFiles() (map[string][]byte, error) {
	names, err := defaultFS.ReadDir("default")
	if err != nil {
		return nil, err
	}
	out := map[string][]byte{}
	for _, n := range names {
		if n.IsDir() {
			continue
		}
		data, err := defaultFS.ReadFile("default/" + n.Name())
		if err != nil {
			return nil, err
		}
		out[n.Name()] = data
	}
	return out, nil
}
