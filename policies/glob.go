package policies

import (
	"fmt"
	"unicode/utf8"
)

// glob is a shell pattern: * matches any run of characters (slashes
// included: policies match whole paths and command lines), ? one character,
// [abc], [a-z] and [!abc] one character of a class, and \ escapes the next
// character.
type glob struct {
	pat string
}

func compileGlob(pat string) (*glob, error) {
	// Validate the classes and escapes once, so match never meets a bad
	// pattern.
	for i := 0; i < len(pat); i++ {
		switch pat[i] {
		case '\\':
			if i+1 >= len(pat) {
				return nil, fmt.Errorf("bad glob pattern %q: trailing backslash", pat)
			}
			i++
		case '[':
			end, ok := classEnd(pat, i)
			if !ok {
				return nil, fmt.Errorf("bad glob pattern %q: unclosed [", pat)
			}
			i = end
		}
	}
	return &glob{pat: pat}, nil
}

// classEnd returns the index of the ] closing the class opened at i.
func classEnd(pat string, i int) (int, bool) {
	j := i + 1
	if j < len(pat) && pat[j] == '!' {
		j++
	}
	if j < len(pat) && pat[j] == ']' { // a leading ] is a member
		j++
	}
	for ; j < len(pat); j++ {
		if pat[j] == ']' {
			return j, true
		}
	}
	return 0, false
}

// match reports whether s matches the whole pattern. The backtracking keeps
// only the last star, so the cost is O(len(s) * len(pat)) at worst.
func (g *glob) match(s string) bool {
	p := g.pat
	pi, si := 0, 0
	starP, starS := -1, 0
	for si < len(s) {
		if pi < len(p) {
			switch c := p[pi]; c {
			case '*':
				starP, starS = pi, si
				pi++
				continue
			case '?':
				_, n := utf8.DecodeRuneInString(s[si:])
				pi++
				si += n
				continue
			case '[':
				end, _ := classEnd(p, pi)
				r, n := utf8.DecodeRuneInString(s[si:])
				if inClass(p[pi+1:end], r) {
					pi = end + 1
					si += n
					continue
				}
			case '\\':
				if s[si] == p[pi+1] {
					pi += 2
					si++
					continue
				}
			default:
				if s[si] == c {
					pi++
					si++
					continue
				}
			}
		}
		if starP < 0 {
			return false
		}
		// Let the last star take one more character.
		_, n := utf8.DecodeRuneInString(s[starS:])
		starS += n
		pi, si = starP+1, starS
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}

func inClass(class string, r rune) bool {
	neg := false
	if len(class) > 0 && class[0] == '!' {
		neg, class = true, class[1:]
	}
	hit := false
	for i := 0; i < len(class); {
		lo, n := utf8.DecodeRuneInString(class[i:])
		i += n
		hi := lo
		if i+1 < len(class) && class[i] == '-' {
			h, m := utf8.DecodeRuneInString(class[i+1:])
			hi = h
			i += 1 + m
		}
		if lo <= r && r <= hi {
			hit = true
		}
	}
	return hit != neg
}
