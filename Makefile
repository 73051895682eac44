# kube-verdict developer entry points. `make` lists them.
SHELL := /bin/bash
CARGO ?= cargo

.DEFAULT_GOAL := help
.PHONY: help setup build fmt fmt-check lint test test-unit demo simulate cluster-up cluster-down crds bench go-binaries

help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

setup: ## Install system packages and build/cache the control-plane binaries (idempotent)
	@scripts/setup.sh

go-binaries: ## Build or reuse the pinned kube-apiserver/etcd/kwok/jaeger binaries
	@e2e/k8s/build.sh

build: ## Build every crate
	$(CARGO) build --workspace --all-targets

fmt: ## Format the code
	$(CARGO) fmt --all

fmt-check: ## Fail if the code is not formatted
	$(CARGO) fmt --all -- --check

lint: ## clippy with warnings as errors
	$(CARGO) clippy --workspace --all-targets -- -D warnings

test-unit: ## Unit and engine tests only (no root, no cluster)
	$(CARGO) test --workspace

test: ## EVERY test: setup, fmt, clippy, then all tests (set VERDICT_E2E=1 to run the privileged ones)
	@scripts/test.sh

simulate: ## Simulate the sample cluster in examples/demo (no cluster needed)
	$(CARGO) run -q -p verdict-cli --bin kubectl-verdict -- simulate -f examples/demo --matrix --probe tcp/80 --probe udp/53

demo: ## Run the whole product locally (root): control plane, operator, agents, Jaeger, policies, traffic. DEMO_FOR=<s> runs headless
	@$(if $(DEMO_FOR),DEMO_FOR=$(DEMO_FOR) )scripts/demo.sh

cluster-up: ## Start a local control plane with netns nodes and pods; prints the kubeconfig
	scripts/cluster.sh up

cluster-down: ## Stop the cluster started by cluster-up and remove what it created
	scripts/cluster.sh down

crds: ## Regenerate manifests/crds, install.yaml and the chart's CRDs from the Rust types
	operator/scripts/render-install.sh

bench: ## Criterion benchmarks of the engine
	$(CARGO) bench -p verdict-engine
