package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/sfconnector/sfconnector/testenv/shared"
)

// alertsByRecord reads JSON alert lines (ours or the reference's) as: per
// record (type, ts, endts, pid, tid, as the collector recorded them), one
// entry per alerted record holding its policy ids sorted, repeats kept.
// Nothing else is read and nothing is renamed.
func alertsByRecord(t *testing.T, lines [][]byte) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for i, line := range lines {
		var r struct {
			Type     string `json:"type"`
			TS       int64  `json:"ts"`
			EndTS    int64  `json:"endts"`
			Proc     struct{ Pid, Tid int64 }
			Policies []struct{ ID string }
		}
		if err := json.Unmarshal(line, &r); err != nil {
			t.Fatalf("line %d: %v: %.200s", i+1, err, line)
		}
		ids := make([]string, 0, len(r.Policies))
		for _, p := range r.Policies {
			ids = append(ids, p.ID)
		}
		sort.Strings(ids)
		k := fmt.Sprintf("%s ts=%d endts=%d pid=%d tid=%d", r.Type, r.TS, r.EndTS, r.Proc.Pid, r.Proc.Tid)
		out[k] = append(out[k], "["+strings.Join(ids, ", ")+"]")
	}
	for _, l := range out {
		sort.Strings(l)
	}
	return out
}

func nonEmptyLines(t *testing.T, path string) [][]byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, l := range bytes.Split(data, []byte("\n")) {
		if len(bytes.TrimSpace(l)) > 0 {
			out = append(out, l)
		}
	}
	return out
}

// alertPipeline writes a pipeline.json: reader -> policy engine in alert
// mode with the given policies -> JSON file exporter. compat, when set,
// goes into the policyengine stanza.
func alertPipeline(t *testing.T, dir, policies, compat, out string) string {
	t.Helper()
	pe := map[string]any{"processor": "policyengine", "in": "flat flattenerchan", "out": "evt eventchan",
		"policies": policies, "mode": "alert", "monitor": "none"}
	if compat != "" {
		pe["compat"] = compat
	}
	cfg := map[string]any{"pipeline": []map[string]any{
		{"processor": "sysflowreader", "handler": "flattener", "in": "sysflow sysflowchan", "out": "flat flattenerchan"},
		pe,
		{"processor": "exporter", "in": "evt eventchan", "export": "file", "format": "json", "file.path": out},
	}}
	data, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "pipeline.json")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestCLICompatAlertParity runs the command on every real trace with the
// reference's runtimeintegrity policies in alert mode, once with
// `run --compat sf-processor` and once with `compat: sf-processor` in the
// policyengine stanza, and requires the exported alerts to equal
// ../shared/parity/alerts exactly: the same records, each with the same
// policy ids as a multiset, with no normalisation of either side. A third
// run without compat must differ on some trace (FIELDS.md's differences).
func TestCLICompatAlertParity(t *testing.T) {
	cleanEnv(t)
	defaultDiffers := 0
	policyDir := shared.Path(t, "policies", "sf-processor", "runtimeintegrity")
	for _, trace := range shared.Traces(t) {
		name := shared.TraceName(trace)
		t.Run(name, func(t *testing.T) {
			want := alertsByRecord(t, nonEmptyLines(t, filepath.Join(shared.Path(t, "parity", "alerts"), name+".jsonl")))
			for _, how := range []string{"flag", "key", "default"} {
				dir := t.TempDir()
				out := filepath.Join(dir, "alerts.json")
				args := []string{"run", "-log", "warn", "--progress=false"}
				if how == "flag" {
					args = append(args, "--compat", "sf-processor", "-c", alertPipeline(t, dir, policyDir, "", out))
				} else if how == "key" {
					args = append(args, "-c", alertPipeline(t, dir, policyDir, "sf-processor", out))
				} else {
					args = append(args, "-c", alertPipeline(t, dir, policyDir, "", out))
				}
				var stdout, stderr bytes.Buffer
				if err := run(append(args, trace), &stdout, &stderr); err != nil {
					t.Fatalf("%s: run: %v\n%s", how, err, tail(stderr.String(), 2000))
				}
				got := map[string][]string{}
				if _, err := os.Stat(out); err == nil {
					got = alertsByRecord(t, nonEmptyLines(t, out))
				}
				keys := map[string]bool{}
				for k := range got {
					keys[k] = true
				}
				for k := range want {
					keys[k] = true
				}
				records, differ := 0, 0
				for k := range keys {
					records += len(want[k])
					if strings.Join(got[k], " ") == strings.Join(want[k], " ") {
						continue
					}
					differ++
					if how != "default" {
						t.Errorf("compat by %s: %s: sfconnector %v, reference %v", how, k, got[k], want[k])
					}
				}
				if how == "default" && differ > 0 {
					defaultDiffers++
				}
				t.Logf("%s: reference alerted %d records; %d record keys differ", how, records, differ)
			}
		})
	}
	if defaultDiffers == 0 {
		t.Error("without compat the alerts equal the reference's on every trace: the documented differences no longer show")
	}
}
