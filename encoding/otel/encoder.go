package otel

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/sfconnector/sfconnector/encoding/avro"
	"github.com/sfconnector/sfconnector/sysflow"
)

// ScopeName is the instrumentation scope of every record written.
const ScopeName = "sfconnector"

// Attribute names of the alert section (not policy fields).
const (
	AttrAlertRules    = "sf.alert.rules"    // list: the matched rules' names
	AttrAlertMatches  = "sf.alert.matches"  // list of maps, one per match
	AttrAlertTags     = "sf.alert.tags"     // list: merged tags
	AttrAlertPriority = "sf.alert.priority" // str: highest priority
	AttrArgs          = "sf.args"           // list: the process event's arguments
)

// Wire encodings.
const (
	Proto = "proto"
	JSON  = "json"
)

// Options configure the Encoder.
type Options struct {
	// Encoding is Proto (OTLP protobuf, default) or JSON (OTLP/JSON).
	Encoding string
	// Version is the instrumentation scope's version (the build's).
	Version string
	// MaxRecords bounds the records of one message; default 256.
	MaxRecords int
	// MaxBytes is the size after which a message takes no more records;
	// default 512 KiB, half of Kafka's and NATS's default message limit,
	// since the record that crosses it is still added.
	MaxBytes int
	// Now gives the observed timestamp; default time.Now.
	Now func() time.Time
}

func (o *Options) setDefaults() {
	if o.Encoding == "" {
		o.Encoding = Proto
	}
	if o.MaxRecords <= 0 {
		o.MaxRecords = 256
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = 512 << 10
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Validate checks the options.
func (o *Options) Validate() error {
	if o.Encoding != Proto && o.Encoding != JSON {
		return fmt.Errorf("otel: encoding %q is not proto or json", o.Encoding)
	}
	return nil
}

// Encoder writes events as LogsData. It is safe for concurrent use.
type Encoder struct {
	opts     Options
	record   []attrField // per-record sf.* fields
	resource []attrField // sf.* fields shared by a resource
	semconv  []semField  // OpenTelemetry resource attributes
	sizer    plog.ProtoMarshaler
}

type attrField struct {
	name    string
	f       *sysflow.Field
	anchor  bool   // written even when zero, when its section is present
	section string // the name's part after sf. up to the next dot
}

type semField struct {
	name  string
	get   func(*sysflow.Event) string
	slice bool // a one-element string array (host.ip, container.image.tags)
}

// resourcePrefixes are the sections every record of a resource shares.
var resourcePrefixes = []string{"sf.node.", "sf.meta.", "sf.container.", "sf.pod."}

// anchors is the field written for a present section whose fields are all
// zero, so that the section reads back present (avro.FlatSection).
var anchors = map[string]bool{"sf.proc.pid": true, "sf.pproc.pid": true, "sf.file.fd": true,
	"sf.container.type": true, "sf.pod.id": true, "sf.ke.action": true}

var fieldLists = sync.OnceValues(func() (record, resource []attrField) {
	for _, name := range sysflow.FieldNames() {
		f, ok := sysflow.LookupField(name)
		if !ok || !strings.HasPrefix(name, "sf.") || f.Name != name {
			continue
		}
		sec, _, _ := strings.Cut(strings.TrimPrefix(name, "sf."), ".")
		af := attrField{name: name, f: f, anchor: anchors[name], section: sec}
		shared := false
		for _, p := range resourcePrefixes {
			shared = shared || strings.HasPrefix(name, p)
		}
		if shared {
			resource = append(resource, af)
		} else {
			record = append(record, af)
		}
	}
	return record, resource
})

func strOf(name string) func(*sysflow.Event) string {
	f, ok := sysflow.LookupField(name)
	if !ok || f.Kind != sysflow.FieldStr {
		panic("otel: " + name + " is not a str field") // a bug, caught by every test
	}
	return f.Str
}

func semconv() []semField {
	ctype := strOf("sf.container.type")
	return []semField{
		{name: "host.name", get: strOf("sf.node.id")},
		{name: "host.ip", get: strOf("sf.node.ip"), slice: true},
		{name: "container.id", get: strOf("sf.container.id")},
		{name: "container.name", get: strOf("sf.container.name")},
		{name: "container.image.name", get: strOf("container.image.repository")},
		{name: "container.image.tags", get: strOf("container.image.tag"), slice: true},
		{name: "container.image.id", get: strOf("sf.container.imageid")},
		{name: "container.runtime", get: func(e *sysflow.Event) string {
			if t := ctype(e); t != "host" {
				return strings.ToLower(t)
			}
			return ""
		}},
		{name: "k8s.pod.uid", get: strOf("sf.pod.id")},
		{name: "k8s.pod.name", get: strOf("sf.pod.name")},
		{name: "k8s.namespace.name", get: strOf("sf.pod.namespace")},
		{name: "k8s.node.name", get: strOf("sf.pod.nodename")},
	}
}

// New returns an encoder.
func New(opts Options) (*Encoder, error) {
	opts.setDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	e := &Encoder{opts: opts, semconv: semconv()}
	e.record, e.resource = fieldLists()
	return e, nil
}

// MaxRecords is the most records the encoder puts in one message.
func (e *Encoder) MaxRecords() int { return e.opts.MaxRecords }

// AppendEvent appends a LogsData holding ev alone.
func (e *Encoder) AppendEvent(dst []byte, ev *sysflow.Event) ([]byte, error) {
	out, _, err := e.AppendEvents(dst, []*sysflow.Event{ev})
	return out, err
}

// AppendEvents appends one LogsData holding the first n events of evs (at
// least one, at most MaxRecords, and no more once the message reached
// about MaxBytes), in order, and returns n.
func (e *Encoder) AppendEvents(dst []byte, evs []*sysflow.Event) ([]byte, int, error) {
	if len(evs) == 0 {
		return dst, 0, errors.New("otel: no events")
	}
	if e.opts.Encoding == Proto {
		out, n := e.appendProto(dst, evs)
		return out, n, nil
	}
	ld, n := e.Logs(evs)
	b, err := (&plog.JSONMarshaler{}).MarshalLogs(ld)
	if err != nil {
		return dst, 0, fmt.Errorf("otel: %w", err)
	}
	return append(dst, b...), n, nil
}

// Logs builds the LogsData of the first n events of evs, as AppendEvents
// writes it (OTLP/JSON is marshalled from it; protobuf is written directly,
// with the same content, by appendProto). Records keep the order of evs: a run of events of one
// resource (host, container, pod) shares one ResourceLogs, and a new one
// starts where the resource changes. The bus sinks hand over the events of
// one message key ({node}:{container} by default) at a time, so a message
// usually holds one resource.
func (e *Encoder) Logs(evs []*sysflow.Event) (plog.Logs, int) {
	ld := plog.NewLogs()
	now := pcommon.NewTimestampFromTime(e.opts.Now())
	var records plog.LogRecordSlice
	var key, last []byte
	var scratch []string
	size, n := 0, 0
	for _, ev := range evs {
		if n == e.opts.MaxRecords || (n > 0 && size >= e.opts.MaxBytes) {
			break
		}
		key = e.resourceKey(key[:0], ev)
		if n == 0 || string(key) != string(last) {
			rl := ld.ResourceLogs().AppendEmpty()
			scratch = e.putResource(rl.Resource().Attributes(), ev, scratch)
			sl := rl.ScopeLogs().AppendEmpty()
			sl.Scope().SetName(ScopeName)
			sl.Scope().SetVersion(e.opts.Version)
			records = sl.LogRecords()
			size += e.sizer.ResourceLogsSize(rl)
			key, last = last, key
		}
		lr := records.AppendEmpty()
		scratch = e.putRecord(lr, ev, now, scratch)
		size += e.sizer.LogRecordSize(lr) + 4 // the record's tag and length
		n++
	}
	return ld, n
}

// resourceKey identifies the resource of ev: the values of its shared
// fields.
func (e *Encoder) resourceKey(dst []byte, ev *sysflow.Event) []byte {
	for i := range e.resource {
		f := e.resource[i].f
		switch f.Kind {
		case sysflow.FieldInt:
			dst = sysflow.AppendInt(dst, f.Int(ev))
		case sysflow.FieldStr:
			dst = append(dst, f.Str(ev)...)
		case sysflow.FieldBool:
			if f.Bool(ev) {
				dst = append(dst, '1')
			}
		default:
			dst = append(dst, f.Text(ev)...)
		}
		dst = append(dst, 0)
	}
	if avro.FlatSection("sf.container.type", ev) {
		dst = append(dst, 'c')
	}
	if ev.Pod != nil {
		dst = append(dst, 'p')
	}
	return dst
}

func (e *Encoder) putResource(m pcommon.Map, ev *sysflow.Event, scratch []string) []string {
	m.PutStr("service.name", "sfconnector")
	for _, s := range e.semconv {
		v := s.get(ev)
		if v == "" {
			continue
		}
		if s.slice {
			m.PutEmptySlice(s.name).AppendEmpty().SetStr(v)
		} else {
			m.PutStr(s.name, v)
		}
	}
	return putFields(m, e.resource, ev, scratch)
}

// putFields writes the non-zero fields, and the anchors of present
// sections.
func putFields(m pcommon.Map, fields []attrField, ev *sysflow.Event, scratch []string) []string {
	for i := range fields {
		af := &fields[i]
		if !avro.FlatSection(af.name, ev) {
			continue
		}
		f := af.f
		switch f.Kind {
		case sysflow.FieldInt:
			if v := f.Int(ev); v != 0 || af.anchor {
				m.PutInt(af.name, v)
			}
		case sysflow.FieldStr:
			if v := f.Str(ev); v != "" || af.anchor {
				m.PutStr(af.name, v)
			}
		case sysflow.FieldBool:
			if v := f.Bool(ev); v || af.anchor {
				m.PutBool(af.name, v)
			}
		case sysflow.FieldList:
			scratch = f.List(ev, scratch[:0])
			if len(scratch) > 0 || af.anchor {
				putStrings(m.PutEmptySlice(af.name), scratch)
			}
		}
	}
	clear(scratch)
	return scratch
}

func putStrings(s pcommon.Slice, vs []string) {
	s.EnsureCapacity(len(vs))
	for _, v := range vs {
		s.AppendEmpty().SetStr(v)
	}
}

// Severity of a record: telemetry is INFO; an alert's is its highest
// priority's.
func Severity(ev *sysflow.Event) (plog.SeverityNumber, string) {
	if len(ev.Matches) == 0 {
		return plog.SeverityNumberInfo, "info"
	}
	p := ev.MaxPriority()
	switch p {
	case sysflow.PriorityHigh:
		return plog.SeverityNumberFatal, p.String()
	case sysflow.PriorityMedium:
		return plog.SeverityNumberError, p.String()
	}
	return plog.SeverityNumberWarn, p.String()
}

func (e *Encoder) putRecord(lr plog.LogRecord, ev *sysflow.Event, now pcommon.Timestamp, scratch []string) []string {
	lr.SetTimestamp(pcommon.Timestamp(ev.TS))
	lr.SetObservedTimestamp(now)
	sev, text := Severity(ev)
	lr.SetSeverityNumber(sev)
	lr.SetSeverityText(text)
	m := lr.Attributes()
	m.EnsureCapacity(len(e.record) + 4)
	scratch = putFields(m, e.record, ev, scratch)
	if len(ev.Args) > 0 {
		putStrings(m.PutEmptySlice(AttrArgs), ev.Args)
	}
	if len(ev.Matches) == 0 {
		lr.SetEventName("sysflow.event")
		lr.Body().SetStr(summary(ev, scratch))
		return scratch
	}
	lr.SetEventName("sysflow.alert")
	rules := m.PutEmptySlice(AttrAlertRules)
	matches := m.PutEmptySlice(AttrAlertMatches)
	rules.EnsureCapacity(len(ev.Matches))
	matches.EnsureCapacity(len(ev.Matches))
	for i := range ev.Matches {
		mt := &ev.Matches[i]
		rules.AppendEmpty().SetStr(mt.Rule)
		mm := matches.AppendEmpty().SetEmptyMap()
		mm.PutStr("rule", mt.Rule)
		if mt.Desc != "" {
			mm.PutStr("desc", mt.Desc)
		}
		mm.PutStr("priority", mt.Priority.String())
		if len(mt.Tags) > 0 {
			putStrings(mm.PutEmptySlice("tags"), mt.Tags)
		}
		if mt.Output != "" {
			mm.PutStr("output", mt.Output)
		}
	}
	if len(ev.Tags) > 0 {
		putStrings(m.PutEmptySlice(AttrAlertTags), ev.Tags)
	}
	m.PutStr(AttrAlertPriority, ev.MaxPriority().String())
	lr.Body().SetStr(alertSummary(ev))
	return scratch
}

var (
	opflagsField  = sync.OnceValue(func() *sysflow.Field { f, _ := sysflow.LookupField("sf.opflags"); return f })
	cmdlineField  = sync.OnceValue(func() *sysflow.Field { f, _ := sysflow.LookupField("sf.proc.cmdline"); return f })
	filePathField = sync.OnceValue(func() *sysflow.Field { f, _ := sysflow.LookupField("sf.file.path"); return f })
)

// summary is the Body of a telemetry record: type, operations, command
// line and the file or connection, for a person reading a log view.
func summary(ev *sysflow.Event, scratch []string) string {
	var b strings.Builder
	b.WriteString(ev.Kind.TypeName())
	ops := opflagsField().List(ev, scratch[:0])
	if len(ops) > 0 {
		b.WriteByte(' ')
		b.WriteString(strings.Join(ops, "|"))
	}
	clear(ops)
	if c := cmdlineField().Str(ev); strings.TrimSpace(c) != "" {
		b.WriteByte(' ')
		b.WriteString(strings.TrimSpace(c))
	}
	if p := filePathField().Str(ev); p != "" {
		b.WriteByte(' ')
		b.WriteString(p)
	}
	return b.String()
}

// alertSummary is the Body of an alert: its priority and every rule's
// output, or name when it has none.
func alertSummary(ev *sysflow.Event) string {
	var b strings.Builder
	b.WriteString(ev.MaxPriority().String())
	b.WriteString(": ")
	for i := range ev.Matches {
		if i > 0 {
			b.WriteString("; ")
		}
		if ev.Matches[i].Output != "" {
			b.WriteString(ev.Matches[i].Output)
		} else {
			b.WriteString(ev.Matches[i].Rule)
		}
	}
	return b.String()
}
