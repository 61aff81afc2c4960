package sysflow

import (
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// escapeByByte is the plain byte-at-a-time escaper: the oracle the word-wise
// fast path of AppendJSONEscaped is checked against.
func escapeByByte(dst []byte, s string) []byte {
	const hexd = "0123456789abcdef"
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				dst = append(dst, '\\', c)
			case c == '\n':
				dst = append(dst, '\\', 'n')
			case c == '\r':
				dst = append(dst, '\\', 'r')
			case c == '\t':
				dst = append(dst, '\\', 't')
			case c < 0x20:
				dst = append(dst, '\\', 'u', '0', '0', hexd[c>>4], hexd[c&0xf])
			default:
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, `\ufffd`...)
		} else {
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return dst
}

// Every byte value at every offset of a word, amid safe text of every
// length around the 8-byte stride, escapes as the oracle does.
func TestAppendJSONEscapedEveryByteEveryOffset(t *testing.T) {
	for c := 0; c < 256; c++ {
		for pre := 0; pre <= 17; pre++ {
			for post := 0; post <= 9; post++ {
				s := strings.Repeat("a", pre) + string([]byte{byte(c)}) + strings.Repeat("/", post)
				got, want := string(AppendJSONEscaped(nil, s)), string(escapeByByte(nil, s))
				if got != want {
					t.Fatalf("byte %#x after %d, before %d: got %q, want %q", c, pre, post, got, want)
				}
			}
		}
	}
}

func TestAppendJSONEscapedRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []string{"a", "/", " ", "~", "\x7f", "\"", "\\", "\n", "\x00", "\x1f", "é", "€", "𝄞", "\xff", "\xc3", "\u2028"}
	for range 20000 {
		var sb strings.Builder
		n := rng.IntN(40)
		for range n {
			// mostly plain text, as in real command lines
			if rng.IntN(8) == 0 {
				sb.WriteString(alphabet[rng.IntN(len(alphabet))])
			} else {
				sb.WriteByte(byte(0x20 + rng.IntN(0x5f)))
			}
		}
		s := sb.String()
		if got, want := string(AppendJSONEscaped([]byte("x"), s)), string(escapeByByte([]byte("x"), s)); got != want {
			t.Fatalf("%q: got %q, want %q", s, got, want)
		}
	}
}

func FuzzAppendJSONEscaped(f *testing.F) {
	for _, s := range []string{"", "/usr/bin/python3 -m http.server", "12345678\"", "abcdefg\x00h", "é€𝄞\xff", strings.Repeat("x", 23) + "\\"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := string(AppendJSONEscaped(nil, s)), string(escapeByByte(nil, s)); got != want {
			t.Fatalf("%q: got %q, want %q", s, got, want)
		}
	})
}

// BenchmarkAppendJSONEscaped escapes a typical command line.
func BenchmarkAppendJSONEscaped(b *testing.B) {
	s := "/usr/lib/jvm/java-17-openjdk-amd64/bin/java -Xms512m -Xmx2g -Dfile.encoding=UTF-8 -cp /opt/app/lib/* org.example.Main --config /etc/app/app.yaml"
	buf := make([]byte, 0, 512)
	b.SetBytes(int64(len(s)))
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendJSONEscaped(buf[:0], s)
	}
}

func TestAppendIntMatchesStrconv(t *testing.T) {
	vals := []int64{0, 1, 9, 10, 11, 99, 100, 101, 999, 1000, -1, -9, -10, -99, -100, 1 << 31, -1 << 31,
		1700000000001429943, 1647543371590273303, math.MaxInt64, math.MinInt64, math.MinInt64 + 1}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 100000 {
		v := int64(rng.Uint64()) >> rng.IntN(64)
		vals = append(vals, v, -v)
	}
	for _, v := range vals {
		if got, want := string(AppendInt([]byte("x"), v)), string(strconv.AppendInt([]byte("x"), v, 10)); got != want {
			t.Fatalf("AppendInt(%d) = %s, want %s", v, got, want)
		}
	}
}

func FuzzAppendInt(f *testing.F) {
	f.Add(int64(0))
	f.Add(int64(math.MinInt64))
	f.Add(int64(1700000000001429943))
	f.Fuzz(func(t *testing.T, v int64) {
		if got, want := string(AppendInt(nil, v)), strconv.FormatInt(v, 10); got != want {
			t.Fatalf("AppendInt(%d) = %s, want %s", v, got, want)
		}
	})
}
