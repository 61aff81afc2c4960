package docs_test

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/sfconnector/sfconnector/encoding/ecs"
	"github.com/sfconnector/sfconnector/sysflow"
	"github.com/sfconnector/sfconnector/testenv/shared"
	"github.com/sfconnector/sfconnector/transforms/flatten"
)

// mappedFields reads the leaf fields of an index template's mappings:
// dotted path -> type (multi-fields under "fields" are not documents'
// fields and are left out).
func mappedFields(t *testing.T, path string) map[string]string {
	t.Helper()
	var tmpl struct {
		IndexPatterns []string `json:"index_patterns"`
		Template      struct {
			Mappings struct {
				Properties map[string]json.RawMessage `json:"properties"`
			} `json:"mappings"`
		} `json:"template"`
	}
	if err := json.Unmarshal([]byte(read(t, path)), &tmpl); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(tmpl.IndexPatterns) == 0 || !strings.HasPrefix("sysflow-2026.12.03", strings.TrimSuffix(tmpl.IndexPatterns[0], "*")) {
		t.Fatalf("%s: index_patterns %v do not match es.index's default sysflow-%%Y.%%m.%%d", path, tmpl.IndexPatterns)
	}
	out := map[string]string{}
	var walk func(prefix string, props map[string]json.RawMessage)
	walk = func(prefix string, props map[string]json.RawMessage) {
		for name, raw := range props {
			var f struct {
				Type       string                     `json:"type"`
				Properties map[string]json.RawMessage `json:"properties"`
			}
			if err := json.Unmarshal(raw, &f); err != nil {
				t.Fatalf("%s: %s%s: %v", path, prefix, name, err)
			}
			switch {
			case f.Properties != nil:
				walk(prefix+name+".", f.Properties)
			case f.Type != "":
				out[prefix+name] = f.Type
			default:
				t.Fatalf("%s: %s%s has neither a type nor properties", path, prefix, name)
			}
		}
	}
	walk("", tmpl.Template.Mappings.Properties)
	return out
}

// emittedFields encodes every event of the real traces with encoding/ecs,
// half of them as alerts (a matched rule and tags), and returns each leaf
// field written with its JSON values' kinds.
func emittedFields(t *testing.T, check func(path string, v any)) map[string]map[string]bool {
	t.Helper()
	enc, err := ecs.New(ecs.Config{AgentVersion: "test"})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]bool{}
	var walk func(path string, v any)
	walk = func(path string, v any) {
		kind := ""
		switch x := v.(type) {
		case map[string]any:
			for k, c := range x {
				if path != "" {
					k = path + "." + k
				}
				walk(k, c)
			}
			return
		case []any:
			for _, c := range x {
				walk(path, c) // Elasticsearch maps an array by its elements
			}
			return
		case string:
			kind = "string"
			check(path, x)
		case float64:
			kind = "number"
		case bool:
			kind = "bool"
		case nil:
			kind = "null"
		}
		if out[path] == nil {
			out[path] = map[string]bool{}
		}
		out[path][kind] = true
	}
	for _, tr := range shared.Traces(t) {
		rd, c, err := sysflow.OpenFile(tr)
		if err != nil {
			t.Fatal(err)
		}
		f := flatten.New(flatten.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		for i := 0; ; i++ {
			recs, rerr := rd.Next(nil)
			for j, ev := range f.Flatten(recs, nil) {
				if (i+j)%2 == 0 {
					ev.Matches = []sysflow.Match{{Rule: "r", Desc: "d", Priority: sysflow.PriorityHigh}}
					ev.Tags = []string{"t"}
				}
				doc, err := enc.AppendEvent(nil, ev)
				if err != nil {
					t.Fatal(err)
				}
				var v any
				if err := json.Unmarshal(doc, &v); err != nil {
					t.Fatalf("%s: %v", filepath.Base(tr), err)
				}
				walk("", v)
			}
			if errors.Is(rerr, io.EOF) {
				break
			}
			if rerr != nil {
				t.Fatal(rerr)
			}
		}
		c.Close()
	}
	return out
}

// TestElasticsearchIndexTemplate: every field the es exporter writes is in
// docs/elasticsearch/index-template.json with a type its values fit (an
// unmapped field would be typed by the first value Elasticsearch sees; a
// misfit one refused as a mapping error), and the template maps nothing
// the encoder does not write.
func TestElasticsearchIndexTemplate(t *testing.T) {
	const path = "docs/elasticsearch/index-template.json"
	mapped := mappedFields(t, path)
	// ip and date values must parse as Elasticsearch parses them, or the
	// document is refused
	bad := map[string]string{}
	emitted := emittedFields(t, func(field string, v any) {
		s, _ := v.(string)
		switch mapped[field] {
		case "ip":
			if net.ParseIP(s) == nil {
				bad[field] = s
			}
		case "date_nanos":
			// date_nanos holds 1970 to 2262
			if ts, err := time.Parse(time.RFC3339Nano, s); err != nil || ts.Year() < 1970 {
				bad[field] = s
			}
		}
	})
	for field, v := range bad {
		t.Errorf("%s: field %s is a %s, but the encoder wrote %q", path, field, mapped[field], v)
	}
	if len(emitted) < 50 {
		t.Fatalf("only %d fields written over the real traces", len(emitted))
	}
	var names []string
	for n := range emitted {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		typ, ok := mapped[name]
		if !ok {
			t.Errorf("%s: field %s is written but not mapped", path, name)
			continue
		}
		for kind := range emitted[name] {
			if kind == "null" {
				continue // a null is no value: any type takes it
			}
			if !fits(kind, typ) {
				t.Errorf("%s: field %s is a %s, its values are %ss", path, name, typ, kind)
			}
		}
	}
	for name := range mapped {
		if emitted[name] == nil {
			t.Errorf("%s: field %s is mapped but the encoder never wrote it over the real traces", path, name)
		}
	}
}

func fits(kind, typ string) bool {
	switch typ {
	case "keyword", "text", "match_only_text", "wildcard", "ip", "date", "date_nanos":
		return kind == "string"
	case "long", "integer", "short", "unsigned_long", "double", "float":
		return kind == "number"
	case "boolean":
		return kind == "bool"
	}
	return false
}
