package elasticsearch

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"

	"github.com/sfconnector/sfconnector/sysflow"
)

// DocumentID returns the _id of ev's document: 22 characters of base64url,
// the first 128 bits of a SHA-256 over the fields that identify the SysFlow
// record (its node, type, process, thread, times, operation, return code,
// file, flow endpoints and counters, arguments, Kubernetes event). It depends on the
// record only, not on the time or attempt of writing nor on the connector's
// version, so that every write of the same record names the same document
// and a second "create" of it is refused (409) instead of duplicated. Two
// records with all of these equal are the same observation.
//
// 128 bits keep collisions out of reach for any number of documents an index
// can hold (a 64-bit hash would collide with a probability of about 3% at a
// billion documents).
func DocumentID(ev *sysflow.Event) string {
	var buf [512]byte
	b := appendIdentity(buf[:0], ev)
	sum := sha256.Sum256(b)
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}

// appendIdentity writes the identifying fields, each length-prefixed or of
// fixed size, so that no two different records write the same bytes.
func appendIdentity(b []byte, ev *sysflow.Event) []byte {
	str := func(b []byte, s string) []byte {
		b = binary.AppendUvarint(b, uint64(len(s)))
		return append(b, s...)
	}
	i64 := func(b []byte, v int64) []byte { return binary.LittleEndian.AppendUint64(b, uint64(v)) }
	i32 := func(b []byte, v int32) []byte { return binary.LittleEndian.AppendUint32(b, uint32(v)) }

	b = append(b, 1) // version of this layout
	if ev.Header != nil {
		b = str(b, ev.Header.Exporter)
	} else {
		b = str(b, "")
	}
	b = i32(b, int32(ev.Kind))
	b = i64(b, ev.ProcOID.Hpid)
	b = i64(b, ev.ProcOID.CreateTS)
	b = i64(b, ev.TS)
	b = i64(b, ev.EndTS)
	b = i64(b, ev.TID)
	b = i32(b, ev.OpFlags)
	b = i32(b, ev.Ret)
	b = i32(b, ev.FD)
	b = append(b, ev.FileOID[:]...)
	if ev.NewFileOID != nil {
		b = append(b, 1)
		b = append(b, ev.NewFileOID[:]...)
	} else {
		b = append(b, 0)
	}
	b = i32(b, ev.SIP)
	b = i32(b, ev.SPort)
	b = i32(b, ev.DIP)
	b = i32(b, ev.DPort)
	b = i32(b, ev.Proto)
	b = i64(b, ev.RBytes)
	b = i64(b, ev.ROps)
	b = i64(b, ev.WBytes)
	b = i64(b, ev.WOps)
	b = binary.AppendUvarint(b, uint64(len(ev.Args)))
	for _, a := range ev.Args {
		b = str(b, a)
	}
	if k := ev.K8s; k != nil {
		b = append(b, 1)
		b = i32(b, k.Kind)
		b = i32(b, k.Action)
		b = i64(b, k.TS)
		b = str(b, k.Message)
	} else {
		b = append(b, 0)
	}
	return b
}
