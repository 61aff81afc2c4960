package synth_test

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/linkedin/goavro/v2"

	"github.com/sfconnector/sfconnector/sysflow"
	"github.com/sfconnector/sfconnector/sysflow/synth"
)

func generate(t *testing.T, opts synth.Options) ([]byte, synth.Stats) {
	t.Helper()
	var buf bytes.Buffer
	st, err := synth.Generate(&buf, opts)
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), st
}

func decode(t *testing.T, data []byte) []sysflow.Record {
	t.Helper()
	r, err := sysflow.NewReader(bytes.NewReader(data), "synth.sf")
	if err != nil {
		t.Fatal(err)
	}
	var recs []sysflow.Record
	for {
		recs, err = r.Next(recs)
		if err == io.EOF {
			return recs
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestDeterministic(t *testing.T) {
	a, _ := generate(t, synth.Options{Seed: 7, Records: 3000})
	b, _ := generate(t, synth.Options{Seed: 7, Records: 3000})
	c, _ := generate(t, synth.Options{Seed: 8, Records: 3000})
	if !bytes.Equal(a, b) {
		t.Fatal("same seed, different bytes")
	}
	if bytes.Equal(a, c) {
		t.Fatal("different seeds, same bytes")
	}
}

func TestMixAndStats(t *testing.T) {
	for _, n := range []int{2000, 50_000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			data, st := generate(t, synth.Options{Seed: 1, Records: n})
			recs := decode(t, data)
			if len(recs) != st.Records {
				t.Fatalf("decoded %d records, stats say %d", len(recs), st.Records)
			}
			kinds := map[sysflow.RecordKind]int{}
			events := 0
			for i := range recs {
				kinds[recs[i].Kind]++
				switch recs[i].Kind {
				case sysflow.KindProcessEvent, sysflow.KindFileEvent, sysflow.KindFileFlow, sysflow.KindNetworkFlow, sysflow.KindK8sEvent:
					events++
				}
			}
			if !reflect.DeepEqual(kinds, st.Kinds) || events != st.Events {
				t.Fatalf("decoded kinds %v (%d events), stats %v (%d)", kinds, events, st.Kinds, st.Events)
			}
			// goavro, independently, sees the same number of records.
			ocf, err := goavro.NewOCFReader(bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			g := 0
			for ocf.Scan() {
				if _, err := ocf.Read(); err != nil {
					t.Fatal(err)
				}
				g++
			}
			if g != len(recs) {
				t.Fatalf("goavro read %d records, we %d", g, len(recs))
			}
			if events < n || events > n+40 {
				t.Fatalf("%d events for Records=%d", events, n)
			}
			// The shares of the mix are TestRealism's business; here only
			// that every kind of everyday event is there.
			for _, k := range []sysflow.RecordKind{sysflow.KindFileFlow, sysflow.KindNetworkFlow, sysflow.KindProcessEvent, sysflow.KindFileEvent} {
				if kinds[k] == 0 {
					t.Errorf("no %s records", k)
				}
			}
			if kinds[sysflow.KindHeader] != 1 || recs[0].Kind != sysflow.KindHeader {
				t.Fatal("want exactly one header, first")
			}
			if kinds[sysflow.KindContainer] < 4 || kinds[sysflow.KindPod] < 2 {
				t.Fatalf("containers %d, pods %d", kinds[sysflow.KindContainer], kinds[sysflow.KindPod])
			}
			// The default rate plays round(n * rate) scenarios, each in turn.
			names := synth.AttackNames()
			want := int(math.Round(float64(n) * synth.DefaultAttackRate))
			if len(st.Attacks) != want {
				t.Fatalf("%d attacks for %d events, want %d", len(st.Attacks), n, want)
			}
			for i, a := range st.Attacks {
				if a != names[i%len(names)] {
					t.Fatalf("attack %d is %s, want %s", i, a, names[i%len(names)])
				}
			}
		})
	}
}

// TestReferences checks what the flattener relies on: every reference
// points at an entity written earlier, and no event follows its process's
// exit.
func TestReferences(t *testing.T) {
	data, _ := generate(t, synth.Options{Seed: 3, Records: 20_000})
	recs := decode(t, data)
	procs := map[sysflow.OID]bool{}
	exited := map[sysflow.OID]bool{}
	files := map[sysflow.FOID]bool{}
	conts := map[string]bool{}
	pods := map[string]bool{}
	lastTS := int64(0)
	useProc := func(i int, oid sysflow.OID) {
		if !procs[oid] {
			t.Fatalf("record %d: process %+v not defined before", i, oid)
		}
		if exited[oid] {
			t.Fatalf("record %d: process %+v used after its exit", i, oid)
		}
	}
	useFile := func(i int, oid sysflow.FOID) {
		if !files[oid] {
			t.Fatalf("record %d: file %x not defined before", i, oid)
		}
	}
	useCont := func(i int, id *string) {
		if id != nil && !conts[*id] {
			t.Fatalf("record %d: container %s not defined before", i, *id)
		}
	}
	for i, r := range recs {
		switch r.Kind {
		case sysflow.KindPod:
			pods[r.Pod.ID] = true
		case sysflow.KindContainer:
			if r.Container.PodID != nil && !pods[*r.Container.PodID] {
				t.Fatalf("record %d: pod %s not defined before", i, *r.Container.PodID)
			}
			conts[r.Container.ID] = true
		case sysflow.KindProcess:
			if r.Process.POID != nil {
				useProc(i, *r.Process.POID)
			}
			useCont(i, r.Process.ContainerID)
			procs[r.Process.OID] = true
		case sysflow.KindFile:
			useCont(i, r.File.ContainerID)
			files[r.File.OID] = true
		case sysflow.KindProcessEvent:
			useProc(i, r.ProcessEvent.ProcOID)
			if r.ProcessEvent.OpFlags == 4 { // EXIT
				exited[r.ProcessEvent.ProcOID] = true
			}
			checkTS(t, i, &lastTS, r.ProcessEvent.TS)
		case sysflow.KindFileFlow:
			useProc(i, r.FileFlow.ProcOID)
			useFile(i, r.FileFlow.FileOID)
			checkTS(t, i, &lastTS, r.FileFlow.TS)
		case sysflow.KindFileEvent:
			useProc(i, r.FileEvent.ProcOID)
			useFile(i, r.FileEvent.FileOID)
			if r.FileEvent.NewFileOID != nil {
				useFile(i, *r.FileEvent.NewFileOID)
			}
			checkTS(t, i, &lastTS, r.FileEvent.TS)
		case sysflow.KindNetworkFlow:
			useProc(i, r.NetworkFlow.ProcOID)
			checkTS(t, i, &lastTS, r.NetworkFlow.TS)
		}
	}
}

func checkTS(t *testing.T, i int, last *int64, ts int64) {
	t.Helper()
	if ts <= *last {
		t.Fatalf("record %d: timestamp %d not after %d", i, ts, *last)
	}
	*last = ts
}

// TestAttacks looks for each attack's tell-tale records, the way a policy
// would: by exe, args, op flags and paths.
func TestAttacks(t *testing.T) {
	for _, noAttacks := range []bool{false, true} {
		t.Run(fmt.Sprintf("NoAttacks=%v", noAttacks), func(t *testing.T) {
			// 5,000 events at 0.002 scenarios per event: each of the ten once.
			data, st := generate(t, synth.Options{Seed: 11, Records: 5000, AttackRate: 0.002, NoAttacks: noAttacks})
			recs := decode(t, data)
			found := findAttacks(recs)
			for _, name := range synth.AttackNames() {
				if found[name] == noAttacks {
					t.Errorf("attack %s found=%v with NoAttacks=%v", name, found[name], noAttacks)
				}
			}
			if noAttacks && len(st.Attacks) != 0 {
				t.Errorf("stats list attacks %v", st.Attacks)
			}
			if !noAttacks && !reflect.DeepEqual(st.Attacks, synth.AttackNames()) {
				t.Errorf("attacks %v, want each once: %v", st.Attacks, synth.AttackNames())
			}
		})
	}
}

func findAttacks(recs []sysflow.Record) map[string]bool {
	const (
		opExec, opSetuid, opSetns, opConnect, opWrite, opTruncate, opUnlink = 2, 8, 16, 64, 512, 2048, 1 << 18
	)
	procs := map[sysflow.OID]*sysflow.Process{}
	files := map[sysflow.FOID]*sysflow.File{}
	found := map[string]bool{}
	name := func(p *sysflow.Process) string {
		if p == nil {
			return ""
		}
		return p.Exe[strings.LastIndexByte(p.Exe, '/')+1:]
	}
	parent := func(p *sysflow.Process) *sysflow.Process {
		if p == nil || p.POID == nil {
			return nil
		}
		return procs[*p.POID]
	}
	inContainer := func(p *sysflow.Process) bool { return p != nil && p.ContainerID != nil }
	for _, r := range recs {
		switch r.Kind {
		case sysflow.KindProcess:
			procs[r.Process.OID] = r.Process
		case sysflow.KindFile:
			files[r.File.OID] = r.File
		case sysflow.KindProcessEvent:
			e := r.ProcessEvent
			p := procs[e.ProcOID]
			switch {
			case e.OpFlags == opExec && name(p) == "sh" && name(parent(p)) == "nginx":
				found["webshell"] = true
			case e.OpFlags == opExec && name(p) == "sh" && name(parent(p)) == "node" && inContainer(p):
				found["container-entry-shell"] = true
			case e.OpFlags == opExec && name(p) == "nc" && strings.Contains(p.ExeArgs, "-e /bin/sh"):
				found["reverse-shell"] = true
			case e.OpFlags == opExec && (name(p) == "curl" || name(p) == "wget") && inContainer(p):
				found["downloader"] = true
			case e.OpFlags == opExec && name(p) == "apt-get" && inContainer(p):
				found["package-manager"] = true
			case e.OpFlags == opSetns:
				found["setns"] = true
			case e.OpFlags == opSetuid && p.UserName != "root":
				found["setuid"] = true
			}
		case sysflow.KindFileFlow:
			f, p := files[r.FileFlow.FileOID], procs[r.FileFlow.ProcOID]
			switch {
			case f.Path == "/etc/shadow" && name(p) == "cat":
				found["read-shadow"] = true
			case r.FileFlow.OpFlags&opWrite != 0 && (strings.HasPrefix(f.Path, "/etc/") || strings.HasPrefix(f.Path, "/bin/")):
				found["write-etc-bin"] = true
			case r.FileFlow.OpFlags&opTruncate != 0 && strings.HasPrefix(f.Path, "/var/log/"):
				found["log-tamper"] = true
			}
		case sysflow.KindFileEvent:
			f := files[r.FileEvent.FileOID]
			if r.FileEvent.OpFlags == opUnlink && strings.HasPrefix(f.Path, "/var/log/") {
				found["log-tamper"] = true
			}
		case sysflow.KindNetworkFlow:
			p := procs[r.NetworkFlow.ProcOID]
			if r.NetworkFlow.OpFlags&opConnect != 0 && name(p) == "bash" && r.NetworkFlow.DPort == 4444 {
				found["reverse-shell"] = true
			}
		}
	}
	// chmod +s is part of the setuid scenario.
	chmod := false
	for _, p := range procs {
		if name(p) == "chmod" && strings.Contains(p.ExeArgs, "+s") {
			chmod = true
		}
	}
	found["setuid"] = found["setuid"] && chmod
	return found
}

func TestOptionsValidate(t *testing.T) {
	var buf bytes.Buffer
	if _, err := synth.Generate(&buf, synth.Options{Records: -1}); err == nil {
		t.Fatal("negative Records accepted")
	}
	if _, err := synth.Generate(&buf, synth.Options{Writer: sysflow.WriterOptions{Codec: "lz4"}}); err == nil {
		t.Fatal("bad codec accepted")
	}
	for _, rate := range []float64{-0.001, synth.MaxAttackRate * 1.01, math.NaN()} {
		if _, err := synth.Generate(&buf, synth.Options{AttackRate: rate}); err == nil || !strings.Contains(err.Error(), "attack rate") {
			t.Errorf("attack rate %v: error %v, want one naming the attack rate", rate, err)
		}
	}
}

func TestIPv4(t *testing.T) {
	// 127.0.0.1 as the collector writes it, seen in k8s_small.sf.
	if got := synth.IPv4(127, 0, 0, 1); got != 16777343 {
		t.Fatalf("IPv4(127.0.0.1) = %d", got)
	}
}
