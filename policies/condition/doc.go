// Package condition parses the condition dialect of SysFlow and Falco
// policies into an abstract syntax tree.
//
// The dialect: boolean operators and, or, not and parentheses; the
// comparisons =, ==, !=, <, <=, >, >=, contains, icontains, startswith,
// endswith, glob and regex; the set operators in, pmatch and intersects
// with a parenthesised, comma-separated list of operands; exists, written
// before or after its operand; and bare words standing alone, which name
// macros. Operands are bare words (field names, list names, numbers, paths)
// or single- or double-quoted strings.
//
// The package knows nothing about fields, lists or macros: it only checks
// the syntax and records, for every node and operand, its byte offset in the
// condition text, so the policy loader can point at the file line and
// column of a problem. Resolving names and compiling the tree is the job of
// package policies.
package condition
