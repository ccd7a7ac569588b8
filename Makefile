# p2plab: the two commands are `make run` and `make test`.
# Everything needs Linux and root (or CAP_NET_ADMIN + CAP_SYS_ADMIN) for the
# lab's namespaces; Docker is needed only for the docker backend.

GO        ?= go
BIN       := bin/p2plab
GINKGO    := bin/ginkgo
# Ginkgo processes for the docker suite (2 brings it from ~71 s to ~45 s).
DOCKER_PROCS ?= 2
ARTIFACTS ?= artifacts
# Ginkgo's own limit is below go test's, so a hung spec still gets its
# cleanup (a go test timeout panic skips every cleanup).
SUITE_TIMEOUT ?= 12m
GOTEST_TIMEOUT ?= 14m
BENCHTIME ?= 1s
FUZZTIME  ?= 20s
# Packages with unit tests, run four packages at a time (their tests wait
# far more than they compute: two at a time used a fifth of two cores).
# The scenario suites run separately, per backend; conform runs after the
# other packages, alone, with -short and four tests at a time (its
# defective-implementation self-test is `make conform-selftest`).
UNIT_PKGS = $$($(GO) list ./... | grep -v '/scenarios$$' | grep -v '/conform$$')
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# Debian packages the tests run (command:package): tshark for the Wireshark
# dissector's tests, chromium for the HTML report's browser test.
TEST_TOOLS = tshark:tshark chromium:chromium

.PHONY: all deps build run test vet unit suites suite-netns suite-docker bench bench-impair fuzz clean load chaos hostile leaks flake matrix conform-selftest

all: build

## deps: check what the lab needs (Go >= 1.26; kernel modules are loaded when modprobe is there).
deps:
	@command -v $(GO) >/dev/null || { echo "deps: Go is missing: install Go 1.26 or later (https://go.dev/dl/)"; exit 1; }
	@$(GO) version
	@if [ "$$(uname -s)" != Linux ]; then echo "deps: p2plab needs Linux (network namespaces)"; exit 1; fi
	@if command -v modprobe >/dev/null 2>&1; then \
		for m in veth bridge nf_tables nft_numgen sch_tbf; do $(SUDO) modprobe -q $$m 2>/dev/null || true; done; fi
	@if [ "$$(id -u)" != 0 ]; then echo "deps: note: the lab needs root; commands below use sudo"; fi
	@for p in $(TEST_TOOLS); do cmd=$${p%%:*}; pkg=$${p#*:}; \
		command -v $$cmd >/dev/null 2>&1 && continue; \
		if command -v apt-get >/dev/null 2>&1; then echo "deps: installing Debian's $$pkg (tests use $$cmd)"; \
			$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$pkg >/dev/null 2>&1 || \
			{ $(SUDO) apt-get update -q >/dev/null 2>&1 && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$pkg >/dev/null 2>&1; } || \
			echo "deps: could not install $$pkg: the tests that use $$cmd will fail"; \
		else echo "deps: $$cmd is missing and there is no apt-get: install it for the tests that use it"; fi; done
	@if docker version >/dev/null 2>&1; then echo "deps: Docker engine answers: the docker backend is available"; \
		else echo "deps: no Docker engine answers: the docker backend will be skipped (netns needs nothing but Go)"; fi

## build: the static p2plab binary (the same one every lab host and container runs).
build:
	CGO_ENABLED=0 $(GO) build -o $(BIN) ./cmd/p2plab

## run: every shipped scenario on the netns backend, with a readable report.
run: deps build
	@mkdir -p $(ARTIFACTS)/run
	$(SUDO) $(BIN) run --backend netns --artifacts $(ARTIFACTS)/run \
		--junit $(ARTIFACTS)/run/junit.xml --json $(ARTIFACTS)/run/report.json --html $(ARTIFACTS)/run/report.html

## test: vet, race unit tests of every package, then every Ginkgo suite on
## every backend this machine has (docker only when an engine answers).
test: deps
	@status=0; \
	$(MAKE) --no-print-directory vet || status=1; \
	$(MAKE) --no-print-directory unit || status=1; \
	$(MAKE) --no-print-directory suites || status=1; \
	if [ $$status = 0 ]; then echo "make test: all passed"; else echo "make test: FAILED (see above)"; fi; \
	exit $$status

vet:
	$(GO) vet ./...

unit:
	$(SUDO) env "PATH=$$PATH" TESTCONTAINERS_RYUK_DISABLED=true $(GO) test -race -count=1 -p 4 -timeout $(GOTEST_TIMEOUT) $(UNIT_PKGS)
	$(SUDO) env "PATH=$$PATH" $(GO) test -race -short -count=1 -parallel 4 -timeout $(GOTEST_TIMEOUT) ./conform/

## conform-selftest: every defective implementation against the whole
## catalogue, each failing exactly its listed requirements (docs/conformance.md,
## "The self-test"). Long (about 28 minutes) and sensitive to load: run it alone.
conform-selftest:
	$(SUDO) env "PATH=$$PATH" $(GO) test -race -count=1 -timeout 40m ./conform/

# Both backends run even when the first fails.
suites:
	@status=0; \
	$(MAKE) --no-print-directory suite-netns || status=1; \
	$(MAKE) --no-print-directory suite-docker || status=1; \
	exit $$status

suite-netns:
	@mkdir -p $(ARTIFACTS)
	@rm -rf $(ARTIFACTS)/suite-netns
	@echo "== scenario suite on the netns backend"
	$(SUDO) env "PATH=$$PATH" P2PLAB_ARTIFACTS=$(abspath $(ARTIFACTS))/suite-netns $(GO) test ./scenarios/... -count=1 -timeout $(GOTEST_TIMEOUT) \
		-ginkgo.label-filter='!docker' -ginkgo.timeout=$(SUITE_TIMEOUT) -ginkgo.junit-report=$(abspath $(ARTIFACTS))/junit-netns.xml

# The Ginkgo CLI runs the docker specs in parallel; it is built from the
# pinned ginkgo module, so it always matches the library.
$(GINKGO): go.mod go.sum
	$(GO) build -o $(GINKGO) github.com/onsi/ginkgo/v2/ginkgo

suite-docker: $(GINKGO)
	@mkdir -p $(ARTIFACTS)
	@if docker version >/dev/null 2>&1; then \
		rm -rf $(ARTIFACTS)/suite-docker; \
		echo "== scenario suite on the docker backend"; \
		echo "   ($(DOCKER_PROCS) Ginkgo processes: docker labs wait on the engine, not on the CPU)"; \
		$(SUDO) env "PATH=$$PATH" TESTCONTAINERS_RYUK_DISABLED=true P2PLAB_ARTIFACTS=$(abspath $(ARTIFACTS))/suite-docker \
			$(GINKGO) -p --procs=$(DOCKER_PROCS) --label-filter='docker' --timeout=$(SUITE_TIMEOUT) --no-color \
			--junit-report=junit-docker.xml --output-dir=$(abspath $(ARTIFACTS)) ./scenarios; \
	else \
		echo "== scenario suite on the docker backend: SKIPPED (no Docker engine answers: 'docker version' failed)"; \
	fi

## matrix: the full default NAT-pair matrix (docs/matrix.md): 27 pairs x
## MATRIX_TRIALS trials on netns; reports in $(ARTIFACTS)/matrix (matrix.html,
## matrix.json, matrix.md, matrix-junit.xml). MATRIX_FLAGS adds flags
## (--kinds, --pairs, --delay, --parallel, --client-cmd ...). `make test`
## runs a 3-pair subset in the scenario suites (scenarios/matrix_test.go).
MATRIX_TRIALS ?= 10
MATRIX_FLAGS  ?=
matrix: deps build
	@rm -rf $(ARTIFACTS)/matrix; mkdir -p $(ARTIFACTS)/matrix
	$(SUDO) $(BIN) matrix --backend netns --trials $(MATRIX_TRIALS) --artifacts $(ARTIFACTS)/matrix $(MATRIX_FLAGS)

## bench: every benchmark (lab bring-up, mesh, teardown, relay, P2P vs relay,
## memory) and the core suite's wall time per backend, each step bounded;
## then rewrites the generated summary of docs/benchmarks.md (raw output in
## $(ARTIFACTS)/bench). BENCHFLAGS=-quick: 10 and 50 clients only, no suites:
## BENCHFLAGS='-quick -suites=false'.
bench:
	@mkdir -p $(ARTIFACTS)/bench
	$(SUDO) env "PATH=$$PATH" TESTCONTAINERS_RYUK_DISABLED=true $(GO) run ./bench/cmd/benchreport \
		-doc docs/benchmarks.md -artifacts $(ARTIFACTS)/bench $(BENCHFLAGS)

## bench-impair: impairment figures (RTT error at 1/10/50/200 ms, jitter,
## loss and duplication, pps, TCP through 50 ms; docs/benchmarks.md).
## BENCHFLAGS=-quick style reduced counts: P2PLAB_BENCH_SMALL=1.
bench-impair:
	$(SUDO) env "PATH=$$PATH" $(GO) test -run '^$$' -bench Impair -benchtime 1x -count 1 -timeout 10m ./netlab/

## bench-netlab: netlab bring-up + teardown of 10/50/100/200 hosts (docs/benchmarks.md).
bench-netlab:
	$(SUDO) env "PATH=$$PATH" $(GO) test -run '^$$' -bench BringUp -benchtime 5x -count 3 ./netlab/

## fuzz: each fuzz target for FUZZTIME (default 20s), one after the other;
## stops at the first crash (the failing input lands in testdata/fuzz).
FUZZ_TARGETS = protocol:FuzzReadFrame sim:FuzzParseScenario sim:FuzzParseTopology client:FuzzControlRequest
fuzz:
	@for t in $(FUZZ_TARGETS); do pkg=$${t%%:*}; fn=$${t#*:}; \
		echo "== fuzz $$fn in ./$$pkg for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZTIME) ./$$pkg || exit 1; done

# Reliability (docs/reliability.md). The heavy specs are labelled and left
# out of `make test`; only the bad-input specs run there.
LOAD_CLIENTS     ?= 100
LOAD_MESSAGES    ?= 10
CHAOS_SEED       ?=
CHAOS_CLIENTS    ?= 20
CHAOS_SECONDS    ?= 60
LEAKS_N          ?= 20
LEAKS_INTERRUPTS ?= 10
FLAKE_N          ?= 50
RELIABILITY_ENV = $(SUDO) env "PATH=$$PATH"

## load: 100 clients on one LAN, p2p and relay at once; exactly-once, msgs/s, server CPU and memory.
load:
	$(RELIABILITY_ENV) LOAD_CLIENTS=$(LOAD_CLIENTS) LOAD_MESSAGES=$(LOAD_MESSAGES) $(GO) test -v ./reliability/ -run TestReliability \
		-count=1 -timeout 20m -ginkgo.label-filter=load -ginkgo.timeout=15m -ginkgo.v

## hostile: floods against the reference programs (offer flood, chat burst, connection flood, tiny frames, big chats); RSS, fds, relay latency, load average.
hostile:
	$(RELIABILITY_ENV) $(GO) test -v ./reliability/ -run TestReliability \
		-count=1 -timeout 20m -ginkgo.label-filter=hostile -ginkgo.timeout=15m -ginkgo.v

## chaos: a seeded fault schedule over 20 chatting clients and the server (CHAOS_SEED=n replays one).
chaos:
	$(RELIABILITY_ENV) P2PLAB_CHAOS_SEED=$(CHAOS_SEED) CHAOS_CLIENTS=$(CHAOS_CLIENTS) CHAOS_SECONDS=$(CHAOS_SECONDS) \
		$(GO) test -v ./reliability/ -run 'TestReliability|TestSchedule' -count=1 -timeout 20m -ginkgo.label-filter=chaos -ginkgo.timeout=15m -ginkgo.v

## leaks: the scenario suite LEAKS_N times, then LEAKS_INTERRUPTS times with SIGINT + p2plab clean; nothing may remain.
leaks:
	$(RELIABILITY_ENV) LEAKS_N=$(LEAKS_N) LEAKS_INTERRUPTS=$(LEAKS_INTERRUPTS) ARTIFACTS=$(abspath $(ARTIFACTS)) bash reliability/leaks.sh

## flake: the scenario suite FLAKE_N times under stress-ng --cpu 2, no retries, stop at the first failure.
flake:
	$(RELIABILITY_ENV) FLAKE_N=$(FLAKE_N) ARTIFACTS=$(abspath $(ARTIFACTS)) bash reliability/flake.sh

## clean: remove what crashed labs left behind, the binary and the artifacts.
clean:
	@if [ -x $(BIN) ] || CGO_ENABLED=0 $(GO) build -o $(BIN) ./cmd/p2plab; then $(SUDO) $(BIN) clean; fi
	rm -rf bin $(ARTIFACTS)
