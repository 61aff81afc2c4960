package policies

import (
	"slices"
	"strconv"

	"github.com/sfconnector/sfconnector/sysflow"
)

// The evaluation plan: what the evaluator walks instead of each rule's own
// compiled tree. Rules share macros, and after inlining a macro is the same
// subtree in every rule that uses it; walking each rule's tree evaluated
// such a subtree once per rule (the leaves below it were memoised, the
// walk over them was not). The plan, built once per Set:
//
//   - folds each rule's tree for every record kind it is evaluated on:
//     comparisons whose value the kind fixes (sf.type, file fields on a
//     process event, an sf.opflags test naming no flag the kind can carry)
//     become constants, so a rule stops testing the record type that the
//     kind index has already settled;
//   - interns the folded subtrees, so that equal subtrees are one node
//     across all rules of the kind (a macro, an exception row, a repeated
//     Sigma selection), and gives each node used more than once a memo
//     slot: the evaluator computes it once per event;
//   - takes out of an and at the root one sf.opflags test, which the rule
//     loop checks with one AND of the record's flags before walking;
//   - gives the largest subtrees that read only process, ancestry,
//     container, pod and header fields a slot in the per-process memo
//     (procmemo.go), which keeps their values across the events of one
//     process snapshot.
//
// Terms keep the order the author wrote. Sorting them by estimated cost,
// and by cost and a guess of how often each comparison holds, were tried
// and made the walk longer on the real traces with the reference's 79
// rules (32% and 21% more comparisons evaluated, 31% and 17% more nodes
// visited): authors put the selective test first, and a static guess
// does not know which one that is.
//
// None of this can change a result: comparisons have no side effects and
// their value depends on the event alone, so folding, sharing, and taking
// a term out of an and keep every rule's value on every event, and rules
// are still tried, and reported, in rule order. The rule's
// govaluate expression, built from its own tree, still confirms every
// match. Options.NoMemo walks the rules' own trees instead, and
// TestPlanMatchesDirectWalk checks that both agree on every trace.

// check is one rule as the evaluator tries it on one kind of record.
type check struct {
	rule *Rule
	root *cnode
	// need, when not zero, holds the op flags of which a record must carry
	// one for the rule to match (a term of the root's and).
	need int32
}

// planner builds the plan of one Set.
type planner struct {
	leaves []*leaf
	kind   sysflow.RecordKind
	folded map[*cnode]*cnode // per kind: original node -> plan node
	refs   map[*cnode]int    // per kind: uses of each original node
	shared map[*cnode]bool   // plan nodes of original nodes used more than once
	intern map[string]*cnode // per kind: structure -> plan node
	ids    map[*cnode]int
	key    []byte
}

// buildPlan fills the Set's checks from the plan, or, with plan false (and
// with GovaluateOnly), with checks that walk each rule's own tree.
func (s *Set) buildPlan(plan bool) {
	if !plan || s.govaluateOnly {
		for _, k := range eventKinds {
			for _, r := range s.byKind[k] {
				s.checks[k] = append(s.checks[k], check{rule: r, root: r.root})
			}
			for _, r := range s.dropByKind[k] {
				s.dropChecks[k] = append(s.dropChecks[k], check{rule: r, root: r.root})
			}
		}
		return
	}
	p := &planner{leaves: s.leaves, ids: map[*cnode]int{}}
	for _, k := range eventKinds {
		p.kind, p.folded, p.intern = k, map[*cnode]*cnode{}, map[string]*cnode{}
		p.refs, p.shared = map[*cnode]int{}, map[*cnode]bool{}
		for _, rs := range [][]*Rule{s.byKind[k], s.dropByKind[k]} {
			for _, r := range rs {
				countRefs(r.root, p.refs)
			}
		}
		s.checks[k] = p.checks(s.byKind[k])
		s.dropChecks[k] = p.checks(s.dropByKind[k])
	}
	if s.noSubtreeMemo {
		return
	}
	s.assignProcSlots()
	// A node reached more than once from the roots of one kind's checks is
	// shared: it gets a memo slot. Kinds never meet in one event, so the
	// slots of different kinds may overlap.
	for _, k := range eventKinds {
		refs := map[*cnode]int{}
		for _, cs := range [][]check{s.checks[k], s.dropChecks[k]} {
			for _, c := range cs {
				countRefs(c.root, refs)
			}
		}
		slots := 0
		var assign func(n *cnode)
		assign = func(n *cnode) {
			if n.slot != 0 {
				return
			}
			if (n.op == cAnd || n.op == cOr) && refs[n] > 1 {
				slots++
				n.slot = int32(slots)
			}
			for _, c := range n.kids {
				assign(c)
			}
		}
		for _, cs := range [][]check{s.checks[k], s.dropChecks[k]} {
			for _, c := range cs {
				assign(c.root)
			}
		}
		s.slots = max(s.slots, slots)
	}
}

// countRefs counts the uses of n and of the nodes below it; the subtree of
// a node already counted is not counted again (the memo covers it).
func countRefs(n *cnode, refs map[*cnode]int) {
	refs[n]++
	if refs[n] > 1 {
		return
	}
	for _, c := range n.kids {
		countRefs(c, refs)
	}
}

// checks plans the rules of the planner's kind. A rule whose folded tree is
// always false on the kind is left out: it cannot match.
func (p *planner) checks(rules []*Rule) []check {
	var out []check
	for _, r := range rules {
		root := p.fold(r.root)
		if root.op == cConst && !root.val {
			continue
		}
		c := check{rule: r, root: root}
		c.need, c.root = p.opflagsTerm(root)
		out = append(out, c)
	}
	return out
}

// opflagsTerm finds an sf.opflags bit test that root needs: root itself, or
// a term of root's and, or an or of such tests there. The rule loop makes
// that test, so the walk does not; the rest of the tree is returned.
func (p *planner) opflagsTerm(root *cnode) (int32, *cnode) {
	mask := func(n *cnode) int32 {
		if n.op == cLeaf {
			if m := p.leaves[n.leaf].opflags; m != nil {
				return m[p.kind&31]
			}
			return 0
		}
		if n.op != cOr {
			return 0
		}
		var u int32
		for _, c := range n.kids {
			if c.op != cLeaf || p.leaves[c.leaf].opflags == nil {
				return 0
			}
			u |= p.leaves[c.leaf].opflags[p.kind&31]
		}
		return u
	}
	if m := mask(root); m != 0 {
		return m, trueNode
	}
	if root.op != cAnd {
		return 0, root
	}
	for i, c := range root.kids {
		if m := mask(c); m != 0 {
			rest := slices.Concat(root.kids[:i], root.kids[i+1:])
			return m, p.junction(true, rest)
		}
	}
	return 0, root
}

// fold returns n's plan node for the planner's kind.
func (p *planner) fold(n *cnode) *cnode {
	if f, ok := p.folded[n]; ok {
		return f
	}
	var f *cnode
	switch n.op {
	case cConst:
		f = n
	case cLeaf:
		lf := p.leaves[n.leaf]
		switch {
		case !lf.canTrue.has(p.kind), lf.opflags != nil && lf.opflags[p.kind&31] == 0:
			f = falseNode
		case !lf.canFalse.has(p.kind):
			f = trueNode
		default:
			f = p.node(&cnode{op: cLeaf, leaf: n.leaf})
		}
	case cNot:
		x := notNode(p.fold(n.kids[0]))
		if x.op == cNot {
			x = p.node(x)
		}
		f = x
	case cAnd, cOr:
		kids := make([]*cnode, len(n.kids))
		for i, c := range n.kids {
			kids[i] = p.fold(c)
		}
		f = p.junction(n.op == cAnd, kids)
		if p.refs[n] > 1 && (f.op == cAnd || f.op == cOr) {
			p.shared[f] = true
		}
	}
	p.folded[n] = f
	return f
}

// junction builds an interned and/or of plan nodes: constants folded,
// repeated terms dropped (x and x is x), nested ones of the same operator
// flattened unless shared, so that a shared subtree stays one node, which
// the memo evaluates once per event.
func (p *planner) junction(isAnd bool, kids []*cnode) *cnode {
	op := cOr
	if isAnd {
		op = cAnd
	}
	var terms []*cnode
	add := func(c *cnode) {
		if !slices.Contains(terms, c) {
			terms = append(terms, c)
		}
	}
	for _, k := range kids {
		switch {
		case k.op == cConst && k.val == isAnd:
			// neutral element
		case k.op == cConst:
			return k // absorbing element
		case k.op == op && !p.shared[k]:
			for _, c := range k.kids {
				add(c)
			}
		default:
			add(k)
		}
	}
	switch len(terms) {
	case 0:
		return constNode(isAnd)
	case 1:
		return terms[0]
	}
	return p.node(&cnode{op: op, kids: terms})
}

// node interns a plan node whose kids are interned already.
func (p *planner) node(n *cnode) *cnode {
	b := append(p.key[:0], byte(n.op))
	if n.op == cLeaf {
		b = strconv.AppendInt(b, int64(n.leaf), 10)
	}
	for _, c := range n.kids {
		b = append(b, ',')
		b = strconv.AppendInt(b, int64(p.id(c)), 10)
	}
	p.key = b
	if m, ok := p.intern[string(b)]; ok {
		return m
	}
	p.intern[string(b)] = n
	return n
}

func (p *planner) id(n *cnode) int {
	if i, ok := p.ids[n]; ok {
		return i
	}
	i := len(p.ids) + 1
	p.ids[n] = i
	return i
}
