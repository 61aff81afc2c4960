package connector

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/sfconnector/sfconnector/config"
)

func checkText(t *testing.T, js string, opts Options) error {
	t.Helper()
	cfg, err := config.Parse("p.json", []byte(js), nil)
	if err != nil {
		t.Fatal(err)
	}
	opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	return Check(context.Background(), cfg, opts)
}

// The policy engine's compat key takes sf-processor or none; --compat
// (Options.Compat) overrides it and is checked the same way.
func TestPolicyCompatKey(t *testing.T) {
	pipeline := func(compat string) string {
		return `{"pipeline":[{"processor":"sysflowreader","out":"a"},
		 {"processor":"policyengine","in":"a","out":"b","mode":"alert","compat":"` + compat + `"},
		 {"processor":"exporter","in":"b","export":"null"}]}`
	}
	for _, c := range []string{"sf-processor", "none", "SF-Processor"} {
		if err := checkText(t, pipeline(c), Options{}); err != nil {
			t.Errorf("compat %q: %v", c, err)
		}
	}
	err := checkText(t, pipeline("falco"), Options{})
	if err == nil || !strings.Contains(err.Error(), `pipeline[1] (policyengine): key "compat": invalid value "falco": want one of sf-processor, none`) {
		t.Errorf("compat falco: err = %v", err)
	}
	if err := checkText(t, pipeline("falco"), Options{Compat: "sf-processor"}); err == nil {
		t.Error("a bad compat key must be reported even when --compat overrides it")
	}
	err = checkText(t, pipeline("none"), Options{Compat: "sfp"})
	if err == nil || !strings.Contains(err.Error(), `--compat "sfp"`) {
		t.Errorf("--compat sfp: err = %v", err)
	}
}

// A pipeline fed by a driver without a sysflowreader (sf-processor's OTel
// pipeline) is refused naming the driver, not with a flattener error.
func TestDriverFedPipelineRefused(t *testing.T) {
	js := `{"pipeline":[{"processor":"policyengine","in":"otel c","out":"e","mode":"enrich"},{"processor":"exporter","in":"e","export":"null"}],
	 "drivers":[{"driver":"otelkafka","out":"otel c"}]}`
	err := checkText(t, js, Options{})
	if err == nil || !strings.Contains(err.Error(), `drivers[0] (otelkafka) (output "otel c"): feeds the pipeline directly, without a sysflowreader`) {
		t.Fatalf("err = %v", err)
	}
	if strings.Contains(err.Error(), "tables.max") {
		t.Errorf("flattener keys read on a driver-fed root: %v", err)
	}
}
