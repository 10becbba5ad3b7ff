# hubmigrate — run `make help` for the targets.
#
# The test world's control planes (etcd, kube-apiserver, kube-controller-manager)
# are built from Go modules by envtest/tools and cached outside the repository,
# one folder per version, so a second run does not rebuild them.

SHELL := /bin/bash

# Versions come from the tools module, so go.mod is the one place to change them.
KUBE_VERSION := $(shell awk '$$1=="k8s.io/kubernetes"{print $$2}' envtest/tools/go.mod)
ETCD_VERSION := $(shell awk '$$1=="go.etcd.io/etcd/server/v3"{print $$2}' envtest/tools/go.mod)
KUBE_MINOR   := $(word 2,$(subst ., ,$(KUBE_VERSION)))

BIN_CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/hubmigrate/bin
KUBE_BIN  := $(BIN_CACHE)/kube-$(KUBE_VERSION)
ETCD_BIN  := $(BIN_CACHE)/etcd-$(ETCD_VERSION)

# The stolostron modules that publish KlusterletConfig and KlusterletAddonConfig
# are not in the public checksum database.
# OCM's module needs one more (envtest/ocm).
export GONOSUMDB := github.com/stolostron/*,sigs.k8s.io/about-api
export HUBMIGRATE_KUBE_BIN := $(KUBE_BIN)
export HUBMIGRATE_ETCD_BIN := $(ETCD_BIN)

TEST_TIMEOUT ?= 75m
KUBE_LDFLAGS := -s -w \
	-X k8s.io/component-base/version.gitVersion=$(KUBE_VERSION) \
	-X k8s.io/component-base/version.gitMajor=1 \
	-X k8s.io/component-base/version.gitMinor=$(KUBE_MINOR) \
	-X k8s.io/client-go/pkg/version.gitVersion=$(KUBE_VERSION) \
	-X k8s.io/client-go/pkg/version.gitMajor=1 \
	-X k8s.io/client-go/pkg/version.gitMinor=$(KUBE_MINOR)

TOOLS ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/hubmigrate/tools
GREMLINS_VERSION := v0.6.0
# The planner and the CSR checks: pure code whose every guard a table test must pin.
MUTATED := plan.go plan_cleaning.go plan_deploying.go plan_initializing.go plan_registering.go \
	plan_rollback.go plan_validating.go csr.go placement.go results.go timeouts.go copies.go unsealed.go seal.go
MUTATION_EXCLUDE := $(foreach f,$(filter-out %_test.go $(MUTATED),$(notdir $(wildcard reconcile/*.go))),--exclude-files '^$(subst .,\.,$(f))$$') \
	--exclude-files '^e2e/'

# Fuzz targets (package:Target): everything parsed from objects others write.
FUZZ_TARGETS := informers:FuzzKubeconfig reconcile:FuzzParseOwner reconcile:FuzzResults \
	reconcile:FuzzSealVerify reconcile:FuzzRegistrationCSR reconcile:FuzzBootstrapToken
FUZZTIME ?= 2m

VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
REVISION ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
GOARCH   ?= $(shell go env GOARCH)
LDFLAGS  := -s -w -X main.version=$(VERSION) -X main.revision=$(REVISION)
IMAGE_REPOSITORY ?= quay.io/hubmigrate/hubmigrate

.PHONY: help test test-ocm-core test-ocm promtool-test crashtest killtest bench vet binaries demo clean-binaries mutation build image fuzz

help: ## List the targets.
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

demo: binaries ## The main job: local hubs, 50 simulated clusters, the real hubmigrate binary migrating them hub1 → hub2.
	go build -o bin/hubmigrate ./cmd/hubmigrate
	go run ./envtest/demo --hubmigrate bin/hubmigrate

build: ## The static hubmigrate binary, stamped with its version and revision (bin/linux/hubmigrate).
	CGO_ENABLED=0 GOOS=linux GOARCH=$(GOARCH) go build -trimpath -ldflags '$(LDFLAGS)' -o bin/linux/hubmigrate ./cmd/hubmigrate

image: build ## The OCI image as a tarball for `docker load` / `podman load` (bin/hubmigrate-image.tar); no daemon needed.
	go run ./cmd/imagebuild --binary bin/linux/hubmigrate --output bin/hubmigrate-image.tar \
		--repository $(IMAGE_REPOSITORY) --version $(VERSION) --revision $(REVISION) --arch $(GOARCH)

# vet is built with -race so that it type-checks against the same compiled
# packages as the tests: a plain vet compiles every dependency a second time
# (about 5 minutes of a cold run on 2 cores).
#
# The end-to-end package is named first: go test schedules packages in the
# order named, and that one (about 16 minutes) is the critical path; last in
# the list it waited behind the CLI and image builds.
test: binaries ## Run every test, on real API servers (builds missing control-plane binaries first), and the alert rule tests.
	go vet -race ./...
	cd manifests/alerttest && go test -race -count=1 ./...
	go test -race -count=1 -timeout $(TEST_TIMEOUT) ./reconcile/e2e/ ./...

# The OCM tier's forward and trap cases (the forward one with the hub facts
# the simulator is held to). Not in make test yet: a cold make test with them
# beside the product's tests measured 54 minutes, and go test vets the whole
# OCM dependency tree for printf facts (-vet=off here; make vet vets it).
OCM_CORE := TestForwardWithOCMAgents|TestTrapInSingletonModeWithOCMAgents|TestTrapInDefaultModeWithOCMAgents

test-ocm-core: binaries ## The OCM tier's forward (with the hub facts) and trap cases (about 4 minutes warm).
	cd envtest/ocm && go test -race -vet=off -count=1 -timeout 30m -run '^($(OCM_CORE))$$' ./...

# OCM's own hub controller and agents (envtest/ocm, a module of its own).
test-ocm: binaries ## The whole tier with Open Cluster Management's own hub controller and agents (envtest/ocm).
	cd envtest/ocm && go vet -race ./... && go test -race -count=1 -v -timeout 30m ./...

# The alert rule tests with the real promtool, built from the alert test
# module (its go.mod pins Prometheus) without its service-discovery plugins
# (remove_all_sd: rule tests need none) and cached like the control planes.
# Even so it compiles ~1,100 packages, so make test runs the same file with
# Prometheus's engine instead (manifests/alerttest).
PROMETHEUS_VERSION := $(shell awk '$$1=="github.com/prometheus/prometheus"{print $$2}' manifests/alerttest/go.mod)
PROMTOOL := $(TOOLS)/promtool-$(PROMETHEUS_VERSION)

promtool-test: $(PROMTOOL) ## Run the alert rule tests with promtool itself (builds it once and caches it).
	cd manifests/alerttest && $(PROMTOOL) test rules hubmigrate.test.yaml

$(PROMTOOL):
	@mkdir -p $(@D)
	cd manifests/alerttest && go build -tags remove_all_sd -o $@.tmp github.com/prometheus/prometheus/cmd/promtool && mv $@.tmp $@

# (make test runs each target's seed corpus as a test; fuzzing itself first
# builds every dependency with coverage instrumentation, ~8 CPU-minutes cold.)
fuzz: ## Fuzz every parser of what others write (FUZZTIME per target, default 2m).
	@set -e; for t in $(FUZZ_TARGETS); do \
		echo "fuzz $${t#*:} ($(FUZZTIME))"; \
		go test -run '^$$' -fuzz "^$${t#*:}$$" -fuzztime $(FUZZTIME) ./$${t%%:*}/ ; \
	done

crashtest: binaries ## Crash the controller at every write k in 1..W, before and after sending it, forward and rollback paths (~2 h on 2 cores; make test runs a subset).
	HUBMIGRATE_CRASHTEST=full go test -race -count=1 -v -timeout 180m -run 'TestCrash' ./reconcile/e2e/

killtest: binaries ## SIGKILL the hubmigrate binary 20 times over a migration of 200 simulated clusters, and its leader mid-Registering (make test runs a small one).
	HUBMIGRATE_KILLTEST=full go test -race -count=1 -v -timeout 60m -run 'TestBinarySurvivesSIGKILL|TestLeaderKilledMidRegistering' ./reconcile/e2e/

BENCH_CLUSTERS ?= 100,300
bench: binaries ## Benchmarks that print figures: simulator scale, then hubmigrate side by side with the minimal-writes baseline for BENCH_CLUSTERS (table, and bin/bench.json).
	go test -count=1 -run '^$$' -bench . -benchtime 3x -timeout 30m ./...
	HUBMIGRATE_BENCH=1 go test -race -count=1 -v -timeout 20m ./envtest/baseline/ ./envtest/bench/
	go build -o bin/hubmigrate ./cmd/hubmigrate
	go run ./envtest/bench --hubmigrate bin/hubmigrate --clusters $(BENCH_CLUSTERS) --json bin/bench.json

# gremlins leaves out every mutant in a switch case clause's expressions (Go's
# coverage has no block there, so it reports them NOT COVERED): casemut
# (envtest/casemut) tests those.
mutation: ## Mutation testing of the planner and CSR checks (gremlins, then casemut for case clauses; ~1.5 h on 2 cores); fails below 90% efficacy.
	GOBIN=$(TOOLS) go install github.com/go-gremlins/gremlins/cmd/gremlins@$(GREMLINS_VERSION)
	HUBMIGRATE_UNIT_ONLY=1 $(TOOLS)/gremlins unleash --workers 2 --timeout-coefficient 5 \
		$(MUTATION_EXCLUDE) --output mutation.json --threshold-efficacy 90 ./reconcile
	go run ./envtest/casemut -pkg ./reconcile -threshold 90 -output mutation-cases.json $(addprefix reconcile/,$(MUTATED))

vet: ## go vet the product and the tools and alert test modules.
	go vet ./...
	cd envtest/tools && go vet ./...
	cd manifests/alerttest && go vet ./...
	cd envtest/ocm && go vet ./...

binaries: $(ETCD_BIN)/etcd $(KUBE_BIN)/kube-apiserver $(KUBE_BIN)/kube-controller-manager ## Build the control-plane binaries from Go modules (cached).

$(ETCD_BIN)/etcd:
	@echo ">> building etcd $(ETCD_VERSION) from go.etcd.io/etcd/server/v3 (about 2 minutes cold)"
	@mkdir -p $(@D)
	cd envtest/tools && go build -o $@.tmp ./etcd && mv $@.tmp $@

$(KUBE_BIN)/kube-apiserver:
	@echo ">> building kube-apiserver $(KUBE_VERSION) from k8s.io/kubernetes (7-10 minutes cold on 2 cores)"
	@mkdir -p $(@D)
	cd envtest/tools && go build -ldflags '$(KUBE_LDFLAGS)' -o $@.tmp ./kube-apiserver && mv $@.tmp $@

$(KUBE_BIN)/kube-controller-manager:
	@echo ">> building kube-controller-manager $(KUBE_VERSION) from k8s.io/kubernetes (about 2 minutes after kube-apiserver)"
	@mkdir -p $(@D)
	cd envtest/tools && go build -ldflags '$(KUBE_LDFLAGS)' -o $@.tmp ./kube-controller-manager && mv $@.tmp $@

clean-binaries: ## Remove the cached control-plane binaries of these versions.
	rm -rf $(KUBE_BIN) $(ETCD_BIN)
