package sysflow

// Event is the flat event: one SysFlow event or flow together with the
// entities it refers to, as the flattener resolved them at the time the event
// arrived. Entity pointers are shared, immutable snapshots: never modify what
// they point to. A nil entity pointer means the reference was missing.
//
// Events are self-contained: encoders, policies and bus sinks need nothing
// but the Event.
type Event struct {
	Kind   RecordKind // KindProcessEvent, KindFileEvent, KindFileFlow, KindNetworkFlow, KindNetworkEvent, KindProcessFlow or KindK8sEvent
	Header *Header    // node id/ip, schema version, trace name; nil before any header

	ProcOID   OID
	Proc      *Process   // nil when the process record is missing
	ParentOID *OID       // the process's parent OID (nil when unknown)
	Parent    *Process   // nil when unknown
	Ancestry  []*Process // the process itself first, then its parents; shared between events: never modify
	Container *Container // nil outside a container (host)
	Pod       *Pod
	File      *File // FE, FF
	NewFile   *File // FE rename/link/symlink

	// The file references as the event carries them, known even when the
	// File records are missing (FE, FF). NewFileOID points into the
	// immutable FileEvent record; nil when the event names no second file.
	FileOID    FOID
	NewFileOID *FOID

	TS        int64
	EndTS     int64
	TID       int64
	OpFlags   int32
	Ret       int32
	OpenFlags int32
	FD        int32
	SIP       int32
	SPort     int32
	DIP       int32
	DPort     int32
	Proto     int32
	RBytes    int64
	ROps      int64
	WBytes    int64
	WOps      int64
	Args      []string  // ProcessEvent args
	K8s       *K8sEvent // KE

	// Filled by the policy transform.
	Matches []Match  // every rule that matched, in rule order
	Tags    []string // merged, de-duplicated tags of the matched rules
}

// Match is one policy rule that matched an event.
type Match struct {
	Rule     string
	Desc     string
	Priority Priority
	Tags     []string
	Output   string // the rule's output with %field substituted, when it has one
	// Meta is the rule's metadata beyond name, description, priority and
	// tags (a Sigma rule's id, status, author, references, false
	// positives), in a fixed order; nil for Falco-style rules. Shared
	// with every Match of the rule: never modify.
	Meta []MetaField
}

// MetaField is one metadata entry of a rule: a key and its values.
type MetaField struct {
	Key    string
	Values []string
	List   bool // encoded as a list even with one value
}

// Priority of a rule: the reference's three levels.
type Priority int

// Priorities. The reference's JSON output numbers them one higher
// (low 1, medium 2, high 3); encoders add the offset.
const (
	PriorityLow    Priority = 0
	PriorityMedium Priority = 1
	PriorityHigh   Priority = 2
)

func (p Priority) String() string {
	switch p {
	case PriorityMedium:
		return "medium"
	case PriorityHigh:
		return "high"
	}
	return "low"
}

// MaxPriority is the highest priority among the event's matches.
func (e *Event) MaxPriority() Priority {
	p := PriorityLow
	for i := range e.Matches {
		if e.Matches[i].Priority > p {
			p = e.Matches[i].Priority
		}
	}
	return p
}
