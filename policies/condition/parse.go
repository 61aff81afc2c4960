package condition

import (
	"fmt"
	"strings"
)

// SyntaxError is a condition the grammar does not accept.
type SyntaxError struct {
	Offset int    // byte offset of the offending token
	Msg    string // what was expected
	Near   string // the offending token, "" at the end of the text
}

func (e *SyntaxError) Error() string {
	if e.Near == "" {
		return fmt.Sprintf("offset %d: %s at end of condition", e.Offset, e.Msg)
	}
	return fmt.Sprintf("offset %d: %s near %q", e.Offset, e.Msg, e.Near)
}

// maxDepth bounds nesting so that a hostile condition cannot exhaust the
// stack: real policies nest a handful of levels.
const maxDepth = 200

type tokKind uint8

const (
	tEOF tokKind = iota
	tWord
	tString
	tLParen
	tRParen
	tComma
	tOp // = == != < <= > >=
)

type token struct {
	kind tokKind
	text string // word, unquoted string or operator
	at   int
	end  int
}

// isDelim reports whether s[i] ends a bare word.
func isDelim(s string, i int) bool {
	switch s[i] {
	case ' ', '\t', '\n', '\r', '\f', '\v', '(', ')', ',', '=', '<', '>':
		return true
	case '!':
		return i+1 < len(s) && s[i+1] == '='
	}
	return false
}

type lexer struct {
	src string
	pos int
}

func (l *lexer) next() (token, error) {
	s := l.src
	for l.pos < len(s) {
		switch s[l.pos] {
		case ' ', '\t', '\n', '\r', '\f', '\v':
			l.pos++
			continue
		}
		break
	}
	at := l.pos
	if at >= len(s) {
		return token{kind: tEOF, at: at, end: at}, nil
	}
	one := func(k tokKind, n int) (token, error) {
		l.pos += n
		return token{kind: k, text: s[at:l.pos], at: at, end: l.pos}, nil
	}
	switch c := s[at]; c {
	case '(':
		return one(tLParen, 1)
	case ')':
		return one(tRParen, 1)
	case ',':
		return one(tComma, 1)
	case '=':
		if at+1 < len(s) && s[at+1] == '=' {
			return one(tOp, 2)
		}
		return one(tOp, 1)
	case '<', '>':
		if at+1 < len(s) && s[at+1] == '=' {
			return one(tOp, 2)
		}
		return one(tOp, 1)
	case '!':
		if at+1 < len(s) && s[at+1] == '=' {
			return one(tOp, 2)
		}
	case '\'', '"':
		return l.str(c)
	}
	for l.pos < len(s) && !isDelim(s, l.pos) {
		l.pos++
	}
	return token{kind: tWord, text: s[at:l.pos], at: at, end: l.pos}, nil
}

// str scans a quoted string. A backslash escapes the quote character and
// itself; any other backslash is kept, so Windows paths and regular
// expressions need no doubling.
func (l *lexer) str(q byte) (token, error) {
	s := l.src
	at := l.pos
	l.pos++
	var b strings.Builder
	for l.pos < len(s) {
		c := s[l.pos]
		switch {
		case c == q:
			l.pos++
			return token{kind: tString, text: b.String(), at: at, end: l.pos}, nil
		case c == '\\' && l.pos+1 < len(s) && (s[l.pos+1] == q || s[l.pos+1] == '\\'):
			b.WriteByte(s[l.pos+1])
			l.pos += 2
		default:
			b.WriteByte(c)
			l.pos++
		}
	}
	return token{}, &SyntaxError{Offset: at, Msg: "unterminated string", Near: clip(s[at:])}
}

func clip(s string) string {
	if i := strings.IndexAny(s, "\n"); i >= 0 {
		s = s[:i]
	}
	if len(s) > 40 {
		s = s[:40] + "..."
	}
	return s
}

type parser struct {
	lex   lexer
	tok   token
	depth int
}

// Parse parses a condition. It returns the first syntax error as a
// *SyntaxError.
func Parse(src string) (Expr, error) {
	p := &parser{lex: lexer{src: src}}
	if err := p.advance(); err != nil {
		return nil, err
	}
	if p.tok.kind == tEOF {
		return nil, p.fail("empty condition")
	}
	e, err := p.or()
	if err != nil {
		return nil, err
	}
	if p.tok.kind != tEOF {
		if p.tok.kind == tRParen {
			return nil, p.fail("unbalanced ')'")
		}
		return nil, p.fail("expected 'and', 'or' or the end of the condition")
	}
	return e, nil
}

func (p *parser) advance() error {
	t, err := p.lex.next()
	if err != nil {
		return err
	}
	p.tok = t
	return nil
}

func (p *parser) fail(msg string) error {
	near := ""
	if p.tok.kind != tEOF {
		near = clip(p.lex.src[p.tok.at:])
		if p.tok.end-p.tok.at < len(near) && p.tok.kind != tString {
			near = p.lex.src[p.tok.at:p.tok.end]
		}
	}
	return &SyntaxError{Offset: p.tok.at, Msg: msg, Near: near}
}

func (p *parser) isKeyword(w string) bool { return p.tok.kind == tWord && p.tok.text == w }

func (p *parser) or() (Expr, error) {
	at := p.tok.at
	first, err := p.and()
	if err != nil {
		return nil, err
	}
	terms := []Expr{first}
	for p.isKeyword("or") {
		if err := p.advance(); err != nil {
			return nil, err
		}
		t, err := p.and()
		if err != nil {
			return nil, err
		}
		terms = append(terms, t)
	}
	if len(terms) == 1 {
		return first, nil
	}
	return &Or{Terms: terms, At: at}, nil
}

func (p *parser) and() (Expr, error) {
	at := p.tok.at
	first, err := p.not()
	if err != nil {
		return nil, err
	}
	terms := []Expr{first}
	for p.isKeyword("and") {
		if err := p.advance(); err != nil {
			return nil, err
		}
		t, err := p.not()
		if err != nil {
			return nil, err
		}
		terms = append(terms, t)
	}
	if len(terms) == 1 {
		return first, nil
	}
	return &And{Terms: terms, At: at}, nil
}

func (p *parser) not() (Expr, error) {
	if !p.isKeyword("not") {
		return p.primary()
	}
	at := p.tok.at
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	if err := p.advance(); err != nil {
		return nil, err
	}
	x, err := p.not()
	if err != nil {
		return nil, err
	}
	return &Not{X: x, At: at}, nil
}

func (p *parser) enter() error {
	p.depth++
	if p.depth > maxDepth {
		return p.fail(fmt.Sprintf("condition nested more than %d levels deep", maxDepth))
	}
	return nil
}

func (p *parser) leave() { p.depth-- }

func isReserved(w string) bool {
	if _, ok := keywordOps[w]; ok {
		return true
	}
	return w == "and" || w == "or" || w == "not"
}

func (p *parser) primary() (Expr, error) {
	switch p.tok.kind {
	case tLParen:
		if err := p.enter(); err != nil {
			return nil, err
		}
		defer p.leave()
		open := p.tok
		if err := p.advance(); err != nil {
			return nil, err
		}
		if p.tok.kind == tRParen {
			return nil, p.fail("empty parentheses")
		}
		e, err := p.or()
		if err != nil {
			return nil, err
		}
		if p.tok.kind != tRParen {
			if p.tok.kind == tEOF {
				return nil, &SyntaxError{Offset: open.at, Msg: "unclosed '('", Near: clip(p.lex.src[open.at:])}
			}
			return nil, p.fail("expected ')', 'and' or 'or'")
		}
		return e, p.advance()
	case tEOF:
		return nil, p.fail("expected a comparison, a macro name or '('")
	case tWord:
		if p.tok.text == "exists" { // prefix form: exists field
			at := p.tok.at
			if err := p.advance(); err != nil {
				return nil, err
			}
			o, err := p.operand("a field name after 'exists'")
			if err != nil {
				return nil, err
			}
			return &Compare{Op: OpExists, Left: o, At: at}, nil
		}
		if isReserved(p.tok.text) {
			return nil, p.fail(fmt.Sprintf("unexpected keyword %q", p.tok.text))
		}
	case tString:
	default:
		return nil, p.fail("expected a comparison, a macro name or '('")
	}
	left, err := p.operand("an operand")
	if err != nil {
		return nil, err
	}
	op, opAt, ok, err := p.operator()
	if err != nil {
		return nil, err
	}
	if !ok {
		if left.Quoted {
			return nil, p.fail(fmt.Sprintf("expected an operator after %s", left.String()))
		}
		return &Ref{Name: left.Text, At: left.At}, nil
	}
	c := &Compare{Op: op, Left: left, At: opAt}
	switch {
	case op == OpExists:
	case op.IsSet():
		items, err := p.list(op)
		if err != nil {
			return nil, err
		}
		c.Right = items
	default:
		if p.tok.kind == tOp && (p.tok.text == "<" || p.tok.text == ">") {
			// Falco's event direction values: evt.dir = < (exit), > (enter).
			p.tok.kind = tWord
		}
		r, err := p.operand(fmt.Sprintf("a value after '%s'", op))
		if err != nil {
			return nil, err
		}
		c.Right = []Operand{r}
	}
	return c, nil
}

// operator consumes a comparison operator when one follows.
func (p *parser) operator() (Op, int, bool, error) {
	at := p.tok.at
	var op Op
	switch p.tok.kind {
	case tOp:
		switch p.tok.text {
		case "=", "==":
			op = OpEq
		case "!=":
			op = OpNeq
		case "<":
			op = OpLt
		case "<=":
			op = OpLe
		case ">":
			op = OpGt
		case ">=":
			op = OpGe
		}
	case tWord:
		op = keywordOps[p.tok.text]
	}
	if op == OpInvalid {
		return 0, 0, false, nil
	}
	return op, at, true, p.advance()
}

func (p *parser) operand(what string) (Operand, error) {
	switch p.tok.kind {
	case tWord:
		if isReserved(p.tok.text) {
			return Operand{}, p.fail("expected " + what + ", found keyword " + p.tok.text)
		}
	case tString:
	default:
		return Operand{}, p.fail("expected " + what)
	}
	o := Operand{Text: p.tok.text, Quoted: p.tok.kind == tString, At: p.tok.at, End: p.tok.end}
	return o, p.advance()
}

func (p *parser) list(op Op) ([]Operand, error) {
	if p.tok.kind != tLParen {
		return nil, p.fail(fmt.Sprintf("expected '(' after '%s'", op))
	}
	open := p.tok
	if err := p.advance(); err != nil {
		return nil, err
	}
	items := []Operand{}
	for p.tok.kind != tRParen {
		if p.tok.kind == tEOF {
			return nil, &SyntaxError{Offset: open.at, Msg: "unclosed '(' of the list", Near: clip(p.lex.src[open.at:])}
		}
		o, err := p.operand("a list item")
		if err != nil {
			return nil, err
		}
		items = append(items, o)
		switch p.tok.kind {
		case tComma:
			if err := p.advance(); err != nil {
				return nil, err
			}
		case tRParen:
		case tEOF:
			return nil, &SyntaxError{Offset: open.at, Msg: "unclosed '(' of the list", Near: clip(p.lex.src[open.at:])}
		default:
			return nil, p.fail("expected ',' or ')' in the list")
		}
	}
	return items, p.advance()
}
