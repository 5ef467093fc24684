# azop — developer entry points. `make help` lists them.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
CARGO ?= cargo
export AZOP_CACHE ?= $(HOME)/.cache/azop

.PHONY: help build generate check-generated fmt lint test test-rust test-sdk test-helm test-argocd testenv demo bench image clean-testenv node-image test-machines

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | column -t -s $$'\t'

build: ## build every crate and test target
	$(CARGO) build --workspace --all-targets

generate: ## regenerate crds/, charts/azop/files/crds/ and docs/api.md from the Rust types, config/argocd/argocd-cm.yaml from the health checks
	$(CARGO) run -q -p azop -- crds --out-dir crds
	$(CARGO) run -q -p azop -- crds --out-dir charts/azop/files/crds
	$(CARGO) run -q -p azop-api --example api_doc -- docs/api.md
	$(CARGO) run -q -p azop-testenv --example argocd_cm -- config/argocd/argocd-cm.yaml

check-generated: generate ## fail when generated files differ from what is committed
	@git diff --exit-code -- crds charts/azop/files/crds docs/api.md config/argocd/argocd-cm.yaml || { echo "generated files are stale: run 'make generate' and commit"; exit 1; }

fmt: ## format the code
	$(CARGO) fmt --all

lint: ## rustfmt --check and clippy -D warnings (each skipped, saying so, when the toolchain lacks it)
	@if $(CARGO) fmt --version >/dev/null 2>&1; then $(CARGO) fmt --all -- --check; else echo "skipped: rustfmt missing"; fi
	@if $(CARGO) clippy --version >/dev/null 2>&1; then $(CARGO) clippy --workspace --all-targets -- -D warnings; else echo "skipped: clippy missing"; fi

testenv: ## build/install Kubernetes v1.37 (apiserver, controller-manager, kubeadm, kubectl), etcd, helm, Argo CD, Azurite into ~/.cache/azop (idempotent)
	bash crates/testenv/scripts/install.sh

node-image: ## azop's node image: Debian + Kubernetes built offline, cached in ~/.cache/azop/node-image (docs/node-image.md; ~15 min cold)
	bash crates/testenv/node-image/build.sh

test: testenv test-rust test-sdk test-helm ## run every test, installing what it needs

test-rust: ## every Rust test: unit, integration, end-to-end (real kube-apiserver, armsim, Azurite); AZOP_TEST_JOBS binaries at a time (default 2)
	$(CARGO) build --workspace --all-targets   # the e2e tests run the real operator binary; built with the same feature set as the tests, so nothing is compiled twice
	CARGO=$(CARGO) python3 tests/run-tests.py

test-sdk: ## Microsoft's Python SDKs against azop-armsim
	bash tests/sdk/run.sh

test-helm: ## the chart with the real helm: lint, template, schema, install/upgrade/test/uninstall
	bash tests/helm/run.sh

# Not part of `make test`: ~20 minutes of software-emulated VMs, and it needs the node image.
test-machines: testenv ## the boot test: a two-node cluster of QEMU guests booted from the node image (run make node-image first)
	@bash crates/testenv/node-image/build.sh --check || { echo "make test-machines boots azop's node image: run 'make node-image' first"; exit 1; }
	$(CARGO) build -p azop --bin azop   # the operator under test: built fresh, never stale
	$(CARGO) test -p azop-e2e --features machines --test machines -- --nocapture

# Part of test-rust; this target runs only the Argo CD tests.
test-argocd: testenv ## Argo CD: every health_test.yaml case judged by the real argocd, and the GitOps end-to-end test
	$(CARGO) build -p azop --bin azop
	$(CARGO) test -p azop-e2e --test argocd_health_checks --test gitops

image: ## build the operator image without a Docker engine (buildah) and smoke-run it (podman)
	bash crates/operator/image.sh

demo: ## see azop at work on an embedded test environment
	bash tests/demo/run.sh

BENCH_OUT ?= target/azop-bench
bench: ## benchmarks (BENCH_ARGS for azop-bench, BENCH_OUT for its CSV and plot); results are written up in docs/benchmarks.md
	$(CARGO) run --release -q -p azop-armsim --example bench_get
	bash crates/testenv/scripts/install.sh >/dev/null
	$(CARGO) build --release -q -p azop --bin azop   # the operator under test: built fresh, never stale
	$(CARGO) build --release -q -p azop-e2e --bin azop-bench
	rm -f $(BENCH_OUT)/one-subscription*-calls.csv $(BENCH_OUT)/one-subscription*-calls.png
	$(CARGO) run --release -q -p azop-e2e --bin azop-bench -- --out-dir $(BENCH_OUT) $(BENCH_ARGS)
	@for csv in $(BENCH_OUT)/one-subscription*-calls.csv; do [ -f "$$csv" ] && bash tests/bench/plot.sh "$$csv"; done; true
