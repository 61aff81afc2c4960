package ecs

import (
	"strconv"
	"time"

	"github.com/sfconnector/sfconnector/sysflow"
)

// The document is appended by hand rather than through encoding/json: it
// is written once per event at the sink, and building maps for
// encoding/json cost several allocations per field.

// key appends a member name, preceded by a comma unless it is the first
// member of its object (the previous byte opened the object).
func key(b []byte, k string) []byte {
	b = sep(b)
	b = append(b, '"')
	b = append(b, k...)
	return append(b, '"', ':')
}

// sep appends the comma between members or elements.
func sep(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] != '{' && b[n-1] != '[' {
		b = append(b, ',')
	}
	return b
}

func strField(b []byte, k, v string) []byte { return appendString(key(b, k), v) }

func intField(b []byte, k string, v int64) []byte { return strconv.AppendInt(key(b, k), v, 10) }

func boolField(b []byte, k string, v bool) []byte { return strconv.AppendBool(key(b, k), v) }

// timeField writes nanoseconds since the epoch as RFC 3339 in UTC with all
// nine fraction digits (Elasticsearch's date_nanos keeps them, date keeps
// the milliseconds).
func timeField(b []byte, k string, ns int64) []byte {
	b = append(key(b, k), '"')
	b = time.Unix(0, ns).UTC().AppendFormat(b, "2006-01-02T15:04:05.000000000Z")
	return append(b, '"')
}

func stringsField(b []byte, k string, vs []string) []byte {
	b = append(key(b, k), '[')
	for _, v := range vs {
		b = appendString(sep(b), v)
	}
	return append(b, ']')
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD, so
// the output is always valid JSON whatever the collector recorded.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	b = appendEscaped(b, s)
	return append(b, '"')
}

// appendEscaped appends the escaped content of a JSON string, without
// quotes: the project's one JSON string escaper.
func appendEscaped(b []byte, s string) []byte { return sysflow.AppendJSONEscaped(b, s) }
