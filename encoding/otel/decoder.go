package otel

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/sfconnector/sfconnector/encoding/avro"
	"github.com/sfconnector/sfconnector/sysflow"
)

// Decoder reads LogsData messages, protobuf or OTLP/JSON (told apart by
// the first byte: a JSON message starts with '{', which no LogsData
// protobuf does), into events. It implements the bus sources' Decoder and
// is safe for concurrent use.
type Decoder struct {
	flat *avro.FlatBuilder
}

// NewDecoder returns a decoder.
func NewDecoder() *Decoder { return &Decoder{flat: avro.NewFlatBuilder()} }

// maxErrors bounds the record errors one message reports.
const maxErrors = 3

// Decode appends the events of every SysFlow log record of value to b.
// A record that is not one (no sf.type) or holds a malformed field is
// skipped and reported, by its position, in the error; the others are
// still appended.
func (d *Decoder) Decode(_ context.Context, value []byte, b *sysflow.Batch) error {
	if len(value) == 0 || value[0] != '{' {
		var malformed error
		err := d.decodeProto(value, b, &malformed)
		if malformed != nil {
			return fmt.Errorf("otel: not an OTLP LogsData message: %w", malformed)
		}
		return err
	}
	ld, err := (&plog.JSONUnmarshaler{}).UnmarshalLogs(value)
	if err != nil {
		return fmt.Errorf("otel: not an OTLP LogsData message: %w", err)
	}
	var errs []error
	bad := 0
	rls := ld.ResourceLogs()
	for i := range rls.Len() {
		rl := rls.At(i)
		sls := rl.ScopeLogs()
		for j := range sls.Len() {
			lrs := sls.At(j).LogRecords()
			for k := range lrs.Len() {
				ev, err := d.event(rl.Resource().Attributes(), lrs.At(k))
				if err != nil {
					if bad++; bad <= maxErrors {
						errs = append(errs, fmt.Errorf("resource %d, scope %d, record %d: %w", i, j, k, err))
					}
					continue
				}
				b.Events = append(b.Events, ev)
			}
		}
	}
	if bad > maxErrors {
		errs = append(errs, fmt.Errorf("and %d more records skipped", bad-maxErrors))
	}
	if len(errs) > 0 {
		return fmt.Errorf("otel: %w", errors.Join(errs...))
	}
	return nil
}

func (d *Decoder) event(res pcommon.Map, lr plog.LogRecord) (*sysflow.Event, error) {
	if _, ok := lr.Attributes().Get("sf.type"); !ok {
		if _, ok := res.Get("sf.type"); !ok {
			return nil, errors.New("no sf.type attribute: not a SysFlow log record")
		}
	}
	ff := d.flat.Start()
	if err := setAll(ff, res); err != nil {
		return nil, fmt.Errorf("resource %w", err)
	}
	if err := setAll(ff, lr.Attributes()); err != nil {
		return nil, err
	}
	ev, err := ff.Event()
	if err != nil {
		return nil, err
	}
	if v, ok := lr.Attributes().Get(AttrAlertMatches); ok {
		if ev.Matches, err = matches(v); err != nil {
			return nil, err
		}
	}
	if v, ok := lr.Attributes().Get(AttrAlertTags); ok {
		if ev.Tags, err = stringList(AttrAlertTags, v); err != nil {
			return nil, err
		}
	}
	return ev, nil
}

// setAll sets every sf.* policy field of m; other attributes (the semantic
// conventions' copies, the alert section, anything a later version adds)
// are not fields and are left alone.
func setAll(ff *avro.FlatFields, m pcommon.Map) error {
	var err error
	m.Range(func(k string, v pcommon.Value) bool {
		if strings.HasPrefix(k, "sf.") {
			err = set(ff, k, v)
		}
		return err == nil
	})
	return err
}

// set sets field k from v by v's type; the FlatFields setter reports a
// name that is not a field (ignored) and a value of the wrong kind.
func set(ff *avro.FlatFields, k string, v pcommon.Value) error {
	var err error
	switch v.Type() {
	case pcommon.ValueTypeInt:
		_, err = ff.SetInt(k, v.Int())
	case pcommon.ValueTypeStr:
		_, err = ff.SetStr(k, v.Str())
	case pcommon.ValueTypeBool:
		_, err = ff.SetBool(k, v.Bool())
	case pcommon.ValueTypeSlice:
		kind, known := avro.FlatFieldKind(k)
		if !known {
			return nil
		}
		if kind != sysflow.FieldList {
			return fmt.Errorf("attribute %s: want %s, got %s", k, kind, v.Type())
		}
		l, err := stringList(k, v)
		if err != nil {
			return err
		}
		_, err = ff.SetList(k, l)
		return err
	default:
		if kind, known := avro.FlatFieldKind(k); known {
			return fmt.Errorf("attribute %s: want %s, got %s", k, kind, v.Type())
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("attribute %s: %w", k, err)
	}
	return nil
}

func stringList(k string, v pcommon.Value) ([]string, error) {
	if v.Type() != pcommon.ValueTypeSlice {
		return nil, fmt.Errorf("attribute %s: want an array of strings, got %s", k, v.Type())
	}
	s := v.Slice()
	if s.Len() == 0 {
		return nil, nil
	}
	out := make([]string, s.Len())
	for i := range s.Len() {
		e := s.At(i)
		if e.Type() != pcommon.ValueTypeStr {
			return nil, fmt.Errorf("attribute %s[%d]: want a string, got %s", k, i, e.Type())
		}
		out[i] = e.Str()
	}
	return out, nil
}

func matches(v pcommon.Value) ([]sysflow.Match, error) {
	if v.Type() != pcommon.ValueTypeSlice {
		return nil, fmt.Errorf("attribute %s: want an array of maps, got %s", AttrAlertMatches, v.Type())
	}
	s := v.Slice()
	out := make([]sysflow.Match, 0, s.Len())
	for i := range s.Len() {
		e := s.At(i)
		if e.Type() != pcommon.ValueTypeMap {
			return nil, fmt.Errorf("attribute %s[%d]: want a map, got %s", AttrAlertMatches, i, e.Type())
		}
		m := e.Map()
		var mt sysflow.Match
		str := func(key string) (string, error) {
			x, ok := m.Get(key)
			if !ok {
				return "", nil
			}
			if x.Type() != pcommon.ValueTypeStr {
				return "", fmt.Errorf("attribute %s[%d].%s: want a string, got %s", AttrAlertMatches, i, key, x.Type())
			}
			return x.Str(), nil
		}
		var err error
		if mt.Rule, err = str("rule"); err != nil {
			return nil, err
		}
		if mt.Rule == "" {
			return nil, fmt.Errorf("attribute %s[%d]: no rule", AttrAlertMatches, i)
		}
		if mt.Desc, err = str("desc"); err != nil {
			return nil, err
		}
		if mt.Output, err = str("output"); err != nil {
			return nil, err
		}
		p, err := str("priority")
		if err != nil {
			return nil, err
		}
		switch p {
		case "", "low":
			mt.Priority = sysflow.PriorityLow
		case "medium":
			mt.Priority = sysflow.PriorityMedium
		case "high":
			mt.Priority = sysflow.PriorityHigh
		default:
			return nil, fmt.Errorf("attribute %s[%d].priority: %q is not low, medium or high", AttrAlertMatches, i, p)
		}
		if t, ok := m.Get("tags"); ok {
			if mt.Tags, err = stringList(fmt.Sprintf("%s[%d].tags", AttrAlertMatches, i), t); err != nil {
				return nil, err
			}
		}
		out = append(out, mt)
	}
	return out, nil
}
