package sysflow

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"strings"
)

// schemaV5 is the SysFlow v5 Avro schema (the whole union wrapped in the
// sysflow.SysFlow record), compact JSON. It is what the Writer declares and
// what the collector uses for the datums it sends over its socket.
//
//go:embed schema/sysflow.avsc
var schemaV5 string

// SchemaV5 returns the SysFlow v5 writer schema as compact JSON.
func SchemaV5() string { return strings.TrimSpace(schemaV5) }

// avroType is the kind of an Avro schema node.
type avroType uint8

const (
	tNull avroType = iota
	tBoolean
	tInt
	tLong
	tFloat
	tDouble
	tBytes
	tString
	tRecord
	tEnum
	tArray
	tMap
	tFixed
	tUnion
)

var avroTypeNames = [...]string{"null", "boolean", "int", "long", "float", "double", "bytes", "string",
	"record", "enum", "array", "map", "fixed", "union"}

func (t avroType) String() string { return avroTypeNames[t] }

// schemaNode is a parsed Avro schema. Only what decoding needs is kept:
// defaults, aliases, docs and logical types do not change the binary layout.
type schemaNode struct {
	typ      avroType
	name     string // full name of a named type
	fields   []schemaField
	symbols  []string      // enum
	items    *schemaNode   // array items, map values
	size     int           // fixed
	branches []*schemaNode // union

	min      int // minSize of a record, once minState is minDone
	minState uint8
}

const (
	minUnknown = iota
	minComputing
	minDone
)

type schemaField struct {
	name string
	typ  *schemaNode
}

// shortName is a named type's name without its namespace.
func (n *schemaNode) shortName() string {
	if i := strings.LastIndexByte(n.name, '.'); i >= 0 {
		return n.name[i+1:]
	}
	return n.name
}

// describe names a node in error messages.
func (n *schemaNode) describe() string {
	if n.name != "" {
		return n.typ.String() + " " + n.name
	}
	return n.typ.String()
}

// maxSchemaDepth bounds the nesting of a writer schema: SysFlow's is 6 deep,
// and a hostile header must not exhaust the stack.
const maxSchemaDepth = 64

// parseSchema parses an Avro schema in JSON form.
func parseSchema(text string) (*schemaNode, error) {
	var v any
	if err := json.Unmarshal([]byte(text), &v); err != nil {
		return nil, fmt.Errorf("schema is not valid JSON: %w", err)
	}
	p := schemaParser{names: map[string]*schemaNode{}}
	return p.parse(v, "", 0)
}

type schemaParser struct {
	names map[string]*schemaNode
}

var primitiveTypes = map[string]avroType{
	"null": tNull, "boolean": tBoolean, "int": tInt, "long": tLong, "float": tFloat,
	"double": tDouble, "bytes": tBytes, "string": tString,
}

func (p *schemaParser) parse(v any, ns string, depth int) (*schemaNode, error) {
	if depth > maxSchemaDepth {
		return nil, fmt.Errorf("schema nested deeper than %d", maxSchemaDepth)
	}
	switch s := v.(type) {
	case string:
		return p.named(s, ns)
	case []any:
		n := &schemaNode{typ: tUnion}
		for _, b := range s {
			bn, err := p.parse(b, ns, depth+1)
			if err != nil {
				return nil, err
			}
			if bn.typ == tUnion {
				return nil, fmt.Errorf("union directly inside a union")
			}
			n.branches = append(n.branches, bn)
		}
		return n, nil
	case map[string]any:
		return p.complex(s, ns, depth)
	default:
		return nil, fmt.Errorf("unexpected schema element %T", v)
	}
}

func (p *schemaParser) named(s, ns string) (*schemaNode, error) {
	if t, ok := primitiveTypes[s]; ok {
		return &schemaNode{typ: t}, nil
	}
	if n, ok := p.names[s]; ok {
		return n, nil
	}
	if ns != "" && !strings.Contains(s, ".") {
		if n, ok := p.names[ns+"."+s]; ok {
			return n, nil
		}
	}
	return nil, fmt.Errorf("unknown type %q", s)
}

func fullName(obj map[string]any, ns string) (name, newNS string, err error) {
	name, _ = obj["name"].(string)
	if name == "" {
		return "", "", fmt.Errorf("named type without a name")
	}
	if s, ok := obj["namespace"].(string); ok {
		ns = s
	}
	if !strings.Contains(name, ".") && ns != "" {
		name = ns + "." + name
	}
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		return name, name[:i], nil
	}
	return name, "", nil
}

func (p *schemaParser) complex(obj map[string]any, ns string, depth int) (*schemaNode, error) {
	switch t := obj["type"].(type) {
	case string:
		switch t {
		case "record", "error":
			name, rns, err := fullName(obj, ns)
			if err != nil {
				return nil, err
			}
			n := &schemaNode{typ: tRecord, name: name}
			p.names[name] = n // before the fields: a record may refer to itself
			fields, _ := obj["fields"].([]any)
			if fields == nil {
				return nil, fmt.Errorf("record %s has no fields array", name)
			}
			for _, f := range fields {
				fo, ok := f.(map[string]any)
				if !ok {
					return nil, fmt.Errorf("record %s: field is not an object", name)
				}
				fname, _ := fo["name"].(string)
				if fname == "" {
					return nil, fmt.Errorf("record %s: field without a name", name)
				}
				ft, err := p.parse(fo["type"], rns, depth+1)
				if err != nil {
					return nil, fmt.Errorf("record %s field %s: %w", name, fname, err)
				}
				n.fields = append(n.fields, schemaField{name: fname, typ: ft})
			}
			return n, nil
		case "enum":
			name, _, err := fullName(obj, ns)
			if err != nil {
				return nil, err
			}
			n := &schemaNode{typ: tEnum, name: name}
			syms, _ := obj["symbols"].([]any)
			for _, s := range syms {
				str, ok := s.(string)
				if !ok {
					return nil, fmt.Errorf("enum %s: symbol is not a string", name)
				}
				n.symbols = append(n.symbols, str)
			}
			if len(n.symbols) == 0 {
				return nil, fmt.Errorf("enum %s has no symbols", name)
			}
			p.names[name] = n
			return n, nil
		case "fixed":
			name, _, err := fullName(obj, ns)
			if err != nil {
				return nil, err
			}
			size, ok := obj["size"].(float64)
			if !ok || size < 0 || size > 1<<20 || size != float64(int(size)) {
				return nil, fmt.Errorf("fixed %s: bad size", name)
			}
			n := &schemaNode{typ: tFixed, name: name, size: int(size)}
			p.names[name] = n
			return n, nil
		case "array":
			items, err := p.parse(obj["items"], ns, depth+1)
			if err != nil {
				return nil, fmt.Errorf("array items: %w", err)
			}
			return &schemaNode{typ: tArray, items: items}, nil
		case "map":
			values, err := p.parse(obj["values"], ns, depth+1)
			if err != nil {
				return nil, fmt.Errorf("map values: %w", err)
			}
			return &schemaNode{typ: tMap, items: values}, nil
		default:
			// {"type": "long", "logicalType": ...} and references in object form.
			return p.named(t, ns)
		}
	case nil:
		return nil, fmt.Errorf("schema object without a type")
	default:
		// {"type": {...}} or {"type": [...]}: a wrapped schema.
		return p.parse(t, ns, depth+1)
	}
}
