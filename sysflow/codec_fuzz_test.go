package sysflow_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"reflect"
	"testing"

	"github.com/sfconnector/sfconnector/sysflow"
	"github.com/sfconnector/sfconnector/testenv/shared"
)

// seedRecords is a small set of records of every kind, for fuzz seeds.
func seedRecords() []sysflow.Record {
	cid, pod := "c0ffee", "pod-1"
	poid := sysflow.OID{CreateTS: 1000, Hpid: 1}
	newf := sysflow.FOID{9, 9, 9}
	return []sysflow.Record{
		{Kind: sysflow.KindHeader, Header: &sysflow.Header{Version: 5, Exporter: "node", IP: "10.0.0.1", Filename: "f.sf"}},
		{Kind: sysflow.KindContainer, Container: &sysflow.Container{ID: cid, Name: "web", Image: "nginx", ImageID: "sha", Type: 0, PodID: &pod}},
		{Kind: sysflow.KindPod, Pod: &sysflow.Pod{TS: 1, ID: pod, Name: "p", HostIP: []int64{167772161}, Labels: map[string]string{"app": "web"},
			Services: []sysflow.Service{{Name: "s", PortList: []sysflow.Port{{Port: 80, TargetPort: 8080, Proto: "TCP"}}, ClusterIP: []int64{1}}}}},
		{Kind: sysflow.KindProcess, Process: &sysflow.Process{OID: sysflow.OID{CreateTS: 2000, Hpid: 42}, POID: &poid, TS: 2000, Exe: "/bin/sh",
			ExeArgs: "-c id", UserName: "root", GroupName: "root", ContainerID: &cid, Entry: true, Cwd: "/", Env: []string{"A=1"}}},
		{Kind: sysflow.KindFile, File: &sysflow.File{OID: sysflow.FOID{1, 2, 3}, TS: 3, Restype: 102, Path: "/etc/shadow"}},
		{Kind: sysflow.KindProcessEvent, ProcessEvent: &sysflow.ProcessEvent{ProcOID: poid, TS: 4, TID: 42, OpFlags: 2, Args: []string{"/bin/sh", "-c"}}},
		{Kind: sysflow.KindFileFlow, FileFlow: &sysflow.FileFlow{ProcOID: poid, TS: 5, EndTS: 6, FileOID: sysflow.FOID{1, 2, 3}, NumRRecvBytes: 1 << 40}},
		{Kind: sysflow.KindFileEvent, FileEvent: &sysflow.FileEvent{ProcOID: poid, TS: 7, FileOID: sysflow.FOID{1}, NewFileOID: &newf}},
		{Kind: sysflow.KindNetworkFlow, NetworkFlow: &sysflow.NetworkFlow{ProcOID: poid, TS: 8, SIP: -1062731519, SPort: 4444, DPort: 80, Proto: 6}},
		{Kind: sysflow.KindNetworkEvent, NetworkEvent: &sysflow.NetworkEvent{ProcOID: poid, TS: 9, Proto: 17}},
		{Kind: sysflow.KindProcessFlow, ProcessFlow: &sysflow.ProcessFlow{ProcOID: poid, TS: 10, NumThreadsCloned: 3}},
		{Kind: sysflow.KindK8sEvent, K8sEvent: &sysflow.K8sEvent{Kind: 2, Action: 1, TS: 11, Message: "pod added"}},
	}
}

// FuzzReader feeds arbitrary files to the Reader: no panic, errors are
// DecodeErrors naming the file, and whatever decodes re-encodes to itself.
// Inputs are kilobytes long, so minimizing one takes long; run it with
// -fuzzminimizetime=3s or the fuzzer looks stalled while it minimizes.
func FuzzReader(f *testing.F) {
	for _, codec := range []string{"null", "deflate", "snappy"} {
		var buf bytes.Buffer
		w, err := sysflow.NewWriter(&buf, sysflow.WriterOptions{Codec: codec, BlockRecords: 5})
		if err != nil {
			f.Fatal(err)
		}
		for _, r := range seedRecords() {
			if err := w.Write(&r); err != nil {
				f.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			f.Fatal(err)
		}
		f.Add(buf.Bytes())
	}
	if shared.Root() != "" {
		for _, name := range []string{"tcp.sf", "httpd.sf", "collector-nginx-nginx.sf"} {
			if data, err := os.ReadFile(shared.Path(f, "traces", name)); err == nil {
				f.Add(data)
			}
		}
	}
	// A writer schema other than v5, so that mutations reach the union
	// steps of schema resolution.
	f.Add(goavroOCF(f, v5With(f, "sysflow.flow.FileFlow", "endTs", []any{"null", "long"}),
		map[string]any{"rec": map[string]any{"sysflow.flow.FileFlow": map[string]any{
			"procOID": map[string]any{"createTS": int64(1), "hpid": int64(2)}, "ts": int64(3), "tid": int64(4),
			"opFlags": int32(5), "openFlags": int32(6), "endTs": map[string]any{"long": int64(7)},
			"fileOID": make([]byte, 20), "fd": int32(8), "numRRecvOps": int64(9), "numWSendOps": int64(10),
			"numRRecvBytes": int64(11), "numWSendBytes": int64(12)}}}))
	f.Add([]byte("Obj\x01"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := sysflow.NewReader(bytes.NewReader(data), "fuzz.sf")
		if err != nil {
			return
		}
		var recs []sysflow.Record
		for {
			recs, err = r.Next(recs[:0])
			if err != nil {
				if err != io.EOF {
					checkFuzzError(t, err)
				}
				return
			}
			// Whatever decoded must encode and decode back to itself.
			for j := range recs {
				roundTripDatum(t, &recs[j])
			}
		}
	})
}

func checkFuzzError(t *testing.T, err error) {
	var de *sysflow.DecodeError
	if !errors.As(err, &de) || de.File != "fuzz.sf" {
		t.Fatalf("error %v is not a DecodeError naming the file", err)
	}
}

func roundTripDatum(t *testing.T, rec *sysflow.Record) {
	b, err := sysflow.AppendDatum(nil, rec)
	if err != nil {
		t.Fatalf("decoded record does not encode: %v", err)
	}
	var again sysflow.Record
	if err := sysflow.NewDatumDecoder().Decode(b, &again); err != nil {
		t.Fatalf("re-encoded record does not decode: %v", err)
	}
	if !reflect.DeepEqual(*rec, again) {
		t.Fatalf("round trip changed the record:\n %s\n %s", dump(rec), dump(&again))
	}
}

// FuzzDatum feeds arbitrary datums to the DatumDecoder: no panic, and any
// datum it accepts re-encodes to an equal record.
func FuzzDatum(f *testing.F) {
	for _, r := range seedRecords() {
		b, err := sysflow.AppendDatum(nil, &r)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	dd := sysflow.NewDatumDecoder()
	f.Fuzz(func(t *testing.T, data []byte) {
		var rec sysflow.Record
		if err := dd.Decode(data, &rec); err != nil {
			return
		}
		roundTripDatum(t, &rec)
	})
}
