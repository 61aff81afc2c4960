package avro

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"

	"github.com/sfconnector/sfconnector/sysflow"
	"github.com/sfconnector/sfconnector/testenv/shared"
	"github.com/sfconnector/sfconnector/transforms/flatten"
)

// traceEvents flattens each real trace; the events of one trace come in
// trace order.
func traceEvents(t *testing.T) [][]*sysflow.Event {
	var all [][]*sysflow.Event
	for _, path := range shared.Traces(t) {
		r, c, err := sysflow.OpenFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var recs []sysflow.Record
		for {
			recs, err = r.Next(recs)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
		}
		c.Close()
		f := flatten.New(flatten.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		all = append(all, f.Flatten(recs, nil))
	}
	return all
}

func compileBoth(t *testing.T, text string) (cached, plain []step) {
	t.Helper()
	cached, err := compileWriter(text, true)
	if err != nil {
		t.Fatal(err)
	}
	plain, err = compileWriter(text, false)
	if err != nil {
		t.Fatal(err)
	}
	return cached, plain
}

// The cached proc and pproc sections write, for every event of every real
// trace, the bytes of the plain steps: in trace order, again with the
// cache warm, in reverse order, and from three goroutines sharing one
// writer; for the event and the alert schema.
func TestSectionCacheMatchesSteps(t *testing.T) {
	traces := traceEvents(t)
	var events []*sysflow.Event
	for _, evs := range traces {
		events = append(events, evs...)
	}
	events = append(events, &sysflow.Event{}, &sysflow.Event{Kind: sysflow.KindProcessEvent}) // no process record
	if len(events) < 20000 {
		t.Fatalf("%d events: too few to check", len(events))
	}
	for _, schema := range []struct{ name, text string }{{"event", eventAVSC}, {"alert", alertAVSC}} {
		cached, plain := compileBoth(t, schema.text)
		var want [][]byte
		for _, e := range events {
			want = append(want, runSteps(nil, plain, e))
		}
		check := func(order string, idx []int) {
			var buf []byte
			for _, i := range idx {
				buf = runSteps(buf[:0], cached, events[i])
				if !bytes.Equal(buf, want[i]) {
					t.Fatalf("%s schema, %s: event %d (ts %d, kind %v): cached section bytes differ from the steps'", schema.name, order, i, events[i].TS, events[i].Kind)
				}
			}
		}
		fwd := make([]int, len(events))
		for i := range fwd {
			fwd[i] = i
		}
		check("trace order", fwd)
		check("warm", fwd)
		rev := slices.Clone(fwd)
		slices.Reverse(rev)
		check("reversed", rev)
		var wg sync.WaitGroup
		for g := 0; g < 3; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var buf []byte
				for i := g; i < len(events); i += 2 {
					buf = runSteps(buf[:0], cached, events[i])
					if !bytes.Equal(buf, want[i]) {
						t.Errorf("%s schema, goroutine %d: event %d differs", schema.name, g, i)
						return
					}
				}
			}()
		}
		wg.Wait()
	}
	// the cache must be in use: both sections of both schemas have one
	for _, text := range []string{eventAVSC, alertAVSC} {
		var top avscRecord
		if err := jsonUnmarshal(text, &top); err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, f := range top.Fields {
			if f.Name != "proc" && f.Name != "pproc" {
				continue
			}
			var union []json.RawMessage
			var rec avscRecord
			if err := json.Unmarshal(f.Type, &union); err != nil || len(union) != 2 || json.Unmarshal(union[1], &rec) != nil {
				t.Fatalf("section %s: not a [null, record] union", f.Name)
			}
			steps, names, err := compiler{}.namedFields(rec.Fields, "sf."+f.Name)
			if err != nil {
				t.Fatal(err)
			}
			if newSectionCache(f.Name, names, steps) == nil {
				t.Fatalf("section %s of %s: not cached", f.Name, top.Name)
			}
			n++
		}
		if n != 2 {
			t.Fatalf("%s: %d of the proc and pproc sections", top.Name, n)
		}
	}
	t.Logf("%d events", len(events))
}

// An event whose records were changed in place, or that names other
// values, misses the cache: every value the sections read shows in the
// output.
func TestSectionCacheSeesChangedRecords(t *testing.T) {
	var base *sysflow.Event
	for _, evs := range traceEvents(t) {
		for _, e := range evs {
			if e.Proc != nil && len(e.Proc.Env) > 0 && len(e.Ancestry) > 1 && e.Parent != nil && e.ParentOID != nil {
				base = e
				break
			}
		}
		if base != nil {
			break
		}
	}
	if base == nil {
		t.Fatal("no event with a process, environment, parent and ancestry")
	}
	cached, plain := compileBoth(t, eventAVSC)
	// deep copy, so the changes do not touch the flattener's records
	clone := func() *sysflow.Event {
		e := *base
		p := *base.Proc
		p.Env = slices.Clone(p.Env)
		e.Proc = &p
		par := *base.Parent
		e.Parent = &par
		poid := *base.ParentOID
		e.ParentOID = &poid
		e.Ancestry = nil
		for _, a := range base.Ancestry {
			c := *a
			e.Ancestry = append(e.Ancestry, &c)
		}
		return &e
	}
	e := clone()
	first := runSteps(nil, cached, e)
	changes := map[string]func(e *sysflow.Event){
		"tid":          func(e *sysflow.Event) { e.TID++ },
		"proc oid":     func(e *sysflow.Event) { e.ProcOID.Hpid++ },
		"proc exe":     func(e *sysflow.Event) { e.Proc.Exe += "x" },
		"proc args":    func(e *sysflow.Event) { e.Proc.ExeArgs += " x" },
		"proc uid":     func(e *sysflow.Event) { e.Proc.UID++ },
		"proc gid":     func(e *sysflow.Event) { e.Proc.GID++ },
		"proc user":    func(e *sysflow.Event) { e.Proc.UserName += "x" },
		"proc group":   func(e *sysflow.Event) { e.Proc.GroupName += "x" },
		"proc tty":     func(e *sysflow.Event) { e.Proc.TTY = !e.Proc.TTY },
		"proc entry":   func(e *sysflow.Event) { e.Proc.Entry = !e.Proc.Entry },
		"proc cwd":     func(e *sysflow.Event) { e.Proc.Cwd += "/x" },
		"env element":  func(e *sysflow.Event) { e.Proc.Env[0] += "x" },
		"env length":   func(e *sysflow.Event) { e.Proc.Env = e.Proc.Env[:len(e.Proc.Env)-1] },
		"ancestor exe": func(e *sysflow.Event) { e.Ancestry[1].Exe += "x" },
		"ancestor arg": func(e *sysflow.Event) { e.Ancestry[1].ExeArgs += " x" },
		"ancestor pid": func(e *sysflow.Event) { e.Ancestry[1].OID.Hpid++ },
		"ancestry":     func(e *sysflow.Event) { e.Ancestry = e.Ancestry[:1] },
		"no proc":      func(e *sysflow.Event) { e.Proc = nil },
		"parent oid":   func(e *sysflow.Event) { e.ParentOID.CreateTS++ },
		"no parentoid": func(e *sysflow.Event) { e.ParentOID = nil },
		"parent exe":   func(e *sysflow.Event) { e.Parent.Exe += "x" },
		"parent args":  func(e *sysflow.Event) { e.Parent.ExeArgs += " x" },
		"parent uid":   func(e *sysflow.Event) { e.Parent.UID++ },
		"parent user":  func(e *sysflow.Event) { e.Parent.UserName += "x" },
		"parent tty":   func(e *sysflow.Event) { e.Parent.TTY = !e.Parent.TTY },
		"parent entry": func(e *sysflow.Event) { e.Parent.Entry = !e.Parent.Entry },
		"no parent":    func(e *sysflow.Event) { e.Parent = nil },
	}
	for name, change := range changes {
		e := clone()
		_ = runSteps(nil, cached, e) // fill the cache with the unchanged values
		change(e)
		got, want := runSteps(nil, cached, e), runSteps(nil, plain, e)
		if !bytes.Equal(got, want) {
			t.Errorf("%s: the cached writer did not follow the change", name)
		}
		if bytes.Equal(got, first) {
			t.Errorf("%s: the change does not show in the output: the test checks nothing", name)
		}
	}
}
