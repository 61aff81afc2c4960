package avro_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sfconnector/sfconnector/encoding/avro"
	"github.com/sfconnector/sfconnector/sysflow"
)

// outageRegistry is a schema registry that answers HTTP 500 to its first
// fail requests, then registers every schema under id.
type outageRegistry struct {
	id int

	mu        sync.Mutex
	fail      int // 500 answers still to give
	failed    int // 500 answers given
	registers int // successful registrations (POST .../versions)
	schema    string
}

func (o *outageRegistry) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.fail > 0 {
		o.fail--
		o.failed++
		w.Header().Set("Content-Type", "application/vnd.schemaregistry.v1+json")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte(`{"error_code":50001,"message":"backing store unavailable"}`))
		return
	}
	w.Header().Set("Content-Type", "application/vnd.schemaregistry.v1+json")
	switch {
	case r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/subjects/") && strings.HasSuffix(r.URL.Path, "/versions"):
		var req struct {
			Schema string `json:"schema"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		o.schema = req.Schema
		o.registers++
		_ = json.NewEncoder(w).Encode(map[string]int{"id": o.id})
	case r.Method == http.MethodGet && r.URL.Path == "/schemas/ids/"+itoa(o.id):
		_ = json.NewEncoder(w).Encode(map[string]any{"id": o.id, "schema": o.schema})
	default:
		http.NotFound(w, r)
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// A registry outage while 8 publishers write through one topic encoder:
// every write fails with the registry's error until it recovers, then all
// of them write the one id it assigned; none hangs, none crashes, and the
// schema is registered once. Run with -race.
func TestRegistryOutageConcurrentPublishers(t *testing.T) {
	const publishers, failures, wantID = 8, 12, 7
	srv := &outageRegistry{id: wantID, fail: failures}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	reg, err := avro.NewRegistry(avro.Config{RegistryURL: ts.URL})
	if err != nil {
		t.Fatal(err)
	}
	enc, err := avro.NewEncoder(reg)
	if err != nil {
		t.Fatal(err)
	}
	te, err := enc.ForDestination("outage")
	if err != nil {
		t.Fatal(err)
	}
	ev := &sysflow.Event{Kind: sysflow.KindFileFlow}

	type result struct {
		id, errs int
		err      error
	}
	results := make(chan result, publishers)
	start := make(chan struct{})
	for range publishers {
		go func() {
			<-start
			var r result
			for {
				buf, err := te.AppendEvent(nil, ev)
				if err != nil {
					if !strings.Contains(err.Error(), "500") && !strings.Contains(err.Error(), "backing store unavailable") {
						r.err = err
						break
					}
					r.errs++
					if r.errs > failures { // more errors than the registry gave
						r.err = err
						break
					}
					continue
				}
				r.id, _, r.err = avro.ParseHeader(buf)
				break
			}
			results <- r
		}()
	}
	close(start)
	timeout := time.After(60 * time.Second)
	errs := 0
	for i := range publishers {
		select {
		case r := <-results:
			if r.err != nil {
				t.Fatalf("publisher: %v", r.err)
			}
			if r.id != wantID {
				t.Fatalf("publisher wrote schema id %d, want %d", r.id, wantID)
			}
			errs += r.errs
		case <-timeout:
			t.Fatalf("%d of %d publishers hung after a registry outage", publishers-i, publishers)
		}
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if srv.failed != failures || srv.registers != 1 {
		t.Fatalf("registry answered %d errors (want %d) and %d registrations (want 1)", srv.failed, failures, srv.registers)
	}
	if errs < 1 {
		t.Fatal("no publisher saw the outage")
	}
	// Once registered, writes no longer ask the registry.
	if _, err := te.AppendEvent(nil, ev); err != nil {
		t.Fatal(err)
	}
	if srv.registers != 1 {
		t.Fatalf("%d registrations after a cached write", srv.registers)
	}
}
