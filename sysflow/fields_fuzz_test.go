package sysflow_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/sfconnector/sfconnector/sysflow"
)

// refPath evaluates a dotted path with encoding/json, as an independent
// check of the field registry's JSON path walker. ok is false when the
// answer is ambiguous (several keys equal without regard to case) or the
// document is not JSON.
func refPath(doc string, parts []string) (v any, found, ok bool) {
	d := json.NewDecoder(strings.NewReader(doc))
	d.UseNumber()
	if err := d.Decode(&v); err != nil || d.More() {
		return nil, false, false
	}
	for _, p := range parts {
		switch x := v.(type) {
		case map[string]any:
			var match []string
			for k := range x {
				if strings.EqualFold(k, p) {
					match = append(match, k)
				}
			}
			if len(match) > 1 {
				return nil, false, false
			}
			if len(match) == 0 {
				return nil, false, true
			}
			v = x[match[0]]
		case []any:
			n, err := strconv.Atoi(p)
			if err != nil || n < 0 || n >= len(x) {
				return nil, false, true
			}
			v = x[n]
		default:
			return nil, false, true
		}
	}
	return v, true, true
}

func FuzzJSONPath(f *testing.F) {
	f.Add(`{"apiVersion":"v1","items":[{"namespace":"robot-shop","n":1.5e3,"ok":true}]}`, "items.0.namespace")
	f.Add(`{"a":{"b":[1,2,{"c":"\u00e9\"x"}]}}`, "a.b.2.c")
	f.Add(`[{"clusterIP":["10.0.0.1"]}]`, "0.clusterip.0")
	f.Add(`{"a.b":{"c":null}}`, `a\.b.c`)
	f.Add(`{"a": [ 1 , {"b" : "x"} ] }`, "a.1")
	f.Add(`{"A":1,"a":2}`, "a")
	f.Add(`not json`, "a")
	f.Fuzz(func(t *testing.T, doc, path string) {
		if strings.ContainsAny(path, "[]") {
			return // the suffix syntax cannot carry brackets
		}
		ev := &sysflow.Event{Kind: sysflow.KindK8sEvent, K8s: &sysflow.K8sEvent{Message: doc}}
		f, ok := sysflow.LookupField("sf.ke.message[" + path + "]")
		if !ok {
			t.Fatalf("path %q did not resolve", path)
		}
		got := f.Str(ev) // must not panic
		// Independent check on documents without a trailing NUL/newline
		// (the field drops those) and paths without escapes.
		if strings.ContainsAny(path, `\`) || strings.TrimRight(doc, "\x00\n") != doc {
			return
		}
		v, found, ok := refPath(doc, strings.Split(path, "."))
		if !ok {
			return
		}
		if !found {
			if got != "" {
				t.Fatalf("doc %q path %q: got %q, want nothing", doc, path, got)
			}
			return
		}
		switch x := v.(type) {
		case nil:
			if got != "" {
				t.Fatalf("doc %q path %q: got %q for null", doc, path, got)
			}
		case string:
			if got != x {
				t.Fatalf("doc %q path %q: got %q, want %q", doc, path, got, x)
			}
		case json.Number:
			if got != x.String() {
				t.Fatalf("doc %q path %q: got %q, want %q", doc, path, got, x)
			}
		case bool:
			if got != strconv.FormatBool(x) {
				t.Fatalf("doc %q path %q: got %q, want %v", doc, path, got, x)
			}
		default: // objects and arrays come back as their raw JSON text
			var back any
			d := json.NewDecoder(bytes.NewReader([]byte(got)))
			d.UseNumber()
			if err := d.Decode(&back); err != nil || !reflect.DeepEqual(back, v) {
				t.Fatalf("doc %q path %q: got %q (%v), want the JSON of %v", doc, path, got, err, v)
			}
		}
	})
}
