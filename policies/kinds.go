package policies

import (
	"fmt"
	"strings"

	"github.com/sfconnector/sfconnector/sysflow"
)

// kindMask is a set of record kinds, one bit per sysflow.RecordKind.
type kindMask uint32

// eventKinds are the kinds of flat events: what policies see.
var eventKinds = []sysflow.RecordKind{
	sysflow.KindProcessEvent, sysflow.KindFileFlow, sysflow.KindFileEvent, sysflow.KindNetworkFlow,
	sysflow.KindNetworkEvent, sysflow.KindProcessFlow, sysflow.KindK8sEvent,
}

var allKinds = func() kindMask {
	var m kindMask
	for _, k := range eventKinds {
		m |= 1 << k
	}
	return m
}()

func (m kindMask) has(k sysflow.RecordKind) bool { return m&(1<<k) != 0 }

func (m kindMask) kinds() []sysflow.RecordKind {
	var out []sysflow.RecordKind
	for _, k := range eventKinds {
		if m.has(k) {
			out = append(out, k)
		}
	}
	return out
}

// prefilterKind maps a prefilter entry (a record type as sf.type prints it)
// to its kind.
func prefilterKind(name string) (sysflow.RecordKind, bool) {
	for _, k := range eventKinds {
		if strings.EqualFold(k.TypeName(), name) {
			return k, true
		}
	}
	return 0, false
}

func prefilterNames() string {
	var names []string
	for _, k := range eventKinds {
		names = append(names, k.TypeName())
	}
	return strings.Join(names, ", ")
}

// ConstantFor reports whether a field has the same value on every event of
// kind k, namely the value it has on an otherwise empty Event{Kind: k}:
// a record type carries no data for it. sf.type depends on the kind alone;
// file fields exist on file events and flows only, network fields on
// network flows and events, flow counters on flows, return codes on
// events, Kubernetes fields on Kubernetes events, and Kubernetes events
// have no process.
//
// The rule index uses it to work out which record kinds a condition can
// match; a test checks it against every event of the real traces.
func ConstantFor(field string, k sysflow.RecordKind) bool {
	prefixed := func(p string) bool { return strings.HasPrefix(field, p) }
	switch {
	case field == "sf.type":
		return true
	case field == "sf.file.fd":
		return false // network flows carry a descriptor too
	case prefixed("sf.file."):
		return k != sysflow.KindFileEvent && k != sysflow.KindFileFlow
	case prefixed("sf.net."):
		return k != sysflow.KindNetworkFlow && k != sysflow.KindNetworkEvent
	case prefixed("sf.flow."):
		return k == sysflow.KindProcessEvent || k == sysflow.KindFileEvent || k == sysflow.KindNetworkEvent || k == sysflow.KindK8sEvent
	case field == "sf.ret":
		return k == sysflow.KindFileFlow || k == sysflow.KindNetworkFlow || k == sysflow.KindProcessFlow || k == sysflow.KindK8sEvent
	case prefixed("sf.ke."):
		return k != sysflow.KindK8sEvent
	case prefixed("sf.proc.") || prefixed("sf.pproc."):
		return k == sysflow.KindK8sEvent
	}
	return false
}

// kindsOf works out on which kinds a leaf can be true and can be false: for
// a kind where all its fields are constant, by evaluating it on an empty
// event of that kind; elsewhere it can be either.
func (l *loader) kindsOf(lf *leaf) {
	for _, k := range eventKinds {
		constant := true
		for _, f := range lf.fields {
			if !ConstantFor(f.Name, k) {
				constant = false
				break
			}
		}
		if !constant {
			lf.canTrue |= 1 << k
			lf.canFalse |= 1 << k
			continue
		}
		if lf.eval(l.scratch(&sysflow.Event{Kind: k})) {
			lf.canTrue |= 1 << k
		} else {
			lf.canFalse |= 1 << k
		}
	}
}

// masks returns the kinds on which n can be true and can be false.
func (l *loader) masks(n *cnode) (canTrue, canFalse kindMask) {
	switch n.op {
	case cConst:
		if n.val {
			return allKinds, 0
		}
		return 0, allKinds
	case cLeaf:
		lf := l.leaves[n.leaf]
		return lf.canTrue, lf.canFalse
	case cNot:
		t, f := l.masks(n.kids[0])
		return f, t
	case cAnd:
		canTrue, canFalse = allKinds, 0
		for _, k := range n.kids {
			t, f := l.masks(k)
			canTrue &= t
			canFalse |= f
		}
		return canTrue, canFalse
	case cOr:
		canTrue, canFalse = 0, allKinds
		for _, k := range n.kids {
			t, f := l.masks(k)
			canTrue |= t
			canFalse &= f
		}
		return canTrue, canFalse
	}
	panic(fmt.Sprintf("policies: bad node op %d", n.op))
}
