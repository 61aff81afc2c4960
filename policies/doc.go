// Package policies is the policy language of sfconnector: it loads Falco-
// style policy files written for the SysFlow processor, compiles them, and
// evaluates them on flat events (sysflow.Event).
//
// # Loading
//
// Load reads policy files, or directories searched recursively for .yaml
// and .yml files (hidden ones skipped), in lexical order; LoadFS reads from
// an fs.FS; LoadDefault reads the bundled runtime-integrity policies
// (policies/default, embedded). Files are parsed with gopkg.in/yaml.v3,
// keeping the line and column of every node. The reference processor's
// own files are not all valid YAML (tabs, items indented by one space,
// continuation lines not indented, names containing ": "): when a file
// does not parse, those quirks are repaired, each with a warning naming its
// lines, and positions still point at the file as written.
//
// A file is a list of items: `- list:` with items, `- macro:` with a
// condition, `- rule:` (desc, condition, priority, tags, prefilter,
// enabled, actions, output, exceptions, append; keys in any order),
// `- filter:` or `- drop:` (a condition; matching records are dropped
// before rules run) and `- required_engine_version:`. Definitions from
// every file share one namespace: lists and macros may be used before they
// are defined and nest; the last definition of a name wins (a local file
// may retune the macros of the stock rules, as in Falco). A rule defined
// twice is replaced by its later definition, in its first place, with a
// warning. Options.KeepDuplicateRules and Options.FileScopedDefinitions
// reproduce the reference processor's behaviour instead, for comparisons.
//
// # Sigma rules
//
// A YAML document that is a mapping with a detection key is a Sigma rule
// (sigma*.go): it is read in the same pass as the Falco-style files and
// compiled into the same comparison tree, so both languages share leaves,
// the rule index, batching and policy tests. Field names go through a
// sigmac field mapping (Options.SigmaConfig, or the built-in one); values
// compare ignoring case with Sigma's wildcards and escapes, and every
// value modifier of the specification but the UTF-16 ones and expand is
// implemented. A construct the engine cannot run (keyword searches,
// aggregations, an unmapped field, a log source SysFlow does not record)
// skips the rule with a warning naming it; strict mode makes it an error.
// docs/policies.md lists the mapping and the semantics.
//
// # Conditions
//
// Package condition parses the condition dialect into a tree. Compilation
// resolves field names through the sysflow field registry (sf.* names,
// Falco aliases, json-path and index suffixes), expands lists, inlines
// macros, turns != into not =, folds comparisons between literals, and
// turns each comparison into a typed leaf reading the event through the
// field's accessor. Semantics (FIELDS.md): = and != compare text, and on a
// list field = holds when any element equals; <, <=, >, >= compare
// integers; contains, icontains, startswith, endswith, glob (shell
// patterns, * crossing slashes) and regex (RE2, whole value) test strings;
// in is equality with any value, pmatch substring containment of any value,
// intersects any element in the set; exists a non-zero value, prefix or
// postfix. An unknown field name is a warning and reads as the literal
// string, as in the reference.
//
// Each rule is then compiled to one govaluate expression
// (github.com/casbin/govaluate) over parameters p0, p1, ... — one per
// comparison — and the Evaluator is the govaluate.Parameters that answers
// them from the typed event, computing each comparison once per event. No
// map is built per record and evaluation allocates nothing. Calling
// govaluate functions instead (startswith([sf.proc.exe], '/bin')) would box
// every field value and allocate an argument slice per call: measured at
// 404 ns and 7 allocations for a 3-comparison expression against 76 ns and
// none this way.
//
// Before govaluate runs, the Evaluator walks the same compiled tree
// directly over the same comparisons; a record it rejects skips govaluate,
// whose generic evaluation costs several times more (Options.GovaluateOnly
// turns this off; both give the same answers, which a test checks on every
// rule and every trace event).
//
// # The rule index
//
// A rule is evaluated only on the record kinds it can match: its prefilter,
// narrowed by what its condition allows (sf.type comparisons, and fields a
// kind never carries: file fields outside file events and flows, network
// fields outside network flows and events, see ConstantFor).
//
// What the Evaluator walks per kind is not the rule's own tree but its
// evaluation plan (plan.go): the tree with the comparisons the kind
// settles folded to constants, equal subtrees of all the rules of the kind
// merged into one node, and each node that several rules reach evaluated
// once per event and remembered, as comparisons are; an sf.opflags test
// the rule requires is made by the rule loop, one AND, before any walk.
// A subtree whose comparisons read only the process, its parent and
// ancestry, its container, pod and the trace header is evaluated once per
// process snapshot and remembered across that process's events
// (procmemo.go): the flattener gives every event of a process the same
// immutable entity pointers, which are the memo's key.
// Options.NoMemo walks the rules' own trees instead; a test requires the
// same matches both ways on every trace.
//
// # Diagnostics
//
// Every problem is a Diagnostic with file, line and column, the item
// concerned and the source line (WriteDiagnostics shows it with a caret).
// A syntax error, an unknown macro, a bad type, a bad pattern are errors;
// an unknown field (with the closest known name), a condition that can
// never be true, an unknown priority or key, a repaired quirk are warnings,
// and Options.Strict makes them errors. When there is an error, Load returns
// a *LoadError listing all of them and no set: a pipeline never starts with
// a broken policy (and transforms/policy never swaps one in).
//
// # Evaluation
//
// A Set is immutable and safe for concurrent use. Set.Match and Set.Drop
// take an Evaluator from a pool; hot loops keep their own (NewEvaluator,
// one per goroutine). Match lists every matching rule in rule order, with
// its description, priority, tags and rendered output (%field).
//
// Subpackages: condition (the parser), policytest (YAML policy unit tests,
// `sfconnector policy test`). The transform that runs a set over batches is
// transforms/policy.
package policies
