package policies

import (
	"fmt"
	"os"
	"strings"

	"github.com/sfconnector/sfconnector/sysflow"
	"gopkg.in/yaml.v3"
)

// sigmaMapping is a Sigma field-mapping ("config") file, in the format of
// the legacy sigmac backends that sf-processor reads: logsources (each with
// product, service, category and conditions added to the rules they
// apply to) and fieldmappings (Sigma name -> one SysFlow field or a list
// of them, any of which may match).
type sigmaMapping struct {
	file    string
	fields  map[string][]*sysflow.Field
	sources []sigmaSource
}

type sigmaSource struct {
	name                       string
	product, service, category string
	conds                      []sigmaSourceCond
	pos                        Position
}

type sigmaSourceCond struct {
	field string
	value string
	pos   Position
	src   string
}

// defaultSigmaFields is the mapping used when no config file is given: the
// Sigma names of the Linux process, file and network categories, mapped to
// the SysFlow fields with the same meaning. ParentImage and
// ParentCommandLine are the direct parent here; the reference's own config
// maps them to the whole ancestry (sf.proc.aexe, sf.proc.acmdline).
var defaultSigmaFields = map[string][]string{
	"Image":             {"sf.proc.exe"},
	"CommandLine":       {"sf.proc.cmdline"},
	"ProcessId":         {"sf.proc.pid"},
	"ParentImage":       {"sf.pproc.exe"},
	"ParentCommandLine": {"sf.pproc.cmdline"},
	"ParentProcessId":   {"sf.pproc.pid"},
	"CurrentDirectory":  {"sf.proc.cwd"},
	"User":              {"sf.proc.user"},
	"TargetFilename":    {"sf.file.path"},
	"DestinationIp":     {"sf.net.dip"},
	"DestinationPort":   {"sf.net.dport"},
	"SourceIp":          {"sf.net.sip"},
	"SourcePort":        {"sf.net.sport"},
}

// sigmaMappingKeys are the keys of a sigmac config that carry nothing this
// engine needs; they load silently.
var sigmaMappingKeys = set("title", "order", "backends", "defaultindex", "logsources", "fieldmappings", "logsourcemerging", "placeholders")

// loadSigmaMapping reads the mapping file, or builds the default mapping
// when path is "".
func (l *loader) loadSigmaMapping(path string) *sigmaMapping {
	m := &sigmaMapping{file: path, fields: map[string][]*sysflow.Field{}}
	if path == "" {
		m.file = "(built-in Sigma mapping)"
		// the log source the reference's mapping declares, without
		// conditions: rules naming service sysflow load with it too
		m.sources = []sigmaSource{{name: "sysflow", product: "linux", service: "sysflow"}}
		for name, targets := range defaultSigmaFields {
			for _, t := range targets {
				if f, ok := l.opts.Fields.LookupField(t); ok {
					m.fields[name] = append(m.fields[name], f)
				}
			}
		}
		return m
	}
	data, err := os.ReadFile(path)
	if err != nil {
		l.fail(Position{File: path}, "", "", "cannot read the Sigma field mapping (config): %v", err)
		return m
	}
	f := parseSource(path, data, l.diags)
	if len(f.docs) == 0 {
		return m
	}
	root := f.docs[0]
	if root.Kind == yaml.DocumentNode && len(root.Content) > 0 {
		root = root.Content[0]
	}
	if root.Kind != yaml.MappingNode {
		l.fail(f.pos(root), "", f.line(root.Line), "a Sigma field mapping is a YAML mapping with logsources and fieldmappings, found %s", kindName(root))
		return m
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		switch k.Value {
		case "fieldmappings":
			l.sigmaFieldmappings(f, m, v)
		case "logsources":
			l.sigmaLogsources(f, m, v)
		default:
			if !sigmaMappingKeys[k.Value] {
				l.warn(f.pos(k), "", f.line(k.Line), "unknown key %q in the Sigma field mapping ignored", k.Value)
			}
		}
	}
	return m
}

func (l *loader) sigmaFieldmappings(f *sourceFile, m *sigmaMapping, v *yaml.Node) {
	if v.Kind != yaml.MappingNode {
		l.fail(f.pos(v), "", f.line(v.Line), "fieldmappings must be a mapping from Sigma field names to SysFlow fields, found %s", kindName(v))
		return
	}
	for i := 0; i+1 < len(v.Content); i += 2 {
		k, t := v.Content[i], v.Content[i+1]
		label := fmt.Sprintf("fieldmapping %q", k.Value)
		var targets []*yaml.Node
		switch t.Kind {
		case yaml.ScalarNode:
			targets = []*yaml.Node{t}
		case yaml.SequenceNode:
			targets = t.Content
		default:
			// sigmac's conditional mappings (a mapping per log source)
			l.fail(f.pos(t), label, f.line(t.Line), "a field mapping is a SysFlow field name or a list of them; conditional mappings are not supported")
			continue
		}
		var fields []*sysflow.Field
		for _, tn := range targets {
			name := strings.TrimSpace(tn.Value)
			fd, ok := l.opts.Fields.LookupField(name)
			if tn.Kind != yaml.ScalarNode || !ok {
				hint := ""
				if c := l.opts.Fields.ClosestField(name); c != "" {
					hint = fmt.Sprintf(" (did you mean %s?)", c)
				}
				l.fail(f.pos(tn), label, f.line(tn.Line), "%q is not a SysFlow field%s", name, hint)
				continue
			}
			fields = append(fields, fd)
		}
		if _, dup := m.fields[k.Value]; dup {
			l.warn(f.pos(k), label, f.line(k.Line), "Sigma field %s mapped twice; the last mapping is used", k.Value)
		}
		m.fields[k.Value] = fields
	}
}

func (l *loader) sigmaLogsources(f *sourceFile, m *sigmaMapping, v *yaml.Node) {
	if v.Kind != yaml.MappingNode {
		l.fail(f.pos(v), "", f.line(v.Line), "logsources must be a mapping of named log sources, found %s", kindName(v))
		return
	}
	for i := 0; i+1 < len(v.Content); i += 2 {
		k, s := v.Content[i], v.Content[i+1]
		label := fmt.Sprintf("logsource %q", k.Value)
		if s.Kind != yaml.MappingNode {
			l.fail(f.pos(s), label, f.line(s.Line), "a log source is a mapping (product, service, category, conditions), found %s", kindName(s))
			continue
		}
		src := sigmaSource{name: k.Value, pos: f.pos(k)}
		for j := 0; j+1 < len(s.Content); j += 2 {
			sk, sv := s.Content[j], s.Content[j+1]
			switch sk.Value {
			case "product":
				src.product = strings.ToLower(sv.Value)
			case "service":
				src.service = strings.ToLower(sv.Value)
			case "category":
				src.category = strings.ToLower(sv.Value)
			case "conditions":
				if sv.Kind != yaml.MappingNode {
					l.fail(f.pos(sv), label, f.line(sv.Line), "conditions must be a mapping of field: value, found %s", kindName(sv))
					continue
				}
				for c := 0; c+1 < len(sv.Content); c += 2 {
					ck, cv := sv.Content[c], sv.Content[c+1]
					if cv.Kind != yaml.ScalarNode {
						l.fail(f.pos(cv), label, f.line(cv.Line), "the value of condition %s must be a scalar", ck.Value)
						continue
					}
					src.conds = append(src.conds, sigmaSourceCond{field: ck.Value, value: cv.Value, pos: f.pos(ck), src: f.line(ck.Line)})
				}
			case "index", "rewrite":
				// backend indexes and rewrites mean nothing here
			default:
				l.warn(f.pos(sk), label, f.line(sk.Line), "unknown log source key %q ignored", sk.Value)
			}
		}
		m.sources = append(m.sources, src)
	}
}
