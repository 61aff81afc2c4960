package sysflow_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/linkedin/goavro/v2"

	"github.com/sfconnector/sfconnector/sysflow"
)

// This file checks Avro schema resolution of writer schemas other than v5.
// The expectations come from goavro's generic decode of what goavro wrote,
// resolved against the v5 reader schema by the plain, slow walk below
// (resolveNative), which shares no code with the decoder under test.

// avsc is a schema in its JSON form (map, slice or string), with the named
// types it defines, every one carrying its namespace explicitly.
type avsc struct {
	top   any
	names map[string]map[string]any
}

// loadAVSC parses schema text and gives every named type an explicit
// namespace, so that references are full names wherever the type moves.
func loadAVSC(t testing.TB, text string) *avsc {
	t.Helper()
	var top any
	if err := json.Unmarshal([]byte(text), &top); err != nil {
		t.Fatal(err)
	}
	s := &avsc{top: top, names: map[string]map[string]any{}}
	var walk func(v any, ns string)
	walk = func(v any, ns string) {
		switch v := v.(type) {
		case []any:
			for _, b := range v {
				walk(b, ns)
			}
		case map[string]any:
			switch v["type"] {
			case "record", "enum", "fixed":
				name := v["name"].(string)
				if n, ok := v["namespace"].(string); ok {
					ns = n
				}
				if i := strings.LastIndexByte(name, '.'); i >= 0 {
					ns, name = name[:i], name[i+1:]
				}
				v["name"], v["namespace"] = name, ns
				s.names[ns+"."+name] = v
				for _, f := range fieldsOf(v) {
					walk(f["type"], ns)
				}
			case "array":
				walk(v["items"], ns)
			case "map":
				walk(v["values"], ns)
			}
		}
	}
	walk(top, "")
	return s
}

func fieldsOf(rec map[string]any) []map[string]any {
	var out []map[string]any
	fs, _ := rec["fields"].([]any)
	for _, f := range fs {
		out = append(out, f.(map[string]any))
	}
	return out
}

func fullNameOf(def map[string]any) string {
	if ns, _ := def["namespace"].(string); ns != "" {
		return ns + "." + def["name"].(string)
	}
	return def["name"].(string)
}

// deref returns the definition a name refers to, or t itself.
func (s *avsc) deref(t any) any {
	if n, ok := t.(string); ok {
		if def, ok := s.names[n]; ok {
			return def
		}
	}
	return t
}

// kind is the Avro type of t: a primitive name, record, enum, fixed, array,
// map or union.
func (s *avsc) kind(t any) string {
	switch t := s.deref(t).(type) {
	case string:
		return t
	case []any:
		return "union"
	case map[string]any:
		return t["type"].(string)
	}
	panic(fmt.Sprintf("schema element %T", t))
}

// branchName is how goavro names a union branch in native data.
func (s *avsc) branchName(t any) string {
	switch d := s.deref(t).(type) {
	case map[string]any:
		switch d["type"] {
		case "record", "enum", "fixed":
			return fullNameOf(d)
		}
		return d["type"].(string)
	case string:
		return d
	}
	panic("union in union")
}

// text marshals the schema with each named type defined where it is first
// met in document order and referred to by name after that: mutations move
// fields around, and Avro wants a definition before its references.
func (s *avsc) text(t testing.TB) string {
	defined := map[string]bool{}
	var emit func(v any) any
	emit = func(v any) any {
		switch v := s.deref(v).(type) {
		case []any:
			out := make([]any, len(v))
			for i, b := range v {
				out[i] = emit(b)
			}
			return out
		case map[string]any:
			out := map[string]any{}
			for k, x := range v {
				out[k] = x
			}
			switch v["type"] {
			case "record", "enum", "fixed":
				full := fullNameOf(v)
				if defined[full] {
					return full
				}
				defined[full] = true
				if v["type"] == "record" {
					var fs []any
					for _, f := range fieldsOf(v) {
						nf := map[string]any{}
						for k, x := range f {
							nf[k] = x
						}
						nf["type"] = emit(f["type"])
						fs = append(fs, nf)
					}
					if fs == nil {
						fs = []any{}
					}
					out["fields"] = fs
				}
			case "array":
				out["items"] = emit(v["items"])
			case "map":
				out["values"] = emit(v["values"])
			}
			return out
		default:
			return v
		}
	}
	b, err := json.Marshal(emit(s.top))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// unreadable is a union branch no reader field accepts: variants add it to
// unions, and data never selects it.
const unreadable = "x.Unreadable"

// mutate turns the v5 schema into a writer-schema variant: every record
// type (the twelve SysFlow types and the nested OID, Service and Port) gets,
// at random, fields wrapped in unions (null first or last, a promotable or
// an unreadable extra branch), promoted (int for long, bytes for string,
// for fields, array items and map values), dropped, extra fields of every
// Avro type, and its fields shuffled; enums get symbols added and
// reordered. It returns what it did, for failure messages.
func mutate(s *avsc, rng *rand.Rand) []string {
	var log []string
	s.names[unreadable] = map[string]any{"type": "fixed", "name": "Unreadable", "namespace": "x", "size": 1}
	var recs, enums []string
	for name, def := range s.names {
		switch def["type"] {
		case "record":
			if name != "sysflow.SysFlow" {
				recs = append(recs, name)
			}
		case "enum":
			enums = append(enums, name)
		}
	}
	slices.Sort(recs) // map order would make a seed mean nothing
	slices.Sort(enums)
	extra := 0
	for _, name := range recs {
		def := s.names[name]
		var fields []any
		for _, f := range fieldsOf(def) {
			delete(f, "default") // a writer's defaults play no part, and would not fit a union
			ft := f["type"]
			switch r := rng.IntN(20); {
			case r < 3:
				log = append(log, name+"."+f["name"].(string)+": dropped")
				continue
			case r < 9:
				f["type"] = wrapUnion(s, ft, rng)
			case r < 13:
				f["type"] = promote(s, ft, rng)
			}
			if !reflect.DeepEqual(f["type"], ft) {
				b, _ := json.Marshal(f["type"])
				log = append(log, fmt.Sprintf("%s.%s: %.80s", name, f["name"], b))
			}
			fields = append(fields, f)
		}
		for range rng.IntN(3) {
			extra++
			at := rng.IntN(len(fields) + 1)
			f := map[string]any{"name": fmt.Sprintf("xExtra%d", extra), "type": extraType(s, rng, extra)}
			fields = slices.Insert(fields, at, any(f))
			log = append(log, fmt.Sprintf("%s: extra field %s at %d", name, f["name"], at))
		}
		if rng.IntN(2) == 0 {
			rng.Shuffle(len(fields), func(i, j int) { fields[i], fields[j] = fields[j], fields[i] })
			log = append(log, name+": fields shuffled")
		}
		def["fields"] = fields
	}
	// The SysFlow union itself: branches in another order, a record type
	// this reader does not know (skipped), a type the writer lacks.
	top := fieldsOf(s.names["sysflow.SysFlow"])[0]
	union := slices.Clone(top["type"].([]any))
	if rng.IntN(2) == 0 {
		rng.Shuffle(len(union), func(i, j int) { union[i], union[j] = union[j], union[i] })
		log = append(log, "SysFlow union: branches shuffled")
	}
	if rng.IntN(3) == 0 {
		def := map[string]any{"type": "record", "name": "FutureRecord", "namespace": "x.extra", "fields": []any{
			map[string]any{"name": "ts", "type": "long"},
			map[string]any{"name": "procOID", "type": "sysflow.type.OID"},
			map[string]any{"name": "tags", "type": map[string]any{"type": "array", "items": "string"}},
		}}
		s.names[fullNameOf(def)] = def
		union = slices.Insert(union, rng.IntN(len(union)+1), any(def))
		log = append(log, "SysFlow union: unknown record type added")
	}
	if rng.IntN(4) == 0 {
		i := rng.IntN(len(union))
		if d, ok := s.deref(union[i]).(map[string]any); ok && d["name"] != "FutureRecord" {
			// a definition the dropped branch held moves to the next
			// reference (text)
			log = append(log, "SysFlow union: "+d["name"].(string)+" dropped")
			union = slices.Delete(union, i, i+1)
		}
	}
	top["type"] = union
	for _, name := range enums {
		def := s.names[name]
		syms := def["symbols"].([]any)
		if rng.IntN(2) == 0 {
			syms = slices.Insert(syms, rng.IntN(len(syms)+1), any("X_ADDED_"+def["name"].(string)))
			log = append(log, name+": symbol added")
		}
		if rng.IntN(3) == 0 {
			rng.Shuffle(len(syms), func(i, j int) { syms[i], syms[j] = syms[j], syms[i] })
			log = append(log, name+": symbols shuffled")
		}
		def["symbols"] = syms
	}
	return log
}

// promotion is the writer type Avro promotes to reader type t, if any.
func promotion(s *avsc, t any) (any, bool) {
	switch s.kind(t) {
	case "long":
		return "int", true
	case "string":
		return "bytes", true
	}
	return nil, false
}

func promote(s *avsc, t any, rng *rand.Rand) any {
	if p, ok := promotion(s, t); ok {
		return p
	}
	switch d := s.deref(t).(type) {
	case map[string]any:
		switch d["type"] {
		case "array":
			if p, ok := promotion(s, d["items"]); ok {
				return map[string]any{"type": "array", "items": p}
			}
			return map[string]any{"type": "array", "items": wrapUnion(s, d["items"], rng)}
		case "map":
			if p, ok := promotion(s, d["values"]); ok {
				return map[string]any{"type": "map", "values": []any{"null", p}}
			}
		}
	}
	return t
}

// wrapUnion makes a writer union around reader type t (or reshapes the
// reader's own ["null", X]).
func wrapUnion(s *avsc, t any, rng *rand.Rand) any {
	if u, ok := t.([]any); ok { // ["null", X]
		x := u[1]
		switch rng.IntN(3) {
		case 0:
			return x
		case 1:
			return []any{x, "null"}
		default:
			return []any{"null", unreadable, x}
		}
	}
	branches := []any{t}
	if p, ok := promotion(s, t); ok && rng.IntN(2) == 0 {
		branches = append(branches, p)
	}
	if rng.IntN(3) == 0 {
		branches = append(branches, unreadable)
	}
	if rng.IntN(4) != 0 {
		branches = append(branches, "null")
	}
	rng.Shuffle(len(branches), func(i, j int) { branches[i], branches[j] = branches[j], branches[i] })
	if len(branches) == 1 {
		return []any{"null", t}
	}
	return branches
}

// extraType is a type for a field the reader does not have: one of each
// Avro type, named types under fresh names.
func extraType(s *avsc, rng *rand.Rand, n int) any {
	ns := "x.extra"
	switch rng.IntN(14) {
	case 0:
		return "null"
	case 1:
		return "boolean"
	case 2:
		return "int"
	case 3:
		return "long"
	case 4:
		return "float"
	case 5:
		return "double"
	case 6:
		return "bytes"
	case 7:
		return "string"
	case 8:
		return []any{"null", "string", "double"}
	case 9:
		return map[string]any{"type": "array", "items": []any{"long", "null"}}
	case 10:
		return map[string]any{"type": "map", "values": map[string]any{"type": "array", "items": "string"}}
	case 11:
		def := map[string]any{"type": "fixed", "name": fmt.Sprintf("F%d", n), "namespace": ns, "size": float64(1 + rng.IntN(9))}
		s.names[fullNameOf(def)] = def
		return def
	case 12:
		def := map[string]any{"type": "enum", "name": fmt.Sprintf("E%d", n), "namespace": ns, "symbols": []any{"A", "B", "C"}}
		s.names[fullNameOf(def)] = def
		return def
	default:
		def := map[string]any{"type": "record", "name": fmt.Sprintf("R%d", n), "namespace": ns, "fields": []any{
			map[string]any{"name": "a", "type": "long"},
			map[string]any{"name": "b", "type": []any{"null", "string"}},
			map[string]any{"name": "c", "type": map[string]any{"type": "array", "items": "int"}},
		}}
		s.names[fullNameOf(def)] = def
		return def
	}
}

// readerSymbols are the symbols a v5 enum knows: data uses only those (an
// added symbol is tested on its own, TestUnresolvableSchemas).
func readerSymbols(reader *avsc) map[string]bool {
	m := map[string]bool{}
	for _, def := range reader.names {
		if def["type"] == "enum" {
			for _, sym := range def["symbols"].([]any) {
				m[sym.(string)] = true
			}
		}
	}
	return m
}

// gen makes a random goavro native value of writer type t.
func gen(s *avsc, t any, rng *rand.Rand, known map[string]bool, depth int) any {
	switch d := s.deref(t).(type) {
	case []any:
		var ok []any
		for _, b := range d {
			if b != unreadable {
				ok = append(ok, b)
			}
		}
		b := ok[rng.IntN(len(ok))]
		if s.kind(b) == "null" {
			return nil
		}
		return map[string]any{s.branchName(b): gen(s, b, rng, known, depth+1)}
	case string:
		switch d {
		case "null":
			return nil
		case "boolean":
			return rng.IntN(2) == 0
		case "int":
			return int32(randLong(rng))
		case "long":
			return randLong(rng)
		case "float":
			return rng.Float32()
		case "double":
			return rng.NormFloat64()
		case "bytes":
			return []byte(randString(rng))
		case "string":
			return randString(rng)
		}
	case map[string]any:
		switch d["type"] {
		case "record":
			m := map[string]any{}
			for _, f := range fieldsOf(d) {
				m[f["name"].(string)] = gen(s, f["type"], rng, known, depth+1)
			}
			return m
		case "enum":
			var ok []string
			for _, sym := range d["symbols"].([]any) {
				if known[sym.(string)] || strings.HasPrefix(fullNameOf(d), "x.") {
					ok = append(ok, sym.(string))
				}
			}
			return ok[rng.IntN(len(ok))]
		case "fixed":
			b := make([]byte, int(d["size"].(float64)))
			for i := range b {
				b[i] = byte(rng.IntN(256))
			}
			return b
		case "array":
			var out []any
			for range rng.IntN(4) {
				out = append(out, gen(s, d["items"], rng, known, depth+1))
			}
			return out
		case "map":
			out := map[string]any{}
			for range rng.IntN(4) {
				out[randString(rng)+"k"] = gen(s, d["values"], rng, known, depth+1)
			}
			return out
		}
	}
	panic(fmt.Sprintf("gen: %v", t))
}

func randLong(rng *rand.Rand) int64 {
	switch rng.IntN(4) {
	case 0:
		return int64(rng.IntN(64)) - 32
	case 1:
		return int64(rng.Int32()) - 1<<30
	case 2:
		return int64(rng.Uint64())
	default:
		return int64(rng.IntN(1 << 20))
	}
}

func randString(rng *rand.Rand) string {
	const alphabet = "abcXYZ019/._- \né"
	r := []rune(alphabet)
	var b strings.Builder
	for range rng.IntN(12) {
		b.WriteRune(r[rng.IntN(len(r))])
	}
	return b.String()
}

// readerDefault is the value of a reader field the writer does not send
// (absent, or null where the reader has no null): the schema's default, or
// the type's zero value.
func readerDefault(reader *avsc, field map[string]any, t any) any {
	if d, ok := field["default"]; ok {
		switch reader.kind(t) {
		case "long":
			return int64(d.(float64))
		default:
			return d
		}
	}
	return zeroOf(reader, t)
}

func zeroOf(reader *avsc, t any) any {
	switch d := reader.deref(t).(type) {
	case []any:
		return nil
	case string:
		switch d {
		case "boolean":
			return false
		case "int":
			return int32(0)
		case "long":
			return int64(0)
		case "string":
			return ""
		}
	case map[string]any:
		switch d["type"] {
		case "record":
			m := map[string]any{}
			for _, f := range fieldsOf(d) {
				m[f["name"].(string)] = readerDefault(reader, f, f["type"])
			}
			return m
		case "enum":
			return d["symbols"].([]any)[0].(string)
		case "fixed":
			return make([]byte, int(d["size"].(float64)))
		case "array":
			return []any{}
		case "map":
			return map[string]any{}
		}
	}
	panic(fmt.Sprintf("zero: %v", t))
}

// matches tells whether writer type w resolves to reader type r at the
// top (the spec's list; named types by unqualified name).
func matches(writer *avsc, w any, reader *avsc, r any) bool {
	wk, rk := writer.kind(w), reader.kind(r)
	switch {
	case wk == rk:
		if wk == "fixed" {
			wd, rd := writer.deref(w).(map[string]any), reader.deref(r).(map[string]any)
			return wd["size"] == rd["size"] && wd["name"] == rd["name"]
		}
		return true
	case wk == "int" && (rk == "long" || rk == "float" || rk == "double"),
		wk == "long" && (rk == "float" || rk == "double"),
		wk == "float" && rk == "double",
		wk == "string" && rk == "bytes",
		wk == "bytes" && rk == "string":
		return true
	}
	return false
}

// resolveNative is the specification's resolution over native values:
// the writer value v of writer type w read as reader type r. null where the
// reader has no null is the reader default, as the decoder documents.
func resolveNative(writer *avsc, w any, reader *avsc, r any, v any, dflt any) (any, error) {
	if writer.kind(w) == "union" {
		if v == nil {
			w = "null"
		} else {
			for name, x := range v.(map[string]any) {
				for _, b := range writer.deref(w).([]any) {
					if writer.branchName(b) == name {
						w, v = b, x
					}
				}
			}
		}
	}
	if writer.kind(w) == "null" {
		if reader.kind(r) == "union" {
			return nil, nil
		}
		return dflt, nil
	}
	if reader.kind(r) == "union" {
		for _, b := range reader.deref(r).([]any) {
			if reader.kind(b) != "null" && matches(writer, w, reader, b) {
				x, err := resolveNative(writer, w, reader, b, v, nil)
				return map[string]any{reader.branchName(b): x}, err
			}
		}
		return nil, fmt.Errorf("writer %v matches no branch of reader %v", w, r)
	}
	if !matches(writer, w, reader, r) {
		return nil, fmt.Errorf("writer %v does not match reader %v", w, r)
	}
	switch rd := reader.deref(r).(type) {
	case string:
		switch x := v.(type) {
		case int32:
			if rd == "long" {
				return int64(x), nil
			}
		case []byte:
			if rd == "string" {
				return string(x), nil
			}
		}
		return v, nil
	case map[string]any:
		wd := writer.deref(w).(map[string]any)
		switch rd["type"] {
		case "record":
			in := v.(map[string]any)
			out := map[string]any{}
			for _, rf := range fieldsOf(rd) {
				name := rf["name"].(string)
				def := readerDefault(reader, rf, rf["type"])
				i := slices.IndexFunc(fieldsOf(wd), func(f map[string]any) bool { return f["name"] == name })
				if i < 0 {
					out[name] = def
					continue
				}
				x, err := resolveNative(writer, fieldsOf(wd)[i]["type"], reader, rf["type"], in[name], def)
				if err != nil {
					return nil, fmt.Errorf("%s: %w", name, err)
				}
				out[name] = x
			}
			return out, nil
		case "array":
			out := []any{}
			for _, x := range v.([]any) {
				y, err := resolveNative(writer, wd["items"], reader, rd["items"], x, zeroOf(reader, rd["items"]))
				if err != nil {
					return nil, err
				}
				out = append(out, y)
			}
			return out, nil
		case "map":
			out := map[string]any{}
			for k, x := range v.(map[string]any) {
				y, err := resolveNative(writer, wd["values"], reader, rd["values"], x, zeroOf(reader, rd["values"]))
				if err != nil {
					return nil, err
				}
				out[k] = y
			}
			return out, nil
		case "enum":
			sym := v.(string)
			if !slices.Contains(rd["symbols"].([]any), any(sym)) {
				return nil, fmt.Errorf("symbol %s unknown to the reader", sym)
			}
			return sym, nil
		}
		return v, nil // fixed
	}
	return nil, fmt.Errorf("resolve %v", r)
}

// branchesOf is the SysFlow union of a schema, by short name.
func branchesOf(s *avsc) map[string]any {
	m := map[string]any{}
	rec := s.names["sysflow.SysFlow"]
	for _, b := range s.deref(fieldsOf(rec)[0]["type"]).([]any) {
		m[s.deref(b).(map[string]any)["name"].(string)] = b
	}
	return m
}

// writeVariant writes n random records of every type under the writer
// schema with goavro, into an OCF with a random codec.
func writeVariant(t *testing.T, writer *avsc, text string, rng *rand.Rand, known map[string]bool, n int) []byte {
	t.Helper()
	var buf bytes.Buffer
	codec := []string{"null", "deflate", "snappy"}[rng.IntN(3)]
	w, err := goavro.NewOCFWriter(goavro.OCFConfig{W: &buf, Schema: text, CompressionName: codec})
	if err != nil {
		t.Fatalf("goavro refuses the variant: %v\n%s", err, text)
	}
	union := fieldsOf(writer.names["sysflow.SysFlow"])[0]["type"]
	branches := writer.deref(union).([]any)
	var data []any
	for i := range n {
		b := branches[i%len(branches)]
		data = append(data, map[string]any{"rec": map[string]any{writer.branchName(b): gen(writer, b, rng, known, 0)}})
	}
	if err := w.Append(data); err != nil {
		t.Fatalf("goavro append: %v", err)
	}
	return buf.Bytes()
}

// TestResolutionMatchesGoavro is the property test: writer-schema variants
// of every SysFlow type (see mutate), records written with goavro, read by
// our Reader, and every field compared with goavro's generic decode of the
// same file resolved against v5 by resolveNative.
func TestResolutionMatchesGoavro(t *testing.T) {
	variants := 120
	if testing.Short() {
		variants = 20
	}
	reader := loadAVSC(t, sysflow.SchemaV5())
	known := readerSymbols(reader)
	rbranches := branchesOf(reader)
	for seed := range variants {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(seed), 10))
			writer := loadAVSC(t, sysflow.SchemaV5())
			changes := mutate(writer, rng)
			text := writer.text(t)
			data := writeVariant(t, writer, text, rng, known, 48)
			fail := func(format string, a ...any) {
				t.Helper()
				t.Fatalf("%s\nvariant: %s\nschema: %s", fmt.Sprintf(format, a...), strings.Join(changes, "; "), text)
			}

			r, err := sysflow.NewReader(bytes.NewReader(data), "variant.sf")
			if err != nil {
				fail("NewReader: %v", err)
			}
			var ours []sysflow.Record
			for {
				ours, err = r.Next(ours)
				if err == io.EOF {
					break
				}
				if err != nil {
					fail("after %d records: %v", len(ours), err)
				}
			}

			ocf, err := goavro.NewOCFReader(bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			wbranches := branchesOf(writer)
			i := 0
			for ocf.Scan() {
				v, err := ocf.Read()
				if err != nil {
					t.Fatal(err)
				}
				skipped := false
				for name, val := range v.(map[string]any)["rec"].(map[string]any) {
					short := name[strings.LastIndexByte(name, '.')+1:]
					if rbranches[short] == nil {
						skipped = true // a type the reader does not know: ours skips it
						continue
					}
					if i >= len(ours) {
						fail("goavro has more records than our %d", len(ours))
					}
					want, err := resolveNative(writer, wbranches[short], reader, rbranches[short], val, nil)
					if err != nil {
						fail("record %d (%s): the test's resolution: %v", i, short, err)
					}
					if ours[i].Kind.String() != short {
						fail("record %d: ours is a %s, goavro's a %s", i, ours[i].Kind, short)
					}
					got := reflect.ValueOf(ours[i]).FieldByName(fieldForKind(ours[i].Kind)).Elem()
					if err := compareRecord(want.(map[string]any), got); err != nil {
						fail("record %d (%s): %v\n want %v\n got  %s", i, short, err, want, dump(&ours[i]))
					}
				}
				if !skipped {
					i++
				}
			}
			if i != len(ours) {
				fail("goavro read %d records, we read %d", i, len(ours))
			}
		})
	}
}

// v5With is the v5 schema text with one field's type replaced (and, for
// an enum, the symbols).
func v5With(t testing.TB, record, field string, typ any) string {
	s := loadAVSC(t, sysflow.SchemaV5())
	for name, def := range s.names {
		if name == record {
			for _, f := range fieldsOf(def) {
				if f["name"] == field {
					f["type"] = typ
					return s.text(t)
				}
			}
		}
	}
	t.Fatalf("no field %s.%s", record, field)
	return ""
}

func goavroOCF(t testing.TB, schema string, datums ...any) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := goavro.NewOCFWriter(goavro.OCFConfig{W: &buf, Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	if len(datums) > 0 {
		if err := w.Append(datums); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

// The early collector schema that wrote FileFlow.endTs as ["null","long"]:
// both a null and a long read, the null as the reader's zero.
func TestFileFlowNullableEndTs(t *testing.T) {
	schema := v5With(t, "sysflow.flow.FileFlow", "endTs", []any{"null", "long"})
	fileflow := func(endTs any) any {
		return map[string]any{"rec": map[string]any{"sysflow.flow.FileFlow": map[string]any{
			"procOID": map[string]any{"createTS": int64(1700000000000000000), "hpid": int64(4242)},
			"ts":      int64(1700000000000000001), "tid": int64(4243), "opFlags": int32(4), "openFlags": int32(2),
			"endTs": endTs, "fileOID": bytes.Repeat([]byte{7}, 20), "fd": int32(3),
			"numRRecvOps": int64(1), "numWSendOps": int64(2), "numRRecvBytes": int64(300), "numWSendBytes": int64(400),
		}}}
	}
	data := goavroOCF(t, schema, fileflow(nil), fileflow(map[string]any{"long": int64(1700000000000000999)}))
	recs := readAll(t, data, "endts.sf")
	if len(recs) != 2 {
		t.Fatalf("read %d records, want 2", len(recs))
	}
	for i, wantEnd := range []int64{0, 1700000000000000999} {
		ff := recs[i].FileFlow
		if recs[i].Kind != sysflow.KindFileFlow || ff == nil {
			t.Fatalf("record %d: %s", i, dump(&recs[i]))
		}
		want := sysflow.FileFlow{ProcOID: sysflow.OID{CreateTS: 1700000000000000000, Hpid: 4242}, TS: 1700000000000000001,
			TID: 4243, OpFlags: 4, OpenFlags: 2, EndTS: wantEnd, FD: 3,
			NumRRecvOps: 1, NumWSendOps: 2, NumRRecvBytes: 300, NumWSendBytes: 400}
		copy(want.FileOID[:], bytes.Repeat([]byte{7}, 20))
		if *ff != want {
			t.Errorf("record %d:\n got  %+v\n want %+v", i, *ff, want)
		}
	}
}

// Schemas that cannot resolve are refused with a SchemaError naming the
// type and the field, when the header is read or, for a union branch or an
// enum symbol only some datums use, at the record that uses it.
func TestUnresolvableSchemas(t *testing.T) {
	oid := map[string]any{"createTS": int64(1), "hpid": int64(2)}
	ff := func(endTs any) any {
		return map[string]any{"rec": map[string]any{"sysflow.flow.FileFlow": map[string]any{
			"procOID": oid, "ts": int64(1), "tid": int64(1), "opFlags": int32(1), "openFlags": int32(0),
			"endTs": endTs, "fileOID": make([]byte, 20), "fd": int32(3),
			"numRRecvOps": int64(0), "numWSendOps": int64(0), "numRRecvBytes": int64(0), "numWSendBytes": int64(0)}}}
	}
	k8s := func(kind string) any {
		return map[string]any{"rec": map[string]any{"sysflow.event.K8sEvent": map[string]any{
			"kind": kind, "action": "K8S_COMPONENT_ADDED", "ts": int64(5), "message": "m"}}}
	}
	k8sKinds := append(slices.Clone(sysflow.K8sComponentNames), "K8S_GATEWAYS")
	var kindSyms []any
	for _, s := range k8sKinds {
		kindSyms = append(kindSyms, s)
	}
	tests := []struct {
		name        string
		schema      string
		datums      []any // written when the schema is valid Avro
		typ, field  string
		record      int // -1: refused at the header
		recordsRead int
	}{
		{name: "long written as string", schema: v5With(t, "sysflow.flow.FileFlow", "ts", "string"),
			typ: "FileFlow", field: "ts", record: -1},
		{name: "nested field", schema: v5With(t, "sysflow.entity.Process", "oid", map[string]any{"type": "record", "name": "OID2",
			"fields": []any{map[string]any{"name": "createTS", "type": "long"}, map[string]any{"name": "hpid", "type": "boolean"}}}),
			typ: "Process", field: "oid.hpid", record: -1},
		{name: "fixed of another size", schema: v5With(t, "sysflow.entity.File", "oid", map[string]any{"type": "fixed", "name": "FOID16", "size": 16}),
			typ: "File", field: "oid", record: -1},
		{name: "long narrowed to int is not a promotion", schema: v5With(t, "sysflow.entity.Process", "uid", "long"),
			typ: "Process", field: "uid", record: -1},
		{name: "array items", schema: v5With(t, "sysflow.entity.Process", "env", map[string]any{"type": "array", "items": "long"}),
			typ: "Process", field: "env[]", record: -1},
		{name: "union without a readable branch", schema: v5With(t, "sysflow.flow.FileFlow", "endTs", []any{"null", "string"}),
			typ: "FileFlow", field: "endTs", record: -1},
		{name: "unreadable union branch, selected by the second record",
			schema: v5With(t, "sysflow.flow.FileFlow", "endTs", []any{"long", "boolean"}),
			datums: []any{ff(map[string]any{"long": int64(9)}), ff(map[string]any{"boolean": true})},
			typ:    "FileFlow", field: "endTs", record: 1, recordsRead: 1},
		{name: "enum symbol the reader lacks, used by the third record",
			schema: v5With(t, "sysflow.event.K8sEvent", "kind", map[string]any{"type": "enum", "name": "K8sComponent2", "symbols": kindSyms}),
			datums: []any{k8s("K8S_PODS"), k8s("K8S_NODES"), k8s("K8S_GATEWAYS")},
			typ:    "K8sEvent", field: "kind", record: 2, recordsRead: 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var data []byte
			if tc.datums != nil {
				data = goavroOCF(t, tc.schema, tc.datums...)
			} else {
				data = goavroOCF(t, tc.schema)
			}
			var recs []sysflow.Record
			r, err := sysflow.NewReader(bytes.NewReader(data), "bad-schema.sf")
			if err == nil {
				for err == nil {
					recs, err = r.Next(recs)
				}
			}
			var se *sysflow.SchemaError
			var de *sysflow.DecodeError
			if !errors.As(err, &se) || !errors.As(err, &de) {
				t.Fatalf("error %v (%T) is not a DecodeError wrapping a SchemaError", err, err)
			}
			if se.Type != tc.typ || se.Field != tc.field {
				t.Errorf("SchemaError names type %q field %q, want %q %q", se.Type, se.Field, tc.typ, tc.field)
			}
			msg := err.Error()
			for _, want := range []string{"schema", tc.typ, tc.field, "bad-schema.sf"} {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q does not say %q", msg, want)
				}
			}
			if strings.Contains(msg, "damaged") {
				t.Errorf("error %q says damaged", msg)
			}
			if de.Record != tc.record {
				t.Errorf("error at record %d, want %d (%v)", de.Record, tc.record, err)
			}
			if len(recs) != tc.recordsRead {
				t.Errorf("read %d records before the error, want %d", len(recs), tc.recordsRead)
			}
		})
	}
}

// A registry holding any SysFlow version resolves the same way for single
// datums.
func TestDatumSchemaResolves(t *testing.T) {
	schema := v5With(t, "sysflow.flow.ProcessFlow", "numThreadsCloned", []any{"int", "null"})
	codec, err := goavro.NewCodec(schema)
	if err != nil {
		t.Fatal(err)
	}
	ds, err := sysflow.CompileDatumSchema(schema)
	if err != nil {
		t.Fatal(err)
	}
	dd := ds.NewDecoder()
	for _, n := range []any{map[string]any{"int": int32(-7)}, nil} {
		body, err := codec.BinaryFromNative(nil, map[string]any{"rec": map[string]any{"sysflow.flow.ProcessFlow": map[string]any{
			"procOID": map[string]any{"createTS": int64(10), "hpid": int64(11)}, "ts": int64(12),
			"numThreadsCloned": n, "opFlags": int32(1), "endTs": int64(13), "numThreadsExited": int64(14), "numCloneErrors": int64(15)}}})
		if err != nil {
			t.Fatal(err)
		}
		var rec sysflow.Record
		if err := dd.Decode(body, &rec); err != nil {
			t.Fatal(err)
		}
		want := sysflow.ProcessFlow{ProcOID: sysflow.OID{CreateTS: 10, Hpid: 11}, TS: 12, OpFlags: 1, EndTS: 13, NumThreadsExited: 14, NumCloneErrors: 15}
		if n != nil {
			want.NumThreadsCloned = -7
		}
		if rec.Kind != sysflow.KindProcessFlow || *rec.ProcessFlow != want {
			t.Fatalf("got %s, want %+v", dump(&rec), want)
		}
	}
	_, err = sysflow.CompileDatumSchema(v5With(t, "sysflow.flow.ProcessFlow", "opFlags", "string"))
	var se *sysflow.SchemaError
	if !errors.As(err, &se) || se.Type != "ProcessFlow" || se.Field != "opFlags" {
		t.Fatalf("got %v, want a SchemaError for ProcessFlow.opFlags", err)
	}
}
