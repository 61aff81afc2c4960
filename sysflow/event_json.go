package sysflow

import (
	"strconv"
	"unicode/utf8"
)

// The pod's address lists and services are JSON-valued fields: policies
// read them as JSON text with a path suffix (sf.pod.services[0.clusterip.0])
// and the JSON encoder embeds the same text, so both see one shape.

// AppendPodIPsJSON appends a JSON array of dotted addresses. The collector
// stores each IPv4 address in the low 32 bits of a long, like the 32-bit
// addresses of network flows.
func AppendPodIPsJSON(dst []byte, ips []int64) []byte {
	dst = append(dst, '[')
	for i, ip := range ips {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, '"')
		dst = AppendIPv4(dst, uint32(ip))
		dst = append(dst, '"')
	}
	return append(dst, ']')
}

// AppendPodServicesJSON appends the pod's services as the reference's JSON
// output writes them: [{"id","name","namespace","clusterIP":[...],
// "ports":[{"port","targetport","nodeport","proto"}]}].
func AppendPodServicesJSON(dst []byte, svcs []Service) []byte {
	dst = append(dst, '[')
	for i := range svcs {
		s := &svcs[i]
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"id":`...)
		dst = AppendJSONString(dst, s.ID)
		dst = append(dst, `,"name":`...)
		dst = AppendJSONString(dst, s.Name)
		dst = append(dst, `,"namespace":`...)
		dst = AppendJSONString(dst, s.Namespace)
		dst = append(dst, `,"clusterIP":`...)
		dst = AppendPodIPsJSON(dst, s.ClusterIP)
		dst = append(dst, `,"ports":[`...)
		for j := range s.PortList {
			p := &s.PortList[j]
			if j > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"port":`...)
			dst = strconv.AppendInt(dst, int64(p.Port), 10)
			dst = append(dst, `,"targetport":`...)
			dst = strconv.AppendInt(dst, int64(p.TargetPort), 10)
			dst = append(dst, `,"nodeport":`...)
			dst = strconv.AppendInt(dst, int64(p.NodePort), 10)
			dst = append(dst, `,"proto":`...)
			dst = AppendJSONString(dst, p.Proto)
			dst = append(dst, '}')
		}
		dst = append(dst, "]}"...)
	}
	return append(dst, ']')
}

// PodHostIPJSON, PodInternalIPJSON and PodServicesJSON are the texts of
// sf.pod.hostip, sf.pod.internalip and sf.pod.services ("" without a pod).
func (e *Event) PodHostIPJSON() string {
	if e.Pod == nil {
		return ""
	}
	return string(AppendPodIPsJSON(nil, e.Pod.HostIP))
}

// PodInternalIPJSON is sf.pod.internalip.
func (e *Event) PodInternalIPJSON() string {
	if e.Pod == nil {
		return ""
	}
	return string(AppendPodIPsJSON(nil, e.Pod.InternalIP))
}

// PodServicesJSON is sf.pod.services.
func (e *Event) PodServicesJSON() string {
	if e.Pod == nil {
		return ""
	}
	return string(AppendPodServicesJSON(nil, e.Pod.Services))
}

// PathDirBase returns the directory and the base name of a file section's
// path, as FileDirectory and FileName do for an event with a file section,
// from the path FilePath returned: the JSON encoder splits each path once.
func PathDirBase(path string) (dir, base string) { return dirName(path), baseName(path) }

// AppendJSONString appends s as a JSON string. Control characters, quotes
// and backslashes are escaped; invalid UTF-8 bytes become U+FFFD, so the
// output is always valid JSON. HTML characters are written as they are.
func AppendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	dst = AppendJSONEscaped(dst, s)
	return append(dst, '"')
}

// jsonSafe marks the ASCII bytes written as they are in a JSON string.
var jsonSafe = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// AppendJSONEscaped appends the escaped text of s without the quotes, so
// that a JSON string can be written in pieces.
func AppendJSONEscaped(dst []byte, s string) []byte {
	const hexd = "0123456789abcdef"
	start := 0
	for i := 0; i < len(s); {
		// Most of what the encoders write is printable ASCII (paths,
		// command lines): skip it eight bytes at a time. The byte loads
		// combine into one 64-bit load; the tests are the classic "has a
		// byte less than n" and "has a zero byte" word tricks, which never
		// miss a byte (they may only flag bytes after one that matches).
		// Written out here because a function would not be inlined.
		for len(s)-i >= 8 {
			t := s[i : i+8]
			w := uint64(t[0]) | uint64(t[1])<<8 | uint64(t[2])<<16 | uint64(t[3])<<24 |
				uint64(t[4])<<32 | uint64(t[5])<<40 | uint64(t[6])<<48 | uint64(t[7])<<56
			const ones, highs = 0x0101010101010101, 0x8080808080808080
			q, bs := w^(ones*'"'), w^(ones*'\\')
			// below 0x20 | a quote | a backslash | 0x80 and above (UTF-8,
			// which the byte loop checks)
			if ((w-ones*0x20)&^w|(q-ones)&^q|(bs-ones)&^bs|w)&highs != 0 {
				break
			}
			i += 8
		}
		if i >= len(s) {
			break
		}
		c := s[i]
		if jsonSafe[c] {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexd[c>>4], hexd[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	return append(dst, s[start:]...)
}

// AppendInt appends the decimal form of v, as strconv.AppendInt(dst, v, 10)
// does, two digits per division. The JSON encoder writes several 19-digit
// timestamps and ids per event; strconv's general base code made integer
// formatting ~28% of encoding (BenchmarkPipeline/enrich-json-discard).
func AppendInt(dst []byte, v int64) []byte {
	u := uint64(v)
	if v < 0 {
		dst = append(dst, '-')
		u = -u // two's complement: right for math.MinInt64 too
	}
	if u < 10 {
		return append(dst, byte('0'+u))
	}
	var buf [20]byte
	i := len(buf)
	for u >= 100 {
		q := u / 100
		r := (u - q*100) * 2
		i -= 2
		buf[i], buf[i+1] = decimalPairs[r], decimalPairs[r+1]
		u = q
	}
	if u >= 10 {
		i -= 2
		buf[i], buf[i+1] = decimalPairs[2*u], decimalPairs[2*u+1]
	} else {
		i--
		buf[i] = byte('0' + u)
	}
	return append(dst, buf[i:]...)
}

const decimalPairs = "00010203040506070809101112131415161718192021222324252627282930313233343536373839" +
	"404142434445464748495051525354555657585960616263646566676869707172737475767778798081828384858687888990919293949596979899"
