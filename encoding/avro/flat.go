package avro

import (
	"fmt"
	"reflect"
	"strings"
	"sync"
	"unicode"
	"unsafe"

	"github.com/sfconnector/sfconnector/sysflow"
)

// FlatBuilder rebuilds events from flat-field values given one by one by
// their sf.* names, for encodings other than Avro that carry the same
// fields (encoding/otel's LogRecord attributes). It shares the Avro
// decoder's inverse of the registry's derivations, so an event rebuilt
// from the values of every registry field reads, field by field, as the
// event they were taken from. It is safe for concurrent use; the
// FlatFields it starts are not.
type FlatBuilder struct {
	pods podCache
}

// NewFlatBuilder returns a builder.
func NewFlatBuilder() *FlatBuilder { return &FlatBuilder{} }

// FlatFields collects the values of one event.
type FlatFields struct {
	b  *FlatBuilder
	ff flatFields
}

// Start begins an event.
func (b *FlatBuilder) Start() *FlatFields { return &FlatFields{b: b} }

// Event rebuilds the event from the values set so far.
func (f *FlatFields) Event() (*sysflow.Event, error) { return eventFromFlat(&f.ff, &f.b.pods) }

// flatSlot is where one sf.* name lands in flatFields: the steps from the
// struct's start to the field, each a byte offset and, for a nullable
// section, the pointer to follow (allocated on the way).
type flatSlot struct {
	steps []flatStep
	kind  sysflow.FieldKind
}

type flatStep struct {
	off  uintptr
	elem reflect.Type // the section's type when the field at off is a pointer to it
}

// flatSlots maps every sf.* name flatFields holds (the section prefix and
// the snake_case of the Go name: Proc.Createts is sf.proc.createts,
// File.IsOpenRead sf.file.is_open_read) to its slot. The alert-only fields
// (rules, tags, priority) are left to the caller, which sets Matches and
// Tags on the rebuilt event. The offsets come from reflect, once; setting
// a field then costs a map lookup and a few pointer steps (the setters run
// for every attribute of every OTLP record).
var flatSlots = sync.OnceValue(func() map[string]flatSlot {
	m := map[string]flatSlot{}
	var walk func(t reflect.Type, prefix string, steps []flatStep)
	walk = func(t reflect.Type, prefix string, steps []flatStep) {
		for i := range t.NumField() {
			sf := t.Field(i)
			if prefix == "sf" && (sf.Name == "Rules" || sf.Name == "Tags" || sf.Name == "Priority") {
				continue
			}
			name := prefix + "." + snake(sf.Name)
			step := flatStep{off: sf.Offset}
			ft := sf.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
				step.elem = ft
			}
			st := append(append([]flatStep(nil), steps...), step)
			switch {
			case ft.Kind() == reflect.Struct:
				walk(ft, name, st)
			case step.elem != nil:
				panic("avro: flatFields." + sf.Name + " is a pointer to a non-struct") // a bug, caught by every test
			case ft.Kind() == reflect.String:
				m[name] = flatSlot{st, sysflow.FieldStr}
			case ft.Kind() == reflect.Int64:
				m[name] = flatSlot{st, sysflow.FieldInt}
			case ft.Kind() == reflect.Bool:
				m[name] = flatSlot{st, sysflow.FieldBool}
			case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.String:
				m[name] = flatSlot{st, sysflow.FieldList}
			default:
				panic("avro: flatFields." + sf.Name + " has a type FlatFields cannot set") // a bug, caught by every test
			}
		}
	}
	walk(reflect.TypeFor[flatFields](), "sf", nil)
	return m
})

func snake(s string) string {
	var b strings.Builder
	for i, r := range s {
		if unicode.IsUpper(r) {
			if i > 0 {
				b.WriteByte('_')
			}
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}

// FlatFieldKind reports whether name is a field FlatFields holds, and its
// kind.
func FlatFieldKind(name string) (sysflow.FieldKind, bool) {
	s, ok := flatSlots()[name]
	return s.kind, ok
}

// slot returns where name's value is, allocating the sections on its
// way: setting any field of a section makes the section present.
func (f *FlatFields) slot(name string, kind sysflow.FieldKind) (unsafe.Pointer, bool, error) {
	s, ok := flatSlots()[name]
	if !ok {
		return nil, false, nil
	}
	if s.kind != kind {
		return nil, true, fmt.Errorf("want %s, got %s", s.kind, kind)
	}
	p := unsafe.Pointer(&f.ff)
	for _, st := range s.steps {
		p = unsafe.Add(p, st.off)
		if st.elem != nil { // a nullable section: follow, or allocate, its pointer
			pp := (*unsafe.Pointer)(p)
			if *pp == nil {
				*pp = reflect.New(st.elem).UnsafePointer()
			}
			p = *pp
		}
	}
	return p, true, nil
}

// SetInt sets an int field. known is false for a name FlatFields does not
// hold (the caller decides whether that matters); the error reports a
// known name given the wrong kind.
func (f *FlatFields) SetInt(name string, x int64) (known bool, err error) {
	p, known, err := f.slot(name, sysflow.FieldInt)
	if err == nil && known {
		*(*int64)(p) = x
	}
	return known, err
}

// SetStr sets a str field.
func (f *FlatFields) SetStr(name, x string) (known bool, err error) {
	p, known, err := f.slot(name, sysflow.FieldStr)
	if err == nil && known {
		*(*string)(p) = x
	}
	return known, err
}

// SetBool sets a bool field.
func (f *FlatFields) SetBool(name string, x bool) (known bool, err error) {
	p, known, err := f.slot(name, sysflow.FieldBool)
	if err == nil && known {
		*(*bool)(p) = x
	}
	return known, err
}

// SetList sets a list field; x is kept.
func (f *FlatFields) SetList(name string, x []string) (known bool, err error) {
	p, known, err := f.slot(name, sysflow.FieldList)
	if err == nil && known {
		*(*[]string)(p) = x
	}
	return known, err
}

// FlatSection reports, for an event, whether the nullable section that
// an sf.* name belongs to (proc, pproc, file, container, pod, ke) is
// present, as event.avsc writes it; names outside such a section are
// always present. Encodings that leave zero values out write at least one
// field of every present section, so that the section reads back present.
func FlatSection(name string, e *sysflow.Event) bool {
	rest, ok := strings.CutPrefix(name, "sf.")
	if !ok {
		return true
	}
	sec, _, _ := strings.Cut(rest, ".")
	p, ok := presence[sec]
	return !ok || p(e)
}
