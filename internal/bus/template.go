package bus

import (
	"fmt"
	"strings"

	"github.com/sfconnector/sfconnector/sysflow"
)

// A Template is a destination (Kafka topic, NATS subject) or message key
// with placeholders taken from each event:
//
//	{node}       the node (exporter) id of the event's header, "unknown" without one
//	{container}  the container id, "host" outside a container
//	{priority}   the highest priority of the event's matched rules: low, medium, high
//	{type}       the event type: PE, FE, FF, NF, NE, PF, KE
//	{rule}       the name of the first matched rule, "none" without matches
//
// Expanded values are made safe for the destination by the sanitizer the
// sink gives: characters a topic or subject token may not hold become '_'.
type Template struct {
	raw   string
	parts []part
}

type part struct {
	lit string
	ph  placeholder // 0 for a literal
}

type placeholder uint8

const (
	phNone placeholder = iota
	phNode
	phContainer
	phPriority
	phType
	phRule
)

var placeholders = map[string]placeholder{
	"node": phNode, "container": phContainer, "priority": phPriority, "type": phType, "rule": phRule,
}

// ParseTemplate parses s. An unknown placeholder or an unclosed brace is an
// error naming it.
func ParseTemplate(s string) (*Template, error) {
	t := &Template{raw: s}
	rest := s
	for rest != "" {
		i := strings.IndexByte(rest, '{')
		if i < 0 {
			t.parts = append(t.parts, part{lit: rest})
			break
		}
		if i > 0 {
			t.parts = append(t.parts, part{lit: rest[:i]})
		}
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			return nil, fmt.Errorf("template %q: unclosed '{' at offset %d", s, len(s)-len(rest)+i)
		}
		name := rest[i+1 : i+j]
		ph, ok := placeholders[name]
		if !ok {
			return nil, fmt.Errorf("template %q: unknown placeholder {%s} (known: {node} {container} {priority} {type} {rule})", s, name)
		}
		t.parts = append(t.parts, part{ph: ph})
		rest = rest[i+j+1:]
	}
	return t, nil
}

// MustTemplate is ParseTemplate for constants known to be valid.
func MustTemplate(s string) *Template {
	t, err := ParseTemplate(s)
	if err != nil {
		panic(err)
	}
	return t
}

// String returns the template as written.
func (t *Template) String() string { return t.raw }

// Static reports whether the template has no placeholders, and its text.
func (t *Template) Static() (string, bool) {
	for _, p := range t.parts {
		if p.ph != phNone {
			return "", false
		}
	}
	return t.raw, true
}

// Uses reports whether the template refers to the named placeholder.
func (t *Template) Uses(name string) bool {
	ph := placeholders[name]
	for _, p := range t.parts {
		if p.ph == ph && ph != phNone {
			return true
		}
	}
	return false
}

// Append appends the expansion for ev to dst. safe says which bytes of an
// expanded value may stay; others become '_'. A nil ev expands every
// placeholder to its empty-entity value.
func (t *Template) Append(dst []byte, ev *sysflow.Event, safe func(byte) bool) []byte {
	for _, p := range t.parts {
		if p.ph == phNone {
			dst = append(dst, p.lit...)
			continue
		}
		v := value(p.ph, ev)
		for i := 0; i < len(v); i++ {
			c := v[i]
			if safe != nil && !safe(c) {
				c = '_'
			}
			dst = append(dst, c)
		}
	}
	return dst
}

// Expand returns the expansion for ev as a string.
func (t *Template) Expand(ev *sysflow.Event, safe func(byte) bool) string {
	if s, ok := t.Static(); ok {
		return s
	}
	var buf [128]byte
	return string(t.Append(buf[:0], ev, safe))
}

func value(ph placeholder, ev *sysflow.Event) string {
	switch ph {
	case phNode:
		if ev != nil && ev.Header != nil && ev.Header.Exporter != "" {
			return ev.Header.Exporter
		}
		return "unknown"
	case phContainer:
		if ev != nil && ev.Container != nil && ev.Container.ID != "" {
			return ev.Container.ID
		}
		return "host"
	case phPriority:
		if ev == nil {
			return sysflow.PriorityLow.String()
		}
		return ev.MaxPriority().String()
	case phType:
		if ev == nil {
			return "unknown"
		}
		return TypeCode(ev.Kind)
	case phRule:
		if ev != nil && len(ev.Matches) > 0 {
			return ev.Matches[0].Rule
		}
		return "none"
	}
	return ""
}

// TypeCode is the sf.type code of a record kind (PE, FE, FF, NF, NE, PF, KE).
func TypeCode(k sysflow.RecordKind) string {
	if n := k.TypeName(); n != "" {
		return n
	}
	return "unknown"
}

// KafkaTopicSafe says which bytes a Kafka topic name may hold.
func KafkaTopicSafe(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
}

// SubjectTokenSafe says which bytes an expanded value inside one NATS
// subject token may hold: no separators or wildcards, no whitespace.
func SubjectTokenSafe(c byte) bool {
	return c > ' ' && c < 0x7f && c != '.' && c != '*' && c != '>'
}

// AnySafe keeps every byte (for message keys).
func AnySafe(byte) bool { return true }
