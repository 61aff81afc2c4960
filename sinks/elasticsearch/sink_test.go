package elasticsearch_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/sfconnector/sfconnector/encoding/ecs"
	es "github.com/sfconnector/sfconnector/sinks/elasticsearch"
	"github.com/sfconnector/sfconnector/sysflow"
	"github.com/sfconnector/sfconnector/testenv/esbulk"
	"github.com/sfconnector/sfconnector/testenv/shared"
	"github.com/sfconnector/sfconnector/transforms/flatten"
)

// traceEvents flattens a real trace of ../shared/traces.
func traceEvents(t testing.TB, name string) []*sysflow.Event {
	t.Helper()
	rd, c, err := sysflow.OpenFile(shared.Path(t, "traces", name))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	f := flatten.New(flatten.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	var evs []*sysflow.Event
	for {
		recs, err := rd.Next(nil)
		evs = f.Flatten(recs, evs)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(evs) == 0 {
		t.Fatalf("%s: no events", name)
	}
	return evs
}

// someEvents are the first events of a real trace: enough for several bulk
// requests, few enough for a loaded machine.
func someEvents(t testing.TB) []*sysflow.Event {
	evs := traceEvents(t, "k8s_small.sf")
	return evs[:min(len(evs), 1200)]
}

func ecsEncoder(t testing.TB) *ecs.Encoder {
	t.Helper()
	enc, err := ecs.New(ecs.Config{AgentVersion: "test"})
	if err != nil {
		t.Fatal(err)
	}
	return enc
}

// expectedDocs encodes events with encoding/ecs directly and decodes them:
// what the server must hold, as canonical JSON -> count.
func expectedDocs(t testing.TB, evs []*sysflow.Event) map[string]int {
	t.Helper()
	enc := ecsEncoder(t)
	out := map[string]int{}
	for _, ev := range evs {
		b, err := enc.AppendEvent(nil, ev)
		if err != nil {
			t.Fatal(err)
		}
		out[canonical(t, b)]++
	}
	return out
}

func canonical(t testing.TB, doc []byte) string {
	t.Helper()
	var v any
	if err := json.Unmarshal(doc, &v); err != nil {
		t.Fatalf("document is not JSON: %v: %s", err, doc)
	}
	b, err := json.Marshal(v) // maps marshal with sorted keys
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// storedDocs is the server's store as canonical JSON -> count, each
// document also checked to be in the index of its own @timestamp.
func storedDocs(t testing.TB, srv *esbulk.Server, prefix string) map[string]int {
	t.Helper()
	out := map[string]int{}
	for index, docs := range srv.Docs() {
		for id, d := range docs {
			var doc struct {
				TS time.Time `json:"@timestamp"`
			}
			if err := json.Unmarshal(d, &doc); err != nil {
				t.Fatalf("%s/%s: %v", index, id, err)
			}
			if want := prefix + doc.TS.UTC().Format("2006.01.02"); index != want {
				t.Errorf("document %s of %s is in %s, want %s", id, doc.TS, index, want)
			}
			out[canonical(t, d)]++
		}
	}
	return out
}

func publishAll(t testing.TB, s *es.Sink, evs []*sysflow.Event, batch int) {
	t.Helper()
	for i := 0; i < len(evs); i += batch {
		end := min(i+batch, len(evs))
		m := sysflow.WithBatch(message.NewMessage(watermill.NewUUID(), nil), &sysflow.Batch{Source: "test", Events: evs[i:end]})
		if err := s.Publish("es", m); err != nil {
			t.Fatalf("Publish events %d-%d: %v", i, end, err)
		}
	}
}

func newSink(t testing.TB, c es.Config) *es.Sink {
	t.Helper()
	if c.Encoder == nil {
		c.Encoder = ecsEncoder(t)
	}
	if c.RetryInitial == 0 {
		c.RetryInitial = time.Millisecond
	}
	c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	s, err := es.New(c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// checkReceived: every document the server read, retries included, is one
// encoding/ecs wrote for an event of the input.
func checkReceived(t *testing.T, srv *esbulk.Server, want map[string]int) {
	t.Helper()
	rec := srv.Received()
	if len(rec) == 0 {
		t.Fatal("the server received nothing")
	}
	for _, r := range rec {
		if r.Action != "create" {
			t.Fatalf("action %q, want create", r.Action)
		}
		if want[canonical(t, r.Raw)] == 0 {
			t.Fatalf("received a document no input event encodes to: %s", r.Raw)
		}
	}
}

func TestPublishIndexesECSDocuments(t *testing.T) {
	evs := someEvents(t)
	srv := esbulk.Start(t)
	s := newSink(t, es.Config{Addresses: []string{srv.URL()}, Index: "sysflow-%Y.%m.%d", FlushBytes: 64 << 10, NumWorkers: 2})
	publishAll(t, s, evs, 300)
	want := expectedDocs(t, evs)
	got := storedDocs(t, srv, "sysflow-")
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("stored %d distinct documents, want %d", len(got), len(want))
	}
	checkReceived(t, srv, want)
	st := s.Stats()
	if st.Indexed != int64(len(evs)) || st.Duplicates != 0 || st.Retried != 0 {
		t.Fatalf("stats %+v, want %d indexed and nothing else", st, len(evs))
	}
	if srv.Requests() < 2 {
		t.Fatalf("%d bulk requests: es.bulk.flushBuffer of 64 KiB should split the batches", srv.Requests())
	}
	// the same events again: every create answers 409, nothing is added
	publishAll(t, s, evs, 1000)
	if got := storedDocs(t, srv, "sysflow-"); !reflect.DeepEqual(got, want) {
		t.Fatal("publishing again changed the store")
	}
	if st := s.Stats(); st.Duplicates != int64(len(evs)) {
		t.Fatalf("second run: %d duplicates, want %d", st.Duplicates, len(evs))
	}
}

func TestRetriesRejectedItemsAndRequests(t *testing.T) {
	evs := someEvents(t)
	srv := esbulk.Start(t)
	s := newSink(t, es.Config{Addresses: []string{srv.URL()}, Index: "sysflow-%Y.%m.%d", MaxRetries: 10})
	srv.RejectRequests(2) // two whole requests refused with 429
	srv.RejectItems(3)    // then every other item of three requests
	publishAll(t, s, evs, 300)
	want := expectedDocs(t, evs)
	if got := storedDocs(t, srv, "sysflow-"); !reflect.DeepEqual(got, want) {
		t.Fatalf("stored %d distinct documents, want %d", len(got), len(want))
	}
	checkReceived(t, srv, want)
	st := s.Stats()
	if st.Retried == 0 || st.Indexed != int64(len(evs)) {
		t.Fatalf("stats %+v: want retries and %d indexed", st, len(evs))
	}
	var r429 int
	for _, r := range srv.Received() {
		if r.Status == 429 {
			r429++
		}
	}
	if r429 == 0 {
		t.Fatal("the server refused no item with 429")
	}
}

// A response lost after the documents were written, then a restart of the
// server: the retry of the same documents answers 409 and nothing is
// indexed twice.
func TestLostResponseAndRestart(t *testing.T) {
	evs := someEvents(t)
	srv := esbulk.Start(t)
	s := newSink(t, es.Config{Addresses: []string{srv.URL()}, Index: "sysflow-%Y.%m.%d", MaxRetries: 10})
	srv.DropAfterApply(2)
	publishAll(t, s, evs, 50)
	if srv.Restarts() != 1 {
		t.Fatalf("%d restarts in %d requests for %d events, want 1", srv.Restarts(), srv.Requests(), len(evs))
	}
	want := expectedDocs(t, evs)
	if got := storedDocs(t, srv, "sysflow-"); !reflect.DeepEqual(got, want) {
		t.Fatalf("stored %d distinct documents, want %d", len(got), len(want))
	}
	st := s.Stats()
	if st.Duplicates == 0 || st.Indexed+st.Duplicates != int64(len(evs)) {
		t.Fatalf("stats %+v: want the lost request's documents acknowledged as duplicates", st)
	}
}

// recorder is a dead-letter publisher keeping what it gets.
type recorder struct {
	mu   sync.Mutex
	msgs []*message.Message
}

func (r *recorder) Publish(_ string, msgs ...*message.Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, msgs...)
	return nil
}
func (r *recorder) Close() error { return nil }

func TestMappingErrorGoesToDeadLetters(t *testing.T) {
	evs := someEvents(t)
	// refuse the documents of one process, chosen from the input
	var pid int64 = -1
	for _, ev := range evs {
		if ev.Proc != nil {
			pid = ev.ProcOID.Hpid
			break
		}
	}
	wantRejected := 0
	var kept []*sysflow.Event
	for _, ev := range evs {
		if ev.Proc != nil && ev.ProcOID.Hpid == pid {
			wantRejected++
		} else {
			kept = append(kept, ev)
		}
	}
	if pid < 0 || wantRejected == 0 || len(kept) == 0 {
		t.Fatal("the trace has no event of a known process")
	}
	srv := esbulk.Start(t)
	srv.MappingError(func(doc map[string]any) string {
		p, _ := doc["process"].(map[string]any)
		if n, ok := p["pid"].(float64); ok && int64(n) == pid {
			return "failed to parse field [process.pid] of type [keyword]"
		}
		return ""
	})
	dl := &recorder{}
	s := newSink(t, es.Config{Addresses: []string{srv.URL()}, DeadLetter: dl})
	publishAll(t, s, evs, 1000)
	if got := storedDocs(t, srv, "sysflow-"); !reflect.DeepEqual(got, expectedDocs(t, kept)) {
		t.Fatalf("stored %d distinct documents, want %d", len(got), len(expectedDocs(t, kept)))
	}
	if len(dl.msgs) != wantRejected {
		t.Fatalf("%d dead letters, want %d", len(dl.msgs), wantRejected)
	}
	for _, m := range dl.msgs {
		reason := m.Metadata.Get("reason")
		if !strings.Contains(reason, "mapper_parsing_exception") || !strings.Contains(reason, "process.pid") {
			t.Fatalf("dead-letter reason %q does not give the server's error", reason)
		}
		b := sysflow.BatchOf(m)
		if b == nil || len(b.Events) != 1 || b.Events[0].ProcOID.Hpid != pid {
			t.Fatalf("dead letter does not carry the refused event")
		}
	}
	if st := s.Stats(); st.Rejected != int64(wantRejected) {
		t.Fatalf("stats %+v, want %d rejected", st, wantRejected)
	}

	// without a dead-letter sink the batch fails, naming the reason
	s2 := newSink(t, es.Config{Addresses: []string{srv.URL()}, Index: "other-%Y"})
	m := sysflow.WithBatch(message.NewMessage(watermill.NewUUID(), nil), &sysflow.Batch{Source: "test", Events: evs})
	if err := s2.Publish("es", m); err == nil || !strings.Contains(err.Error(), "mapper_parsing_exception") {
		t.Fatalf("Publish without a dead-letter sink: %v", err)
	}
}

func TestGivesUpAfterMaxRetries(t *testing.T) {
	evs := someEvents(t)[:10]
	srv := esbulk.Start(t)
	srv.RejectRequests(100)
	s := newSink(t, es.Config{Addresses: []string{srv.URL()}, MaxRetries: 2})
	m := sysflow.WithBatch(message.NewMessage(watermill.NewUUID(), nil), &sysflow.Batch{Source: "test", Events: evs})
	err := s.Publish("es", m)
	if err == nil || !strings.Contains(err.Error(), "429") {
		t.Fatalf("Publish against a server refusing everything: %v", err)
	}
	if n := srv.Requests(); n != 3 {
		t.Fatalf("%d requests, want 3 (1 + es.retry.max 2)", n)
	}
}

// Abort (the pipeline's shutdown deadline) ends a Publish waiting out its
// back-off against a server that refuses everything.
func TestAbortEndsBackoff(t *testing.T) {
	evs := someEvents(t)[:10]
	srv := esbulk.Start(t)
	srv.RejectRequests(1 << 30)
	s := newSink(t, es.Config{Addresses: []string{srv.URL()}, MaxRetries: 1000, RetryInitial: 5 * time.Second})
	done := make(chan error, 1)
	go func() {
		m := sysflow.WithBatch(message.NewMessage(watermill.NewUUID(), nil), &sysflow.Batch{Source: "test", Events: evs})
		done <- s.Publish("es", m)
	}()
	select {
	case <-srv.Requested():
	case <-time.After(time.Minute):
		t.Fatal("no request within a minute")
	}
	s.Abort()
	select {
	case err := <-done:
		if !errors.Is(err, es.ErrClosed) {
			t.Fatalf("Publish after Abort: %v, want ErrClosed", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("Publish still retrying a minute after Abort (1000 rounds of 5s back-off were left)")
	}
}

func TestTLSAndCredentials(t *testing.T) {
	evs := someEvents(t)[:5]
	srv := esbulk.Start(t, esbulk.WithTLS())
	msg := func() *message.Message {
		return sysflow.WithBatch(message.NewMessage(watermill.NewUUID(), nil), &sysflow.Batch{Source: "test", Events: evs})
	}
	// verified by default: the self-signed certificate is refused
	s := newSink(t, es.Config{Addresses: []string{srv.URL()}, MaxRetries: 0})
	if err := s.Publish("es", msg()); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("Publish to an unknown certificate: %v", err)
	}
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(ca, srv.CA(), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pw, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s = newSink(t, es.Config{Addresses: []string{srv.URL()}, TLS: es.TLSConfig{CA: ca}, Username: "elastic", PasswordFile: pw})
	if err := s.Publish("es", msg()); err != nil {
		t.Fatal(err)
	}
	s = newSink(t, es.Config{Addresses: []string{srv.URL()}, TLS: es.TLSConfig{CA: ca}, APIKey: "aWQ6a2V5"})
	if err := s.Publish("es", msg()); err != nil {
		t.Fatal(err)
	}
	auth := srv.Auth()
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("elastic:s3cret"))
	if len(auth) != 2 || auth[0] != basic || !strings.EqualFold(auth[1], "ApiKey aWQ6a2V5") {
		t.Fatalf("Authorization headers %q, want %q then the API key", auth, basic)
	}
}

func TestSecretsDoNotPrint(t *testing.T) {
	c := es.Config{Addresses: []string{"http://x:9200"}, Username: "u", Password: "hunter2", APIKey: "a2V5"}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("config", "c", c)
	for _, s := range []string{"hunter2", "a2V5"} {
		if strings.Contains(buf.String(), s) || strings.Contains(strings.Join([]string{c.Password.String(), c.APIKey.String()}, ""), s) {
			t.Fatalf("a secret was printed: %s", buf.String())
		}
	}
}

func TestValidate(t *testing.T) {
	enc := ecsEncoder(t)
	for _, tc := range []struct {
		c    es.Config
		want string
	}{
		{es.Config{Encoder: enc}, "es.addresses"},
		{es.Config{Encoder: enc, Addresses: []string{"localhost:9200"}}, "want http://"},
		{es.Config{Encoder: enc, Addresses: []string{"http://h:1"}, Index: "Sysflow-%Y"}, "upper case"},
		{es.Config{Encoder: enc, Addresses: []string{"http://h:1"}, Index: "sysflow-%Q"}, "unknown %Q"},
		{es.Config{Encoder: enc, Addresses: []string{"http://h:1"}, Password: "x"}, "es.username"},
		{es.Config{Encoder: enc, Addresses: []string{"http://h:1"}, Username: "u", APIKey: "k"}, "not both"},
		{es.Config{Encoder: enc, Addresses: []string{"http://h:1"}, TLS: es.TLSConfig{Cert: "c"}}, "together"},
	} {
		if _, err := es.New(tc.c); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want %q", tc.c, err, tc.want)
		}
	}
}
