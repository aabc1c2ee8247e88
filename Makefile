# One task runner; .ci/run mirrors it. Every cargo call is --locked.
CARGO ?= cargo
export CARGO_TERM_COLOR ?= never

.PHONY: run test lint fmt check build bench fuzz-check servers servers-stop deps validate-libraries api-fuzz web web-test web-e2e

## Build and start OpsConductor in standalone mode (one process, SQLite, data in ./data).
run:
	scripts/run.sh

## The test suite: installs what tests need, starts the loopback test servers, runs every test
## (Rust, then the web UI's unit tests and its Playwright tests in Chromium).
test: deps servers web
	$(CARGO) nextest run --workspace --locked --no-fail-fast
	$(CARGO) test --workspace --locked --doc
	scripts/api-fuzz.sh
	scripts/web.sh test
	scripts/web.sh e2e

## The web UI's production build (web/dist, embedded into the binary).
web:
	scripts/web.sh build

## The web UI's unit tests (Vitest).
web-test:
	scripts/web.sh test

## The web UI's end-to-end tests (Playwright, Debian's Chromium, standalone mode).
web-e2e:
	scripts/web.sh e2e

## schemathesis against the served OpenAPI document (all checks, positive and negative data).
api-fuzz:
	scripts/api-fuzz.sh

## fmt + clippy with warnings denied; the web UI type-checked; the deploy files checked
## statically (scripts/check-deploy.sh).
lint: web
	scripts/web.sh typecheck
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings
	scripts/check-deploy.sh

fmt:
	$(CARGO) fmt --all

build:
	$(CARGO) build --workspace --locked

validate-libraries:
	$(CARGO) run --locked -q -p opsconductor -- library validate libraries

## Benchmarks (figures go to docs/BENCHMARKS.md).
bench: deps servers
	$(CARGO) bench --locked -p opsconductor-core
	$(CARGO) bench --locked -p opsconductor-actions

.PHONY: bench-pipeline
## The pipeline benchmark (controller + RabbitMQ + agent + PostgreSQL vs fping and COPY);
## needs PostgreSQL, RabbitMQ and fping. Knobs: see bench/src/main.rs.
bench-pipeline:
	$(CARGO) build --release --locked -p opsconductor -p opsconductor-bench
	target/release/opsconductor-bench

.PHONY: bench-scan
## The scan benchmark (a /16 discovery scan, ping + one TCP port, end to end into the
## inventory vs fping and nmap); needs PostgreSQL, RabbitMQ, fping, nmap and psql. Knobs:
## see bench/src/bin/scan.rs.
bench-scan:
	$(CARGO) build --release --locked -p opsconductor -p opsconductor-bench
	target/release/opsconductor-bench-scan

.PHONY: bench-rest
## The REST benchmark (list and results queries under wrk, 10,000 jobs and 1,000,000
## results); needs PostgreSQL, RabbitMQ, wrk and psql. Knobs: see bench/src/bin/rest.rs.
bench-rest:
	$(CARGO) build --release --locked -p opsconductor -p opsconductor-bench
	target/release/opsconductor-bench-rest

.PHONY: bench-web
## The dashboard's first load with 10,000 jobs, in Debian's Chromium (target: interactive
## in under 2 s). Builds the release binary with the web UI first.
bench-web: web
	$(CARGO) build --release --locked -p opsconductor
	node bench/web/dashboard-load.mjs

## Builds the fuzz targets and runs each briefly (stable toolchain, no sanitizer).
fuzz-check:
	scripts/fuzz-smoke.sh

deps:
	scripts/install-deps.sh

servers:
	scripts/test-servers.sh start

servers-stop:
	scripts/test-servers.sh stop
