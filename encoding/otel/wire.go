package otel

import (
	"strings"
	"sync"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/sfconnector/sfconnector/encoding/avro"
	"github.com/sfconnector/sfconnector/sysflow"
)

// The protobuf encoder writes LogsData straight into the caller's buffer,
// with the field numbers of opentelemetry-proto (logs/v1, common/v1,
// resource/v1). Building the message through pdata first costs one
// wrapper allocation per attribute value, which made the OTLP format the
// slowest stage of a pipeline; the bytes mean the same either way, and the
// tests check that against pdata's own marshalling.

// Field numbers of the OTLP messages written.
const (
	fLogsDataResourceLogs = 1 // LogsData.resource_logs

	fResourceLogsResource  = 1 // ResourceLogs.resource
	fResourceLogsScopeLogs = 2 // ResourceLogs.scope_logs

	fResourceAttributes = 1 // Resource.attributes

	fScopeLogsScope      = 1 // ScopeLogs.scope
	fScopeLogsLogRecords = 2 // ScopeLogs.log_records

	fScopeName    = 1 // InstrumentationScope.name
	fScopeVersion = 2 // InstrumentationScope.version

	fRecordTime         = 1  // LogRecord.time_unix_nano (fixed64)
	fRecordSeverity     = 2  // LogRecord.severity_number
	fRecordSeverityText = 3  // LogRecord.severity_text
	fRecordBody         = 5  // LogRecord.body (AnyValue)
	fRecordAttributes   = 6  // LogRecord.attributes
	fRecordObserved     = 11 // LogRecord.observed_time_unix_nano (fixed64)
	fRecordEventName    = 12 // LogRecord.event_name

	fKVKey   = 1 // KeyValue.key
	fKVValue = 2 // KeyValue.value

	fAnyStr   = 1 // AnyValue.string_value
	fAnyBool  = 2 // AnyValue.bool_value
	fAnyInt   = 3 // AnyValue.int_value
	fAnyArray = 5 // AnyValue.array_value
	fAnyKVs   = 6 // AnyValue.kvlist_value

	fArrayValues  = 1 // ArrayValue.values
	fKVListValues = 1 // KeyValueList.values
)

// Tag bytes of the fields above (all numbers below 16).
func tagLen(num protowire.Number) byte { return byte(protowire.EncodeTag(num, protowire.BytesType)) }
func tagVarint(num protowire.Number) byte {
	return byte(protowire.EncodeTag(num, protowire.VarintType))
}

// openLen starts a length-delimited field whose length is not known yet:
// it writes the tag and one byte for the length, and returns where that
// byte is, for closeLen.
func openLen(b []byte, num protowire.Number) ([]byte, int) {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return append(b, 0), len(b)
}

var zeros [16]byte

// closeLen writes the length of the field opened at at, moving its
// content when the length takes more than the byte reserved: most
// attributes are shorter than 128 bytes and move nothing, a record
// (2-3 KiB) moves once, the scope and resource once a message.
func closeLen(b []byte, at int) []byte {
	n := len(b) - at - 1
	if n < 0x80 {
		b[at] = byte(n)
		return b
	}
	s := protowire.SizeVarint(uint64(n))
	b = append(b, zeros[:s-1]...)
	copy(b[at+s:], b[at+1:at+1+n])
	protowire.AppendVarint(b[:at], uint64(n))
	return b
}

// appendKVHead writes the tag of a KeyValue field num, the KeyValue's
// length, its key and the tag and length of its AnyValue, whose vlen bytes
// the caller writes next.
func appendKVHead(b []byte, num protowire.Number, key string, vlen int) []byte {
	kv := 1 + protowire.SizeBytes(len(key)) + 1 + protowire.SizeBytes(vlen)
	b = append(b, tagLen(num))
	b = protowire.AppendVarint(b, uint64(kv))
	b = append(b, tagLen(fKVKey))
	b = protowire.AppendString(b, key)
	b = append(b, tagLen(fKVValue))
	return protowire.AppendVarint(b, uint64(vlen))
}

func appendStrKV(b []byte, num protowire.Number, key, v string) []byte {
	b = appendKVHead(b, num, key, 1+protowire.SizeBytes(len(v)))
	b = append(b, tagLen(fAnyStr))
	return protowire.AppendString(b, v)
}

func appendIntKV(b []byte, num protowire.Number, key string, v int64) []byte {
	b = appendKVHead(b, num, key, 1+protowire.SizeVarint(uint64(v)))
	b = append(b, tagVarint(fAnyInt))
	return protowire.AppendVarint(b, uint64(v))
}

func appendBoolKV(b []byte, num protowire.Number, key string, v bool) []byte {
	b = appendKVHead(b, num, key, 2)
	return append(b, tagVarint(fAnyBool), byte(protowire.EncodeBool(v)))
}

// appendListKV writes an array of strings (an empty array, not an absent
// value, when vs is empty: pdata's PutEmptySlice).
func appendListKV(b []byte, num protowire.Number, key string, vs []string) []byte {
	arr := 0
	for _, s := range vs {
		arr += 1 + protowire.SizeBytes(1+protowire.SizeBytes(len(s)))
	}
	b = appendKVHead(b, num, key, 1+protowire.SizeBytes(arr))
	b = append(b, tagLen(fAnyArray))
	b = protowire.AppendVarint(b, uint64(arr))
	for _, s := range vs {
		b = append(b, tagLen(fArrayValues))
		b = protowire.AppendVarint(b, uint64(1+protowire.SizeBytes(len(s))))
		b = append(b, tagLen(fAnyStr))
		b = protowire.AppendString(b, s)
	}
	return b
}

// wireScratch is the per-call state of appendProto (the Encoder is shared
// by the sink's goroutines).
type wireScratch struct {
	key, last []byte
	strs      []string
}

var scratchPool = sync.Pool{New: func() any { return new(wireScratch) }}

// appendProto is AppendEvents for Proto: the same records, resources and
// limits as Logs, written directly.
func (e *Encoder) appendProto(dst []byte, evs []*sysflow.Event) ([]byte, int) {
	sc := scratchPool.Get().(*wireScratch)
	defer scratchPool.Put(sc)
	start := len(dst)
	now := uint64(e.opts.Now().UnixNano())
	rl, sl := -1, -1
	n := 0
	for _, ev := range evs {
		if n == e.opts.MaxRecords || (n > 0 && len(dst)-start >= e.opts.MaxBytes) {
			break
		}
		sc.key = e.resourceKey(sc.key[:0], ev)
		if n == 0 || string(sc.key) != string(sc.last) {
			if n > 0 {
				dst = closeLen(dst, sl)
				dst = closeLen(dst, rl)
			}
			dst, rl = openLen(dst, fLogsDataResourceLogs)
			var res int
			dst, res = openLen(dst, fResourceLogsResource)
			dst = e.appendResource(dst, ev, sc)
			dst = closeLen(dst, res)
			dst, sl = openLen(dst, fResourceLogsScopeLogs)
			scope := 1 + protowire.SizeBytes(len(ScopeName))
			if e.opts.Version != "" {
				scope += 1 + protowire.SizeBytes(len(e.opts.Version))
			}
			dst = append(dst, tagLen(fScopeLogsScope))
			dst = protowire.AppendVarint(dst, uint64(scope))
			dst = append(dst, tagLen(fScopeName))
			dst = protowire.AppendString(dst, ScopeName)
			if e.opts.Version != "" {
				dst = append(dst, tagLen(fScopeVersion))
				dst = protowire.AppendString(dst, e.opts.Version)
			}
			sc.key, sc.last = sc.last, sc.key
		}
		var r int
		dst, r = openLen(dst, fScopeLogsLogRecords)
		dst = e.appendRecord(dst, ev, now, sc)
		dst = closeLen(dst, r)
		n++
	}
	if n > 0 {
		dst = closeLen(dst, sl)
		dst = closeLen(dst, rl)
	}
	clear(sc.strs)
	return dst, n
}

func (e *Encoder) appendResource(b []byte, ev *sysflow.Event, sc *wireScratch) []byte {
	b = appendStrKV(b, fResourceAttributes, "service.name", "sfconnector")
	for _, s := range e.semconv {
		v := s.get(ev)
		if v == "" {
			continue
		}
		if s.slice {
			sc.strs = append(sc.strs[:0], v)
			b = appendListKV(b, fResourceAttributes, s.name, sc.strs)
		} else {
			b = appendStrKV(b, fResourceAttributes, s.name, v)
		}
	}
	return appendFields(b, fResourceAttributes, e.resource, ev, sc)
}

// appendFields is putFields for the wire: the non-zero fields, and the
// anchors of present sections. The fields come sorted by name, so a
// section's presence is asked once per run of its fields.
func appendFields(b []byte, num protowire.Number, fields []attrField, ev *sysflow.Event, sc *wireScratch) []byte {
	sec, present := "", false
	for i := range fields {
		af := &fields[i]
		if s := af.section; s != sec {
			sec, present = s, avro.FlatSection(af.name, ev)
		}
		if !present {
			continue
		}
		f := af.f
		switch f.Kind {
		case sysflow.FieldInt:
			if v := f.Int(ev); v != 0 || af.anchor {
				b = appendIntKV(b, num, af.name, v)
			}
		case sysflow.FieldStr:
			if v := f.Str(ev); v != "" || af.anchor {
				b = appendStrKV(b, num, af.name, v)
			}
		case sysflow.FieldBool:
			if v := f.Bool(ev); v || af.anchor {
				b = appendBoolKV(b, num, af.name, v)
			}
		case sysflow.FieldList:
			sc.strs = f.List(ev, sc.strs[:0])
			if len(sc.strs) > 0 || af.anchor {
				b = appendListKV(b, num, af.name, sc.strs)
			}
		}
	}
	return b
}

func (e *Encoder) appendRecord(b []byte, ev *sysflow.Event, now uint64, sc *wireScratch) []byte {
	if ev.TS != 0 {
		b = protowire.AppendTag(b, fRecordTime, protowire.Fixed64Type)
		b = protowire.AppendFixed64(b, uint64(ev.TS))
	}
	sev, text := Severity(ev)
	b = append(b, tagVarint(fRecordSeverity))
	b = protowire.AppendVarint(b, uint64(sev))
	b = append(b, tagLen(fRecordSeverityText))
	b = protowire.AppendString(b, text)

	var body, str int
	b, body = openLen(b, fRecordBody)
	b, str = openLen(b, fAnyStr)
	if len(ev.Matches) == 0 {
		b = appendSummary(b, ev, sc)
	} else {
		b = appendAlertSummary(b, ev)
	}
	b = closeLen(b, str)
	b = closeLen(b, body)

	b = appendFields(b, fRecordAttributes, e.record, ev, sc)
	if len(ev.Args) > 0 {
		b = appendListKV(b, fRecordAttributes, AttrArgs, ev.Args)
	}
	name := "sysflow.event"
	if len(ev.Matches) > 0 {
		name = "sysflow.alert"
		b = e.appendAlert(b, ev, sc)
	}
	if now != 0 {
		b = protowire.AppendTag(b, fRecordObserved, protowire.Fixed64Type)
		b = protowire.AppendFixed64(b, now)
	}
	b = protowire.AppendTag(b, fRecordEventName, protowire.BytesType)
	return protowire.AppendString(b, name)
}

// appendAlert writes the alert section as putRecord does: rules, matches
// (one map each), tags, priority.
func (e *Encoder) appendAlert(b []byte, ev *sysflow.Event, sc *wireScratch) []byte {
	sc.strs = sc.strs[:0]
	for i := range ev.Matches {
		sc.strs = append(sc.strs, ev.Matches[i].Rule)
	}
	b = appendListKV(b, fRecordAttributes, AttrAlertRules, sc.strs)

	var kv, av, arr int
	b, kv = openLen(b, fRecordAttributes)
	b = append(b, tagLen(fKVKey))
	b = protowire.AppendString(b, AttrAlertMatches)
	b, av = openLen(b, fKVValue)
	b, arr = openLen(b, fAnyArray)
	for i := range ev.Matches {
		mt := &ev.Matches[i]
		var elem, list int
		b, elem = openLen(b, fArrayValues)
		b, list = openLen(b, fAnyKVs)
		b = appendStrKV(b, fKVListValues, "rule", mt.Rule)
		if mt.Desc != "" {
			b = appendStrKV(b, fKVListValues, "desc", mt.Desc)
		}
		b = appendStrKV(b, fKVListValues, "priority", mt.Priority.String())
		if len(mt.Tags) > 0 {
			b = appendListKV(b, fKVListValues, "tags", mt.Tags)
		}
		if mt.Output != "" {
			b = appendStrKV(b, fKVListValues, "output", mt.Output)
		}
		b = closeLen(b, list)
		b = closeLen(b, elem)
	}
	b = closeLen(b, arr)
	b = closeLen(b, av)
	b = closeLen(b, kv)

	if len(ev.Tags) > 0 {
		b = appendListKV(b, fRecordAttributes, AttrAlertTags, ev.Tags)
	}
	return appendStrKV(b, fRecordAttributes, AttrAlertPriority, ev.MaxPriority().String())
}

// appendSummary writes summary's text.
func appendSummary(b []byte, ev *sysflow.Event, sc *wireScratch) []byte {
	b = append(b, ev.Kind.TypeName()...)
	sc.strs = opflagsField().List(ev, sc.strs[:0])
	for i, op := range sc.strs {
		if i == 0 {
			b = append(b, ' ')
		} else {
			b = append(b, '|')
		}
		b = append(b, op...)
	}
	if c := strings.TrimSpace(cmdlineField().Str(ev)); c != "" {
		b = append(b, ' ')
		b = append(b, c...)
	}
	if p := filePathField().Str(ev); p != "" {
		b = append(b, ' ')
		b = append(b, p...)
	}
	return b
}

// appendAlertSummary writes alertSummary's text.
func appendAlertSummary(b []byte, ev *sysflow.Event) []byte {
	b = append(b, ev.MaxPriority().String()...)
	b = append(b, ": "...)
	for i := range ev.Matches {
		if i > 0 {
			b = append(b, "; "...)
		}
		if ev.Matches[i].Output != "" {
			b = append(b, ev.Matches[i].Output...)
		} else {
			b = append(b, ev.Matches[i].Rule...)
		}
	}
	return b
}
