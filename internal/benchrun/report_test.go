package main

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestFormatting(t *testing.T) {
	for n, want := range map[int]string{0: "0", 999: "999", 1000: "1,000", 4467800: "4,467,800", -12345: "-12,345"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
	for v, want := range map[float64]string{512: "512", 13.3e3: "13k", 324e3: "324k", 1.52e6: "1.52M"} {
		if got := rate(v); got != want {
			t.Errorf("rate(%v) = %q, want %q", v, got, want)
		}
	}
	if m := ddRate.FindStringSubmatch("1073741824 bytes (1.1 GB, 1.0 GiB) copied, 0.466055 s, 2.3 GB/s"); m == nil || m[1] != "0.466055" {
		t.Errorf("dd's line not parsed: %q", m)
	}
}

// The medians are per column, and the targets use them.
func TestMediansAndTargets(t *testing.T) {
	in := input{Name: "synth", Records: 1_000_000}
	runs := func(walls ...time.Duration) []runResult {
		var out []runResult
		for i, w := range walls {
			out = append(out, runResult{Wall: w, User: w, MaxRSSKB: int64(50+i*30) << 10, OutBytes: 1_500_000_000})
		}
		return out
	}
	ps := map[string]pipeline{}
	for _, p := range pipelines() {
		ps[p.Key] = p
	}
	r := &report{Opts: &options{runs: 3}}

	reader := cell{P: ps["reader1"], In: in, Runs: runs(2*time.Second, 500*time.Millisecond, 900*time.Millisecond)}
	if got := reader.Rate(); got < 1.1e6 || got > 1.12e6 { // the median wall, 0.9 s
		t.Errorf("median rate %v, want 1/0.9 s", got)
	}
	if got := reader.RSSMB(); got != 80 {
		t.Errorf("median RSS %v MB, want 80", got)
	}
	if r.met(&reader) != "yes" {
		t.Error("1.1M records/s on one core should meet the reader target")
	}

	// alert: 1M records/s with RSS 50, 80, 110 MB: the median, 80 MB, is
	// within the budget; with every run at 110 MB it is not
	alert := cell{P: ps["alert"], In: in, Runs: runs(time.Second, time.Second, time.Second)}
	if r.met(&alert) != "yes" {
		t.Errorf("alert at 1M records/s and a median of %v MB not met", alert.RSSMB())
	}
	for i := range alert.Runs {
		alert.Runs[i].MaxRSSKB = 110 << 10
	}
	if r.met(&alert) != "no" {
		t.Error("alert met with 110 MB of peak RSS")
	}

	// enrich: the disk allows 1.5 GB/s / 1,500 bytes per record = 1M records/s
	enrich := cell{P: ps["enrich"], In: in, Runs: runs(5*time.Second, 5*time.Second, 5*time.Second), DiskSync: 1.5e9}
	if lim := r.diskLimit(&enrich); lim < 0.99e6 || lim > 1.01e6 {
		t.Errorf("disk limit %v records/s, want 1M", lim)
	}
	if r.met(&enrich) != "no" { // 200k records/s, under 320k with the disk allowing more
		t.Error("200k records/s met the enrich target although the disk allows 1M")
	}
	enrich.DiskSync = 0.15e9 // the disk allows 100k records/s: the target becomes 100k
	if r.met(&enrich) != "yes" || !strings.Contains(r.target(&enrich), "100k") {
		t.Errorf("at the disk's speed: met %q, target %q", r.met(&enrich), r.target(&enrich))
	}
}

// perTraceCell is a synthetic cell: records over the given walls, every
// run at rssMB of peak RSS and writing outBytes.
func perTraceCell(t *testing.T, key, inName string, records int, rssMB int64, outBytes int64, walls ...time.Duration) cell {
	t.Helper()
	var p pipeline
	for _, q := range pipelines() {
		if q.Key == key {
			p = q
		}
	}
	if p.Key == "" {
		t.Fatalf("no pipeline %q", key)
	}
	c := cell{P: p, In: input{Name: inName, Records: records}}
	for i, w := range walls {
		c.Runs = append(c.Runs, runResult{Wall: w, User: w, Sys: w / 10, MaxRSSKB: rssMB << 10, Load: "1.50 1.00 0.50",
			OutBytes: outBytes, OutLines: map[bool]int64{true: 1000, false: -1}[i == 0]})
	}
	return c
}

func TestPerTraceMet(t *testing.T) {
	const n = 1_200_000
	for _, tc := range []struct {
		name  string
		c     cell
		want  string
		ratio float64
	}{
		// 1.2M records in 0.75 s (the median of 0.7, 0.75, 2 s) = 1.6M/s
		{name: "alert fast and small", c: perTraceCell(t, "alert", "a", n, 60, 10, 700*time.Millisecond, 750*time.Millisecond, 2*time.Second), want: "yes"},
		{name: "alert at exactly the targets", c: perTraceCell(t, "alert", "a", n, 64, 10, 800*time.Millisecond), want: "yes"},
		{name: "alert fast but 65 MB", c: perTraceCell(t, "alert", "a", n, 65, 10, 750*time.Millisecond), want: "no"},
		// the median wall is 1 s although one run took 0.5 s
		{name: "alert small but 1.2M/s", c: perTraceCell(t, "alert", "a", n, 40, 10, 500*time.Millisecond, time.Second, time.Second), want: "no"},
		{name: "discard 1.2M/s", c: perTraceCell(t, "discard", "a", n, 200, 0, time.Second), want: "yes"},
		{name: "discard 0.96M/s", c: perTraceCell(t, "discard", "a", n, 20, 0, 1250*time.Millisecond), want: "no"},
		{name: "decode+flatten has no target", c: perTraceCell(t, "reader", "a", n, 20, 0, time.Second), want: ""},
		{name: "bundled has no target", c: perTraceCell(t, "bundled", "a", n, 20, 0, time.Second), want: ""},
		{name: "sigma has no target", c: perTraceCell(t, "sigma", "a", n, 20, 0, time.Second), want: ""},
		{name: "enrich without dd", c: perTraceCell(t, "enrich", "a", n, 20, 1e9, time.Second), want: ""},
	} {
		if got := perTraceMet(&tc.c); got != tc.want {
			t.Errorf("%s: met %q, want %q (rate %v, RSS %v MB)", tc.name, got, tc.want, tc.c.Rate(), tc.c.RSSMB())
		}
	}

	// enrich to a file: 1 GB in a median 2 s is 500 MB/s; against dd at
	// 525 MB/s that is 95%, against 600 MB/s 83%
	enrich := perTraceCell(t, "enrich", "a", n, 50, 1e9, 2*time.Second, 2*time.Second, 9*time.Second)
	enrich.DiskSync = 525e6
	if r := ddRatio(&enrich); r < 0.95 || r > 0.953 {
		t.Errorf("ratio %v, want 500/525", r)
	}
	if got := perTraceMet(&enrich); got != "yes" {
		t.Errorf("enrich at 95%% of dd: met %q", got)
	}
	enrich.DiskSync = 600e6
	if got := perTraceMet(&enrich); got != "no" {
		t.Errorf("enrich at 83%% of dd: met %q", got)
	}
	enrich.DiskSync = 500e6 / 0.9 // exactly 90%, within float rounding of the target
	if r := ddRatio(&enrich); r < 0.8999 || r > 0.9001 {
		t.Errorf("ratio %v, want 0.9", r)
	}
}

// The per-trace section: a summary with one row per input and one column
// per mode measured, then one table per mode with its target and met
// columns only where the issue sets a target.
func TestPerTraceLayout(t *testing.T) {
	const n = 1_200_000
	ins := []input{{Name: "httpd", Records: n, Events: 375_000, Bytes: 2e6, What: "copies"},
		{Name: "gen", Records: n, Events: n, Bytes: 3e7, What: "gen"}}
	enrichH := perTraceCell(t, "enrich", "httpd", n, 50, 1e9, 2*time.Second)
	enrichH.DiskSync = 525e6
	r := &report{Opts: &options{runs: 3, traceRecords: 400_000, bin: "bin/sfconnector", profile: "/p"}, TraceInputs: ins,
		PerTrace: []cell{
			perTraceCell(t, "reader", "httpd", n, 30, 0, 500*time.Millisecond),
			perTraceCell(t, "reader", "gen", n, 31, 0, 600*time.Millisecond),
			enrichH,
			perTraceCell(t, "enrich", "gen", n, 52, 2e9, 4*time.Second), // no dd figure
			perTraceCell(t, "alert", "httpd", n, 60, 0, 750*time.Millisecond),
			perTraceCell(t, "alert", "gen", n, 70, 5e6, 750*time.Millisecond),
		}}
	r.PerTrace[0].Profile = "/p/reader-httpd.pprof"
	var sb strings.Builder
	r.writePerTrace(&sb)
	out := sb.String()
	lines := strings.Split(out, "\n")
	index := func(line string) int {
		t.Helper()
		for i, l := range lines {
			if l == line {
				return i
			}
		}
		t.Fatalf("no line %q in\n%s", line, out)
		return -1
	}

	// the summary: header, alignment, then exactly one row per input
	h := index("| input | records | decode+flatten | enrich to file | alert, 79 rules |")
	if lines[h+1] != "| --- | ---: | ---: | ---: | ---: |" {
		t.Errorf("summary alignment row %q", lines[h+1])
	}
	if want := "| httpd | 1,200,000 | 2.40M, 30 MB | 600k, 95% of dd (yes) | 1.60M, 60 MB (yes) |"; lines[h+2] != want {
		t.Errorf("summary row\n got %q\nwant %q", lines[h+2], want)
	}
	if want := "| gen | 1,200,000 | 2.00M, 31 MB | 300k, 52 MB | 1.60M, 70 MB (no) |"; lines[h+3] != want {
		t.Errorf("summary row\n got %q\nwant %q", lines[h+3], want)
	}
	if lines[h+4] != "" {
		t.Errorf("summary has more than one row per input: %q", lines[h+4])
	}
	if strings.Contains(out, "enrich discarded |") || strings.Contains(out, "alert, Sigma |") {
		t.Error("a mode that was not measured has a column")
	}

	// the mode tables, in the report's order, with their own columns
	reader := index("#### decode+flatten: read + decode + flatten, null exporter, both cores")
	enrich := index("#### enrich to file: enrich (no policies), JSON to file")
	alert := index("#### alert, 79 rules: alert, runtimeintegrity (79 rules), alerts as JSON to file")
	if !(h < reader && reader < enrich && enrich < alert) {
		t.Errorf("sections out of order: summary %d, reader %d, enrich %d, alert %d", h, reader, enrich, alert)
	}
	if want := "| input | records/s | wall | CPU | peak RSS | load | output |"; lines[reader+2] != want {
		t.Errorf("reader table header %q: a mode without a target has no target or met column", lines[reader+2])
	}
	if want := "| input | records/s | wall | CPU | peak RSS | load | output | enrich MB/s | dd, same bytes | ratio | target | met |"; lines[enrich+2] != want {
		t.Errorf("enrich table header %q", lines[enrich+2])
	}
	if want := "| httpd | 600k | 2.00 s | 2.20 s | 50 MB | 1.50 | 1000 MB, 1,000 lines | 500 MB/s | 525 MB/s | 0.95 | >= 90% of dd | yes |"; lines[enrich+4] != want {
		t.Errorf("enrich row\n got %q\nwant %q", lines[enrich+4], want)
	}
	if want := "| gen | 300k | 4.00 s | 4.40 s | 52 MB | 1.50 | 2000 MB, 1,000 lines | 500 MB/s |  |  | >= 90% of dd |  |"; lines[enrich+5] != want {
		t.Errorf("enrich row without dd\n got %q\nwant %q", lines[enrich+5], want)
	}
	if want := "| gen | 1.60M | 0.75 s | 0.82 s | 70 MB | 1.50 | 5 MB, 1,000 alerts | >= 1.50M records/s, <= 64 MB | no |"; lines[alert+5] != want {
		t.Errorf("alert row\n got %q\nwant %q", lines[alert+5], want)
	}
	if !strings.Contains(out, "1 files in `/p`") || !strings.Contains(out, "reader-httpd.pprof") {
		t.Errorf("profiles not listed:\n%s", out)
	}
}

func TestTraceSelected(t *testing.T) {
	for _, tc := range []struct {
		filter, name string
		want         bool
	}{
		{"", "httpd", true},
		{"http", "httpd", true},
		{"nginx,http", "httpd", true},
		{"nginx", "httpd", false},
		{"collector-*", "collector-files-files", true},
		{"collector-*", "k8s_small", false},
		{"*.sf", "tcp", true}, // globs also match the file's name
		{"gen", "gen", true},
		{"collector-*", "gen", false},
		{" , ", "tcp", false}, // only separators: picks nothing
	} {
		if got := traceSelected(tc.filter, tc.name); got != tc.want {
			t.Errorf("traceSelected(%q, %q) = %v, want %v", tc.filter, tc.name, got, tc.want)
		}
	}
}

func TestValidateOnly(t *testing.T) {
	bin := t.TempDir() + "/sfconnector"
	if err := os.WriteFile(bin, nil, 0o755); err != nil {
		t.Fatal(err)
	}
	base := options{bin: bin, shared: "/nonexistent", records: 1, perTrace: true, traceRecords: 1}
	for only, wantErr := range map[string]string{
		"":                "",
		"alert,sigma":     "",
		"alert, bundled":  "",
		"alrt":            `no mode "alrt"`,
		"compile":         "none of the per-trace modes",
		"reader1,compile": "none of the per-trace modes",
	} {
		o := base
		o.only = only
		err := o.Validate()
		if wantErr == "" && err != nil || wantErr != "" && (err == nil || !strings.Contains(err.Error(), wantErr)) {
			t.Errorf("-only %q: error %v, want one containing %q", only, err, wantErr)
		}
	}
	o := base
	o.only, o.aggregate = "compile", true
	if err := o.Validate(); err != nil {
		t.Errorf("-only compile -aggregate: %v", err)
	}
}
