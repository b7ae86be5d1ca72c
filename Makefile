# Build, test, demo and benchmark the hybrid cloud manager.
SHELL := /bin/bash
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
BIN := bin
RUN := .run
DEMO_LISTEN ?= 127.0.0.1:16443

.PHONY: all build setup deps deps-stop test test-short bench bench-nodepool bench-sim bench-autoscaler bench-scheduler bench-scheduler-small demo demo-stop vet fmt clean

all: build

setup:
	@./deploy/setup.sh

# Start the daemons the tests need under $(RUN)/ (containerd, runc, a local
# registry with the test image, one that requires a login, and libvirtd with
# a private socket and storage pool); deps-stop
# ends only the pids they recorded.
deps: setup
	@./deploy/deps.sh start

deps-stop:
	@./deploy/deps.sh stop

build:
	@mkdir -p $(BIN)
	go build -ldflags "$(LDFLAGS)" -o $(BIN)/ ./cmd/cloudd ./cmd/cloudlet ./cmd/cloudctl ./cmd/cloudmgr-logger

vet:
	go vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }

# Every test: unit, integration against real etcd, and end-to-end runs of the
# built binaries, then the concurrent packages again under the race
# detector, and each benchmark once so none rots. Nothing is skipped.
test: setup deps vet
	go test -count=1 -timeout 60m ./...
	go test -race -count=1 -timeout 30m ./store/ ./apiserver/ ./client/ ./caas/ ./scheduler/...
	go test -run '^$$' -bench . -benchtime 1x -timeout 30m ./test/bench/ ./iaas/autoscaler/

# Unit tier only (no daemons besides embedded etcd).
test-short:
	go test -short -count=1 ./...

# Figures for the closing notes: start-to-ready, creates/s against raw etcd,
# watch fan-out, pod start-up, and the node agent's CPU and memory at 100
# and 250 pods per node. Compare runs with benchstat.
BENCH_COUNT ?= 1
bench: setup deps
	go test -run '^$$' -bench 'ClouddStartToReady' -benchtime 5x -count $(BENCH_COUNT) -timeout 30m ./test/bench/
	go test -run '^$$' -bench 'Create' -benchtime 5000x -count $(BENCH_COUNT) -timeout 30m ./test/bench/
	go test -run '^$$' -bench 'WatchFanout' -benchtime 200x -count $(BENCH_COUNT) -timeout 30m ./test/bench/
	go test -run '^$$' -bench 'PodStartup' -benchtime 100x -count $(BENCH_COUNT) -timeout 30m ./test/bench/
	go test -run '^$$' -bench 'LeaderFailover' -benchtime 3x -count $(BENCH_COUNT) -timeout 30m ./test/bench/
	CLOUDMGR_BENCH_PODS=100,250 go test -run '^$$' -bench 'PodsPerNode' -benchtime 1x -count $(BENCH_COUNT) -timeout 60m ./test/bench/

# Node pool scale-up on the project's libvirtd (real cloudd and QEMU VMs as
# TCG): nodepool scale to Running / node Ready / first pod Running, p50 over
# BENCH_VMS1_RUNS scale-ups of 1 VM and BENCH_VMS3_RUNS of 3 VMs, beside a
# domain defined and started by hand through go-libvirt (Reference).
BENCH_VMS1_RUNS ?= 3
BENCH_VMS3_RUNS ?= 2
bench-nodepool: setup deps
	go test -run '^$$' -bench 'NodePoolScaleUp/(VMs=1|Reference)$$' -benchtime $(BENCH_VMS1_RUNS)x -timeout 60m ./test/bench/
	go test -run '^$$' -bench 'NodePoolScaleUp/VMs=3$$' -benchtime $(BENCH_VMS3_RUNS)x -timeout 60m ./test/bench/

# Simulated nodes at scale: cloudd (its own process) with the simulator its
# config file declares grows a NodePool to SIM_NODES simulated nodes that
# join through the API server with single-use tokens; prints the time to all
# Ready, then over SIM_WINDOW seconds the heartbeats (lease renewals) handled
# per second, cloudd's CPU and memory, and the control plane's share of the
# CPU (the simulator's goroutines carry a pprof label).
SIM_NODES ?= 5000
SIM_WINDOW ?= 60
bench-sim: setup
	CLOUDMGR_BENCH_SIM_NODES=$(SIM_NODES) CLOUDMGR_BENCH_SIM_WINDOW=$(SIM_WINDOW) CLOUDMGR_BENCH_SIM_CPUPROFILE=$(CPUPROFILE) \
		go test -run '^$$' -bench 'SimNodes' -benchtime 1x -timeout 60m -v ./test/bench/

# The node autoscaler's figures. In process (real API server, controllers
# and simulated clouds; the loop at its default 5 s interval): decision
# latency from a trigger holding to Provider.Create called, p50/p99, for
# pods marked unschedulable and for a pool at 90% CPU; one decision loop
# over 5,000 nodes in 20 pools. Through cloudd in its own process: SIM_NODES
# simulated nodes in 20 pools, pods that need a new node of an empty pool
# sent one at a time, pending to Running (p50/p99) and the loop's duration.
LATENCY_SAMPLES ?= 20
bench-autoscaler: setup
	go test -run '^$$' -bench 'DecisionLatency' -benchtime $(LATENCY_SAMPLES)x -timeout 30m ./iaas/autoscaler/
	go test -run '^$$' -bench 'Decide5000Nodes' -timeout 30m ./iaas/autoscaler/
	CLOUDMGR_BENCH_SIM_NODES=$(SIM_NODES) CLOUDMGR_BENCH_SIM_PENDING=10 \
		go test -run '^$$' -bench 'SimAutoscaler' -benchtime 1x -timeout 60m -v ./test/bench/

# The scheduler's figures: cloudd (embedded etcd, scheduler on) in its own
# process; NODES simulated nodes, PLACED pods placed first, then PODS pods
# from CREATORS concurrent creators, bound by WORKERS binding goroutines.
# Prints pods bound per second (average, p50/p99 of one-second samples),
# latency created->bound (p50/p99), cloudd's peak RSS and CPU; the last line
# is the summary. When the creators outrun the scheduler (CREATORS=64),
# pods queue and the latency is mostly the wait in the queue. CPUPROFILE=file
# also saves a 10s CPU profile of cloudd from the start of the measured phase.
NODES ?= 5000
PODS ?= 10000
PLACED ?= 1000
CREATORS ?= 16
WORKERS ?= 64
CPUPROFILE ?=
bench-scheduler:
	@mkdir -p $(RUN)
	@set -o pipefail; CLOUDMGR_BENCH_SCHED_NODES=$(NODES) CLOUDMGR_BENCH_SCHED_PODS=$(PODS) CLOUDMGR_BENCH_SCHED_PLACED=$(PLACED) \
		CLOUDMGR_BENCH_SCHED_CREATORS=$(CREATORS) CLOUDMGR_BENCH_SCHED_WORKERS=$(WORKERS) CLOUDMGR_BENCH_SCHED_CPUPROFILE=$(CPUPROFILE) \
		go test -run '^$$' -bench '^BenchmarkScheduler$$' -benchtime 1x -timeout 60m ./test/bench/ | tee $(RUN)/bench-scheduler.log
	@grep -E '^scheduler: [0-9]+ pods/s, p99 ' $(RUN)/bench-scheduler.log | tail -1

# The small size of the issue: 500 nodes, 500 pods placed first, 1,000 pods.
bench-scheduler-small:
	@$(MAKE) --no-print-directory bench-scheduler NODES=500 PODS=1000 PLACED=500

# Build, start cloudd with embedded etcd under .run/, apply the example and
# show it. Idempotent: a cloudd already running from an earlier demo is reused.
# QEMU domain type of the demo's VMs: qemu (TCG) here, where KVM guests
# crash; kvm on a host where nested KVM works.
DEMO_DOMAIN_TYPE ?= qemu
demo: setup deps build node-image
	@./deploy/demo.sh "$(BIN)" "$(RUN)" "$(DEMO_LISTEN)" "$(DEMO_DOMAIN_TYPE)"

demo-stop:
	@./deploy/demo.sh "$(BIN)" "$(RUN)" stop
	@# Pod network namespaces are bind mounts: release those of the demo node.
	@awk '{print $$2}' /proc/mounts | grep "^$(CURDIR)/$(RUN)/cloudd/node/runtime/netns/" | xargs -r -n1 umount || true

fmt:
	gofmt -w $$(git ls-files '*.go')

clean: demo-stop deps-stop
	rm -rf $(BIN) $(RUN)

# The node VM's boot files (kernel, initramfs with busybox, containerd,
# runc, a static cloudlet and the init) in $(RUN)/nodeimage; rebuilt only
# when an input changed (see its manifest.json).
.PHONY: node-image
node-image:
	go run ./deploy/nodeimage -o $(RUN)/nodeimage
