# sfconnector: build, run, test, benchmark.
GO        ?= go
BIN       := bin/sfconnector
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)
DEMO      := demo/demo.sf
FUZZTIME  ?= 10s

.PHONY: build run test test-short race bench lint fuzz e2e clean

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/sfconnector

# The main job on a built-in default: generate a demo trace with our own
# generator, then run the default pipeline (bundled policies, alert mode,
# alerts printed to the terminal).
run: build
	@mkdir -p demo
	@test -f $(DEMO) || ./$(BIN) gen --records 20000 --seed 7 -o $(DEMO)
	./$(BIN) run $(DEMO)

test:
	@command -v rsyslogd >/dev/null 2>&1 || [ -x /usr/sbin/rsyslogd ] || [ "$$CI" = true ] || \
		printf '\n*** NOTICE: rsyslogd is not installed: every test against a real syslog receiver is SKIPPED.\n*** Install it with: apt-get install rsyslog rsyslog-gnutls (under CI=true these tests fail instead).\n\n' >&2
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 20m ./...

# The race detector over the packages that run goroutines of their own
# (router, bus sources and sinks, flattening and policy workers) and the
# sources and sinks running the conformance suite (file, socket, syslog with
# a real rsyslogd, terminal); a few minutes on 2 cores.
RACE_PKGS := ./connector/ ./encoding/avro/ ./transforms/... ./sources/... ./sinks/file/ ./sinks/kafka/ ./sinks/nats/ \
	./sinks/syslog/ ./sinks/terminal/ ./internal/bus/
race:
	$(GO) test -race -count=1 -timeout 15m $(RACE_PKGS)

test-short:
	$(GO) test -short -count=1 ./...

# The end-to-end figures. internal/benchrun writes its inputs (each real
# trace of ../shared/traces repeated to >= 400k records, and `sfconnector gen
# --records 1000000 --seed 42`) in $TMPDIR/sfconnector-bench, never in the
# repository, runs each mode with the real binary three times and prints the
# per-trace markdown report of BENCHMARKS.md (issue 13; also written to
# pipelines.md there); then the Go benchmarks, each with records/s and
# allocations. BENCHFLAGS passes flags to the harness: -aggregate adds issue
# 6's table (about 5 more minutes), -only, -traces, -runs, -profile DIR,
# -keep (go run ./internal/benchrun -h).
BENCHFLAGS ?=
bench: build
	$(GO) run ./internal/benchrun -bin $(BIN) -o $${TMPDIR:-/tmp}/sfconnector-bench/pipelines.md $(BENCHFLAGS)
	$(GO) test -run '^$$' -bench . -benchmem ./sysflow/ ./transforms/flatten/ ./encoding/json/ ./sinks/file/
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 3x ./connector/ ./internal/benchrun/ ./transforms/policy/
	$(GO) test -run '^$$' -bench 'FileToKafka' -benchmem -benchtime 5x ./internal/forwardbench/

lint:
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# Bounded fuzzing of every decoder and parser; a Go 1.26 coordinator deadline
# error without a reproducer is retried once (scripts/fuzz.sh says why).
fuzz:
	GO=$(GO) scripts/fuzz.sh $(FUZZTIME)

e2e: build
	@log=$$(mktemp /tmp/sfconnector-e2e.XXXXXX); \
	$(GO) test -count=1 -tags e2e -timeout 20m -v ./e2e/ > $$log 2>&1; status=$$?; \
	grep -E '^(=== RUN|--- |PASS|FAIL|ok|[0-9]+ passed)|_test.go:' $$log; \
	grep -qE '^[0-9]+ passed, 0 failed' $$log && [ $$status -eq 0 ]; ok=$$?; \
	[ $$ok -eq 0 ] || tail -50 $$log; rm -f $$log; exit $$ok

clean:
	rm -rf bin demo
