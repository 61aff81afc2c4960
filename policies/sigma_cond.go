package policies

import (
	"fmt"
	"strings"
)

// The condition of a Sigma rule: identifiers of the detection's search
// items joined by and, or, not and parentheses, and the quantifiers
// "1 of X*", "all of X*", "1 of them", "all of them" ("any of" is read as
// "1 of"). Precedence, as in the specification: not, then and, then or.
// Aggregations ("| count() ...") are recognised and reported as
// unsupported, not as syntax errors.

type sigExpr interface{ sigExpr() }

type sigAnd struct{ kids []sigExpr }
type sigOr struct{ kids []sigExpr }
type sigNot struct{ x sigExpr }

// sigRef names one search identifier.
type sigRef struct {
	name string
	off  int
}

// sigOf is a quantifier over the identifiers a pattern matches (or all of
// them).
type sigOf struct {
	all     bool
	pattern string // "them" for every identifier
	off     int
}

func (sigAnd) sigExpr() {}
func (sigOr) sigExpr()  {}
func (sigNot) sigExpr() {}
func (sigRef) sigExpr() {}
func (sigOf) sigExpr()  {}

// sigCondError is a problem in a condition, at a byte offset. Unsupported
// marks a construct of the specification this engine does not run, as
// opposed to a malformed condition.
type sigCondError struct {
	off         int
	msg         string
	unsupported bool
}

func (e *sigCondError) Error() string { return e.msg }

type sigTok struct {
	text string
	off  int
}

func sigTokens(s string) ([]sigTok, *sigCondError) {
	var out []sigTok
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '(' || c == ')':
			out = append(out, sigTok{text: s[i : i+1], off: i})
			i++
		case c == '|':
			return nil, &sigCondError{off: i, msg: fmt.Sprintf("aggregation %q is not supported (correlations need state across records)", strings.TrimSpace(s[i:])), unsupported: true}
		default:
			j := i
			for j < len(s) && !strings.ContainsRune(" \t\n\r()|", rune(s[j])) {
				j++
			}
			out = append(out, sigTok{text: s[i:j], off: i})
			i = j
		}
	}
	return out, nil
}

type sigParser struct {
	toks []sigTok
	i    int
	end  int
}

// parseSigmaCondition parses one condition string.
func parseSigmaCondition(s string) (sigExpr, *sigCondError) {
	toks, err := sigTokens(s)
	if err != nil {
		return nil, err
	}
	if len(toks) == 0 {
		return nil, &sigCondError{off: 0, msg: "condition is empty"}
	}
	p := &sigParser{toks: toks, end: len(s)}
	e, err := p.or()
	if err != nil {
		return nil, err
	}
	if p.i < len(p.toks) {
		t := p.toks[p.i]
		return nil, &sigCondError{off: t.off, msg: fmt.Sprintf("unexpected %q", t.text)}
	}
	return e, nil
}

func (p *sigParser) peek() (sigTok, bool) {
	if p.i < len(p.toks) {
		return p.toks[p.i], true
	}
	return sigTok{off: p.end}, false
}

func (p *sigParser) keyword(w string) bool {
	t, ok := p.peek()
	return ok && strings.EqualFold(t.text, w)
}

func (p *sigParser) or() (sigExpr, *sigCondError) {
	x, err := p.and()
	if err != nil {
		return nil, err
	}
	kids := []sigExpr{x}
	for p.keyword("or") {
		p.i++
		y, err := p.and()
		if err != nil {
			return nil, err
		}
		kids = append(kids, y)
	}
	if len(kids) == 1 {
		return x, nil
	}
	return sigOr{kids}, nil
}

func (p *sigParser) and() (sigExpr, *sigCondError) {
	x, err := p.not()
	if err != nil {
		return nil, err
	}
	kids := []sigExpr{x}
	for p.keyword("and") {
		p.i++
		y, err := p.not()
		if err != nil {
			return nil, err
		}
		kids = append(kids, y)
	}
	if len(kids) == 1 {
		return x, nil
	}
	return sigAnd{kids}, nil
}

func (p *sigParser) not() (sigExpr, *sigCondError) {
	if p.keyword("not") {
		p.i++
		x, err := p.not()
		if err != nil {
			return nil, err
		}
		return sigNot{x}, nil
	}
	return p.primary()
}

func (p *sigParser) primary() (sigExpr, *sigCondError) {
	t, ok := p.peek()
	if !ok {
		return nil, &sigCondError{off: t.off, msg: "condition ends where an identifier or ( was expected"}
	}
	switch lw := strings.ToLower(t.text); {
	case t.text == "(":
		p.i++
		x, err := p.or()
		if err != nil {
			return nil, err
		}
		c, ok := p.peek()
		if !ok || c.text != ")" {
			return nil, &sigCondError{off: c.off, msg: fmt.Sprintf("missing ) for the ( at offset %d", t.off)}
		}
		p.i++
		return x, nil
	case t.text == ")":
		return nil, &sigCondError{off: t.off, msg: "unexpected )"}
	case lw == "and" || lw == "or" || lw == "of" || lw == "them":
		return nil, &sigCondError{off: t.off, msg: fmt.Sprintf("unexpected %q where an identifier was expected", t.text)}
	case p.i+1 < len(p.toks) && strings.EqualFold(p.toks[p.i+1].text, "of"):
		all := false
		switch lw {
		case "1", "any":
		case "all":
			all = true
		default:
			return nil, &sigCondError{off: t.off, msg: fmt.Sprintf("quantifier %q is not supported (only 1 of, any of, all of)", t.text), unsupported: true}
		}
		p.i += 2
		pat, ok := p.peek()
		if !ok || pat.text == "(" || pat.text == ")" {
			return nil, &sigCondError{off: pat.off, msg: fmt.Sprintf("%s of needs an identifier pattern or them", t.text)}
		}
		p.i++
		return sigOf{all: all, pattern: pat.text, off: t.off}, nil
	}
	p.i++
	return sigRef{name: t.text, off: t.off}, nil
}

// sigmaGlob matches an identifier pattern of a quantifier: * any run of
// characters, anything else itself.
func sigmaGlob(pat, name string) bool {
	if !strings.Contains(pat, "*") {
		return pat == name
	}
	parts := strings.Split(pat, "*")
	if !strings.HasPrefix(name, parts[0]) {
		return false
	}
	name = name[len(parts[0]):]
	last := parts[len(parts)-1]
	for _, mid := range parts[1 : len(parts)-1] {
		i := strings.Index(name, mid)
		if i < 0 {
			return false
		}
		name = name[i+len(mid):]
	}
	return strings.HasSuffix(name, last)
}
