package sysflow

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// JSON path suffixes on json-valued fields: sf.ke.message[items.0.namespace],
// sf.pod.services[0.clusterip.0]. The syntax is the dotted path of the
// reference's JSON library (gjson) for plain paths: components separated by
// dots, a backslash escapes the next character, a number indexes an array.
// Wildcards and queries are not supported. Object keys match without regard
// to case, so the documented sf.pod.services[0.clusterip.0] finds the
// clusterIP key. The result reads like gjson's String(): a string's text, a
// number's or literal's text, the raw JSON of an object or array, and ""
// when the path does not resolve or the text is not JSON.

// splitJSONPath splits a path into its components.
func splitJSONPath(path string) []string {
	var parts []string
	var cur strings.Builder
	for i := 0; i < len(path); i++ {
		switch c := path[i]; c {
		case '\\':
			if i+1 < len(path) {
				i++
				cur.WriteByte(path[i])
			}
		case '.':
			parts = append(parts, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(c)
		}
	}
	return append(parts, cur.String())
}

// jsonPathValue evaluates the path components over the JSON text doc.
func jsonPathValue(doc string, parts []string) string {
	i := jsonSkipWS(doc, 0)
	for _, part := range parts {
		if i >= len(doc) {
			return ""
		}
		switch doc[i] {
		case '{':
			i = jsonObjectMember(doc, i, part)
		case '[':
			n, err := strconv.Atoi(part)
			if err != nil || n < 0 {
				return ""
			}
			i = jsonArrayElement(doc, i, n)
		default:
			return ""
		}
		if i < 0 {
			return ""
		}
	}
	if i >= len(doc) {
		return ""
	}
	end := jsonSkipValue(doc, i)
	if end < 0 {
		return ""
	}
	raw := doc[i:end]
	switch raw[0] {
	case '"':
		s, ok := jsonUnquote(raw)
		if !ok {
			return ""
		}
		return s
	case 'n':
		return ""
	}
	return raw
}

// jsonObjectMember returns the offset of the value of key in the object at
// doc[i], or -1. A key given twice means its last value, as in
// encoding/json.
func jsonObjectMember(doc string, i int, key string) int {
	i = jsonSkipWS(doc, i+1)
	if i < len(doc) && doc[i] == '}' {
		return -1
	}
	found := -1
	for i < len(doc) {
		if doc[i] != '"' {
			return -1
		}
		end := jsonSkipString(doc, i)
		if end < 0 {
			return -1
		}
		name, ok := jsonUnquote(doc[i:end])
		if !ok {
			return -1
		}
		i = jsonSkipWS(doc, end)
		if i >= len(doc) || doc[i] != ':' {
			return -1
		}
		i = jsonSkipWS(doc, i+1)
		if strings.EqualFold(name, key) {
			found = i
		}
		i = jsonSkipValue(doc, i)
		if i < 0 {
			return -1
		}
		i = jsonSkipWS(doc, i)
		if i < len(doc) && doc[i] == '}' {
			return found
		}
		if i >= len(doc) || doc[i] != ',' {
			return -1
		}
		i = jsonSkipWS(doc, i+1)
	}
	return -1
}

// jsonArrayElement returns the offset of element n of the array at doc[i], or -1.
func jsonArrayElement(doc string, i, n int) int {
	i = jsonSkipWS(doc, i+1)
	if i < len(doc) && doc[i] == ']' {
		return -1
	}
	for k := 0; i < len(doc); k++ {
		if k == n {
			return i
		}
		i = jsonSkipValue(doc, i)
		if i < 0 {
			return -1
		}
		i = jsonSkipWS(doc, i)
		if i >= len(doc) || doc[i] != ',' {
			return -1
		}
		i = jsonSkipWS(doc, i+1)
	}
	return -1
}

func jsonSkipWS(doc string, i int) int {
	for i < len(doc) && (doc[i] == ' ' || doc[i] == '\t' || doc[i] == '\n' || doc[i] == '\r') {
		i++
	}
	return i
}

// jsonSkipString returns the offset after the string starting at doc[i], or -1.
func jsonSkipString(doc string, i int) int {
	for i++; i < len(doc); i++ {
		switch doc[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return -1
}

// jsonSkipValue returns the offset after the value starting at doc[i], or -1.
// Nesting is bounded by the text's length; depth is tracked iteratively.
func jsonSkipValue(doc string, i int) int {
	if i >= len(doc) {
		return -1
	}
	switch doc[i] {
	case '"':
		return jsonSkipString(doc, i)
	case '{', '[':
		depth := 0
		for ; i < len(doc); i++ {
			switch doc[i] {
			case '"':
				end := jsonSkipString(doc, i)
				if end < 0 {
					return -1
				}
				i = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
		}
		return -1
	}
	start := i
	for i < len(doc) {
		c := doc[i]
		if c == ',' || c == '}' || c == ']' || c == ' ' || c == '\t' || c == '\n' || c == '\r' {
			break
		}
		i++
	}
	if i == start {
		return -1
	}
	return i
}

// jsonUnquote decodes a JSON string literal (with its quotes).
func jsonUnquote(s string) (string, bool) {
	if len(s) < 2 || s[0] != '"' || s[len(s)-1] != '"' {
		return "", false
	}
	s = s[1 : len(s)-1]
	if !strings.ContainsRune(s, '\\') && utf8.ValidString(s) {
		return s, true
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf {
			// invalid UTF-8 reads as U+FFFD, byte by byte, as encoding/json does
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				b = utf8.AppendRune(b, utf8.RuneError)
			} else {
				b = append(b, s[i:i+size]...)
			}
			i += size - 1
			continue
		}
		if c != '\\' {
			b = append(b, c)
			continue
		}
		i++
		if i >= len(s) {
			return "", false
		}
		switch s[i] {
		case '"', '\\', '/':
			b = append(b, s[i])
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case 'u':
			if i+4 >= len(s) {
				return "", false
			}
			r, err := strconv.ParseUint(s[i+1:i+5], 16, 32)
			if err != nil {
				return "", false
			}
			i += 4
			rr := rune(r)
			// A surrogate pair encodes one rune outside the BMP.
			if rr >= 0xd800 && rr < 0xdc00 && i+6 < len(s) && s[i+1] == '\\' && s[i+2] == 'u' {
				if lo, err := strconv.ParseUint(s[i+3:i+7], 16, 32); err == nil && lo >= 0xdc00 && lo < 0xe000 {
					rr = (rr-0xd800)<<10 + (rune(lo) - 0xdc00) + 0x10000
					i += 6
				}
			}
			b = utf8.AppendRune(b, rr)
		default:
			return "", false
		}
	}
	return string(b), true
}
