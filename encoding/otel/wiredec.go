package otel

import (
	"errors"
	"fmt"
	"strings"
	"sync"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/sfconnector/sfconnector/encoding/avro"
	"github.com/sfconnector/sfconnector/sysflow"
)

// The protobuf decoder walks the LogsData bytes with protowire and sets
// the policy fields straight from the attributes, without building pdata's
// object tree first. It accepts no more than pdata's own unmarshaller
// does: every message of the OTLP schema is checked as pdata checks it
// (wire type of every known field, lengths, trace and span ids of 0, 16 or
// 8 bytes, nesting of at most 100 values), also in the parts it does not
// read, and a malformed message is refused whole. FuzzDecode holds it to
// that.

// valueType is an AnyValue's variant; the names are pcommon.ValueType's,
// so that errors read as they did when decoding went through pdata.
type valueType uint8

const (
	vEmpty valueType = iota
	vStr
	vBool
	vInt
	vDouble
	vMap
	vSlice
	vBytes
)

var valueTypeNames = [...]string{"Empty", "Str", "Bool", "Int", "Double", "Map", "Slice", "Bytes"}

func (t valueType) String() string { return valueTypeNames[t] }

// recursionLimit is pdata's bound on nested KeyValue/AnyValue/ArrayValue/
// KeyValueList messages.
const recursionLimit = 100

var errRecursion = errors.New("proto: exceeded max recursion depth")

// wattr is one decoded attribute. Strings of a record's attributes are
// substrings of one copy of the record's bytes (one allocation a record,
// where pdata makes one per string); those of a resource, of one copy of
// the Resource for all its records.
type wattr struct {
	key string
	typ valueType
	s   string
	i   int64
	// raw is the content of an array or kvlist value, as offsets into the
	// message.
	rawOff, rawEnd int
}

// wdec is the state of one Decode call.
type wdec struct {
	buf     []byte
	base    string // copy of buf[baseOff:baseOff+len(base)]
	baseOff int
	res     []wattr
	rec     []wattr
}

var wdecPool = sync.Pool{New: func() any { return new(wdec) }}

// str returns buf[p:q] as a string: a substring of base when it lies
// within, a copy otherwise.
func (d *wdec) str(p, q int) string {
	if p >= d.baseOff && q <= d.baseOff+len(d.base) {
		return d.base[p-d.baseOff : q-d.baseOff]
	}
	return string(d.buf[p:q])
}

// field reads the tag at pos; it returns the field number, the wire type
// and where the value starts.
func (d *wdec) field(pos, end int) (protowire.Number, protowire.Type, int, error) {
	num, typ, n := protowire.ConsumeTag(d.buf[pos:end])
	if n < 0 {
		return 0, 0, 0, fmt.Errorf("proto: offset %d: %w", pos, protowire.ParseError(n))
	}
	return num, typ, pos + n, nil
}

// forWhat names the field an error is about, when the caller does not
// name it itself.
func forWhat(what string) string {
	if what == "" {
		return ""
	}
	return " for " + what
}

// lenField reads a length-delimited value at pos and returns its bounds.
func (d *wdec) lenField(pos, end int, typ protowire.Type, what string) (int, int, error) {
	if typ != protowire.BytesType {
		return 0, 0, fmt.Errorf("proto: wrong wire type %d%s", typ, forWhat(what))
	}
	l, n := protowire.ConsumeVarint(d.buf[pos:end])
	if n < 0 {
		return 0, 0, fmt.Errorf("proto: offset %d%s: %w", pos, forWhat(what), protowire.ParseError(n))
	}
	if l > uint64(end-pos-n) {
		return 0, 0, fmt.Errorf("proto: offset %d%s: length %d past the end of its message", pos, forWhat(what), l)
	}
	return pos + n, pos + n + int(l), nil
}

// scalar reads a varint, fixed64 or fixed32 value of the wire type want.
func (d *wdec) scalar(pos, end int, typ, want protowire.Type, what string) (uint64, int, error) {
	if typ != want {
		return 0, 0, fmt.Errorf("proto: wrong wire type %d%s", typ, forWhat(what))
	}
	var v uint64
	var n int
	switch want {
	case protowire.VarintType:
		v, n = protowire.ConsumeVarint(d.buf[pos:end])
	case protowire.Fixed64Type:
		v, n = protowire.ConsumeFixed64(d.buf[pos:end])
	default:
		var v32 uint32
		v32, n = protowire.ConsumeFixed32(d.buf[pos:end])
		v = uint64(v32)
	}
	if n < 0 {
		return 0, 0, fmt.Errorf("proto: offset %d%s: %w", pos, forWhat(what), protowire.ParseError(n))
	}
	return v, pos + n, nil
}

// skip passes over a field this schema does not know (pdata keeps none).
// Groups, which OTLP never uses, are refused: pdata reads them other than
// the protobuf rules do (it ends a group at its first scalar field), so
// no reading of them could accept only what pdata accepts.
func (d *wdec) skip(pos, end int, num protowire.Number, typ protowire.Type) (int, error) {
	if typ == protowire.StartGroupType || typ == protowire.EndGroupType {
		return 0, fmt.Errorf("proto: offset %d: field %d: groups are not OTLP", pos, num)
	}
	n := protowire.ConsumeFieldValue(num, typ, d.buf[pos:end])
	if n < 0 {
		return 0, fmt.Errorf("proto: offset %d: field %d: %w", pos, num, protowire.ParseError(n))
	}
	return pos + n, nil
}

// decodeProto decodes a protobuf LogsData into b. A malformed message
// sets *malformed and appends nothing; the error returned reports records
// skipped.
func (d *Decoder) decodeProto(value []byte, b *sysflow.Batch, malformed *error) error {
	w := wdecPool.Get().(*wdec)
	defer func() {
		clear(w.res)
		clear(w.rec)
		*w = wdec{res: w.res[:0], rec: w.rec[:0]}
		wdecPool.Put(w)
	}()
	w.buf = value
	before := len(b.Events)
	var errs []error
	bad, ri := 0, 0
	for pos, end := 0, len(value); pos < end; {
		num, typ, p, err := w.field(pos, end)
		if err != nil {
			b.Events = b.Events[:before]
			*malformed = err
			return nil
		}
		if num != fLogsDataResourceLogs {
			if pos, err = w.skip(p, end, num, typ); err != nil {
				b.Events = b.Events[:before]
				*malformed = err
				return nil
			}
			continue
		}
		s, e, err := w.lenField(p, end, typ, "LogsData.resource_logs")
		if err == nil {
			err = d.resourceLogs(w, s, e, ri, b, &errs, &bad)
		}
		if err != nil {
			b.Events = b.Events[:before]
			*malformed = err
			return nil
		}
		pos = e
		ri++
	}
	if bad > maxErrors {
		errs = append(errs, fmt.Errorf("and %d more records skipped", bad-maxErrors))
	}
	if len(errs) > 0 {
		return fmt.Errorf("otel: %w", errors.Join(errs...))
	}
	return nil
}

// resourceLogs decodes one ResourceLogs: its resource first, wherever it
// is, then the records of its scopes in order.
func (d *Decoder) resourceLogs(w *wdec, start, end, ri int, b *sysflow.Batch, errs *[]error, bad *int) error {
	w.res = w.res[:0]
	w.base, w.baseOff = "", 0
	for pos := start; pos < end; {
		num, typ, p, err := w.field(pos, end)
		if err != nil {
			return err
		}
		switch num {
		case fResourceLogsResource:
			s, e, err := w.lenField(p, end, typ, "ResourceLogs.resource")
			if err == nil {
				err = w.resource(s, e)
			}
			if err != nil {
				return err
			}
			pos = e
		case fResourceLogsScopeLogs, 1000: // 1000: deprecated scope logs, checked, not read (as pdata)
			_, e, err := w.lenField(p, end, typ, "ResourceLogs.scope_logs")
			if err != nil {
				return err
			}
			pos = e
		case 3: // schema_url
			_, e, err := w.lenField(p, end, typ, "ResourceLogs.schema_url")
			if err != nil {
				return err
			}
			pos = e
		default:
			if pos, err = w.skip(p, end, num, typ); err != nil {
				return err
			}
		}
	}
	si := 0
	for pos := start; pos < end; {
		num, typ, p, _ := w.field(pos, end)
		s, e, err := w.lenField(p, end, typ, "")
		if err != nil { // a scalar unknown field, checked above
			pos, _ = w.skip(p, end, num, typ)
			continue
		}
		pos = e
		switch num {
		case fResourceLogsScopeLogs:
			if err := d.scopeLogs(w, s, e, ri, si, b, errs, bad); err != nil {
				return err
			}
			si++
		case 1000:
			if err := w.check(s, e, &scopeLogsSchema, 0); err != nil {
				return err
			}
		}
	}
	return nil
}

// resource reads a Resource's attributes into w.res; their strings are
// substrings of one copy of the Resource, shared by its records.
func (w *wdec) resource(start, end int) error {
	w.base, w.baseOff = string(w.buf[start:end]), start
	for pos := start; pos < end; {
		num, typ, p, err := w.field(pos, end)
		if err != nil {
			return err
		}
		switch num {
		case fResourceAttributes:
			s, e, err := w.lenField(p, end, typ, "Resource.attributes")
			if err != nil {
				return err
			}
			a, err := w.keyValue(s, e, 0)
			if err != nil {
				return err
			}
			w.res = append(w.res, a)
			pos = e
		default:
			if pos, err = w.checkField(p, end, num, typ, &resourceSchema, 0); err != nil {
				return err
			}
		}
	}
	return nil
}

func (d *Decoder) scopeLogs(w *wdec, start, end, ri, si int, b *sysflow.Batch, errs *[]error, bad *int) error {
	ki := 0
	for pos := start; pos < end; {
		num, typ, p, err := w.field(pos, end)
		if err != nil {
			return err
		}
		if num != fScopeLogsLogRecords {
			if pos, err = w.checkField(p, end, num, typ, &scopeLogsSchema, 0); err != nil {
				return err
			}
			continue
		}
		s, e, err := w.lenField(p, end, typ, "ScopeLogs.log_records")
		if err != nil {
			return err
		}
		pos = e
		ev, rerr, err := d.record(w, s, e)
		if err != nil {
			return err
		}
		if rerr != nil {
			if *bad++; *bad <= maxErrors {
				*errs = append(*errs, fmt.Errorf("resource %d, scope %d, record %d: %w", ri, si, ki, rerr))
			}
		} else {
			b.Events = append(b.Events, ev)
		}
		ki++
	}
	return nil
}

// record decodes one LogRecord. err is a malformed message; rerr a record
// that is well formed but not a SysFlow event.
func (d *Decoder) record(w *wdec, start, end int) (ev *sysflow.Event, rerr, err error) {
	w.rec = w.rec[:0]
	w.base, w.baseOff = string(w.buf[start:end]), start
	for pos := start; pos < end; {
		num, typ, p, err := w.field(pos, end)
		if err != nil {
			return nil, nil, err
		}
		if num != fRecordAttributes {
			if pos, err = w.checkField(p, end, num, typ, &logRecordSchema, 0); err != nil {
				return nil, nil, err
			}
			continue
		}
		s, e, err := w.lenField(p, end, typ, "LogRecord.attributes")
		if err != nil {
			return nil, nil, err
		}
		a, err := w.keyValue(s, e, 0)
		if err != nil {
			return nil, nil, err
		}
		w.rec = append(w.rec, a)
		pos = e
	}
	ev, rerr = d.build(w)
	return ev, rerr, nil
}

func find(attrs []wattr, key string) (*wattr, bool) {
	for i := range attrs {
		if attrs[i].key == key {
			return &attrs[i], true
		}
	}
	return nil, false
}

// build is event for the wire: the resource's sf.* fields, then the
// record's, then the alert section.
func (d *Decoder) build(w *wdec) (*sysflow.Event, error) {
	if _, ok := find(w.rec, "sf.type"); !ok {
		if _, ok := find(w.res, "sf.type"); !ok {
			return nil, errors.New("no sf.type attribute: not a SysFlow log record")
		}
	}
	ff := d.flat.Start()
	for i := range w.res {
		if err := w.set(ff, &w.res[i]); err != nil {
			return nil, fmt.Errorf("resource %w", err)
		}
	}
	for i := range w.rec {
		if err := w.set(ff, &w.rec[i]); err != nil {
			return nil, err
		}
	}
	ev, err := ff.Event()
	if err != nil {
		return nil, err
	}
	if a, ok := find(w.rec, AttrAlertMatches); ok {
		if ev.Matches, err = w.matches(a); err != nil {
			return nil, err
		}
	}
	if a, ok := find(w.rec, AttrAlertTags); ok {
		if ev.Tags, err = w.stringList(AttrAlertTags, a); err != nil {
			return nil, err
		}
	}
	return ev, nil
}

// set is the pdata decoder's set for a wire attribute.
func (w *wdec) set(ff *avro.FlatFields, a *wattr) error {
	if !strings.HasPrefix(a.key, "sf.") {
		return nil
	}
	var err error
	switch a.typ {
	case vInt:
		_, err = ff.SetInt(a.key, a.i)
	case vStr:
		_, err = ff.SetStr(a.key, a.s)
	case vBool:
		_, err = ff.SetBool(a.key, a.i != 0)
	case vSlice:
		kind, known := avro.FlatFieldKind(a.key)
		if !known {
			return nil
		}
		if kind != sysflow.FieldList {
			return fmt.Errorf("attribute %s: want %s, got %s", a.key, kind, a.typ)
		}
		l, err := w.stringList(a.key, a)
		if err != nil {
			return err
		}
		_, err = ff.SetList(a.key, l)
		return err
	default:
		if kind, known := avro.FlatFieldKind(a.key); known {
			return fmt.Errorf("attribute %s: want %s, got %s", a.key, kind, a.typ)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("attribute %s: %w", a.key, err)
	}
	return nil
}

// next returns the element of an array (or kvlist) value after position
// pos, and the position after it; the value was checked when read.
func (w *wdec) next(a *wattr, pos int, kv bool) (wattr, int, bool) {
	for pos < a.rawEnd {
		num, typ, p, _ := w.field(pos, a.rawEnd)
		s, e, err := w.lenField(p, a.rawEnd, typ, "")
		if err != nil || num != fArrayValues {
			pos, _ = w.skip(p, a.rawEnd, num, typ)
			continue
		}
		var v wattr
		if kv {
			v, _ = w.keyValue(s, e, 2)
		} else {
			v, _ = w.anyValue(s, e, 1)
		}
		return v, e, true
	}
	return wattr{}, pos, false
}

func (w *wdec) stringList(k string, a *wattr) ([]string, error) {
	if a.typ != vSlice {
		return nil, fmt.Errorf("attribute %s: want an array of strings, got %s", k, a.typ)
	}
	n := 0 // the elements, counted by their tags alone
	for pos := a.rawOff; pos < a.rawEnd; {
		num, typ, p, _ := w.field(pos, a.rawEnd)
		if num == fArrayValues && typ == protowire.BytesType {
			n++
		}
		pos, _ = w.skip(p, a.rawEnd, num, typ)
	}
	if n == 0 {
		return nil, nil
	}
	out := make([]string, 0, n)
	for pos, i := a.rawOff, 0; ; i++ {
		v, p, ok := w.next(a, pos, false)
		if !ok {
			break
		}
		if v.typ != vStr {
			return nil, fmt.Errorf("attribute %s[%d]: want a string, got %s", k, i, v.typ)
		}
		out = append(out, v.s)
		pos = p
	}
	return out, nil
}

func (w *wdec) matches(a *wattr) ([]sysflow.Match, error) {
	if a.typ != vSlice {
		return nil, fmt.Errorf("attribute %s: want an array of maps, got %s", AttrAlertMatches, a.typ)
	}
	var out []sysflow.Match
	for pos, i := a.rawOff, 0; ; i++ {
		v, p, ok := w.next(a, pos, false)
		if !ok {
			break
		}
		pos = p
		if err := w.match(&v, i, &out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// match reads the i-th element of sf.alert.matches.
func (w *wdec) match(v *wattr, i int, out *[]sysflow.Match) error {
	{
		if v.typ != vMap {
			return fmt.Errorf("attribute %s[%d]: want a map, got %s", AttrAlertMatches, i, v.typ)
		}
		var kvs []wattr
		for pos := v.rawOff; ; {
			kv, p, ok := w.next(v, pos, true)
			if !ok {
				break
			}
			kvs = append(kvs, kv)
			pos = p
		}
		str := func(key string) (string, error) {
			x, ok := find(kvs, key)
			if !ok {
				return "", nil
			}
			if x.typ != vStr {
				return "", fmt.Errorf("attribute %s[%d].%s: want a string, got %s", AttrAlertMatches, i, key, x.typ)
			}
			return x.s, nil
		}
		var mt sysflow.Match
		var err error
		if mt.Rule, err = str("rule"); err != nil {
			return err
		}
		if mt.Rule == "" {
			return fmt.Errorf("attribute %s[%d]: no rule", AttrAlertMatches, i)
		}
		if mt.Desc, err = str("desc"); err != nil {
			return err
		}
		if mt.Output, err = str("output"); err != nil {
			return err
		}
		p, err := str("priority")
		if err != nil {
			return err
		}
		switch p {
		case "", "low":
			mt.Priority = sysflow.PriorityLow
		case "medium":
			mt.Priority = sysflow.PriorityMedium
		case "high":
			mt.Priority = sysflow.PriorityHigh
		default:
			return fmt.Errorf("attribute %s[%d].priority: %q is not low, medium or high", AttrAlertMatches, i, p)
		}
		if t, ok := find(kvs, "tags"); ok {
			if mt.Tags, err = w.stringList(fmt.Sprintf("%s[%d].tags", AttrAlertMatches, i), t); err != nil {
				return err
			}
		}
		*out = append(*out, mt)
		return nil
	}
}

// keyValue reads (and checks) a KeyValue; depth counts the nesting as
// pdata does, from 0 at an attribute.
func (w *wdec) keyValue(start, end, depth int) (wattr, error) {
	if depth >= recursionLimit {
		return wattr{}, errRecursion
	}
	var a wattr
	for pos := start; pos < end; {
		num, typ, p, err := w.field(pos, end)
		if err != nil {
			return a, err
		}
		switch num {
		case fKVKey:
			s, e, err := w.lenField(p, end, typ, "KeyValue.key")
			if err != nil {
				return a, err
			}
			a.key = w.str(s, e)
			pos = e
		case fKVValue:
			s, e, err := w.lenField(p, end, typ, "KeyValue.value")
			if err != nil {
				return a, err
			}
			key := a.key
			if a, err = w.anyValue(s, e, depth+1); err != nil {
				return a, err
			}
			a.key = key
			pos = e
		default:
			if pos, err = w.checkField(p, end, num, typ, &keyValueSchema, depth+1); err != nil {
				return a, err
			}
		}
	}
	return a, nil
}

// anyValue reads (and checks) an AnyValue; of several variants the last
// is kept, as pdata does.
func (w *wdec) anyValue(start, end, depth int) (wattr, error) {
	if depth >= recursionLimit {
		return wattr{}, errRecursion
	}
	// The common values, a string or an int alone, read without the
	// general loop.
	if end-start >= 2 && end-start < 0x80+2 {
		switch w.buf[start] {
		case tagLen(fAnyStr):
			if int(w.buf[start+1]) == end-start-2 {
				return wattr{typ: vStr, s: w.str(start+2, end)}, nil
			}
		case tagVarint(fAnyInt):
			if v, n := protowire.ConsumeVarint(w.buf[start+1 : end]); n == end-start-1 {
				return wattr{typ: vInt, i: int64(v)}, nil
			}
		}
	}
	var a wattr
	for pos := start; pos < end; {
		num, typ, p, err := w.field(pos, end)
		if err != nil {
			return a, err
		}
		switch num {
		case fAnyStr, 7: // 7: bytes_value
			s, e, err := w.lenField(p, end, typ, "AnyValue.string_value")
			if err != nil {
				return a, err
			}
			a = wattr{typ: vStr}
			if num == fAnyStr {
				a.s = w.str(s, e)
			} else {
				a.typ = vBytes
			}
			pos = e
		case fAnyBool, fAnyInt:
			v, e, err := w.scalar(p, end, typ, protowire.VarintType, "AnyValue.int_value")
			if err != nil {
				return a, err
			}
			a = wattr{typ: vInt, i: int64(v)}
			if num == fAnyBool {
				a.typ = vBool
			}
			pos = e
		case 4: // double_value
			_, e, err := w.scalar(p, end, typ, protowire.Fixed64Type, "AnyValue.double_value")
			if err != nil {
				return a, err
			}
			a = wattr{typ: vDouble}
			pos = e
		case fAnyArray, fAnyKVs:
			s, e, err := w.lenField(p, end, typ, "AnyValue.array_value")
			if err != nil {
				return a, err
			}
			if depth+1 >= recursionLimit {
				return a, errRecursion
			}
			// ArrayValue and KeyValueList: repeated field 1 of AnyValue or KeyValue.
			for q := s; q < e; {
				n, t, qq, err := w.field(q, e)
				if err != nil {
					return a, err
				}
				if n != 1 {
					if q, err = w.skip(qq, e, n, t); err != nil {
						return a, err
					}
					continue
				}
				ss, ee, err := w.lenField(qq, e, t, "ArrayValue.values")
				if err != nil {
					return a, err
				}
				if num == fAnyArray {
					_, err = w.anyValue(ss, ee, depth+2)
				} else {
					_, err = w.keyValue(ss, ee, depth+2)
				}
				if err != nil {
					return a, err
				}
				q = ee
			}
			a = wattr{typ: vSlice, rawOff: s, rawEnd: e}
			if num == fAnyKVs {
				a.typ = vMap
			}
			pos = e
		case 8: // string_value_strindex
			_, e, err := w.scalar(p, end, typ, protowire.VarintType, "AnyValue.string_value_strindex")
			if err != nil {
				return a, err
			}
			a = wattr{typ: vEmpty}
			pos = e
		default:
			if pos, err = w.skip(p, end, num, typ); err != nil {
				return a, err
			}
		}
	}
	return a, nil
}

// The parts of the schema the decoder checks without reading.
type fieldKind uint8

const (
	kVarint fieldKind = iota + 1
	kFixed64
	kFixed32
	kBytes
	kID16 // trace id: empty or 16 bytes
	kID8  // span id: empty or 8 bytes
	kKeyValue
	kAnyValue
	kMessage
)

type schemaField struct {
	kind fieldKind
	sub  *schema
}

type schema struct {
	name   string
	fields map[protowire.Number]schemaField
}

var (
	entityRefSchema = schema{"EntityRef", map[protowire.Number]schemaField{
		1: {kind: kBytes}, 2: {kind: kBytes}, 3: {kind: kBytes}, 4: {kind: kBytes}}}
	resourceSchema = schema{"Resource", map[protowire.Number]schemaField{
		1: {kind: kKeyValue}, 2: {kind: kVarint}, 3: {kind: kMessage, sub: &entityRefSchema}}}
	scopeSchema = schema{"InstrumentationScope", map[protowire.Number]schemaField{
		1: {kind: kBytes}, 2: {kind: kBytes}, 3: {kind: kKeyValue}, 4: {kind: kVarint}}}
	logRecordSchema = schema{"LogRecord", map[protowire.Number]schemaField{
		1: {kind: kFixed64}, 11: {kind: kFixed64}, 2: {kind: kVarint}, 3: {kind: kBytes},
		5: {kind: kAnyValue}, 6: {kind: kKeyValue}, 7: {kind: kVarint}, 8: {kind: kFixed32},
		9: {kind: kID16}, 10: {kind: kID8}, 12: {kind: kBytes}}}
	scopeLogsSchema = schema{"ScopeLogs", map[protowire.Number]schemaField{
		1: {kind: kMessage, sub: &scopeSchema}, 2: {kind: kMessage, sub: &logRecordSchema}, 3: {kind: kBytes}}}
	keyValueSchema = schema{"KeyValue", map[protowire.Number]schemaField{
		1: {kind: kBytes}, 2: {kind: kAnyValue}, 3: {kind: kVarint}}}
)

// check checks a whole message of schema sc.
func (w *wdec) check(start, end int, sc *schema, depth int) error {
	for pos := start; pos < end; {
		num, typ, p, err := w.field(pos, end)
		if err != nil {
			return err
		}
		if pos, err = w.checkField(p, end, num, typ, sc, depth); err != nil {
			return err
		}
	}
	return nil
}

// checkField checks the value of field num of a message of schema sc,
// and returns where it ends.
func (w *wdec) checkField(pos, end int, num protowire.Number, typ protowire.Type, sc *schema, depth int) (int, error) {
	f, ok := sc.fields[num]
	if !ok {
		return w.skip(pos, end, num, typ)
	}
	var e int
	var err error
	switch f.kind {
	case kVarint:
		_, e, err = w.scalar(pos, end, typ, protowire.VarintType, "")
	case kFixed64:
		_, e, err = w.scalar(pos, end, typ, protowire.Fixed64Type, "")
	case kFixed32:
		_, e, err = w.scalar(pos, end, typ, protowire.Fixed32Type, "")
	default:
		return w.checkLen(pos, end, num, typ, f, sc, depth)
	}
	if err != nil { // named here, not on every field read
		return 0, fmt.Errorf("%s field %d: %w", sc.name, num, err)
	}
	return e, nil
}

func (w *wdec) checkLen(pos, end int, num protowire.Number, typ protowire.Type, f schemaField, sc *schema, depth int) (int, error) {
	s, e, err := w.lenField(pos, end, typ, "")
	if err != nil {
		return 0, fmt.Errorf("%s field %d: %w", sc.name, num, err)
	}
	switch f.kind {
	case kID16, kID8:
		if n := e - s; n != 0 && (f.kind == kID16 && n != 16 || f.kind == kID8 && n != 8) {
			return 0, fmt.Errorf("proto: %s field %d: an id of %d bytes", sc.name, num, n)
		}
	case kKeyValue:
		_, err = w.keyValue(s, e, 0)
	case kAnyValue:
		_, err = w.anyValue(s, e, 0)
	case kMessage:
		err = w.check(s, e, f.sub, depth)
	}
	return e, err
}
