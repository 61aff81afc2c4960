package sysflow

// FieldKind is the type of a policy field (FIELDS.md): int, str, bool or list.
type FieldKind uint8

// Field kinds.
const (
	FieldInt FieldKind = iota + 1
	FieldStr
	FieldBool
	FieldList
)

func (k FieldKind) String() string {
	switch k {
	case FieldInt:
		return "int"
	case FieldStr:
		return "str"
	case FieldBool:
		return "bool"
	case FieldList:
		return "list"
	}
	return "invalid"
}

// Field is one entry of the field registry: a policy field name and a typed
// accessor on Event. Exactly the accessor matching Kind is set. Accessors never
// panic on missing entities: they return the zero value.
type Field struct {
	Name string // canonical sf.* name
	Kind FieldKind
	Int  func(*Event) int64
	Str  func(*Event) string
	Bool func(*Event) bool
	// List appends the field's elements, as strings, to dst and returns it.
	List func(e *Event, dst []string) []string
}

// Text returns the field's value as the reference compares it with = and !=:
// ints in decimal, bools as true/false, lists joined with commas.
func (f *Field) Text(e *Event) string {
	switch f.Kind {
	case FieldInt:
		return itoa(f.Int(e))
	case FieldStr:
		return f.Str(e)
	case FieldBool:
		if f.Bool(e) {
			return "true"
		}
		return "false"
	case FieldList:
		l := f.List(e, nil)
		n := 0
		for i, s := range l {
			if i > 0 {
				n++
			}
			n += len(s)
		}
		b := make([]byte, 0, n)
		for i, s := range l {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, s...)
		}
		return string(b)
	}
	return ""
}

func itoa(v int64) string {
	var buf [20]byte
	i := len(buf)
	neg := v < 0
	u := uint64(v)
	if neg {
		u = uint64(-v)
	}
	for {
		i--
		buf[i] = byte('0' + u%10)
		u /= 10
		if u == 0 {
			break
		}
	}
	if neg {
		i--
		buf[i] = '-'
	}
	return string(buf[i:])
}
