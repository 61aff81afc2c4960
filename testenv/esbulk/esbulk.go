// Package esbulk stands in for Elasticsearch in tests: no Elasticsearch or
// OpenSearch server can run on the machines the tests run on, so this HTTP
// server speaks the part of Elasticsearch's REST API the sink uses, the bulk
// API (POST /_bulk and /{index}/_bulk): NDJSON action and document line
// pairs in, a per-item result list out. It keeps the documents by index and
// _id across restarts, as a real cluster keeps them on disk, answers a
// second "create" of an _id with 409 version_conflict_engine_exception, and
// injects what a loaded or failing cluster does: whole requests refused with
// 429, items refused with 429 es_rejected_execution_exception, items
// refused with 400 mapper_parsing_exception, and a response lost after the
// documents were written, followed by a restart on the same address.
//
// It is not Elasticsearch: no mappings, queries, refresh or shards. Every
// document is decoded as JSON (a malformed one is a 400 item, as in
// Elasticsearch) and recorded, so tests can check each one.
package esbulk

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"
)

// Received is one document action the server read.
type Received struct {
	Action string // create or index
	Index  string
	ID     string
	Doc    map[string]any // decoded document
	Raw    []byte
	Status int // the status the server answered for it
}

// Server is the stand-in. Its methods are safe for concurrent use.
//
// Concurrency: mu guards the store, the log of received items and the
// fault settings; the HTTP handlers take it for the whole of a request, so
// a bulk request is applied atomically, as a test expects when it counts.
type Server struct {
	t       testing.TB
	mu      sync.Mutex
	addr    string
	srv     *http.Server
	tlsCfg  *tls.Config
	caPEM   []byte
	wg      sync.WaitGroup // the Serve goroutines
	stopped bool

	docs     map[string]map[string][]byte // index -> _id -> document
	received []Received
	requests int
	auth     []string

	rejectRequests int // the next n bulk requests get a 429 as a whole
	rejectItems    int // in the next n bulk requests, every other item gets a 429
	dropAfterApply int // the nth bulk request from now is applied, unanswered, and the server restarts
	restarts       int
	mappingError   func(doc map[string]any) string
	requested      chan struct{} // one value per bulk request, dropped when full
}

// Option configures a Server.
type Option func(*Server)

// WithTLS serves HTTPS with a self-signed certificate for 127.0.0.1 (CA
// returns its PEM).
func WithTLS() Option { return func(s *Server) { s.tlsCfg, s.caPEM = selfSigned(s.t) } }

// Start starts a server on 127.0.0.1 on a free port; it stops at the end of
// the test.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s := &Server{t: t, docs: map[string]map[string][]byte{}, requested: make(chan struct{}, 1<<16)}
	for _, o := range opts {
		o(s)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = ln.Addr().String()
	s.serve(ln)
	t.Cleanup(s.stop)
	return s
}

// URL is the server's address as es.addresses takes it.
func (s *Server) URL() string {
	if s.tlsCfg != nil {
		return "https://" + s.addr
	}
	return "http://" + s.addr
}

// CA returns the PEM of the certificate a WithTLS server presents.
func (s *Server) CA() []byte { return s.caPEM }

func (s *Server) serve(ln net.Listener) {
	if s.tlsCfg != nil {
		ln = tls.NewListener(ln, s.tlsCfg)
	}
	srv := &http.Server{Handler: http.HandlerFunc(s.handle), ReadHeaderTimeout: 10 * time.Second,
		// refused handshakes (a test of certificate verification) are expected
		ErrorLog: log.New(io.Discard, "", 0)}
	s.srv = srv
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		_ = srv.Serve(ln)
	}()
}

func (s *Server) stop() {
	s.mu.Lock()
	s.stopped = true
	srv := s.srv
	s.mu.Unlock()
	srv.Close()
	s.wg.Wait()
}

// restartLocked closes the listener and every connection and listens again
// on the same address, keeping the documents. Called with mu held.
func (s *Server) restartLocked() {
	s.srv.Close()
	s.restarts++
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		s.t.Errorf("esbulk: listening again on %s: %v", s.addr, err)
		return
	}
	s.serve(ln)
}

// RejectRequests makes the next n bulk requests fail as a whole with 429.
func (s *Server) RejectRequests(n int) { s.mu.Lock(); s.rejectRequests = n; s.mu.Unlock() }

// RejectItems makes every other item (the 1st, 3rd, ...) of the next n bulk
// requests fail with 429 es_rejected_execution_exception.
func (s *Server) RejectItems(n int) { s.mu.Lock(); s.rejectItems = n; s.mu.Unlock() }

// DropAfterApply makes the nth bulk request from now (1: the next) write
// its documents and then lose its answer: the connection is closed and the
// server restarts on the same address, as a node that crashed after
// writing.
func (s *Server) DropAfterApply(n int) { s.mu.Lock(); s.dropAfterApply = n; s.mu.Unlock() }

// MappingError refuses documents for which f returns a reason, with 400
// mapper_parsing_exception, as Elasticsearch refuses a document whose field
// does not fit the index's mapping.
func (s *Server) MappingError(f func(doc map[string]any) string) {
	s.mu.Lock()
	s.mappingError = f
	s.mu.Unlock()
}

// Docs returns the stored documents: index -> _id -> document.
func (s *Server) Docs() map[string]map[string][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]map[string][]byte, len(s.docs))
	for i, m := range s.docs {
		c := make(map[string][]byte, len(m))
		for id, d := range m {
			c[id] = d
		}
		out[i] = c
	}
	return out
}

// Received returns every document action read, in order, retries included.
func (s *Server) Received() []Received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Received(nil), s.received...)
}

// Requests is the number of bulk requests read.
func (s *Server) Requests() int { s.mu.Lock(); defer s.mu.Unlock(); return s.requests }

// Requested receives a value for each bulk request read (up to 65536
// unreceived), for tests that wait for a request instead of sleeping.
func (s *Server) Requested() <-chan struct{} { return s.requested }

// Restarts is the number of restarts.
func (s *Server) Restarts() int { s.mu.Lock(); defer s.mu.Unlock(); return s.restarts }

// Auth returns the Authorization headers of the bulk requests.
func (s *Server) Auth() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.auth...)
}

func (s *Server) handle(w http.ResponseWriter, r *http.Request) {
	// the client refuses to talk to a server without this header
	w.Header().Set("X-Elastic-Product", "Elasticsearch")
	w.Header().Set("Content-Type", "application/json")
	if r.Method == http.MethodGet && r.URL.Path == "/" {
		io.WriteString(w, `{"name":"esbulk","cluster_name":"stand-in","version":{"number":"8.19.0","build_flavor":"default"},"tagline":"You Know, for Search"}`)
		return
	}
	index, ok := bulkPath(r.URL.Path)
	if !ok || (r.Method != http.MethodPost && r.Method != http.MethodPut) {
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintf(w, `{"error":{"type":"esbulk_unsupported","reason":"only the bulk API is stood in for, not %s %s"},"status":404}`, r.Method, r.URL.Path)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return // the client went away
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return
	}
	s.requests++
	select {
	case s.requested <- struct{}{}:
	default:
	}
	s.auth = append(s.auth, r.Header.Get("Authorization"))
	if s.rejectRequests > 0 {
		s.rejectRequests--
		w.WriteHeader(http.StatusTooManyRequests)
		io.WriteString(w, `{"error":{"type":"es_rejected_execution_exception","reason":"rejected execution of coordinating operation"},"status":429}`)
		return
	}
	rejectEveryOther := false
	if s.rejectItems > 0 {
		s.rejectItems--
		rejectEveryOther = true
	}
	items, err := s.apply(index, body, rejectEveryOther)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"error":{"type":"illegal_argument_exception","reason":%q},"status":400}`, err.Error())
		return
	}
	if s.dropAfterApply > 0 {
		s.dropAfterApply--
		if s.dropAfterApply == 0 {
			if hj, ok := w.(http.Hijacker); ok {
				if c, _, err := hj.Hijack(); err == nil {
					c.Close()
				}
			}
			s.restartLocked()
			return
		}
	}
	resp := struct {
		Took   int              `json:"took"`
		Errors bool             `json:"errors"`
		Items  []map[string]any `json:"items"`
	}{Took: 1, Items: items}
	for _, it := range items {
		for _, v := range it {
			if v.(map[string]any)["status"].(int) > 201 {
				resp.Errors = true
			}
		}
	}
	json.NewEncoder(w).Encode(resp)
}

func bulkPath(p string) (index string, ok bool) {
	if p == "/_bulk" {
		return "", true
	}
	if len(p) > len("/_bulk") && p[len(p)-len("/_bulk"):] == "/_bulk" {
		idx := p[1 : len(p)-len("/_bulk")]
		return idx, idx != "" && !bytes.ContainsRune([]byte(idx), '/')
	}
	return "", false
}

// apply reads the NDJSON pairs and answers each item. A request that is not
// NDJSON pairs fails as a whole, as in Elasticsearch.
func (s *Server) apply(defIndex string, body []byte, rejectEveryOther bool) ([]map[string]any, error) {
	var items []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 0, 64<<10), 100<<20)
	line := 0
	for sc.Scan() {
		line++
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var action map[string]struct {
			Index string `json:"_index"`
			ID    string `json:"_id"`
		}
		if err := json.Unmarshal(sc.Bytes(), &action); err != nil || len(action) != 1 {
			return nil, fmt.Errorf("line %d: malformed action: %s", line, sc.Bytes())
		}
		var op string
		for k := range action {
			op = k
		}
		meta := action[op]
		if op != "create" && op != "index" {
			return nil, fmt.Errorf("line %d: action %q is not stood in for", line, op)
		}
		if !sc.Scan() {
			return nil, fmt.Errorf("line %d: action without a document", line)
		}
		line++
		raw := append([]byte(nil), sc.Bytes()...)
		index := meta.Index
		if index == "" {
			index = defIndex
		}
		rec := Received{Action: op, Index: index, ID: meta.ID, Raw: raw}
		result := map[string]any{"_index": index, "_id": meta.ID}
		fail := func(status int, typ, reason string) {
			result["status"] = status
			result["error"] = map[string]any{"type": typ, "reason": reason}
		}
		var doc map[string]any
		switch err := json.Unmarshal(raw, &doc); {
		case index == "":
			fail(400, "action_request_validation_exception", "index is missing")
		case err != nil:
			fail(400, "mapper_parsing_exception", "failed to parse: "+err.Error())
		case meta.ID == "" && op == "create":
			fail(400, "action_request_validation_exception", "an id is required for a create operation")
		case rejectEveryOther && len(items)%2 == 0:
			fail(429, "es_rejected_execution_exception", "rejected execution of primary operation: write queue full")
		case s.mappingError != nil && s.mappingError(doc) != "":
			fail(400, "mapper_parsing_exception", s.mappingError(doc))
		default:
			m := s.docs[index]
			if m == nil {
				m = map[string][]byte{}
				s.docs[index] = m
			}
			if _, exists := m[meta.ID]; exists && op == "create" {
				fail(409, "version_conflict_engine_exception",
					fmt.Sprintf("[%s]: version conflict, document already exists (current version [1])", meta.ID))
			} else {
				m[meta.ID] = raw
				result["status"] = 201
				result["result"] = "created"
				result["_version"] = 1
			}
		}
		rec.Doc = doc
		rec.Status = result["status"].(int)
		s.received = append(s.received, rec)
		items = append(items, map[string]any{op: result})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return items, nil
}

// selfSigned makes a certificate for 127.0.0.1 and returns the server's TLS
// configuration and the certificate's PEM (the CA file a client trusts).
func selfSigned(t testing.TB) (*tls.Config, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "esbulk"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}, MinVersion: tls.VersionTLS12}, pemBytes
}
