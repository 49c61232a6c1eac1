# Task runner. `make help` lists the targets.
MYSQL_URL ?= mysql://crm:crm@127.0.0.1:3306/crm_test

.PHONY: help fmt lint test test-mysql py-test node-test browser-test bench run ci schemathesis

help:          ## This list
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*##/\t/'

fmt:           ## Format the code
	cargo fmt --all

lint:          ## Clippy on every target, warnings are errors
	cargo clippy --workspace --all-targets -- -D warnings

test:          ## Every test, Python and Node included (MySQL cases skip without CRM_TEST_MYSQL_URL)
	cargo test --workspace
	bash .ci/python-test
	bash .ci/node-test
	bash .ci/browser-test

test-mysql:    ## Every test, MySQL cases included
	CRM_TEST_MYSQL_URL=$(MYSQL_URL) cargo test --workspace
	CRM_TEST_MYSQL_URL=$(MYSQL_URL) bash .ci/python-test
	CRM_TEST_MYSQL_URL=$(MYSQL_URL) bash .ci/node-test
	bash .ci/browser-test

py-test:       ## The Python package: build into target/py-venv, pytest, stubtest
	bash .ci/python-test

browser-test:  ## The web dashboard in Debian's Chromium (playwright-core, axe-core), screenshots in examples/crm-server/tests/browser/artifacts
	bash .ci/browser-test

node-test:     ## The Node package: napi build, drift check, tsc, node --test, pack, example backend
	bash .ci/node-test

bench:         ## Benchmarks (SQLite, and MySQL with CRM_BENCH_MYSQL_URL)
	cargo bench -p crm-benches

run:           ## The quickstart example on an embedded SQLite file
	cargo run -p crm-quickstart

schemathesis:  ## The server against its OpenAPI document, every check
	bash tests/schemathesis.sh

ci:            ## What CI runs: services, fmt, clippy, tests
	bash .ci/run
