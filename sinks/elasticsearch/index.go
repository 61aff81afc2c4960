package elasticsearch

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// IndexPattern is a parsed es.index: literal text and date fields filled
// from an event's time, so an event lands in the index of the day it
// happened, not of the day it was written (a replayed trace, a retry after
// midnight).
type IndexPattern struct {
	parts []indexPart
	dated bool
}

type indexPart struct {
	lit  string
	verb byte // 0 for literal text, else Y, m, d or H
}

// ParseIndexPattern parses an index name pattern: %Y (4-digit year), %m,
// %d, %H (2-digit month, day, hour, UTC), %% (a percent sign); the rest is
// literal. The literal text must already be a valid index name part:
// lower case, none of \ / * ? " < > | , # : or spaces, not starting with -,
// _ or +.
func ParseIndexPattern(p string) (IndexPattern, error) {
	if p == "" {
		return IndexPattern{}, errors.New("empty index name")
	}
	var ip IndexPattern
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			ip.parts = append(ip.parts, indexPart{lit: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c != '%' {
			lit.WriteByte(c)
			continue
		}
		if i+1 == len(p) {
			return IndexPattern{}, fmt.Errorf("%q: a lone %% at the end (want %%Y, %%m, %%d, %%H or %%%%)", p)
		}
		i++
		switch v := p[i]; v {
		case '%':
			lit.WriteByte('%')
		case 'Y', 'm', 'd', 'H':
			flush()
			ip.parts = append(ip.parts, indexPart{verb: v})
			ip.dated = true
		default:
			return IndexPattern{}, fmt.Errorf("%q: unknown %%%c (want %%Y, %%m, %%d, %%H or %%%%)", p, v)
		}
	}
	flush()
	// a date field expands to digits, a valid part anywhere but first,
	// where the worst case (digits) is also valid: check with a sample
	if err := ValidIndexName(ip.Expand(0)); err != nil {
		return IndexPattern{}, fmt.Errorf("%q: %w", p, err)
	}
	return ip, nil
}

// Dated reports whether the pattern has date fields.
func (ip IndexPattern) Dated() bool { return ip.dated }

// Expand returns the index name for an event at ts (ns since the epoch).
func (ip IndexPattern) Expand(ts int64) string {
	return string(ip.Append(nil, ts))
}

// Append appends the index name for an event at ts to dst.
func (ip IndexPattern) Append(dst []byte, ts int64) []byte {
	var t time.Time
	if ip.dated {
		t = time.Unix(0, ts).UTC()
	}
	for _, p := range ip.parts {
		switch p.verb {
		case 0:
			dst = append(dst, p.lit...)
		case 'Y':
			dst = appendPadded(dst, t.Year(), 4)
		case 'm':
			dst = appendPadded(dst, int(t.Month()), 2)
		case 'd':
			dst = appendPadded(dst, t.Day(), 2)
		case 'H':
			dst = appendPadded(dst, t.Hour(), 2)
		}
	}
	return dst
}

func appendPadded(dst []byte, n, width int) []byte {
	if n < 0 {
		n = 0 // years before 0 cannot come from an int64 of nanoseconds
	}
	s := strconv.Itoa(n)
	for i := len(s); i < width; i++ {
		dst = append(dst, '0')
	}
	return append(dst, s...)
}

// ValidIndexName checks the rules Elasticsearch applies to index names.
func ValidIndexName(name string) error {
	switch {
	case name == "" || name == "." || name == "..":
		return fmt.Errorf("index name %q is not allowed", name)
	case len(name) > 255:
		return fmt.Errorf("index name longer than 255 bytes")
	case strings.ContainsAny(name[:1], "-_+"):
		return fmt.Errorf("index name %q starts with %q", name, name[:1])
	}
	for _, r := range name {
		if r >= 'A' && r <= 'Z' {
			return fmt.Errorf("index name %q has upper case letters", name)
		}
		if strings.ContainsRune("\\/*?\"<>|,#: \t\r\n", r) {
			return fmt.Errorf("index name %q contains %q", name, r)
		}
	}
	return nil
}
