package sysflow

import (
	"errors"
	"fmt"
	"maps"
	"slices"
)

// The encoder writes the v5 schema only (SchemaV5): it is what replay sends
// over the socket and what the Writer puts in files, so one straight-line
// encoder per record type is all it takes.

// AppendDatum appends rec as one Avro-binary datum of the v5 SysFlow union,
// the form the collector sends over its socket.
func AppendDatum(dst []byte, rec *Record) ([]byte, error) {
	if err := checkRecord(rec); err != nil {
		return dst, err
	}
	dst = appendLong(dst, int64(rec.Kind.UnionIndex()))
	switch rec.Kind {
	case KindHeader:
		h := rec.Header
		dst = appendLong(dst, h.Version)
		dst = appendString(dst, h.Exporter)
		dst = appendString(dst, h.IP)
		dst = appendString(dst, h.Filename)
	case KindContainer:
		c := rec.Container
		dst = appendString(dst, c.ID)
		dst = appendString(dst, c.Name)
		dst = appendString(dst, c.Image)
		dst = appendString(dst, c.ImageID)
		dst = appendLong(dst, int64(c.Type))
		dst = appendBool(dst, c.Privileged)
		dst = appendOptString(dst, c.PodID)
	case KindProcess:
		p := rec.Process
		dst = appendLong(dst, int64(p.State))
		dst = appendOID(dst, p.OID)
		if p.POID == nil {
			dst = append(dst, 0)
		} else {
			dst = append(dst, 2)
			dst = appendOID(dst, *p.POID)
		}
		dst = appendLong(dst, p.TS)
		dst = appendString(dst, p.Exe)
		dst = appendString(dst, p.ExeArgs)
		dst = appendLong(dst, int64(p.UID))
		dst = appendString(dst, p.UserName)
		dst = appendLong(dst, int64(p.GID))
		dst = appendString(dst, p.GroupName)
		dst = appendBool(dst, p.TTY)
		dst = appendOptString(dst, p.ContainerID)
		dst = appendBool(dst, p.Entry)
		dst = appendString(dst, p.Cwd)
		dst = appendStrings(dst, p.Env)
	case KindFile:
		f := rec.File
		dst = appendLong(dst, int64(f.State))
		dst = append(dst, f.OID[:]...)
		dst = appendLong(dst, f.TS)
		dst = appendLong(dst, int64(f.Restype))
		dst = appendString(dst, f.Path)
		dst = appendOptString(dst, f.ContainerID)
	case KindProcessEvent:
		e := rec.ProcessEvent
		dst = appendOID(dst, e.ProcOID)
		dst = appendLong(dst, e.TS)
		dst = appendLong(dst, e.TID)
		dst = appendLong(dst, int64(e.OpFlags))
		dst = appendStrings(dst, e.Args)
		dst = appendLong(dst, int64(e.Ret))
	case KindNetworkFlow:
		e := rec.NetworkFlow
		dst = appendOID(dst, e.ProcOID)
		dst = appendLong(dst, e.TS)
		dst = appendLong(dst, e.TID)
		dst = appendLong(dst, int64(e.OpFlags))
		dst = appendLong(dst, e.EndTS)
		dst = appendLong(dst, int64(e.SIP))
		dst = appendLong(dst, int64(e.SPort))
		dst = appendLong(dst, int64(e.DIP))
		dst = appendLong(dst, int64(e.DPort))
		dst = appendLong(dst, int64(e.Proto))
		dst = appendLong(dst, int64(e.FD))
		dst = appendLong(dst, e.NumRRecvOps)
		dst = appendLong(dst, e.NumWSendOps)
		dst = appendLong(dst, e.NumRRecvBytes)
		dst = appendLong(dst, e.NumWSendBytes)
	case KindFileFlow:
		e := rec.FileFlow
		dst = appendOID(dst, e.ProcOID)
		dst = appendLong(dst, e.TS)
		dst = appendLong(dst, e.TID)
		dst = appendLong(dst, int64(e.OpFlags))
		dst = appendLong(dst, int64(e.OpenFlags))
		dst = appendLong(dst, e.EndTS)
		dst = append(dst, e.FileOID[:]...)
		dst = appendLong(dst, int64(e.FD))
		dst = appendLong(dst, e.NumRRecvOps)
		dst = appendLong(dst, e.NumWSendOps)
		dst = appendLong(dst, e.NumRRecvBytes)
		dst = appendLong(dst, e.NumWSendBytes)
	case KindFileEvent:
		e := rec.FileEvent
		dst = appendOID(dst, e.ProcOID)
		dst = appendLong(dst, e.TS)
		dst = appendLong(dst, e.TID)
		dst = appendLong(dst, int64(e.OpFlags))
		dst = append(dst, e.FileOID[:]...)
		dst = appendLong(dst, int64(e.Ret))
		if e.NewFileOID == nil {
			dst = append(dst, 0)
		} else {
			dst = append(dst, 2)
			dst = append(dst, e.NewFileOID[:]...)
		}
	case KindNetworkEvent:
		e := rec.NetworkEvent
		dst = appendOID(dst, e.ProcOID)
		dst = appendLong(dst, e.TS)
		dst = appendLong(dst, e.TID)
		dst = appendLong(dst, int64(e.OpFlags))
		dst = appendLong(dst, int64(e.SIP))
		dst = appendLong(dst, int64(e.SPort))
		dst = appendLong(dst, int64(e.DIP))
		dst = appendLong(dst, int64(e.DPort))
		dst = appendLong(dst, int64(e.Proto))
		dst = appendLong(dst, int64(e.Ret))
	case KindProcessFlow:
		e := rec.ProcessFlow
		dst = appendOID(dst, e.ProcOID)
		dst = appendLong(dst, e.TS)
		dst = appendLong(dst, e.NumThreadsCloned)
		dst = appendLong(dst, int64(e.OpFlags))
		dst = appendLong(dst, e.EndTS)
		dst = appendLong(dst, e.NumThreadsExited)
		dst = appendLong(dst, e.NumCloneErrors)
	case KindPod:
		p := rec.Pod
		dst = appendLong(dst, p.TS)
		dst = appendString(dst, p.ID)
		dst = appendString(dst, p.Name)
		dst = appendString(dst, p.NodeName)
		dst = appendLongs(dst, p.HostIP)
		dst = appendLongs(dst, p.InternalIP)
		dst = appendString(dst, p.Namespace)
		dst = appendLong(dst, p.RestartCount)
		dst = appendStringMap(dst, p.Labels)
		dst = appendStringMap(dst, p.Selectors)
		if len(p.Services) > 0 {
			dst = appendLong(dst, int64(len(p.Services)))
			for i := range p.Services {
				s := &p.Services[i]
				dst = appendString(dst, s.Name)
				dst = appendString(dst, s.ID)
				dst = appendString(dst, s.Namespace)
				if len(s.PortList) > 0 {
					dst = appendLong(dst, int64(len(s.PortList)))
					for _, pt := range s.PortList {
						dst = appendLong(dst, int64(pt.Port))
						dst = appendLong(dst, int64(pt.TargetPort))
						dst = appendLong(dst, int64(pt.NodePort))
						dst = appendString(dst, pt.Proto)
					}
				}
				dst = append(dst, 0)
				dst = appendLongs(dst, s.ClusterIP)
			}
		}
		dst = append(dst, 0)
	case KindK8sEvent:
		e := rec.K8sEvent
		dst = appendLong(dst, int64(e.Kind))
		dst = appendLong(dst, int64(e.Action))
		dst = appendLong(dst, e.TS)
		dst = appendString(dst, e.Message)
	}
	return dst, nil
}

var errNilRecord = errors.New("sysflow: nil record")

// checkRecord rejects what would produce a datum no reader could decode: a
// kind without its struct, or an enum value outside the schema's symbols.
func checkRecord(rec *Record) error {
	if rec == nil {
		return errNilRecord
	}
	missing := false
	switch rec.Kind {
	case KindHeader:
		missing = rec.Header == nil
	case KindContainer:
		missing = rec.Container == nil
		if !missing && (rec.Container.Type < 0 || int(rec.Container.Type) >= len(ContainerTypeNames)) {
			return fmt.Errorf("sysflow: container type %d out of range", rec.Container.Type)
		}
	case KindProcess:
		missing = rec.Process == nil
		if !missing && !validState(rec.Process.State) {
			return fmt.Errorf("sysflow: process state %d out of range", rec.Process.State)
		}
	case KindFile:
		missing = rec.File == nil
		if !missing && !validState(rec.File.State) {
			return fmt.Errorf("sysflow: file state %d out of range", rec.File.State)
		}
	case KindProcessEvent:
		missing = rec.ProcessEvent == nil
	case KindNetworkFlow:
		missing = rec.NetworkFlow == nil
	case KindFileFlow:
		missing = rec.FileFlow == nil
	case KindFileEvent:
		missing = rec.FileEvent == nil
	case KindNetworkEvent:
		missing = rec.NetworkEvent == nil
	case KindProcessFlow:
		missing = rec.ProcessFlow == nil
	case KindPod:
		missing = rec.Pod == nil
	case KindK8sEvent:
		missing = rec.K8sEvent == nil
		if !missing {
			e := rec.K8sEvent
			if e.Kind < 0 || int(e.Kind) >= len(K8sComponentNames) || e.Action < 0 || int(e.Action) >= len(K8sActionNames) {
				return fmt.Errorf("sysflow: k8s event kind %d / action %d out of range", e.Kind, e.Action)
			}
		}
	default:
		return fmt.Errorf("sysflow: cannot encode a record of kind %d", rec.Kind)
	}
	if missing {
		return fmt.Errorf("sysflow: %s record without its %s struct", rec.Kind, rec.Kind)
	}
	return nil
}

func validState(s ObjectState) bool { return s >= 0 && int(s) < len(objectStateNames) }

func appendLong(dst []byte, v int64) []byte {
	u := uint64(v<<1) ^ uint64(v>>63)
	for u >= 0x80 {
		dst = append(dst, byte(u)|0x80)
		u >>= 7
	}
	return append(dst, byte(u))
}

func appendBool(dst []byte, b bool) []byte {
	if b {
		return append(dst, 1)
	}
	return append(dst, 0)
}

func appendString(dst []byte, s string) []byte {
	dst = appendLong(dst, int64(len(s)))
	return append(dst, s...)
}

func appendOptString(dst []byte, s *string) []byte {
	if s == nil {
		return append(dst, 0) // branch 0: null
	}
	return appendString(append(dst, 2), *s) // branch 1: string
}

func appendOID(dst []byte, o OID) []byte {
	return appendLong(appendLong(dst, o.CreateTS), o.Hpid)
}

func appendStrings(dst []byte, ss []string) []byte {
	if len(ss) > 0 {
		dst = appendLong(dst, int64(len(ss)))
		for _, s := range ss {
			dst = appendString(dst, s)
		}
	}
	return append(dst, 0)
}

func appendLongs(dst []byte, vs []int64) []byte {
	if len(vs) > 0 {
		dst = appendLong(dst, int64(len(vs)))
		for _, v := range vs {
			dst = appendLong(dst, v)
		}
	}
	return append(dst, 0)
}

func appendStringMap(dst []byte, m map[string]string) []byte {
	if len(m) > 0 {
		// Sorted, so that the same record always encodes to the same bytes.
		dst = appendLong(dst, int64(len(m)))
		for _, k := range slices.Sorted(maps.Keys(m)) {
			dst = appendString(dst, k)
			dst = appendString(dst, m[k])
		}
	}
	return append(dst, 0)
}
