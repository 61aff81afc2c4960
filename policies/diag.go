package policies

import (
	"fmt"
	"io"
	"sort"
	"strings"
)

// Severity of a diagnostic.
type Severity uint8

// Severities. Strict mode promotes every warning to an error.
const (
	SeverityWarning Severity = iota + 1
	SeverityError
)

func (s Severity) String() string {
	if s == SeverityError {
		return "error"
	}
	return "warning"
}

// Position is a place in a policy file; Line and Col are 1-based, Col counts
// bytes. A zero Line means the whole file.
type Position struct {
	File string
	Line int
	Col  int
}

func (p Position) String() string {
	switch {
	case p.Line == 0:
		return p.File
	case p.Col == 0:
		return fmt.Sprintf("%s:%d", p.File, p.Line)
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

// Diagnostic is one problem found while loading a policy set.
type Diagnostic struct {
	Severity Severity
	Pos      Position
	Item     string // the rule, macro, list or filter concerned, e.g. `rule "Interactive shell"`; "" for file-level problems
	Msg      string
	Source   string // the offending source line, as written, when known
}

// String formats the diagnostic on one line: file:line:col: severity: item: message.
func (d Diagnostic) String() string {
	var b strings.Builder
	b.WriteString(d.Pos.String())
	b.WriteString(": ")
	b.WriteString(d.Severity.String())
	b.WriteString(": ")
	if d.Item != "" {
		b.WriteString(d.Item)
		b.WriteString(": ")
	}
	b.WriteString(d.Msg)
	return b.String()
}

// Snippet returns the offending source line with a caret under the column,
// or "" when the source is unknown.
func (d Diagnostic) Snippet() string {
	if d.Source == "" {
		return ""
	}
	line := strings.ReplaceAll(d.Source, "\t", " ")
	col := d.Pos.Col
	if col < 1 {
		col = 1
	}
	if col > len(line)+1 {
		col = len(line) + 1
	}
	return "    " + line + "\n    " + strings.Repeat(" ", col-1) + "^"
}

// WriteDiagnostics writes each diagnostic on its line, followed by its
// snippet when the source is known.
func WriteDiagnostics(w io.Writer, diags []Diagnostic) error {
	for _, d := range diags {
		if _, err := fmt.Fprintln(w, d.String()); err != nil {
			return err
		}
		if s := d.Snippet(); s != "" {
			if _, err := fmt.Fprintln(w, s); err != nil {
				return err
			}
		}
	}
	return nil
}

// LoadError is returned when a policy set has errors. It lists all of them,
// not only the first, so a user fixes a file in one pass.
type LoadError struct {
	Diagnostics []Diagnostic // the errors, in file and line order
}

func (e *LoadError) Error() string {
	var b strings.Builder
	n := len(e.Diagnostics)
	if n == 1 {
		b.WriteString("policy error: ")
	} else {
		fmt.Fprintf(&b, "%d policy errors:", n)
	}
	for i, d := range e.Diagnostics {
		if n > 1 || i > 0 {
			b.WriteString("\n  ")
		}
		b.WriteString(d.String())
	}
	return b.String()
}

// diagList collects diagnostics while loading.
type diagList struct {
	all []Diagnostic
}

func (l *diagList) add(sev Severity, pos Position, item, source, format string, args ...any) {
	l.all = append(l.all, Diagnostic{Severity: sev, Pos: pos, Item: item, Msg: fmt.Sprintf(format, args...), Source: source})
}

// sorted returns the diagnostics in file order (the files in load order),
// then line and column, keeping the order of discovery for ties.
func (l *diagList) sorted(fileOrder map[string]int) []Diagnostic {
	out := append([]Diagnostic(nil), l.all...)
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i].Pos, out[j].Pos
		if a.File != b.File {
			return fileOrder[a.File] < fileOrder[b.File]
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
	return out
}
