package condition

import "strings"

// Op is a comparison or set operator.
type Op uint8

// Operators. The zero value is not an operator.
const (
	OpInvalid Op = iota
	OpEq         // = (also ==)
	OpNeq        // !=
	OpLt         // <
	OpLe         // <=
	OpGt         // >
	OpGe         // >=
	OpContains
	OpIContains
	OpStartsWith
	OpEndsWith
	OpGlob
	OpRegex
	OpIn
	OpPMatch
	OpIntersects
	OpExists
)

var opNames = [...]string{"", "=", "!=", "<", "<=", ">", ">=", "contains", "icontains",
	"startswith", "endswith", "glob", "regex", "in", "pmatch", "intersects", "exists"}

func (o Op) String() string {
	if int(o) < len(opNames) {
		return opNames[o]
	}
	return "invalid"
}

// IsSet reports whether the operator takes a parenthesised list of operands.
func (o Op) IsSet() bool { return o == OpIn || o == OpPMatch || o == OpIntersects }

// IsOrdering reports whether the operator compares integers.
func (o Op) IsOrdering() bool { return o >= OpLt && o <= OpGe }

// keywordOps maps the word operators to their Op.
var keywordOps = map[string]Op{
	"contains": OpContains, "icontains": OpIContains, "startswith": OpStartsWith,
	"endswith": OpEndsWith, "glob": OpGlob, "regex": OpRegex, "in": OpIn,
	"pmatch": OpPMatch, "intersects": OpIntersects, "exists": OpExists,
}

// Expr is a node of the tree: *And, *Or, *Not, *Ref, *Compare or *Bool.
type Expr interface {
	// Pos is the byte offset of the node's first token in the condition.
	Pos() int
	// String renders the node in the dialect; parsing it gives an equal tree
	// (apart from offsets).
	String() string
	isExpr()
}

// And is true when every term is true.
type And struct {
	Terms []Expr
	At    int
}

// Or is true when any term is true.
type Or struct {
	Terms []Expr
	At    int
}

// Not negates X.
type Not struct {
	X  Expr
	At int
}

// Ref is a bare word standing alone: a macro reference.
type Ref struct {
	Name string
	At   int
}

// Bool is a constant. The parser never produces it; the policy compiler uses
// it when it folds comparisons between literals.
type Bool struct {
	Value bool
	At    int
}

// Compare applies Op to Left and Right: Right is empty for exists, holds one
// operand for the binary comparisons and any number for the set operators.
type Compare struct {
	Op    Op
	Left  Operand
	Right []Operand
	At    int // offset of the operator
}

// Operand is a bare word or a quoted string, as written.
type Operand struct {
	Text   string // the word, or the string without its quotes and escapes
	Quoted bool
	At     int // offset of the first character (the quote, when quoted)
	End    int // offset just past the last character
}

func (e *And) Pos() int     { return e.At }
func (e *Or) Pos() int      { return e.At }
func (e *Not) Pos() int     { return e.At }
func (e *Ref) Pos() int     { return e.At }
func (e *Bool) Pos() int    { return e.At }
func (e *Compare) Pos() int { return e.Left.At }

func (*And) isExpr()     {}
func (*Or) isExpr()      {}
func (*Not) isExpr()     {}
func (*Ref) isExpr()     {}
func (*Bool) isExpr()    {}
func (*Compare) isExpr() {}

func (e *And) String() string { return joinTerms(e.Terms, " and ", true) }
func (e *Or) String() string  { return joinTerms(e.Terms, " or ", false) }

func joinTerms(terms []Expr, sep string, inAnd bool) string {
	var b strings.Builder
	for i, t := range terms {
		if i > 0 {
			b.WriteString(sep)
		}
		b.WriteString(group(t, inAnd))
	}
	return b.String()
}

// group parenthesises t where the surrounding operator binds tighter.
func group(t Expr, inAnd bool) string {
	switch t.(type) {
	case *Or:
		return "(" + t.String() + ")"
	case *And:
		if !inAnd {
			return t.String()
		}
		return "(" + t.String() + ")"
	}
	return t.String()
}

func (e *Not) String() string {
	switch e.X.(type) {
	case *And, *Or:
		return "not (" + e.X.String() + ")"
	}
	return "not " + e.X.String()
}

func (e *Ref) String() string { return e.Name }

func (e *Bool) String() string {
	// The dialect has no boolean literal; these forms are always true and
	// always false whatever the fields hold.
	if e.Value {
		return "(" + quote("x") + " = " + quote("x") + ")"
	}
	return "(" + quote("x") + " = " + quote("y") + ")"
}

func (e *Compare) String() string {
	var b strings.Builder
	b.WriteString(e.Left.String())
	b.WriteByte(' ')
	b.WriteString(e.Op.String())
	switch {
	case e.Op == OpExists:
	case e.Op.IsSet():
		b.WriteString(" (")
		for i, o := range e.Right {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(o.String())
		}
		b.WriteByte(')')
	default:
		b.WriteByte(' ')
		b.WriteString(e.Right[0].String())
	}
	return b.String()
}

// String renders the operand as a word when it reads back as the same word,
// quoted otherwise.
func (o Operand) String() string {
	if !o.Quoted && isPlainWord(o.Text) {
		return o.Text
	}
	return quote(o.Text)
}

func isPlainWord(s string) bool {
	if s == "" || s[0] == '\'' || s[0] == '"' {
		return false
	}
	if _, kw := keywordOps[s]; kw || s == "and" || s == "or" || s == "not" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if isDelim(s, i) {
			return false
		}
	}
	return true
}

func quote(s string) string {
	var b strings.Builder
	b.WriteByte('\'')
	for i := 0; i < len(s); i++ {
		if s[i] == '\'' || s[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('\'')
	return b.String()
}

// Walk calls fn for e and, while fn returns true, for its children, depth first.
func Walk(e Expr, fn func(Expr) bool) {
	if !fn(e) {
		return
	}
	switch e := e.(type) {
	case *And:
		for _, t := range e.Terms {
			Walk(t, fn)
		}
	case *Or:
		for _, t := range e.Terms {
			Walk(t, fn)
		}
	case *Not:
		Walk(e.X, fn)
	}
}

// LookupOp returns the operator spelled s: a symbol (=, ==, !=, <, <=, >, >=)
// or a word (contains, in, pmatch, ...). Policy exceptions name their
// comparisons this way.
func LookupOp(s string) (Op, bool) {
	switch s {
	case "=", "==":
		return OpEq, true
	case "!=":
		return OpNeq, true
	case "<":
		return OpLt, true
	case "<=":
		return OpLe, true
	case ">":
		return OpGt, true
	case ">=":
		return OpGe, true
	}
	op, ok := keywordOps[s]
	return op, ok
}
