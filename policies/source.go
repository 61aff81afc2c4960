package policies

import (
	"bytes"
	"errors"
	"io"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// sourceFile is one policy file: its YAML documents and what is needed to
// point at its text.
type sourceFile struct {
	index int // load order
	name  string
	lines []string // the lines as written
	shift []int    // per line (0-based): leading spaces the indentation fix removed
	docs  []*yaml.Node
}

// pos returns the file position of a node, in the text as written.
func (f *sourceFile) pos(n *yaml.Node) Position {
	if n == nil {
		return Position{File: f.name}
	}
	return f.at(n.Line, n.Column)
}

// at converts a line and column of the parsed text to the text as written.
func (f *sourceFile) at(line, col int) Position {
	if line >= 1 && line <= len(f.shift) {
		col += f.shift[line-1]
	}
	return Position{File: f.name, Line: line, Col: col}
}

// line returns line n (1-based) as written, or "".
func (f *sourceFile) line(n int) string {
	if n < 1 || n > len(f.lines) {
		return ""
	}
	return f.lines[n-1]
}

var yamlLineRE = regexp.MustCompile(`line (\d+)`)

// parseSource parses a policy file with a YAML parser that keeps line and
// column of every node. The reference processor's own files are not all
// valid YAML (tab characters, items indented by one space): when the text
// does not parse as written, those two quirks are repaired, each repair is
// reported as a warning naming its lines, and the repaired text is parsed.
// Repairs keep line numbers, so positions still point at the file.
func parseSource(name string, data []byte, diags *diagList) *sourceFile {
	// YAML breaks lines at \r\n, \n and a lone \r.
	text := strings.ReplaceAll(strings.ReplaceAll(string(data), "\r\n", "\n"), "\r", "\n")
	lines := strings.Split(text, "\n")
	f := &sourceFile{name: name, lines: lines, shift: make([]int, len(lines))}
	docs, err := decodeYAML([]byte(text))
	if err == nil {
		// YAML accepts a tab as a separator inside a value, but not in
		// indentation, and other tools are stricter: say where they are.
		var tabs []int
		for i, l := range lines {
			if strings.IndexByte(l, '\t') >= 0 {
				tabs = append(tabs, i+1)
			}
		}
		for _, r := range groupLines(tabs) {
			diags.add(SeverityWarning, Position{File: name, Line: r[0], Col: strings.IndexByte(lines[r[0]-1], '\t') + 1},
				"", lines[r[0]-1], "tab characters in the text (%s); YAML parsers reject them in indentation, use spaces", lineRange(r))
		}
		f.docs = docs
		return f
	}
	fixed, rep := repairText(lines, f.shift)
	if rep.empty() {
		f.yamlError(err, diags)
		return f
	}
	docs, err2 := decodeYAML([]byte(strings.Join(fixed, "\n")))
	for _, r := range groupLines(rep.tabs) {
		diags.add(SeverityWarning, Position{File: name, Line: r[0], Col: strings.IndexByte(lines[r[0]-1], '\t') + 1},
			"", lines[r[0]-1], "tab characters are not valid YAML; read as spaces (%s)", lineRange(r))
	}
	for _, n := range rep.indents {
		diags.add(SeverityWarning, Position{File: name, Line: n, Col: 1}, "", lines[n-1],
			"item indented by one space more than the others; read as a top-level item (line %d)", n)
	}
	for _, n := range rep.continued {
		diags.add(SeverityWarning, Position{File: name, Line: n, Col: 1}, "", lines[n-1],
			"line continues the value above but is not indented; read as indented (line %d)", n)
	}
	for _, q := range rep.quoted {
		diags.add(SeverityWarning, Position{File: name, Line: q[0], Col: q[1]}, "", lines[q[0]-1],
			"name contains ': ', which YAML reads as a nested mapping; read as a quoted string (line %d)", q[0])
	}
	if err2 != nil {
		f.yamlError(err2, diags)
		return f
	}
	f.docs = docs
	return f
}

func decodeYAML(data []byte) ([]*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []*yaml.Node
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		docs = append(docs, &n)
	}
}

// yamlError reports a YAML syntax error. yaml.v3 names the line only; the
// column points at the first tab of the line when the complaint is about
// one, else at its first non-blank character.
func (f *sourceFile) yamlError(err error, diags *diagList) {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = strings.TrimPrefix(strings.TrimPrefix(msg, m[0]), ": ")
	}
	col := 0
	if src := f.line(line); src != "" {
		if i := strings.IndexByte(src, '\t'); i >= 0 && strings.Contains(msg, `'\t'`) {
			col = i + 1
		} else {
			col = len(src) - len(strings.TrimLeft(src, " \t")) + 1
		}
	}
	diags.add(SeverityError, Position{File: f.name, Line: line, Col: col}, "", f.line(line), "invalid YAML: %s", msg)
}

// repairs lists the lines each repair changed (1-based).
type repairs struct {
	tabs, indents, continued []int
	quoted                   [][2]int // line, column of the name
}

func (r repairs) empty() bool {
	return len(r.tabs)+len(r.indents)+len(r.continued)+len(r.quoted) == 0
}

// nameLineRE matches an item's first line whose name is a plain scalar.
var nameLineRE = regexp.MustCompile(`^( *- +(?:rule|macro|list|filter|drop): +)([^'"\s\[{>|&*!].*?)\s*$`)

// repairText fixes the quirks of the reference's files on a copy of lines,
// keeping line numbers:
//   - tabs become single spaces (columns stay the same);
//   - a top-level item indented by one space more than its siblings is
//     moved back, with its keys when they are indented to match it;
//   - a line that continues a multi-line value but starts left of the
//     item's keys is indented;
//   - an item name containing ": " is quoted.
//
// shift records, per line, the columns removed (negative when added) before
// the first character, so positions map back to the text as written.
func repairText(lines []string, shift []int) ([]string, repairs) {
	var rep repairs
	out := make([]string, len(lines))
	for i, l := range lines {
		if strings.IndexByte(l, '\t') >= 0 {
			l = strings.ReplaceAll(l, "\t", " ")
			rep.tabs = append(rep.tabs, i+1)
		}
		out[i] = l
	}
	base := -1
	for _, l := range out {
		if d := dashIndent(l); d >= 0 && (base < 0 || d < base) {
			base = d
		}
	}
	if base < 0 {
		return out, rep
	}
	for i := 0; i < len(out); i++ {
		if dashIndent(out[i]) != base+1 {
			continue
		}
		rep.indents = append(rep.indents, i+1)
		out[i] = out[i][1:]
		shift[i]++
		// The item's keys follow the dash: when they sit one column right
		// of where a top-level item's keys belong, move the whole item.
		j := nextContent(out, i+1)
		if j < 0 || indentOf(out[j]) != base+3 {
			continue
		}
		for ; j < len(out); j++ {
			if isBlankOrComment(out[j]) {
				continue
			}
			if indentOf(out[j]) <= base+1 {
				break
			}
			out[j] = out[j][1:]
			shift[j]++
		}
	}
	inItem := false
	for i, l := range out {
		if isBlankOrComment(l) {
			continue
		}
		if dashIndent(l) == base {
			inItem = true
			continue
		}
		if inItem && indentOf(l) < base+2 {
			pad := base + 4 - indentOf(l)
			out[i] = strings.Repeat(" ", pad) + l
			shift[i] -= pad
			rep.continued = append(rep.continued, i+1)
		}
	}
	for i, l := range out {
		m := nameLineRE.FindStringSubmatch(l)
		if m == nil || !(strings.Contains(m[2], ": ") || strings.HasSuffix(m[2], ":")) {
			continue
		}
		out[i] = m[1] + strconv.Quote(m[2])
		rep.quoted = append(rep.quoted, [2]int{i + 1, len(m[1]) + 1 + shift[i]})
	}
	return out, rep
}

// dashIndent returns the indentation of a block sequence entry ("- ..."),
// or -1 when the line is not one.
func dashIndent(l string) int {
	n := indentOf(l)
	if n < len(l) && l[n] == '-' && (n+1 == len(l) || l[n+1] == ' ') {
		return n
	}
	return -1
}

func indentOf(l string) int {
	n := 0
	for n < len(l) && l[n] == ' ' {
		n++
	}
	return n
}

func isBlankOrComment(l string) bool {
	t := strings.TrimLeft(l, " ")
	return t == "" || t[0] == '#'
}

func nextContent(lines []string, from int) int {
	for j := from; j < len(lines); j++ {
		if !isBlankOrComment(lines[j]) {
			return j
		}
	}
	return -1
}

// groupLines groups consecutive line numbers into [first, last] ranges.
func groupLines(ns []int) [][2]int {
	var out [][2]int
	for _, n := range ns {
		if len(out) > 0 && out[len(out)-1][1] == n-1 {
			out[len(out)-1][1] = n
			continue
		}
		out = append(out, [2]int{n, n})
	}
	return out
}

func lineRange(r [2]int) string {
	if r[0] == r[1] {
		return "line " + strconv.Itoa(r[0])
	}
	return "lines " + strconv.Itoa(r[0]) + "-" + strconv.Itoa(r[1])
}

// scalarPos finds where byte offset off of a scalar's value sits in the
// file. Plain and folded scalars lose line breaks and indentation when
// parsed, so the value is walked against the source skipping whitespace;
// quoted scalars with escapes may drift by a few columns, which still
// leaves the caret on the right line.
func (f *sourceFile) scalarPos(n *yaml.Node, off int) Position {
	v := n.Value
	line, col := n.Line, n.Column // 1-based, in the repaired text
	src := func(l int) string {
		if l < 1 || l > len(f.lines) {
			return ""
		}
		s := f.lines[l-1]
		if sh := f.shift[l-1]; sh > 0 && sh <= len(s) {
			s = s[sh:]
		}
		return s
	}
	switch n.Style {
	case yaml.LiteralStyle, yaml.FoldedStyle:
		line, col = line+1, 1
	case yaml.SingleQuotedStyle, yaml.DoubleQuotedStyle:
		col++
	}
	// next moves to the next non-blank source character, across lines.
	next := func() {
		for {
			s := src(line)
			for col <= len(s) && (s[col-1] == ' ' || s[col-1] == '\t') {
				col++
			}
			if col <= len(s) || line >= len(f.lines) {
				return
			}
			line, col = line+1, 1
		}
	}
	for i := 0; i < len(v); i++ {
		if isSpace(v[i]) {
			continue
		}
		next()
		if i >= off {
			return f.at(line, col)
		}
		col++
	}
	// The end of the value: just after its last character.
	return f.at(line, col)
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
