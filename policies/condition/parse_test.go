package condition

import (
	"errors"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"equality", "sf.proc.name=bash", "sf.proc.name = bash"},
		{"double equals", "a == b", "a = b"},
		{"every comparison", "a != b and c < 1 and d <= 2 and e > 3 and f >= -4",
			"a != b and c < 1 and d <= 2 and e > 3 and f >= -4"},
		{"word operators", "a contains x or a icontains X or a startswith /u or a endswith .sh or a glob '*.sh' or a regex '^b'",
			"a contains x or a icontains X or a startswith /u or a endswith .sh or a glob '*.sh' or a regex '^b'"},
		{"set operators", "a in (x, y, list) and b pmatch (p) and c intersects (q, r)",
			"a in (x, y, list) and b pmatch (p) and c intersects (q, r)"},
		{"empty set and trailing comma", "a in () or b in (x,)", "a in () or b in (x)"},
		{"exists postfix", "sf.pproc.pid exists", "sf.pproc.pid exists"},
		{"exists prefix", "not exists sf.pproc.pid", "not sf.pproc.pid exists"},
		{"precedence", "a or b and c", "a or b and c"},
		{"parentheses kept where needed", "(a or b) and c", "(a or b) and c"},
		{"redundant parentheses dropped", "((((a))))", "a"},
		{"not binds tighter than and", "not a = 1 and b", "not a = 1 and b"},
		{"not of group", "not (a and b)", "not (a and b)"},
		{"quoted strings", `a = 'x y' and b = "sh -c" and c contains 'it\'s'`, `a = 'x y' and b = 'sh -c' and c contains 'it\'s'`},
		{"backslash kept", `a = 'C:\temp'`, `a = 'C:\\temp'`},
		{"quoted keyword", "a = 'and'", "a = 'and'"},
		{"tabs and newlines", "a = 1\n\t\tand\tb", "a = 1 and b"},
		{"brackets in field", "sf.ke.message[items.0.namespace] = 'robot-shop'", "sf.ke.message[items.0.namespace] = 'robot-shop'"},
		{"path values", "sf.file.directory=/ or sf.file.path startswith /root/.m2", "sf.file.directory = / or sf.file.path startswith /root/.m2"},
		{"bang inside word", "a = b!c", "a = b!c"},
		{"macro alone", "interactive", "interactive"},
		{"direction values", "evt.dir=< and evt.dir = >", "evt.dir = '<' and evt.dir = '>'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := Parse(tt.in)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.in, err)
			}
			if got := e.String(); got != tt.want {
				t.Fatalf("Parse(%q) = %q, want %q", tt.in, got, tt.want)
			}
			// The rendering must parse back to itself.
			e2, err := Parse(e.String())
			if err != nil || e2.String() != e.String() {
				t.Fatalf("round trip of %q: %v, %v", e.String(), e2, err)
			}
		})
	}
}

func TestParseTree(t *testing.T) {
	src := "sf.opflags = EXEC and (sf.proc.name in (bash, 'sh') or not container)"
	e, err := Parse(src)
	if err != nil {
		t.Fatal(err)
	}
	and, ok := e.(*And)
	if !ok || len(and.Terms) != 2 {
		t.Fatalf("top is %T %v, want And of 2", e, e)
	}
	c := and.Terms[0].(*Compare)
	if c.Op != OpEq || c.Left.Text != "sf.opflags" || c.Right[0].Text != "EXEC" || c.Left.At != 0 || c.At != 11 || c.Right[0].At != 13 {
		t.Fatalf("first term %+v", c)
	}
	or := and.Terms[1].(*Or)
	in := or.Terms[0].(*Compare)
	if in.Op != OpIn || len(in.Right) != 2 || in.Right[1].Text != "sh" || !in.Right[1].Quoted || in.Right[0].Quoted {
		t.Fatalf("in term %+v", in)
	}
	not := or.Terms[1].(*Not)
	if ref := not.X.(*Ref); ref.Name != "container" || ref.At != strings.Index(src, "container") {
		t.Fatalf("ref %+v", ref)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		in     string
		offset int
		msg    string
	}{
		{"", 0, "empty condition"},
		{"a =", 3, "expected a value after '='"},
		{"a = b and", 9, "expected a comparison"},
		{"(a = b", 0, "unclosed '('"},
		{"a = b)", 5, "unbalanced ')'"},
		{"a in b", 5, "expected '(' after 'in'"},
		{"a in (b c)", 8, "expected ',' or ')'"},
		{"a in (b", 5, "unclosed '('"},
		{"a = 'b", 4, "unterminated string"},
		{"'a' and b", 4, "expected an operator after 'a'"},
		{"a b", 2, "expected 'and', 'or'"},
		{"a = and", 4, "found keyword and"},
		{"and a", 0, "unexpected keyword"},
		{"()", 1, "empty parentheses"},
		{"a = b or or c", 9, "unexpected keyword"},
		{strings.Repeat("(", 300) + "a" + strings.Repeat(")", 300), 200, "nested more than"},
		{strings.Repeat("not ", 300) + "a", 800, "nested more than"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			_, err := Parse(tt.in)
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("Parse(%q) error = %v, want a *SyntaxError", tt.in, err)
			}
			if se.Offset != tt.offset || !strings.Contains(se.Msg, tt.msg) {
				t.Fatalf("Parse(%q) = offset %d %q, want offset %d %q", tt.in, se.Offset, se.Msg, tt.offset, tt.msg)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"sf.opflags = EXEC and sf.proc.name in (bash, sh)",
		"not (a or b) and c exists",
		`a = 'x\'y' or b pmatch ("p", q,)`,
		"exists a and b <= -1 or c glob '*'",
		"((a))", "a in (", "'", "!=", "a !b",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := Parse(s)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) || se.Offset < 0 || se.Offset > len(s) {
				t.Fatalf("Parse(%q): bad error %v", s, err)
			}
			return
		}
		out := e.String()
		e2, err := Parse(out)
		if err != nil {
			t.Fatalf("rendering %q of %q does not parse: %v", out, s, err)
		}
		if e2.String() != out {
			t.Fatalf("rendering of %q not stable: %q then %q", s, out, e2.String())
		}
	})
}
