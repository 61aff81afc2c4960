package sysflow

import (
	"fmt"
	"slices"
)

// A decoding program is built once per writer schema, by Avro schema
// resolution (the specification's "Schema Resolution" section) of that
// writer schema against our reader, the v5 schema the typed structs mirror.
// For every branch of the writer's SysFlow union it holds, in writer field
// order, one step per field: a small function that reads the field's Avro
// value straight into the typed struct, or skips it when the struct has no
// such field. No maps and no reflection run per record.
//
// What resolution allows, and how the steps do it:
//   - fields matched by name, in whatever order the writer put them; writer
//     fields the reader lacks are skipped;
//   - reader fields the writer lacks are never touched and keep the reader
//     default the branch's allocator put there (the schema's default where
//     it has one, the Go zero value otherwise: the v5 schema gives few
//     defaults, and older collectors' files lack fields it added later);
//   - a writer union, around any field, array item or map value, gets one
//     step per branch, each resolved on its own; a null branch keeps the
//     reader default (or null, for an optional reader field). A branch that
//     cannot be read fails only when a datum selects it, as the
//     specification says; a union none of whose branches can be read is
//     refused when the program is built;
//   - promotions: int to long, bytes to string (the reader has no float,
//     double or bytes fields, so the other promotions have no target);
//   - enums by symbol name: a writer symbol the reader does not list is an
//     error when a datum uses it (the v5 enums have no default symbol).
// Nested records, enums and fixed types are matched by structure, not by
// name as the specification has it: each reader field has one candidate
// type, so a name check could only refuse a writer that renamed a type.
//
// Whatever cannot be resolved is a *SchemaError naming the SysFlow type and
// the field, never a damage report: the file is sound, its schema is not
// one this reader can read.

// SchemaError reports a writer schema that does not resolve against the v5
// reader schema. The reader's DecodeError wraps it (errors.As finds it),
// either from the file header, when the program is built, or from the
// record whose value selected an unreadable union branch or enum symbol.
type SchemaError struct {
	Type   string // the SysFlow record type (FileFlow, Process...), or the writer's top-level name
	Field  string // the field within Type, dotted for nested records ("procOID.hpid"), [] for items
	Reason string
}

func (e *SchemaError) Error() string {
	s := "writer schema does not resolve against the SysFlow v5 reader schema"
	if e.Type != "" {
		s += ": type " + e.Type
	}
	if e.Field != "" {
		s += " field " + e.Field
	}
	return s + ": " + e.Reason
}

// site is where in the reader schema a step is being built, for errors:
// the field path is outer + "." + leaf, joined only for nested records and
// items, so that compiling a flat record builds no strings.
type site struct{ typ, outer, leaf string }

func (s site) field() string {
	if s.outer == "" {
		return s.leaf
	}
	return s.outer + "." + s.leaf
}

func (s site) in(field string) site { return site{s.typ, s.field(), field} }

func (s site) items() site { return site{s.typ, "", s.field() + "[]"} }

func (s site) errorf(format string, a ...any) *SchemaError {
	return &SchemaError{Type: s.typ, Field: s.field(), Reason: fmt.Sprintf(format, a...)}
}

// step decodes one writer value into *T.
type step[T any] func(d *dec, t *T)

// builder makes the step reading writer type w into a reader value. w is
// never a union nor null: resolve deals with those first.
type builder[T any] func(w *schemaNode, at site) (step[T], error)

// fieldSpec is a reader field: its Avro name, how to build its step for a
// given writer type, and what a writer null does to it (nil: nothing, the
// reader default stays).
type fieldSpec[T any] struct {
	name  string
	build builder[T]
	null  step[T]
}

func keep[T any](*dec, *T) {}

// resolve builds the step reading writer type w with build, resolving a
// writer union branch by branch.
func resolve[T any](w *schemaNode, at site, build builder[T], null step[T]) (step[T], error) {
	if w.typ != tNull && w.typ != tUnion {
		return build(w, at) // first: the common case, no allocation
	}
	if null == nil {
		null = keep[T]
	}
	if w.typ == tNull {
		return null, nil
	}
	steps := make([]step[T], len(w.branches))
	var firstErr error
	readable := 0
	for i, b := range w.branches {
		if b.typ == tNull {
			steps[i] = null
			continue
		}
		s, err := build(b, at)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			se := at.errorf("writer union branch %d (%s) cannot be read: %v", i, b.describe(), reasonOf(err))
			steps[i] = func(d *dec, _ *T) { d.fail(se) }
			continue
		}
		readable++
		steps[i] = s
	}
	if readable == 0 && firstErr != nil {
		return nil, firstErr
	}
	n := int64(len(steps))
	field := at.field() // not at itself: capturing it would move every call's at to the heap
	return func(d *dec, t *T) {
		i := d.long()
		if i < 0 || i >= n {
			d.fail(fmt.Errorf("field %s: union index %d out of range for %d branches", field, i, n))
			return
		}
		steps[i](d, t)
	}, nil
}

func reasonOf(err error) string {
	if se, ok := err.(*SchemaError); ok {
		return se.Reason
	}
	return err.Error()
}

// program decodes datums of one writer schema.
type program struct {
	branches []branchDec // by writer union index
}

type branchDec struct {
	name   string
	node   *schemaNode
	decode func(d *dec, r *Record) // nil: a branch we do not know, skipped
}

// compileProgram builds the decoding program of a SysFlow writer schema:
// either the sysflow.SysFlow record wrapping the union (what the collector
// writes) or the bare union. Schemas that parse but do not resolve give a
// *SchemaError.
func compileProgram(schemaText string) (*program, error) {
	root, err := parseSchema(schemaText)
	if err != nil {
		return nil, err
	}
	// Sizes are memoized on the nodes now, before any decoding: a program
	// may be shared by decoders on several goroutines, which then only read.
	walkSchema(root, map[*schemaNode]bool{}, func(n *schemaNode) { minSize(n, 0) })
	union := root
	if root.typ == tRecord && len(root.fields) == 1 {
		union = root.fields[0].typ
	}
	if union.typ != tUnion {
		return nil, &SchemaError{Type: root.shortName(),
			Reason: fmt.Sprintf("not a SysFlow schema: want a union of records, got %s", root.describe())}
	}
	p := &program{}
	known := 0
	for _, b := range union.branches {
		bd := branchDec{name: b.describe(), node: b}
		if b.typ == tRecord {
			bd.name = b.shortName()
			bd.decode, err = compileBranch(b)
			if err != nil {
				return nil, err
			}
			if bd.decode != nil {
				known++
			}
		}
		p.branches = append(p.branches, bd)
	}
	if known == 0 {
		return nil, &SchemaError{Type: root.shortName(), Reason: "not a SysFlow schema: no known SysFlow record in its union"}
	}
	return p, nil
}

// walkSchema calls fn on every node reachable from n, once.
func walkSchema(n *schemaNode, seen map[*schemaNode]bool, fn func(*schemaNode)) {
	if seen[n] {
		return
	}
	seen[n] = true
	fn(n)
	for _, f := range n.fields {
		walkSchema(f.typ, seen, fn)
	}
	for _, b := range n.branches {
		walkSchema(b, seen, fn)
	}
	if n.items != nil {
		walkSchema(n.items, seen, fn)
	}
}

// decodeOne decodes one datum of the union. ok is false when the datum was a
// branch we skip.
func (p *program) decodeOne(d *dec, r *Record) (ok bool) {
	i := d.long()
	if d.err != nil {
		return false
	}
	if i < 0 || i >= int64(len(p.branches)) {
		d.fail(fmt.Errorf("union index %d out of range (schema has %d record types)", i, len(p.branches)))
		return false
	}
	b := &p.branches[i]
	if b.decode == nil {
		d.skip(b.node, 0)
		return false
	}
	b.decode(d, r)
	return d.err == nil
}

func compileBranch(w *schemaNode) (func(*dec, *Record), error) {
	switch w.shortName() {
	case "SFHeader":
		return makeBranch(w, headerSpecs, func(d *dec) *Header {
			h := d.slabs.header.next()
			h.Version, h.IP = 5, "NA"
			return h
		}, func(r *Record, t *Header) { *r = Record{Kind: KindHeader, Header: t} })
	case "Container":
		return makeBranch(w, containerSpecs, func(d *dec) *Container { return d.slabs.container.next() },
			func(r *Record, t *Container) { *r = Record{Kind: KindContainer, Container: t} })
	case "Process":
		// processes and files outlive their batch in the flattener's
		// tables: decoded into scratch space and detached (see detach.go),
		// or the same bytes seen recently give the same value (dedup.go)
		return makeEntityBranch(w, processSpecs,
			func(d *dec) *dedupTable[*Process] { return &d.cache.tables().proc },
			func(d *dec) *Process {
				d.scratch.process, d.scratch.envOwned = Process{}, false
				return &d.scratch.process
			},
			detachProcess, (*Process).size,
			func(r *Record, t *Process) { *r = Record{Kind: KindProcess, Process: t} })
	case "File":
		return makeEntityBranch(w, fileSpecs,
			func(d *dec) *dedupTable[*File] { return &d.cache.tables().file },
			func(d *dec) *File { d.scratch.file = File{}; return &d.scratch.file },
			func(_ *dec, f *File) *File { return f.detach() }, (*File).size,
			func(r *Record, t *File) { *r = Record{Kind: KindFile, File: t} })
	case "ProcessEvent":
		return makeBranch(w, processEventSpecs, func(d *dec) *ProcessEvent { return d.slabs.processEvent.next() },
			func(r *Record, t *ProcessEvent) { *r = Record{Kind: KindProcessEvent, ProcessEvent: t} })
	case "NetworkFlow":
		return makeBranch(w, networkFlowSpecs, func(d *dec) *NetworkFlow { return d.slabs.networkFlow.next() },
			func(r *Record, t *NetworkFlow) { *r = Record{Kind: KindNetworkFlow, NetworkFlow: t} })
	case "FileFlow":
		return makeBranch(w, fileFlowSpecs, func(d *dec) *FileFlow { return d.slabs.fileFlow.next() },
			func(r *Record, t *FileFlow) { *r = Record{Kind: KindFileFlow, FileFlow: t} })
	case "FileEvent":
		return makeBranch(w, fileEventSpecs, func(d *dec) *FileEvent { return d.slabs.fileEvent.next() },
			func(r *Record, t *FileEvent) { *r = Record{Kind: KindFileEvent, FileEvent: t} })
	case "NetworkEvent":
		return makeBranch(w, networkEventSpecs, func(d *dec) *NetworkEvent { return d.slabs.networkEvent.next() },
			func(r *Record, t *NetworkEvent) { *r = Record{Kind: KindNetworkEvent, NetworkEvent: t} })
	case "ProcessFlow":
		return makeBranch(w, processFlowSpecs, func(d *dec) *ProcessFlow { return d.slabs.processFlow.next() },
			func(r *Record, t *ProcessFlow) { *r = Record{Kind: KindProcessFlow, ProcessFlow: t} })
	case "Pod":
		return makeBranch(w, podSpecs, func(d *dec) *Pod { return d.slabs.pod.next() },
			func(r *Record, t *Pod) { *r = Record{Kind: KindPod, Pod: t} })
	case "K8sEvent":
		return makeBranch(w, k8sEventSpecs, func(d *dec) *K8sEvent { return d.slabs.k8sEvent.next() },
			func(r *Record, t *K8sEvent) { *r = Record{Kind: KindK8sEvent, K8sEvent: t} })
	}
	return nil, nil
}

func makeBranch[T any](w *schemaNode, specs []fieldSpec[T], alloc func(*dec) *T, set func(*Record, *T)) (func(*dec, *Record), error) {
	steps, err := compileRecord(w, specs, site{typ: w.shortName()})
	if err != nil {
		return nil, err
	}
	return func(d *dec, r *Record) {
		t := alloc(d)
		for _, s := range steps {
			s(d, t)
		}
		set(r, t)
	}, nil
}

// makeEntityBranch is makeBranch for the entities the flattener keeps,
// which are detached after decoding. Unless the decoder's cache is off, the
// datum's leading fields (those before its first array or map: for a
// process, all but Env) are skipped by the writer schema, and a datum
// remembered under the same leading bytes whose whole encoding the input
// starts with gives the value built then (dedupTable.lookupPrefix). A datum
// whose head cannot be skipped is decoded as usual, so that errors are the
// decoder's.
func makeEntityBranch[T any](w *schemaNode, specs []fieldSpec[T], table func(*dec) *dedupTable[*T],
	alloc func(*dec) *T, detach func(*dec, *T) *T, size func(*T) int, set func(*Record, *T)) (func(*dec, *Record), error) {
	steps, err := compileRecord(w, specs, site{typ: w.shortName()})
	if err != nil {
		return nil, err
	}
	head, budget := w.fields, 256
	for i := range w.fields {
		if holdsCollection(w.fields[i].typ, &budget) {
			head = w.fields[:i]
			break
		}
	}
	return func(d *dec, r *Record) {
		start, slot, headLen := d.p, -1, 0
		var tab *dedupTable[*T]
		if !d.cache.off {
			tab = table(d)
			for i := range head {
				d.skip(head[i].typ, 1)
			}
			if d.err == nil {
				headLen = d.p - start
				v, n, s, ok := tab.lookupPrefix(d.b[start:], headLen)
				if ok {
					d.p = start + n
					set(r, v)
					return
				}
				slot = s
			}
			d.err, d.p = nil, start
		}
		t := alloc(d)
		for _, s := range steps {
			s(d, t)
		}
		v := detach(d, t)
		if tab != nil && d.err == nil {
			tab.storePrefix(slot, d.b[start:d.p], headLen, v, size(v))
		}
		set(r, v)
	}, nil
}

// holdsCollection tells whether a value of type n can hold an array or a
// map, whose size has no bound worth hashing. It looks at no more than
// *budget nodes (hostile schemas nest records in records), and says yes
// when the budget runs out: a shorter head only hashes fewer bytes.
func holdsCollection(n *schemaNode, budget *int) bool {
	if *budget--; *budget < 0 {
		return true
	}
	switch n.typ {
	case tArray, tMap:
		return true
	case tUnion:
		for _, b := range n.branches {
			if holdsCollection(b, budget) {
				return true
			}
		}
	case tRecord:
		for i := range n.fields {
			if holdsCollection(n.fields[i].typ, budget) {
				return true
			}
		}
	}
	return false
}

func compileRecord[T any](w *schemaNode, specs []fieldSpec[T], at site) ([]step[T], error) {
	if w.typ != tRecord {
		return nil, at.errorf("writer type is %s, want a record", w.describe())
	}
	steps := make([]step[T], 0, len(w.fields))
	for _, f := range w.fields {
		i := slices.IndexFunc(specs, func(s fieldSpec[T]) bool { return s.name == f.name })
		if i < 0 {
			wt := f.typ
			steps = append(steps, func(d *dec, _ *T) { d.skip(wt, 1) })
			continue
		}
		s, err := resolve(f.typ, at.in(f.name), specs[i].build, specs[i].null)
		if err != nil {
			return nil, err
		}
		if f.typ.typ == tNull && specs[i].null == nil {
			continue // a null that keeps the default reads nothing
		}
		steps = append(steps, s)
	}
	return steps, nil
}

func runSteps[T any](d *dec, steps []step[T], t *T) {
	for _, s := range steps {
		s(d, t)
	}
}

func wantType(w *schemaNode, at site, want string, ok ...avroType) error {
	if slices.Contains(ok, w.typ) {
		return nil
	}
	return at.errorf("writer type is %s, want %s", w.describe(), want)
}

// Field spec constructors, one per reader field type.

func longF[T any](name string, get func(*T) *int64) fieldSpec[T] {
	return fieldSpec[T]{name: name, build: func(w *schemaNode, at site) (step[T], error) {
		// Avro promotes int to long; both share the varint encoding.
		if err := wantType(w, at, "long", tLong, tInt); err != nil {
			return nil, err
		}
		return func(d *dec, t *T) { *get(t) = d.long() }, nil
	}}
}

func intF[T any](name string, get func(*T) *int32) fieldSpec[T] {
	return fieldSpec[T]{name: name, build: func(w *schemaNode, at site) (step[T], error) {
		if err := wantType(w, at, "int", tInt); err != nil {
			return nil, err
		}
		return func(d *dec, t *T) { *get(t) = d.int() }, nil
	}}
}

func boolF[T any](name string, get func(*T) *bool) fieldSpec[T] {
	return fieldSpec[T]{name: name, build: func(w *schemaNode, at site) (step[T], error) {
		if err := wantType(w, at, "boolean", tBoolean); err != nil {
			return nil, err
		}
		return func(d *dec, t *T) { *get(t) = d.boolean() }, nil
	}}
}

// strItem reads a string, or bytes promoted to a string.
func strItem(w *schemaNode, at site) (step[string], error) {
	if err := wantType(w, at, "string", tString, tBytes); err != nil {
		return nil, err
	}
	return func(d *dec, s *string) { *s = d.string() }, nil
}

func strF[T any](name string, get func(*T) *string) fieldSpec[T] {
	return fieldSpec[T]{name: name, build: func(w *schemaNode, at site) (step[T], error) {
		if err := wantType(w, at, "string", tString, tBytes); err != nil {
			return nil, err
		}
		return func(d *dec, t *T) { *get(t) = d.string() }, nil
	}}
}

// enumF reads an enum as its index in the reader's symbols. When the writer
// lists other symbols or another order, indexes are translated by name.
func enumF[T any](name string, symbols []string, get func(*T) *int32) fieldSpec[T] {
	return fieldSpec[T]{name: name, build: func(w *schemaNode, at site) (step[T], error) {
		if err := wantType(w, at, "enum", tEnum); err != nil {
			return nil, err
		}
		n := int64(len(w.symbols))
		if len(w.symbols) <= len(symbols) && slices.Equal(w.symbols, symbols[:len(w.symbols)]) {
			return func(d *dec, t *T) {
				i := d.long()
				if i < 0 || i >= n {
					d.fail(fmt.Errorf("enum %s index %d out of range", w.name, i))
					return
				}
				*get(t) = int32(i)
			}, nil
		}
		tr := make([]int32, n)
		unknown := make([]*SchemaError, n) // built now: failing must not allocate per record
		for i, s := range w.symbols {
			tr[i] = int32(slices.Index(symbols, s))
			if tr[i] < 0 {
				unknown[i] = at.errorf("writer symbol %s of enum %s is not a symbol of the reader's enum, which has no default", s, w.name)
			}
		}
		return func(d *dec, t *T) {
			i := d.long()
			if i < 0 || i >= n {
				d.fail(fmt.Errorf("enum %s index %d out of range", w.name, i))
				return
			}
			if tr[i] < 0 {
				d.fail(unknown[i])
				return
			}
			*get(t) = tr[i]
		}, nil
	}}
}

func wantFOID(w *schemaNode, at site) error {
	if w.typ != tFixed || w.size != len(FOID{}) {
		return at.errorf("writer type is %s, want fixed(20)", w.describe())
	}
	return nil
}

func foidF[T any](name string, get func(*T) *FOID) fieldSpec[T] {
	return fieldSpec[T]{name: name, build: func(w *schemaNode, at site) (step[T], error) {
		if err := wantFOID(w, at); err != nil {
			return nil, err
		}
		return func(d *dec, t *T) { d.fixed(get(t)[:]) }, nil
	}}
}

// recordF decodes a nested record with its own program.
func recordF[T, U any](name string, specs []fieldSpec[U], get func(*T) *U) fieldSpec[T] {
	return fieldSpec[T]{name: name, build: func(w *schemaNode, at site) (step[T], error) {
		steps, err := compileRecord(w, specs, at)
		if err != nil {
			return nil, err
		}
		return func(d *dec, t *T) { runSteps(d, steps, get(t)) }, nil
	}}
}

// oidF is recordF for OID, with a straight-line step when the writer's OID
// is the one we know, since every event carries one.
func oidF[T any](name string, get func(*T) *OID) fieldSpec[T] {
	generic := recordF(name, oidSpecs, get)
	return fieldSpec[T]{name: name, build: func(w *schemaNode, at site) (step[T], error) {
		if isStandardOID(w) {
			return func(d *dec, t *T) {
				o := get(t)
				o.CreateTS = d.long()
				o.Hpid = d.long()
			}, nil
		}
		return generic.build(w, at)
	}}
}

func isStandardOID(w *schemaNode) bool {
	return w.typ == tRecord && len(w.fields) == 2 &&
		w.fields[0].name == "createTS" && w.fields[0].typ.typ == tLong &&
		w.fields[1].name == "hpid" && w.fields[1].typ.typ == tLong
}

// optionalF is a reader field of type ["null", X]: resolve reads the
// writer's union (either order, other branches), its null or its X alone.
func optionalF[T any](name string, value builder[T], setNull func(*T)) fieldSpec[T] {
	return fieldSpec[T]{name: name, build: value, null: func(_ *dec, t *T) { setNull(t) }}
}

func optStrF[T any](name string, get func(*T) **string) fieldSpec[T] {
	return optionalF(name, func(w *schemaNode, at site) (step[T], error) {
		if err := wantType(w, at, "string", tString, tBytes); err != nil {
			return nil, err
		}
		return func(d *dec, t *T) {
			s := d.slabs.str.next()
			*s = d.string()
			*get(t) = s
		}, nil
	}, func(t *T) { *get(t) = nil })
}

func optOIDF[T any](name string, get func(*T) **OID) fieldSpec[T] {
	inner := oidF(name, func(o *OID) *OID { return o })
	return optionalF(name, func(w *schemaNode, at site) (step[T], error) {
		s, err := inner.build(w, at)
		if err != nil {
			return nil, err
		}
		return func(d *dec, t *T) {
			o := d.slabs.oid.next()
			s(d, o)
			*get(t) = o
		}, nil
	}, func(t *T) { *get(t) = nil })
}

func optFOIDF[T any](name string, get func(*T) **FOID) fieldSpec[T] {
	return optionalF(name, func(w *schemaNode, at site) (step[T], error) {
		if err := wantFOID(w, at); err != nil {
			return nil, err
		}
		return func(d *dec, t *T) {
			f := d.slabs.foid.next()
			d.fixed(f[:])
			*get(t) = f
		}, nil
	}, func(t *T) { *get(t) = nil })
}

// arrayF reads an array whose items are decoded by item (a writer union of
// items resolved branch by branch); the smallest item encoding bounds the
// count by the bytes left, so that a corrupt count cannot allocate.
func arrayF[T, E any](name string, get func(*T) *[]E, item builder[E]) fieldSpec[T] {
	return fieldSpec[T]{name: name, build: func(w *schemaNode, at site) (step[T], error) {
		if w.typ != tArray {
			return nil, at.errorf("writer type is %s, want array", w.describe())
		}
		it, err := resolve(w.items, at.items(), item, nil)
		if err != nil {
			return nil, err
		}
		minItem := max(1, minSize(w.items, 0))
		return func(d *dec, t *T) {
			var out []E
			for d.err == nil {
				n := d.blockCount(minItem)
				if n == 0 {
					break
				}
				if out == nil {
					out = make([]E, 0, n)
				}
				for i := 0; i < n && d.err == nil; i++ {
					// in place: a local passed to it would escape, an
					// allocation per item
					var zero E
					out = append(out, zero)
					it(d, &out[len(out)-1])
				}
			}
			*get(t) = out
		}, nil
	}}
}

// strArrF is arrayF for strings, with the slice carved from a slab when the
// writer's items are plain strings (every collector so far).
func strArrF[T any](name string, get func(*T) *[]string) fieldSpec[T] {
	generic := arrayF(name, get, strItem)
	return fieldSpec[T]{name: name, build: func(w *schemaNode, at site) (step[T], error) {
		if w.typ != tArray || (w.items.typ != tString && w.items.typ != tBytes) {
			return generic.build(w, at)
		}
		return func(d *dec, t *T) {
			var out []string
			for d.err == nil {
				n := d.blockCount(1)
				if n == 0 {
					break
				}
				if out == nil {
					out = d.slabs.str.slice(n)[:0]
				}
				for i := 0; i < n && d.err == nil; i++ {
					out = append(out, d.string())
				}
			}
			*get(t) = out
		}, nil
	}}
}

// envArrF is strArrF for a process's environment: unless the decoder's
// cache is off, an environment of the same bytes as one decoded recently is
// the same (detached, immutable) slice, and a new one is decoded straight
// into memory of its own, one allocation for the slice and one for its
// strings, which detaching the process then leaves alone.
func envArrF[T any](name string, get func(*T) *[]string) fieldSpec[T] {
	plain := strArrF(name, get)
	return fieldSpec[T]{name: name, build: func(w *schemaNode, at site) (step[T], error) {
		s, err := plain.build(w, at)
		if err != nil || w.typ != tArray || (w.items.typ != tString && w.items.typ != tBytes) {
			return s, err
		}
		return func(d *dec, t *T) {
			if d.cache.off || d.err != nil {
				s(d, t) // the plain step: a failed read keeps its error
				return
			}
			start := d.p
			count, total := d.skipStrings()
			if d.err != nil {
				d.err, d.p = nil, start
				s(d, t) // the plain decoder reports it
				return
			}
			if count == 0 {
				*get(t) = nil
				return
			}
			tab := &d.cache.tables().env
			raw := d.b[start:d.p]
			if v, _, ok := tab.lookup(raw); ok {
				*get(t) = v
				d.scratch.envOwned = true
				return
			}
			end := d.p
			d.p = start
			out := make([]string, 0, count)
			k := packer{buf: make([]byte, 0, total)}
			for {
				n := d.blockCount(1)
				if n == 0 {
					break
				}
				for range n {
					out = append(out, k.str(unsafeString(d.bytes())))
				}
			}
			_, slot, _ := tab.lookup(raw)
			tab.store(slot, raw, out, total+16*count)
			d.p = end
			*get(t) = out
			d.scratch.envOwned = true
		}, nil
	}}
}

func longItem(w *schemaNode, at site) (step[int64], error) {
	if err := wantType(w, at, "long", tLong, tInt); err != nil {
		return nil, err
	}
	return func(d *dec, e *int64) { *e = d.long() }, nil
}

func recordItem[U any](specs []fieldSpec[U]) builder[U] {
	return func(w *schemaNode, at site) (step[U], error) {
		steps, err := compileRecord(w, specs, at)
		if err != nil {
			return nil, err
		}
		return func(d *dec, e *U) { runSteps(d, steps, e) }, nil
	}
}

// strMapF reads a map of strings; values of a writer union are resolved
// branch by branch (a null value reads as "").
func strMapF[T any](name string, get func(*T) *map[string]string) fieldSpec[T] {
	return fieldSpec[T]{name: name, build: func(w *schemaNode, at site) (step[T], error) {
		if w.typ != tMap {
			return nil, at.errorf("writer type is %s, want map of string", w.describe())
		}
		val, err := resolve(w.items, at.items(), strItem, nil)
		if err != nil {
			return nil, err
		}
		plain := w.items.typ == tString || w.items.typ == tBytes
		minItem := 1 + minSize(w.items, 0)
		return func(d *dec, t *T) {
			var out map[string]string
			for d.err == nil {
				n := d.blockCount(minItem)
				if n == 0 {
					break
				}
				if out == nil {
					out = make(map[string]string, n)
				}
				for i := 0; i < n && d.err == nil; i++ {
					k := d.string()
					if plain {
						out[k] = d.string()
						continue
					}
					var v string
					val(d, &v)
					out[k] = v
				}
			}
			*get(t) = out
		}, nil
	}}
}

// The reader's fields, per record type.

var oidSpecs = []fieldSpec[OID]{
	longF("createTS", func(o *OID) *int64 { return &o.CreateTS }),
	longF("hpid", func(o *OID) *int64 { return &o.Hpid }),
}

var objectStateNames = []string{"CREATED", "MODIFIED", "REUP"}

var headerSpecs = []fieldSpec[Header]{
	longF("version", func(h *Header) *int64 { return &h.Version }),
	strF("exporter", func(h *Header) *string { return &h.Exporter }),
	strF("ip", func(h *Header) *string { return &h.IP }),
	strF("filename", func(h *Header) *string { return &h.Filename }),
}

var containerSpecs = []fieldSpec[Container]{
	strF("id", func(c *Container) *string { return &c.ID }),
	strF("name", func(c *Container) *string { return &c.Name }),
	strF("image", func(c *Container) *string { return &c.Image }),
	strF("imageid", func(c *Container) *string { return &c.ImageID }),
	enumF("type", ContainerTypeNames, func(c *Container) *int32 { return (*int32)(&c.Type) }),
	boolF("privileged", func(c *Container) *bool { return &c.Privileged }),
	optStrF("podId", func(c *Container) **string { return &c.PodID }),
}

var processSpecs = []fieldSpec[Process]{
	enumF("state", objectStateNames, func(p *Process) *int32 { return (*int32)(&p.State) }),
	oidF("oid", func(p *Process) *OID { return &p.OID }),
	optOIDF("poid", func(p *Process) **OID { return &p.POID }),
	longF("ts", func(p *Process) *int64 { return &p.TS }),
	strF("exe", func(p *Process) *string { return &p.Exe }),
	strF("exeArgs", func(p *Process) *string { return &p.ExeArgs }),
	intF("uid", func(p *Process) *int32 { return &p.UID }),
	strF("userName", func(p *Process) *string { return &p.UserName }),
	intF("gid", func(p *Process) *int32 { return &p.GID }),
	strF("groupName", func(p *Process) *string { return &p.GroupName }),
	boolF("tty", func(p *Process) *bool { return &p.TTY }),
	optStrF("containerId", func(p *Process) **string { return &p.ContainerID }),
	boolF("entry", func(p *Process) *bool { return &p.Entry }),
	strF("cwd", func(p *Process) *string { return &p.Cwd }),
	envArrF("env", func(p *Process) *[]string { return &p.Env }),
}

var fileSpecs = []fieldSpec[File]{
	enumF("state", objectStateNames, func(f *File) *int32 { return (*int32)(&f.State) }),
	foidF("oid", func(f *File) *FOID { return &f.OID }),
	longF("ts", func(f *File) *int64 { return &f.TS }),
	intF("restype", func(f *File) *int32 { return &f.Restype }),
	strF("path", func(f *File) *string { return &f.Path }),
	optStrF("containerId", func(f *File) **string { return &f.ContainerID }),
}

var processEventSpecs = []fieldSpec[ProcessEvent]{
	oidF("procOID", func(e *ProcessEvent) *OID { return &e.ProcOID }),
	longF("ts", func(e *ProcessEvent) *int64 { return &e.TS }),
	longF("tid", func(e *ProcessEvent) *int64 { return &e.TID }),
	intF("opFlags", func(e *ProcessEvent) *int32 { return &e.OpFlags }),
	strArrF("args", func(e *ProcessEvent) *[]string { return &e.Args }),
	intF("ret", func(e *ProcessEvent) *int32 { return &e.Ret }),
}

var networkFlowSpecs = []fieldSpec[NetworkFlow]{
	oidF("procOID", func(e *NetworkFlow) *OID { return &e.ProcOID }),
	longF("ts", func(e *NetworkFlow) *int64 { return &e.TS }),
	longF("tid", func(e *NetworkFlow) *int64 { return &e.TID }),
	intF("opFlags", func(e *NetworkFlow) *int32 { return &e.OpFlags }),
	longF("endTs", func(e *NetworkFlow) *int64 { return &e.EndTS }),
	intF("sip", func(e *NetworkFlow) *int32 { return &e.SIP }),
	intF("sport", func(e *NetworkFlow) *int32 { return &e.SPort }),
	intF("dip", func(e *NetworkFlow) *int32 { return &e.DIP }),
	intF("dport", func(e *NetworkFlow) *int32 { return &e.DPort }),
	intF("proto", func(e *NetworkFlow) *int32 { return &e.Proto }),
	intF("fd", func(e *NetworkFlow) *int32 { return &e.FD }),
	longF("numRRecvOps", func(e *NetworkFlow) *int64 { return &e.NumRRecvOps }),
	longF("numWSendOps", func(e *NetworkFlow) *int64 { return &e.NumWSendOps }),
	longF("numRRecvBytes", func(e *NetworkFlow) *int64 { return &e.NumRRecvBytes }),
	longF("numWSendBytes", func(e *NetworkFlow) *int64 { return &e.NumWSendBytes }),
}

var fileFlowSpecs = []fieldSpec[FileFlow]{
	oidF("procOID", func(e *FileFlow) *OID { return &e.ProcOID }),
	longF("ts", func(e *FileFlow) *int64 { return &e.TS }),
	longF("tid", func(e *FileFlow) *int64 { return &e.TID }),
	intF("opFlags", func(e *FileFlow) *int32 { return &e.OpFlags }),
	intF("openFlags", func(e *FileFlow) *int32 { return &e.OpenFlags }),
	longF("endTs", func(e *FileFlow) *int64 { return &e.EndTS }),
	foidF("fileOID", func(e *FileFlow) *FOID { return &e.FileOID }),
	intF("fd", func(e *FileFlow) *int32 { return &e.FD }),
	longF("numRRecvOps", func(e *FileFlow) *int64 { return &e.NumRRecvOps }),
	longF("numWSendOps", func(e *FileFlow) *int64 { return &e.NumWSendOps }),
	longF("numRRecvBytes", func(e *FileFlow) *int64 { return &e.NumRRecvBytes }),
	longF("numWSendBytes", func(e *FileFlow) *int64 { return &e.NumWSendBytes }),
}

var fileEventSpecs = []fieldSpec[FileEvent]{
	oidF("procOID", func(e *FileEvent) *OID { return &e.ProcOID }),
	longF("ts", func(e *FileEvent) *int64 { return &e.TS }),
	longF("tid", func(e *FileEvent) *int64 { return &e.TID }),
	intF("opFlags", func(e *FileEvent) *int32 { return &e.OpFlags }),
	foidF("fileOID", func(e *FileEvent) *FOID { return &e.FileOID }),
	intF("ret", func(e *FileEvent) *int32 { return &e.Ret }),
	optFOIDF("newFileOID", func(e *FileEvent) **FOID { return &e.NewFileOID }),
}

var networkEventSpecs = []fieldSpec[NetworkEvent]{
	oidF("procOID", func(e *NetworkEvent) *OID { return &e.ProcOID }),
	longF("ts", func(e *NetworkEvent) *int64 { return &e.TS }),
	longF("tid", func(e *NetworkEvent) *int64 { return &e.TID }),
	intF("opFlags", func(e *NetworkEvent) *int32 { return &e.OpFlags }),
	intF("sip", func(e *NetworkEvent) *int32 { return &e.SIP }),
	intF("sport", func(e *NetworkEvent) *int32 { return &e.SPort }),
	intF("dip", func(e *NetworkEvent) *int32 { return &e.DIP }),
	intF("dport", func(e *NetworkEvent) *int32 { return &e.DPort }),
	intF("proto", func(e *NetworkEvent) *int32 { return &e.Proto }),
	intF("ret", func(e *NetworkEvent) *int32 { return &e.Ret }),
}

var processFlowSpecs = []fieldSpec[ProcessFlow]{
	oidF("procOID", func(e *ProcessFlow) *OID { return &e.ProcOID }),
	longF("ts", func(e *ProcessFlow) *int64 { return &e.TS }),
	longF("numThreadsCloned", func(e *ProcessFlow) *int64 { return &e.NumThreadsCloned }),
	intF("opFlags", func(e *ProcessFlow) *int32 { return &e.OpFlags }),
	longF("endTs", func(e *ProcessFlow) *int64 { return &e.EndTS }),
	longF("numThreadsExited", func(e *ProcessFlow) *int64 { return &e.NumThreadsExited }),
	longF("numCloneErrors", func(e *ProcessFlow) *int64 { return &e.NumCloneErrors }),
}

var portSpecs = []fieldSpec[Port]{
	intF("port", func(p *Port) *int32 { return &p.Port }),
	intF("targetPort", func(p *Port) *int32 { return &p.TargetPort }),
	intF("nodePort", func(p *Port) *int32 { return &p.NodePort }),
	strF("proto", func(p *Port) *string { return &p.Proto }),
}

var serviceSpecs = []fieldSpec[Service]{
	strF("name", func(s *Service) *string { return &s.Name }),
	strF("id", func(s *Service) *string { return &s.ID }),
	strF("namespace", func(s *Service) *string { return &s.Namespace }),
	arrayF("portList", func(s *Service) *[]Port { return &s.PortList }, recordItem(portSpecs)),
	arrayF("clusterIP", func(s *Service) *[]int64 { return &s.ClusterIP }, longItem),
}

var podSpecs = []fieldSpec[Pod]{
	longF("ts", func(p *Pod) *int64 { return &p.TS }),
	strF("id", func(p *Pod) *string { return &p.ID }),
	strF("name", func(p *Pod) *string { return &p.Name }),
	strF("nodeName", func(p *Pod) *string { return &p.NodeName }),
	arrayF("hostIP", func(p *Pod) *[]int64 { return &p.HostIP }, longItem),
	arrayF("internalIP", func(p *Pod) *[]int64 { return &p.InternalIP }, longItem),
	strF("namespace", func(p *Pod) *string { return &p.Namespace }),
	longF("restartCount", func(p *Pod) *int64 { return &p.RestartCount }),
	strMapF("labels", func(p *Pod) *map[string]string { return &p.Labels }),
	strMapF("selectors", func(p *Pod) *map[string]string { return &p.Selectors }),
	arrayF("services", func(p *Pod) *[]Service { return &p.Services }, recordItem(serviceSpecs)),
}

var k8sEventSpecs = []fieldSpec[K8sEvent]{
	enumF("kind", K8sComponentNames, func(e *K8sEvent) *int32 { return &e.Kind }),
	enumF("action", K8sActionNames, func(e *K8sEvent) *int32 { return &e.Action }),
	longF("ts", func(e *K8sEvent) *int64 { return &e.TS }),
	strF("message", func(e *K8sEvent) *string { return &e.Message }),
}
