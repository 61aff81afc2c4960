package policies

import (
	"math/rand/v2"
	"path"
	"strings"
	"testing"
)

func TestGlob(t *testing.T) {
	tests := []struct {
		pat, s string
		want   bool
	}{
		{"*", "", true},
		{"*", "/a/b", true},
		{"/etc/*", "/etc/a/b", true},
		{"/etc/*.conf", "/etc/x/y.conf", true},
		{"/etc/*.conf", "/etc/x/y.confx", false},
		{"a?c", "abc", true},
		{"a?c", "ac", false},
		{"a?c", "aéc", true},
		{"[abc]x", "bx", true},
		{"[a-c]x", "dx", false},
		{"[!a-c]x", "dx", true},
		{"[]]", "]", true},
		{`\*`, "*", true},
		{`\*`, "a", false},
		{"*a*b*c*", "xxaxxbxxcxx", true},
		{"*a*b*c*", "xxaxxcxxbxx", false},
		{"", "", true},
		{"", "a", false},
	}
	for _, tt := range tests {
		g, err := compileGlob(tt.pat)
		if err != nil {
			t.Fatalf("%q: %v", tt.pat, err)
		}
		if got := g.match(tt.s); got != tt.want {
			t.Errorf("glob %q on %q = %v, want %v", tt.pat, tt.s, got, tt.want)
		}
	}
	for _, bad := range []string{"[a", `a\`} {
		if _, err := compileGlob(bad); err == nil {
			t.Errorf("bad pattern %q accepted", bad)
		}
	}
}

// TestGlobAgreesWithPathMatch compares with path.Match on strings without
// slashes, where the two must agree.
func TestGlobAgreesWithPathMatch(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	alpha := "ab*?"
	for i := 0; i < 20000; i++ {
		pat := randString(r, alpha, 6)
		s := randString(r, "ab", 8)
		want, _ := path.Match(pat, s)
		g, err := compileGlob(pat)
		if err != nil {
			t.Fatal(err)
		}
		if got := g.match(s); got != want {
			t.Fatalf("glob %q on %q = %v, path.Match says %v", pat, s, got, want)
		}
	}
}

func TestMultiContains(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 20000; i++ {
		var needles []string
		for j := r.IntN(5); j >= 0; j-- {
			needles = append(needles, randString(r, "abc/", 3))
		}
		s := randString(r, "abc/", 10)
		want := false
		for _, n := range needles {
			want = want || strings.Contains(s, n)
		}
		if got := newMultiContains(needles).contains(s); got != want {
			t.Fatalf("%q in %q = %v, want %v", needles, s, got, want)
		}
	}
}

func randString(r *rand.Rand, alpha string, max int) string {
	n := r.IntN(max + 1)
	b := make([]byte, n)
	for i := range b {
		b[i] = alpha[r.IntN(len(alpha))]
	}
	return string(b)
}
