package sysflow_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/linkedin/goavro/v2"

	"github.com/sfconnector/sfconnector/sysflow"
	"github.com/sfconnector/sfconnector/testenv/shared"
)

// readAll decodes a whole OCF with our Reader.
func readAll(t testing.TB, data []byte, name string) []sysflow.Record {
	t.Helper()
	r, err := sysflow.NewReader(bytes.NewReader(data), name)
	if err != nil {
		t.Fatalf("NewReader(%s): %v", name, err)
	}
	var recs []sysflow.Record
	for {
		recs, err = r.Next(recs)
		if err == io.EOF {
			return recs
		}
		if err != nil {
			t.Fatalf("%s: after %d records: %v", name, len(recs), err)
		}
	}
}

// goavroKinds is the independent check: goavro's own OCF reader decodes the
// file into generic maps, and we count the union branch names it reports.
func goavroKinds(t testing.TB, data []byte) map[string]int {
	t.Helper()
	ocf, err := goavro.NewOCFReader(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("goavro.NewOCFReader: %v", err)
	}
	counts := map[string]int{}
	for ocf.Scan() {
		v, err := ocf.Read()
		if err != nil {
			t.Fatalf("goavro read: %v", err)
		}
		union := v.(map[string]any)["rec"].(map[string]any)
		for name := range union {
			// "sysflow.flow.FileFlow" -> "FileFlow"
			short := name[bytes.LastIndexByte([]byte(name), '.')+1:]
			counts[short]++
		}
	}
	if err := ocf.Err(); err != nil {
		t.Fatalf("goavro scan: %v", err)
	}
	return counts
}

func kindCounts(recs []sysflow.Record) map[string]int {
	counts := map[string]int{}
	for i := range recs {
		counts[recs[i].Kind.String()]++
	}
	return counts
}

func TestReaderTracesMatchGoavro(t *testing.T) {
	for _, path := range shared.Traces(t) {
		t.Run(shared.TraceName(path), func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			recs := readAll(t, data, path)
			got, want := kindCounts(recs), goavroKinds(t, data)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("kind counts differ:\n ours   %v\n goavro %v", got, want)
			}
			if len(recs) == 0 || recs[0].Kind != sysflow.KindHeader {
				t.Fatalf("first record is not a header")
			}
			for i := range recs {
				if err := checkShape(&recs[i]); err != nil {
					t.Fatalf("record %d: %v", i, err)
				}
			}
			t.Logf("%d records %v", len(recs), got)
		})
	}
}

// checkShape verifies that exactly the pointer matching Kind is set.
func checkShape(r *sysflow.Record) error {
	v := reflect.ValueOf(*r)
	set := 0
	for i := 1; i < v.NumField(); i++ {
		if !v.Field(i).IsNil() {
			set++
			if v.Type().Field(i).Name != fieldForKind(r.Kind) {
				return errors.New("pointer " + v.Type().Field(i).Name + " set for kind " + r.Kind.String())
			}
		}
	}
	if set != 1 {
		return errors.New("not exactly one pointer set")
	}
	return nil
}

func fieldForKind(k sysflow.RecordKind) string {
	if k == sysflow.KindHeader {
		return "Header"
	}
	return k.String()
}

// TestReaderValuesMatchGoavro compares every field of every record with the
// value goavro decoded for it, matching struct fields to Avro fields by
// case-insensitive name. Fields the writer lacks must hold the reader
// defaults.
func TestReaderValuesMatchGoavro(t *testing.T) {
	for _, path := range shared.Traces(t) {
		t.Run(shared.TraceName(path), func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			recs := readAll(t, data, path)
			ocf, err := goavro.NewOCFReader(bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			i := 0
			for ocf.Scan() {
				v, err := ocf.Read()
				if err != nil {
					t.Fatal(err)
				}
				if i >= len(recs) {
					t.Fatalf("goavro has more records than our %d", len(recs))
				}
				for _, val := range v.(map[string]any)["rec"].(map[string]any) {
					ours := reflect.ValueOf(recs[i]).FieldByName(fieldForKind(recs[i].Kind)).Elem()
					if err := compareRecord(val.(map[string]any), ours); err != nil {
						t.Fatalf("record %d (%s): %v", i, recs[i].Kind, err)
					}
					if err := checkDefaults(val.(map[string]any), &recs[i]); err != nil {
						t.Fatalf("record %d (%s): %v", i, recs[i].Kind, err)
					}
				}
				i++
			}
			if i != len(recs) {
				t.Fatalf("goavro read %d records, we read %d", i, len(recs))
			}
		})
	}
}

var enumSymbols = map[string][]string{
	"state":  {"CREATED", "MODIFIED", "REUP"},
	"type":   sysflow.ContainerTypeNames,
	"kind":   sysflow.K8sComponentNames,
	"action": sysflow.K8sActionNames,
}

func compareRecord(m map[string]any, ours reflect.Value) error {
	for name, gv := range m {
		f := ours.FieldByNameFunc(func(s string) bool { return strings.EqualFold(s, name) })
		if !f.IsValid() {
			if name == "imagerepo" { // an intermediate writer's field we do not keep
				continue
			}
			return fmt.Errorf("no struct field for Avro field %s", name)
		}
		if err := compareValue(name, gv, f); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return nil
}

func compareValue(name string, gv any, f reflect.Value) error {
	if f.Kind() == reflect.Pointer {
		if gv == nil {
			if !f.IsNil() {
				return fmt.Errorf("goavro null, ours %v", f.Elem().Interface())
			}
			return nil
		}
		if f.IsNil() {
			return fmt.Errorf("goavro %v, ours nil", gv)
		}
		if u, ok := gv.(map[string]any); ok && len(u) == 1 && f.Elem().Kind() != reflect.Struct || ok && len(u) == 1 && isUnionWrap(u) {
			for _, inner := range u {
				gv = inner
			}
		}
		f = f.Elem()
	}
	switch g := gv.(type) {
	case map[string]any:
		if f.Kind() == reflect.Map {
			if len(g) != f.Len() {
				return fmt.Errorf("map sizes %d vs %d", len(g), f.Len())
			}
			for k, v := range g {
				ov := f.MapIndex(reflect.ValueOf(k))
				if !ov.IsValid() || ov.String() != v.(string) {
					return fmt.Errorf("map key %s differs", k)
				}
			}
			return nil
		}
		return compareRecord(g, f)
	case []any:
		if len(g) != f.Len() {
			return fmt.Errorf("array lengths %d vs %d", len(g), f.Len())
		}
		for i := range g {
			if err := compareValue(name, g[i], f.Index(i)); err != nil {
				return fmt.Errorf("[%d]: %w", i, err)
			}
		}
		return nil
	case []byte:
		if !bytes.Equal(g, f.Slice(0, f.Len()).Bytes()) {
			return fmt.Errorf("bytes differ")
		}
		return nil
	case string:
		if f.Kind() == reflect.String {
			if f.String() != g {
				return fmt.Errorf("goavro %q, ours %q", g, f.String())
			}
			return nil
		}
		syms := enumSymbols[name]
		if int(f.Int()) >= len(syms) || syms[f.Int()] != g {
			return fmt.Errorf("enum goavro %s, ours %d", g, f.Int())
		}
		return nil
	case int64:
		if f.Int() != g {
			return fmt.Errorf("goavro %d, ours %d", g, f.Int())
		}
	case time.Time:
		// v1 writers annotate some longs as timestamp-millis; goavro turns
		// them into times, we keep the long.
		if f.Int() != g.UnixMilli() {
			return fmt.Errorf("goavro %d, ours %d", g.UnixMilli(), f.Int())
		}
	case int32:
		if f.Int() != int64(g) {
			return fmt.Errorf("goavro %d, ours %d", g, f.Int())
		}
	case bool:
		if f.Bool() != g {
			return fmt.Errorf("goavro %v, ours %v", g, f.Bool())
		}
	default:
		return fmt.Errorf("unexpected goavro value %T", gv)
	}
	return nil
}

// isUnionWrap tells goavro's union wrapper {"type.Name": value} from a record.
func isUnionWrap(m map[string]any) bool {
	for k := range m {
		return k == "string" || strings.HasPrefix(k, "sysflow.")
	}
	return false
}

// checkDefaults verifies the reader defaults of fields older writers lack.
func checkDefaults(m map[string]any, r *sysflow.Record) error {
	switch r.Kind {
	case sysflow.KindHeader:
		if _, ok := m["ip"]; !ok && r.Header.IP != "NA" {
			return fmt.Errorf("header ip default: got %q", r.Header.IP)
		}
		if _, ok := m["filename"]; !ok && r.Header.Filename != "" {
			return fmt.Errorf("header filename default: got %q", r.Header.Filename)
		}
	case sysflow.KindProcess:
		if _, ok := m["entry"]; !ok && r.Process.Entry {
			return fmt.Errorf("process entry default: got true")
		}
		if _, ok := m["env"]; !ok && r.Process.Env != nil {
			return fmt.Errorf("process env default: got %v", r.Process.Env)
		}
	case sysflow.KindContainer:
		if _, ok := m["podId"]; !ok && r.Container.PodID != nil {
			return fmt.Errorf("container podId default: got %q", *r.Container.PodID)
		}
	}
	return nil
}

// dump prints a record with its pointed-to struct.
func dump(r *sysflow.Record) string {
	v := reflect.ValueOf(*r).FieldByName(fieldForKind(r.Kind))
	if !v.IsValid() || v.IsNil() {
		return fmt.Sprintf("%+v", *r)
	}
	return fmt.Sprintf("%s %+v", r.Kind, v.Elem().Interface())
}
