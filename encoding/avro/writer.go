package avro

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/sfconnector/sfconnector/sysflow"
)

// The flat-event writer is a plan compiled from event.avsc (or alert.avsc):
// one step per field, each reading the value through the field registry, so
// the bytes always agree with what policies see. Compiling it also checks
// that every schema field is a registry field of the same type.

type step func(dst []byte, e *sysflow.Event, scratch *[]string) []byte

type avscField struct {
	Name string          `json:"name"`
	Type json.RawMessage `json:"type"`
}

type avscRecord struct {
	Type   string      `json:"type"`
	Name   string      `json:"name"`
	Fields []avscField `json:"fields"`
}

// sections that may be null, and when they are present.
var presence = map[string]func(e *sysflow.Event) bool{
	"proc":      (*sysflow.Event).HasProcess,
	"pproc":     func(e *sysflow.Event) bool { return e.ParentOID != nil },
	"file":      (*sysflow.Event).HasFile,
	"container": func(e *sysflow.Event) bool { return e.Container != nil || e.ContainerType() != "" },
	"pod":       func(e *sysflow.Event) bool { return e.Pod != nil },
	"ke":        func(e *sysflow.Event) bool { return e.K8s != nil },
}

// extras are the schema fields that are not registry fields.
var extras = map[string]step{
	"args": func(dst []byte, e *sysflow.Event, _ *[]string) []byte { return appendStrings(dst, e.Args) },
	"rules": func(dst []byte, e *sysflow.Event, _ *[]string) []byte {
		if len(e.Matches) > 0 {
			dst = appendLong(dst, int64(len(e.Matches)))
			for i := range e.Matches {
				m := &e.Matches[i]
				dst = appendString(dst, m.Rule)
				dst = appendString(dst, m.Desc)
				dst = appendString(dst, m.Priority.String())
				dst = appendStrings(dst, m.Tags)
				dst = appendString(dst, m.Output)
			}
		}
		return append(dst, 0)
	},
	"tags": func(dst []byte, e *sysflow.Event, _ *[]string) []byte { return appendStrings(dst, e.Tags) },
	"priority": func(dst []byte, e *sysflow.Event, _ *[]string) []byte {
		return appendString(dst, e.MaxPriority().String())
	},
}

// compileWriter compiles the writer of a schema; cache makes the proc and
// pproc sections go through a sectionCache (the steps alone write the same
// bytes: TestSectionCacheMatchesSteps).
func compileWriter(schemaText string, cache bool) ([]step, error) {
	var top avscRecord
	if err := json.Unmarshal([]byte(schemaText), &top); err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	c := compiler{cache: cache}
	return c.fields(top.Fields, "sf")
}

type compiler struct{ cache bool }

func (c compiler) fields(fields []avscField, prefix string) ([]step, error) {
	steps, _, err := c.namedFields(fields, prefix)
	return steps, err
}

// namedFields also returns, for each step, the name of the field it writes
// (a nested record's steps all carry its name).
func (c compiler) namedFields(fields []avscField, prefix string) ([]step, []string, error) {
	var steps []step
	var names []string
	for _, f := range fields {
		s, err := c.field(f, prefix)
		if err != nil {
			return nil, nil, err
		}
		steps = append(steps, s...)
		for range s {
			names = append(names, f.Name)
		}
	}
	return steps, names, nil
}

func (c compiler) field(f avscField, prefix string) ([]step, error) {
	name := prefix + "." + f.Name
	var prim string
	if err := json.Unmarshal(f.Type, &prim); err == nil {
		return leaf(name, prim, f.Name, prefix)
	}
	var union []json.RawMessage
	if err := json.Unmarshal(f.Type, &union); err == nil {
		var rec avscRecord
		if len(union) != 2 || string(union[0]) != `"null"` || json.Unmarshal(union[1], &rec) != nil || rec.Type != "record" {
			return nil, fmt.Errorf("field %s: only [null, record] unions are written", name)
		}
		present, ok := presence[f.Name]
		if !ok {
			return nil, fmt.Errorf("field %s: no presence rule for this nullable section", name)
		}
		inner, names, err := c.namedFields(rec.Fields, name)
		if err != nil {
			return nil, err
		}
		if sc := newSectionCache(f.Name, names, inner); c.cache && prefix == "sf" && sc != nil {
			return []step{func(dst []byte, e *sysflow.Event, scratch *[]string) []byte {
				if !present(e) {
					return append(dst, 0)
				}
				return sc.appendSection(append(dst, 2), e, scratch)
			}}, nil
		}
		return []step{func(dst []byte, e *sysflow.Event, scratch *[]string) []byte {
			if !present(e) {
				return append(dst, 0) // union branch 0: null
			}
			dst = append(dst, 2) // union branch 1, zig-zag encoded
			return runSection(dst, inner, e, scratch)
		}}, nil
	}
	var complex struct {
		Type  string          `json:"type"`
		Items json.RawMessage `json:"items"`
	}
	if err := json.Unmarshal(f.Type, &complex); err != nil {
		return nil, fmt.Errorf("field %s: %w", name, err)
	}
	switch complex.Type {
	case "record":
		var rec avscRecord
		_ = json.Unmarshal(f.Type, &rec)
		return c.fields(rec.Fields, name)
	case "array":
		if string(complex.Items) == `"string"` {
			return leaf(name, "array<string>", f.Name, prefix)
		}
		if s, ok := extras[f.Name]; ok && prefix == "sf" {
			return []step{s}, nil
		}
	}
	return nil, fmt.Errorf("field %s: type %s is not written", name, f.Type)
}

func leaf(name, avroType, short, prefix string) ([]step, error) {
	if prefix == "sf" {
		if s, ok := extras[short]; ok {
			return []step{s}, nil
		}
	}
	fd, ok := sysflow.LookupField(name)
	if !ok || fd.Name != name {
		return nil, fmt.Errorf("field %s: not in the field registry", name)
	}
	want := map[sysflow.FieldKind]string{sysflow.FieldInt: "long", sysflow.FieldStr: "string",
		sysflow.FieldBool: "boolean", sysflow.FieldList: "array<string>"}[fd.Kind]
	if want != avroType {
		return nil, fmt.Errorf("field %s: the registry types it %s, the schema %s", name, fd.Kind, avroType)
	}
	if s, ok := directSteps[name]; ok {
		return []step{s}, nil
	}
	switch fd.Kind {
	case sysflow.FieldInt:
		get := fd.Int
		return []step{func(dst []byte, e *sysflow.Event, _ *[]string) []byte { return appendLong(dst, get(e)) }}, nil
	case sysflow.FieldStr:
		get := fd.Str
		return []step{func(dst []byte, e *sysflow.Event, _ *[]string) []byte { return appendString(dst, get(e)) }}, nil
	case sysflow.FieldBool:
		get := fd.Bool
		return []step{func(dst []byte, e *sysflow.Event, _ *[]string) []byte { return appendBool(dst, get(e)) }}, nil
	default:
		get := fd.List
		return []step{func(dst []byte, e *sysflow.Event, scratch *[]string) []byte {
			*scratch = get(e, (*scratch)[:0])
			return appendStrings(dst, *scratch)
		}}, nil
	}
}

// directSteps write the command-line fields without building their
// strings: the registry's getters concatenate exe and arguments, an
// allocation per process and ancestor of every event (the top allocation
// of Avro encoding on the real traces). They write the same bytes as the
// generic steps (TestCmdlineStepsMatchRegistry).
var directSteps = map[string]step{
	"sf.proc.cmdline": func(dst []byte, e *sysflow.Event, _ *[]string) []byte {
		return appendCmdline(dst, e.Proc, true)
	},
	"sf.pproc.cmdline": func(dst []byte, e *sysflow.Event, _ *[]string) []byte {
		return appendCmdline(dst, e.Parent, false)
	},
	"sf.proc.acmdline": func(dst []byte, e *sysflow.Event, _ *[]string) []byte {
		if len(e.Ancestry) > 0 {
			dst = appendLong(dst, int64(len(e.Ancestry)))
			for _, p := range e.Ancestry {
				dst = appendCmdline(dst, p, false)
			}
		}
		return append(dst, 0)
	},
	// The same for the fields whose getters build a string from other
	// values (hex file OIDs, the pod's JSON texts).
	"sf.file.oid": func(dst []byte, e *sysflow.Event, _ *[]string) []byte {
		if !e.HasFile() {
			return appendLong(dst, 0)
		}
		return appendHex(dst, e.FileOID[:])
	},
	"sf.file.newoid": func(dst []byte, e *sysflow.Event, _ *[]string) []byte {
		if e.NewFileOID == nil {
			return appendLong(dst, 0)
		}
		return appendHex(dst, e.NewFileOID[:])
	},
	"sf.pod.hostip": func(dst []byte, e *sysflow.Event, _ *[]string) []byte {
		if e.Pod == nil {
			return appendLong(dst, 0)
		}
		return appendBuilt(dst, func(b []byte) []byte { return sysflow.AppendPodIPsJSON(b, e.Pod.HostIP) })
	},
	"sf.pod.internalip": func(dst []byte, e *sysflow.Event, _ *[]string) []byte {
		if e.Pod == nil {
			return appendLong(dst, 0)
		}
		return appendBuilt(dst, func(b []byte) []byte { return sysflow.AppendPodIPsJSON(b, e.Pod.InternalIP) })
	},
	"sf.pod.services": func(dst []byte, e *sysflow.Event, _ *[]string) []byte {
		if e.Pod == nil {
			return appendLong(dst, 0)
		}
		return appendBuilt(dst, func(b []byte) []byte { return sysflow.AppendPodServicesJSON(b, e.Pod.Services) })
	},
}

// appendHex writes b in lower-case hex as an Avro string.
func appendHex(dst, b []byte) []byte {
	return hex.AppendEncode(appendLong(dst, int64(2*len(b))), b)
}

// appendBuilt writes the text build appends as an Avro string: the text
// goes after dst, then moves up to make room for its length.
func appendBuilt(dst []byte, build func([]byte) []byte) []byte {
	start := len(dst)
	dst = build(dst)
	n := len(dst) - start
	var lb [binary.MaxVarintLen64]byte
	k := len(appendLong(lb[:0], int64(n)))
	dst = append(dst, lb[:k]...)
	copy(dst[start+k:], dst[start:start+n])
	copy(dst[start:], appendLong(lb[:0], int64(n)))
	return dst
}

// appendCmdline writes sysflow's command line of p as an Avro string.
func appendCmdline(dst []byte, p *sysflow.Process, alwaysSpace bool) []byte {
	if p == nil {
		return appendLong(dst, 0)
	}
	n := len(p.Exe)
	if args := sysflow.ProcArgs(p); alwaysSpace || args != "" {
		n += 1 + len(args)
	}
	dst = appendLong(dst, int64(n))
	return sysflow.AppendCmdline(dst, p, alwaysSpace)
}

var (
	eventWriter = sync.OnceValues(func() ([]step, error) { return compileWriter(eventAVSC, true) })
	alertWriter = sync.OnceValues(func() ([]step, error) { return compileWriter(alertAVSC, true) })
)

var scratchPool = sync.Pool{New: func() any { s := make([]string, 0, 16); return &s }}

func runSteps(dst []byte, steps []step, e *sysflow.Event) []byte {
	scratch := scratchPool.Get().(*[]string)
	for _, s := range steps {
		dst = s(dst, e, scratch)
	}
	clear(*scratch)
	scratchPool.Put(scratch)
	return dst
}
