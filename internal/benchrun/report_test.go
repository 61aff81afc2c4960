package main

import (
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
