package sysflow

// This file holds the typed SysFlow records. Field names follow the Avro
// schema (../shared/schema, v5); fields a older writer schema lacks keep the
// reader default listed next to them.

// RecordKind identifies the branch of the SysFlow union a Record holds.
type RecordKind uint8

// The union branches, in the order of the v5 schema's union.
const (
	KindUnknown RecordKind = iota
	KindHeader
	KindContainer
	KindProcess
	KindFile
	KindProcessEvent
	KindNetworkFlow
	KindFileFlow
	KindFileEvent
	KindNetworkEvent
	KindProcessFlow
	KindPod
	KindK8sEvent
)

var kindNames = [...]string{"unknown", "SFHeader", "Container", "Process", "File",
	"ProcessEvent", "NetworkFlow", "FileFlow", "FileEvent", "NetworkEvent", "ProcessFlow", "Pod", "K8sEvent"}

func (k RecordKind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "unknown"
}

// UnionIndex is the position of the kind in the v5 SysFlow union.
func (k RecordKind) UnionIndex() int { return int(k) - 1 }

// Record is one SysFlow record: exactly one of the pointers matching Kind is set.
// Records are values handed through the pipeline by pointer; once decoded they
// are never modified, so the flattener may keep pointers to entities.
type Record struct {
	Kind         RecordKind
	Header       *Header
	Container    *Container
	Process      *Process
	File         *File
	ProcessEvent *ProcessEvent
	NetworkFlow  *NetworkFlow
	FileFlow     *FileFlow
	FileEvent    *FileEvent
	NetworkEvent *NetworkEvent
	ProcessFlow  *ProcessFlow
	Pod          *Pod
	K8sEvent     *K8sEvent
}

// OID identifies a process: its creation time and host pid.
type OID struct {
	CreateTS int64
	Hpid     int64
}

// FOID identifies a file: a SHA1 of its path.
type FOID [20]byte

// ObjectState says whether an entity record is new, changed or re-sent.
type ObjectState int32

// Object states.
const (
	StateCreated ObjectState = iota
	StateModified
	StateReup
)

// ContainerType is the runtime of a container (sysflow.type.ContainerType).
type ContainerType int32

// ContainerTypeNames are the enum symbols in schema order.
var ContainerTypeNames = []string{"CT_DOCKER", "CT_LXC", "CT_LIBVIRT_LXC", "CT_MESOS", "CT_RKT",
	"CT_CUSTOM", "CT_CRI", "CT_CONTAINERD", "CT_CRIO", "CT_BPM"}

// K8sComponent and K8sAction symbols in schema order.
var (
	K8sComponentNames = []string{"K8S_NODES", "K8S_NAMESPACES", "K8S_PODS", "K8S_REPLICATIONCONTROLLERS",
		"K8S_SERVICES", "K8S_EVENTS", "K8S_REPLICASETS", "K8S_DAEMONSETS", "K8S_DEPLOYMENTS", "K8S_UNKNOWN"}
	K8sActionNames = []string{"K8S_COMPONENT_ADDED", "K8S_COMPONENT_MODIFIED", "K8S_COMPONENT_DELETED",
		"K8S_COMPONENT_ERROR", "K8S_COMPONENT_NONEXISTENT", "K8S_COMPONENT_UNKNOWN"}
)

// Header (SFHeader) starts every stream and resets all entity tables.
type Header struct {
	Version  int64  // default 5
	Exporter string // node id
	IP       string // v2+; default "NA"
	Filename string // v3+
}

// Container is a container entity.
type Container struct {
	ID         string
	Name       string
	Image      string
	ImageID    string
	Type       ContainerType
	Privileged bool
	PodID      *string // v4+; nil when null
}

// Process is a process entity.
type Process struct {
	State       ObjectState
	OID         OID
	POID        *OID // nil when null
	TS          int64
	Exe         string
	ExeArgs     string
	UID         int32
	UserName    string
	GID         int32
	GroupName   string
	TTY         bool
	ContainerID *string  // nil when null
	Entry       bool     // v2+; default false
	Cwd         string   // v5
	Env         []string // v5
}

// File is a file entity.
type File struct {
	State       ObjectState
	OID         FOID
	TS          int64
	Restype     int32
	Path        string
	ContainerID *string
}

// ProcessEvent is a process event (clone, exec, exit, setuid, setns...).
type ProcessEvent struct {
	ProcOID OID
	TS      int64
	TID     int64
	OpFlags int32
	Args    []string
	Ret     int32
}

// NetworkFlow aggregates the operations of a process on one connection.
type NetworkFlow struct {
	ProcOID       OID
	TS            int64
	TID           int64
	OpFlags       int32
	EndTS         int64
	SIP           int32
	SPort         int32
	DIP           int32
	DPort         int32
	Proto         int32
	FD            int32
	NumRRecvOps   int64
	NumWSendOps   int64
	NumRRecvBytes int64
	NumWSendBytes int64
}

// FileFlow aggregates the operations of a process on one open file.
type FileFlow struct {
	ProcOID       OID
	TS            int64
	TID           int64
	OpFlags       int32
	OpenFlags     int32
	EndTS         int64
	FileOID       FOID
	FD            int32
	NumRRecvOps   int64
	NumWSendOps   int64
	NumRRecvBytes int64
	NumWSendBytes int64
}

// FileEvent is a file event (mkdir, unlink, rename, link...).
type FileEvent struct {
	ProcOID    OID
	TS         int64
	TID        int64
	OpFlags    int32
	FileOID    FOID
	Ret        int32
	NewFileOID *FOID // nil when null
}

// NetworkEvent is a single network operation.
type NetworkEvent struct {
	ProcOID OID
	TS      int64
	TID     int64
	OpFlags int32
	SIP     int32
	SPort   int32
	DIP     int32
	DPort   int32
	Proto   int32
	Ret     int32
}

// ProcessFlow aggregates thread operations of a process (v2+).
type ProcessFlow struct {
	ProcOID          OID
	TS               int64
	NumThreadsCloned int64
	OpFlags          int32
	EndTS            int64
	NumThreadsExited int64
	NumCloneErrors   int64
}

// Port is a Kubernetes service port.
type Port struct {
	Port       int32
	TargetPort int32
	NodePort   int32
	Proto      string
}

// Service is a Kubernetes service a pod belongs to.
type Service struct {
	Name      string
	ID        string
	Namespace string
	PortList  []Port
	ClusterIP []int64
}

// Pod is a Kubernetes pod entity (v4+).
type Pod struct {
	TS           int64
	ID           string
	Name         string
	NodeName     string
	HostIP       []int64
	InternalIP   []int64
	Namespace    string
	RestartCount int64
	Labels       map[string]string
	Selectors    map[string]string
	Services     []Service
}

// K8sEvent is a Kubernetes event (v4+).
type K8sEvent struct {
	Kind    int32 // index into K8sComponentNames
	Action  int32 // index into K8sActionNames
	TS      int64
	Message string
}
