package avro

import (
	"fmt"
	"reflect"
	"strings"
	"sync"
	"unicode"

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
	v  reflect.Value // ff, addressable
}

// Start begins an event.
func (b *FlatBuilder) Start() *FlatFields {
	f := &FlatFields{b: b}
	f.v = reflect.ValueOf(&f.ff).Elem()
	return f
}

// Event rebuilds the event from the values set so far.
func (f *FlatFields) Event() (*sysflow.Event, error) { return eventFromFlat(&f.ff, &f.b.pods) }

// flatSlot is where one sf.* name lands in flatFields.
type flatSlot struct {
	index []int
	kind  sysflow.FieldKind
}

// flatSlots maps every sf.* name flatFields holds (the section prefix and
// the snake_case of the Go name: Proc.Createts is sf.proc.createts,
// File.IsOpenRead sf.file.is_open_read) to its slot. The alert-only fields
// (rules, tags, priority) are left to the caller, which sets Matches and
// Tags on the rebuilt event.
var flatSlots = sync.OnceValue(func() map[string]flatSlot {
	m := map[string]flatSlot{}
	var walk func(t reflect.Type, prefix string, index []int)
	walk = func(t reflect.Type, prefix string, index []int) {
		for i := range t.NumField() {
			sf := t.Field(i)
			if prefix == "sf" && (sf.Name == "Rules" || sf.Name == "Tags" || sf.Name == "Priority") {
				continue
			}
			name := prefix + "." + snake(sf.Name)
			idx := append(append([]int(nil), index...), i)
			ft := sf.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			switch {
			case ft.Kind() == reflect.Struct:
				walk(ft, name, idx)
			case ft.Kind() == reflect.String:
				m[name] = flatSlot{idx, sysflow.FieldStr}
			case ft.Kind() == reflect.Int64:
				m[name] = flatSlot{idx, sysflow.FieldInt}
			case ft.Kind() == reflect.Bool:
				m[name] = flatSlot{idx, sysflow.FieldBool}
			case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.String:
				m[name] = flatSlot{idx, sysflow.FieldList}
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

// slot returns the settable value of name, allocating the sections on its
// way: setting any field of a section makes the section present.
func (f *FlatFields) slot(name string, kind sysflow.FieldKind) (reflect.Value, bool, error) {
	s, ok := flatSlots()[name]
	if !ok {
		return reflect.Value{}, false, nil
	}
	if s.kind != kind {
		return reflect.Value{}, true, fmt.Errorf("want %s, got %s", s.kind, kind)
	}
	v := f.v
	for _, i := range s.index {
		if v.Kind() == reflect.Pointer {
			if v.IsNil() {
				v.Set(reflect.New(v.Type().Elem()))
			}
			v = v.Elem()
		}
		v = v.Field(i)
	}
	if v.Kind() == reflect.Pointer { // a section named by itself (none today)
		return reflect.Value{}, true, fmt.Errorf("field %s is a section", name)
	}
	return v, true, nil
}

// SetInt sets an int field. known is false for a name FlatFields does not
// hold (the caller decides whether that matters); the error reports a
// known name given the wrong kind.
func (f *FlatFields) SetInt(name string, x int64) (known bool, err error) {
	v, known, err := f.slot(name, sysflow.FieldInt)
	if err == nil && known {
		v.SetInt(x)
	}
	return known, err
}

// SetStr sets a str field.
func (f *FlatFields) SetStr(name, x string) (known bool, err error) {
	v, known, err := f.slot(name, sysflow.FieldStr)
	if err == nil && known {
		v.SetString(x)
	}
	return known, err
}

// SetBool sets a bool field.
func (f *FlatFields) SetBool(name string, x bool) (known bool, err error) {
	v, known, err := f.slot(name, sysflow.FieldBool)
	if err == nil && known {
		v.SetBool(x)
	}
	return known, err
}

// SetList sets a list field; x is kept.
func (f *FlatFields) SetList(name string, x []string) (known bool, err error) {
	v, known, err := f.slot(name, sysflow.FieldList)
	if err == nil && known {
		v.Set(reflect.ValueOf(x))
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
