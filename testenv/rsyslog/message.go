package rsyslog

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Message is one parsed syslog message. Nil values ("-") are empty strings
// and a zero Timestamp.
type Message struct {
	Facility  int
	Severity  int
	Version   int // 1 for RFC 5424, 0 for RFC 3164
	Timestamp time.Time
	Hostname  string
	AppName   string // the TAG of an RFC 3164 message
	ProcID    string
	MsgID     string
	// StructuredData is the raw STRUCTURED-DATA text ("" when nil).
	StructuredData string
	BOM            bool   // MSG started with the UTF-8 byte order mark (removed from Msg)
	Msg            []byte // the message body, sharing the parsed line's memory
}

// Priority is Facility*8 + Severity, the number between < and >.
func (m *Message) Priority() int { return m.Facility*8 + m.Severity }

// Limits of RFC 5424, section 6.
const (
	maxHostname = 255
	maxAppName  = 48
	maxProcID   = 128
	maxMsgID    = 32
	maxSDName   = 32
)

// ParseRFC5424 parses one RFC 5424 message strictly: every header field
// must follow the ABNF of the RFC (lengths, printable US-ASCII, the
// timestamp's form, well-formed structured data). It never panics.
func ParseRFC5424(line []byte) (*Message, error) {
	p := parser{b: line}
	m := &Message{}
	if err := p.pri(m); err != nil {
		return nil, err
	}
	v, err := p.version()
	if err != nil {
		return nil, err
	}
	m.Version = v
	if err := p.sp("VERSION"); err != nil {
		return nil, err
	}
	ts, err := p.timestamp()
	if err != nil {
		return nil, err
	}
	m.Timestamp = ts
	fields := []struct {
		name string
		max  int
		dst  *string
	}{
		{"HOSTNAME", maxHostname, &m.Hostname},
		{"APP-NAME", maxAppName, &m.AppName},
		{"PROCID", maxProcID, &m.ProcID},
		{"MSGID", maxMsgID, &m.MsgID},
	}
	for _, f := range fields {
		if err := p.sp(f.name); err != nil {
			return nil, err
		}
		s, err := p.token(f.name, f.max)
		if err != nil {
			return nil, err
		}
		if s != "-" {
			*f.dst = s
		}
	}
	if err := p.sp("STRUCTURED-DATA"); err != nil {
		return nil, err
	}
	sd, err := p.structuredData()
	if err != nil {
		return nil, err
	}
	m.StructuredData = sd
	if p.i == len(p.b) {
		return m, nil
	}
	if err := p.sp("MSG"); err != nil {
		return nil, err
	}
	msg := p.b[p.i:]
	if bytes.HasPrefix(msg, bom) {
		m.BOM = true
		msg = msg[len(bom):]
	}
	m.Msg = msg
	return m, nil
}

var bom = []byte{0xEF, 0xBB, 0xBF}

var months = [...]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}

// ParseRFC3164 parses a BSD syslog message as RFC 3164 section 4.1 writes
// it: "<PRI>Mmm dd hh:mm:ss HOSTNAME TAG[PID]: MSG" (the [PID] is
// optional). The timestamp carries no year or zone: it is read in loc, in
// the year of now.
func ParseRFC3164(line []byte, now time.Time, loc *time.Location) (*Message, error) {
	p := parser{b: line}
	m := &Message{}
	if err := p.pri(m); err != nil {
		return nil, err
	}
	const stampLen = len("Jan _2 15:04:05")
	if len(p.b)-p.i < stampLen+1 {
		return nil, errors.New("rfc3164: TIMESTAMP: message too short")
	}
	stamp := string(p.b[p.i : p.i+stampLen])
	known := false
	for _, mo := range months {
		if stamp[:3] == mo {
			known = true
		}
	}
	if !known {
		return nil, fmt.Errorf("rfc3164: TIMESTAMP: unknown month %q", stamp[:3])
	}
	ts, err := time.ParseInLocation(time.Stamp, stamp, loc)
	if err != nil {
		return nil, fmt.Errorf("rfc3164: TIMESTAMP %q: %w", stamp, err)
	}
	m.Timestamp = ts.AddDate(now.In(loc).Year(), 0, 0)
	p.i += stampLen
	if err := p.sp("TIMESTAMP"); err != nil {
		return nil, err
	}
	host, err := p.token("HOSTNAME", maxHostname)
	if err != nil {
		return nil, err
	}
	m.Hostname = host
	if err := p.sp("HOSTNAME"); err != nil {
		return nil, err
	}
	// TAG: alphanumeric and a few punctuation characters, up to 32 of them,
	// ended by '[' (a PID follows) or ':'.
	start := p.i
	for p.i < len(p.b) && p.b[p.i] != '[' && p.b[p.i] != ':' {
		c := p.b[p.i]
		if c <= ' ' || c > '~' {
			return nil, fmt.Errorf("rfc3164: TAG: byte %#x at offset %d", c, p.i)
		}
		p.i++
	}
	if p.i == start || p.i-start > 32 {
		return nil, fmt.Errorf("rfc3164: TAG: length %d, want 1 to 32", p.i-start)
	}
	m.AppName = string(p.b[start:p.i])
	if p.i < len(p.b) && p.b[p.i] == '[' {
		end := bytes.IndexByte(p.b[p.i:], ']')
		if end < 2 {
			return nil, fmt.Errorf("rfc3164: PID: no closing ] after offset %d", p.i)
		}
		m.ProcID = string(p.b[p.i+1 : p.i+end])
		p.i += end + 1
	}
	if !bytes.HasPrefix(p.b[p.i:], []byte(": ")) {
		return nil, fmt.Errorf("rfc3164: want \": \" after TAG at offset %d", p.i)
	}
	m.Msg = p.b[p.i+2:]
	return m, nil
}

type parser struct {
	b []byte
	i int
}

func (p *parser) errorf(field, format string, args ...any) error {
	return fmt.Errorf("rfc5424: %s at offset %d: %s", field, p.i, fmt.Sprintf(format, args...))
}

func (p *parser) pri(m *Message) error {
	if p.i >= len(p.b) || p.b[p.i] != '<' {
		return p.errorf("PRI", "want '<'")
	}
	p.i++
	start := p.i
	for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
		p.i++
	}
	digits := p.b[start:p.i]
	if len(digits) == 0 || len(digits) > 3 || (len(digits) > 1 && digits[0] == '0') {
		return p.errorf("PRI", "want 1 to 3 digits without a leading zero, got %q", digits)
	}
	if p.i >= len(p.b) || p.b[p.i] != '>' {
		return p.errorf("PRI", "want '>'")
	}
	p.i++
	v, _ := strconv.Atoi(string(digits))
	if v > 191 {
		return p.errorf("PRI", "%d is above 191", v)
	}
	m.Facility, m.Severity = v/8, v%8
	return nil
}

func (p *parser) version() (int, error) {
	start := p.i
	for p.i < len(p.b) && p.i-start < 3 && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
		p.i++
	}
	d := p.b[start:p.i]
	if len(d) == 0 || d[0] == '0' {
		return 0, p.errorf("VERSION", "want a non-zero number")
	}
	v, _ := strconv.Atoi(string(d))
	return v, nil
}

func (p *parser) sp(after string) error {
	if p.i >= len(p.b) || p.b[p.i] != ' ' {
		return p.errorf(after, "want a space after it")
	}
	p.i++
	return nil
}

// token reads 1 to max printable US-ASCII characters (33..126).
func (p *parser) token(field string, max int) (string, error) {
	start := p.i
	for p.i < len(p.b) && p.b[p.i] != ' ' {
		if c := p.b[p.i]; c < 33 || c > 126 {
			return "", p.errorf(field, "byte %#x is not printable US-ASCII", c)
		}
		p.i++
	}
	n := p.i - start
	if n == 0 || n > max {
		return "", p.errorf(field, "length %d, want 1 to %d", n, max)
	}
	return string(p.b[start:p.i]), nil
}

// timestamp reads NILVALUE or FULL-DATE "T" FULL-TIME: four-digit year,
// two-digit fields, at most six fraction digits, "Z" or a +hh:mm offset.
func (p *parser) timestamp() (time.Time, error) {
	end := bytes.IndexByte(p.b[p.i:], ' ')
	if end < 0 {
		return time.Time{}, p.errorf("TIMESTAMP", "no space after it")
	}
	s := p.b[p.i : p.i+end]
	if string(s) == "-" {
		p.i += end
		return time.Time{}, nil
	}
	const shape = "dddd-dd-ddTdd:dd:dd"
	if len(s) < len(shape)+1 {
		return time.Time{}, p.errorf("TIMESTAMP", "%q is too short", s)
	}
	for k := 0; k < len(shape); k++ {
		c := s[k]
		if (shape[k] == 'd' && (c < '0' || c > '9')) || (shape[k] != 'd' && c != shape[k]) {
			return time.Time{}, p.errorf("TIMESTAMP", "%q does not match YYYY-MM-DDThh:mm:ss", s)
		}
	}
	rest := s[len(shape):]
	if rest[0] == '.' {
		n := 1
		for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
			n++
		}
		if n == 1 || n > 7 {
			return time.Time{}, p.errorf("TIMESTAMP", "%q: want 1 to 6 fraction digits", s)
		}
		rest = rest[n:]
	}
	switch {
	case string(rest) == "Z":
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':' &&
		isDigits(rest[1:3]) && isDigits(rest[4:6]):
	default:
		return time.Time{}, p.errorf("TIMESTAMP", "%q: want Z or +hh:mm after the time", s)
	}
	t, err := time.Parse(time.RFC3339Nano, string(s))
	if err != nil {
		return time.Time{}, p.errorf("TIMESTAMP", "%v", err)
	}
	p.i += end
	return t, nil
}

func isDigits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// structuredData reads NILVALUE or one or more SD-ELEMENTs and returns
// their raw text.
func (p *parser) structuredData() (string, error) {
	if p.i < len(p.b) && p.b[p.i] == '-' {
		p.i++
		if p.i < len(p.b) && p.b[p.i] != ' ' {
			return "", p.errorf("STRUCTURED-DATA", "want a space after '-'")
		}
		return "", nil
	}
	start := p.i
	if p.i >= len(p.b) || p.b[p.i] != '[' {
		return "", p.errorf("STRUCTURED-DATA", "want '-' or '['")
	}
	for p.i < len(p.b) && p.b[p.i] == '[' {
		p.i++
		if _, err := p.sdName("SD-ID"); err != nil {
			return "", err
		}
		for p.i < len(p.b) && p.b[p.i] == ' ' {
			p.i++
			if _, err := p.sdName("PARAM-NAME"); err != nil {
				return "", err
			}
			if p.i+1 >= len(p.b) || p.b[p.i] != '=' || p.b[p.i+1] != '"' {
				return "", p.errorf("SD-PARAM", "want =\"")
			}
			p.i += 2
			closed := false
			for p.i < len(p.b) {
				c := p.b[p.i]
				if c == '\\' && p.i+1 < len(p.b) {
					p.i += 2
					continue
				}
				p.i++
				if c == '"' {
					closed = true
					break
				}
			}
			if !closed {
				return "", p.errorf("PARAM-VALUE", "no closing quote")
			}
		}
		if p.i >= len(p.b) || p.b[p.i] != ']' {
			return "", p.errorf("SD-ELEMENT", "want ']'")
		}
		p.i++
	}
	return string(p.b[start:p.i]), nil
}

func (p *parser) sdName(field string) (string, error) {
	start := p.i
	for p.i < len(p.b) {
		c := p.b[p.i]
		if c < 33 || c > 126 || c == '=' || c == ' ' || c == ']' || c == '"' {
			break
		}
		p.i++
	}
	n := p.i - start
	if n == 0 || n > maxSDName {
		return "", p.errorf(field, "length %d, want 1 to %d", n, maxSDName)
	}
	return string(p.b[start:p.i]), nil
}
