package syslog

import (
	"bytes"
	"os"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/sfconnector/sfconnector/sysflow"
)

// formatter turns an encoded body into one framed syslog message.
type formatter struct {
	rfc3164  bool
	stream   bool // TCP or TLS: frame the message
	lf       bool // non-transparent framing
	facility int
	sev      [3]int // by sysflow.Priority
	sevEvent int
	max      int    // message size limit, header included, framing excluded
	fields   []byte // " HOSTNAME APP-NAME PROCID " (RFC 5424) or " HOSTNAME TAG[PID]: " (RFC 3164)
	now      func() time.Time
}

func newFormatter(c *Config) *formatter {
	f := &formatter{
		rfc3164: c.Format == FormatRFC3164,
		stream:  c.Proto != ProtoUDP,
		lf:      c.Framing == FramingNonTransparent,
		max:     c.MaxMessageSize,
		now:     time.Now,
	}
	f.facility, _ = facilityCode(c.Facility)
	f.sev[sysflow.PriorityLow], _ = severityCode(c.Severity.Low)
	f.sev[sysflow.PriorityMedium], _ = severityCode(c.Severity.Medium)
	f.sev[sysflow.PriorityHigh], _ = severityCode(c.Severity.High)
	f.sevEvent, _ = severityCode(c.Severity.Event)
	pid := strconv.Itoa(os.Getpid())
	if f.rfc3164 {
		f.fields = []byte(" " + c.Source + " " + c.Tag + "[" + pid + "]: ")
	} else {
		f.fields = []byte(" " + c.Source + " " + c.Tag + " " + pid + " ")
	}
	return f
}

// severity of an event: by its highest rule priority, or the plain-event
// severity when no rule matched.
func (f *formatter) severity(ev *sysflow.Event) int {
	if ev == nil || len(ev.Matches) == 0 {
		return f.sevEvent
	}
	p := ev.MaxPriority()
	if p < 0 || int(p) >= len(f.sev) {
		p = sysflow.PriorityHigh
	}
	return f.sev[p]
}

// appendFrame appends the framed message for body to dst and reports
// whether the body had to be cut. ev gives the time, severity and MSGID;
// nil (a message without a batch) means now, the plain-event severity and
// no MSGID. dst must not alias body.
func (f *formatter) appendFrame(dst []byte, ev *sysflow.Event, body []byte) ([]byte, bool) {
	// Encoders may end the body with a newline for line-oriented sinks.
	body = bytes.TrimRight(body, "\r\n")
	start := len(dst)
	var hdr [16]byte // room for the octet count and its space
	if f.stream && !f.lf {
		dst = append(dst, hdr[:]...) // placeholder, replaced below
	}
	msgStart := len(dst)
	dst = f.appendHeader(dst, ev)
	truncated := false
	if room := f.max - (len(dst) - msgStart); len(body) > room {
		body = cutUTF8(body, room)
		truncated = true
	}
	dst = append(dst, body...)
	if f.lf {
		for i := msgStart; i < len(dst); i++ {
			if dst[i] == '\n' {
				dst[i] = ' '
			}
		}
		return append(dst, '\n'), truncated
	}
	if f.stream {
		n := strconv.AppendInt(hdr[:0], int64(len(dst)-msgStart), 10)
		n = append(n, ' ')
		// Move the message left over the unused part of the placeholder.
		shift := len(hdr) - len(n)
		copy(dst[start:], n)
		copy(dst[start+len(n):], dst[msgStart:])
		dst = dst[:len(dst)-shift]
	}
	return dst, truncated
}

// appendHeader appends "<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID - "
// (RFC 5424, time in UTC with microseconds, no BOM: the body is JSON,
// MSG-ANY) or "<PRI>Mmm dd hh:mm:ss HOSTNAME TAG[PID]: " (RFC 3164, local
// time, as that format has no zone).
func (f *formatter) appendHeader(dst []byte, ev *sysflow.Event) []byte {
	var t time.Time
	if ev != nil && ev.TS > 0 {
		t = time.Unix(0, ev.TS)
	} else {
		t = f.now()
	}
	dst = append(dst, '<')
	dst = strconv.AppendInt(dst, int64(f.facility*8+f.severity(ev)), 10)
	dst = append(dst, '>')
	if f.rfc3164 {
		dst = t.Local().AppendFormat(dst, time.Stamp)
		return append(dst, f.fields...)
	}
	dst = append(dst, '1', ' ')
	dst = t.UTC().AppendFormat(dst, "2006-01-02T15:04:05.000000Z")
	dst = append(dst, f.fields...)
	switch {
	case ev == nil:
		dst = append(dst, '-')
	case len(ev.Matches) > 0:
		dst = append(dst, "alert"...)
	default:
		dst = append(dst, "event"...)
	}
	return append(dst, ' ', '-', ' ')
}

// cutUTF8 returns the longest prefix of b of at most n bytes that does not
// end inside a UTF-8 sequence.
func cutUTF8(b []byte, n int) []byte {
	if n <= 0 {
		return b[:0]
	}
	if n >= len(b) {
		return b
	}
	for i := n; i > 0 && i > n-utf8.UTFMax; i-- {
		if utf8.RuneStart(b[i]) {
			return b[:i]
		}
	}
	return b[:n]
}
