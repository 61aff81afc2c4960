package elasticsearch_test

import (
	"strings"
	"testing"
	"time"

	es "github.com/sfconnector/sfconnector/sinks/elasticsearch"
)

func TestIndexPattern(t *testing.T) {
	ts := time.Date(2026, 12, 3, 7, 5, 9, 0, time.UTC)
	for _, tc := range []struct{ pattern, want string }{
		{"sysflow-%Y.%m.%d", ts.Format("sysflow-2006.01.02")},
		{"sysflow-%Y.%m.%d-%H", ts.Format("sysflow-2006.01.02-15")},
		{"my-index", "my-index"},
		{"a%%b-%Y", "a%b-" + ts.Format("2006")},
		{"%Y", "2026"},
	} {
		p, err := es.ParseIndexPattern(tc.pattern)
		if err != nil {
			t.Fatalf("%s: %v", tc.pattern, err)
		}
		if got := p.Expand(ts.UnixNano()); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.pattern, got, tc.want)
		}
	}
	for _, bad := range []string{"", "x%", "x-%j", "UPPER", "-x", "_x", "a b", "a/b", "a,b", "a:b", ".", strings.Repeat("a", 256)} {
		if _, err := es.ParseIndexPattern(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

// FuzzIndexPattern: any pattern either fails with an error or expands, for
// any time, to a name Elasticsearch accepts.
func FuzzIndexPattern(f *testing.F) {
	for _, s := range []string{"sysflow-%Y.%m.%d", "%", "%%", "%Y%m%d%H", "a%", "-%Y", "x%Yy"} {
		f.Add(s, int64(0))
	}
	f.Fuzz(func(t *testing.T, pattern string, ts int64) {
		p, err := es.ParseIndexPattern(pattern)
		if err != nil {
			return
		}
		if name := p.Expand(ts); es.ValidIndexName(name) != nil {
			t.Fatalf("%q at %d expanded to %q: %v", pattern, ts, name, es.ValidIndexName(name))
		}
	})
}
