# neo-server: build, run, test, bench, fuzz. Every target installs the Debian packages it needs.
SHELL := /bin/bash
SWIFT ?= swift
CONFIG ?= debug
DEB_PACKAGES := libcurl4-openssl-dev libsqlite3-dev libssl-dev libpq-dev sqlite3 tzdata
NEO_PORT ?= 8080
NEO_DB ?= ./data/neo.db
FUZZ_SECONDS ?= 60

.PHONY: all deps build run test tsan bench fuzz embed clean help durability slow-clients schemathesis lint openapi-client \
	schedule-durability schedule-bench fuzz-cron fuzz-conditions console-test seed-bench release-static test-pg bench-pg chat-bench pg-failover bench-rate-limit cluster-proof

all: build

help:
	@echo "make run     build and start the server on $(NEO_DB) (port $(NEO_PORT))"
	@echo "make test    build and run every test (what CI runs)"
	@echo "make bench   release build + wrk against neo-server and the peer servers; executor vs plain libcurl; callback ingest vs raw SQLite commits"
	@echo "make fuzz    libFuzzer on the HTTP parser, then the conditions fuzz loop, FUZZ_SECONDS each (default 60)"
	@echo "make tsan    ThreadSanitizer build; the test suite and a mixed load against it, failing on any report"
	@echo "make durability    SIGKILL the server under concurrent writes, DURABILITY_ROUNDS (default 20) times"
	@echo "make schedule-durability  SIGKILL the server around schedule slot boundaries, DURABILITY_ROUNDS (default 20) times"
	@echo "make schedule-bench  release build; scheduler lag p99 with 10,000 agents due in the same minute"
	@echo "make release-static  release build with the Swift runtime and Foundation linked statically: $(STATIC_BIN)"
	@echo "make seed-bench      static release build; cold start to listening with a 100-agent --seed fixture vs none (BASELINE_BIN=old binary: before/after, interleaved)"
	@echo "make fuzz-cron     libFuzzer on the cron parser and next() for FUZZ_SECONDS (default 60)"
	@echo "make fuzz-conditions  libFuzzer on the conditions evaluator (check, evaluate, the operators) for FUZZ_SECONDS (default 60)"
	@echo "make slow-clients  slowloris + idle keep-alive connections while wrk measures p99; RSS at 10k idle"
	@echo "make schemathesis  schema fuzzing of /public-api/openapi.json (SCHEMATHESIS_EXAMPLES per operation)"
	@echo "make openapi-client  generate a Python client from the spec (openapi-python-client) and drive a server with it"
	@echo "make console-test  the console in headless Chromium against a real server; screenshots in bench/out/console/"
	@echo "make test-pg the integration suite against a throw-away PostgreSQL (scripts/pg-harness.sh; PG_TESTS=filter)"
	@echo "make bench-pg  release build; writes/s on one node, SQLite beside PostgreSQL, beside pgbench"
	@echo "make pg-failover  primary + synchronous standby; kill the primary, promote the standby under a running server (PG_FAILOVER_ROUNDS, default 3)"
	@echo "make bench-rate-limit  release build; wrk req/s of an authenticated GET, NEO_RATE_LIMIT_MODE=shared beside local, on PostgreSQL"
	@echo "make cluster-proof  release build; 3 nodes on one PostgreSQL, a node SIGKILLed CLUSTER_KILLS (default 20) times: lost writes, double claims, end states, slots; writes/s beside pgbench"
	@echo "make chat-bench  release build; chat streams: first text-delta latency, 1,000 idle tailers' RSS, health p99 beside 500 active streams"
	@echo "make clean   remove build output"

# Installs missing Debian packages (apt-get update first, once).
deps:
	@missing=""; for p in $(DEB_PACKAGES) $(EXTRA_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

# Regenerates the embedded migrations, the OpenAPI document and the agent enums generated from it, and the
# console's files (make test fails when any is stale: spec.py --check, then PublishedSpecTests, MigrationTests
# and ConsoleAssetsTests).
embed:
	@python3 openapi/spec.py
	@scripts/embed-openapi.sh >/dev/null
	@scripts/embed-migrations.sh >/dev/null
	@scripts/embed-console.sh >/dev/null

build: deps
	$(SWIFT) build -c $(CONFIG)

run: build
	@mkdir -p "$(dir $(NEO_DB))"
	NEO_PORT=$(NEO_PORT) NEO_DB=$(NEO_DB) .build/$(CONFIG)/neo-server serve

test:
	$(MAKE) deps EXTRA_PACKAGES="wrk python3-venv postgresql"
	python3 openapi/spec.py --check
	@# The metrics tests parse /metrics with PyPI prometheus-client's own parser, kept in .venv-metrics.
	@.venv-metrics/bin/python -c 'import prometheus_client' 2>/dev/null || \
	  { python3 -m venv .venv-metrics && .venv-metrics/bin/pip install -q prometheus-client; }
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build
	$(MAKE) test-pg
	bash bench/pg-failover.sh --quick
	$(MAKE) tsan
	bash fuzz/run.sh 10
	bash fuzz/run-cron.sh 10
	bash fuzz/conditions.sh 10
	bash fuzz/run-conditions.sh 10
	bash bench/crash-durability.sh 3
	bash bench/schedule-durability.sh 3
	CLUSTER_SECONDS=3 CLUSTER_ROUNDS=1 bash bench/cluster-proof.sh 5
	NEO_SERVER_BIN=.build/debug/neo-server bash bench/slow-clients.sh --quick
	SCHEMATHESIS_SEED=20261129 bash bench/schemathesis.sh 5
	bash bench/openapi-client.sh
	bash bench/chat-sse-client.sh
	$(MAKE) console-test

# The integration suite with the server on PostgreSQL: a throw-away cluster (initdb as the unprivileged neo-pg user,
# 127.0.0.1 and a random port, fsync off for speed), a schema per test. PG_TESTS narrows it (an XCTest filter).
PG_TESTS ?= IntegrationTests|StoreTests
test-pg:
	$(MAKE) deps EXTRA_PACKAGES="postgresql"
	$(SWIFT) build --build-tests
	PG_HARNESS_FSYNC=off scripts/pg-harness.sh run $(SWIFT) test --skip-build --filter '$(PG_TESTS)'

# Several nodes on one PostgreSQL (design §11): 3 nodes, a random one SIGKILLed and restarted CLUSTER_KILLS times under 6
# writers; then writes/s across the 3 nodes beside pgbench on the same PostgreSQL (release build). A 5-kill run is in `test`.
CLUSTER_KILLS ?= 20
cluster-proof:
	$(MAKE) deps EXTRA_PACKAGES="wrk postgresql"
	$(SWIFT) build -c release --product neo-server
	NEO_SERVER_BIN=.build/release/neo-server bash bench/cluster-proof.sh $(CLUSTER_KILLS)

# Writes/s on one node, SQLite beside PostgreSQL, beside pgbench on the same PostgreSQL (release build).
bench-pg:
	$(MAKE) deps EXTRA_PACKAGES="wrk postgresql"
	bash bench/pg-writes.sh

# Failover under a running server (design §11): a primary and a synchronous streaming standby (pg_basebackup -R), the
# server on a multi-host URI with target_session_attrs=read-write; the primary killed, the standby promoted, each round.
pg-failover:
	$(MAKE) deps EXTRA_PACKAGES="postgresql"
	$(SWIFT) build
	bash bench/pg-failover.sh

# The cost of NEO_RATE_LIMIT_MODE=shared: req/s of an authenticated GET, shared beside local, interleaved, on PostgreSQL.
bench-rate-limit:
	$(MAKE) deps EXTRA_PACKAGES="wrk postgresql"
	$(SWIFT) build -c release
	scripts/pg-harness.sh run bash bench/rate-limit.sh

bench:
	$(MAKE) deps EXTRA_PACKAGES="wrk"
	$(SWIFT) build -c release
	bash bench/run.sh
	bash bench/executor.sh
	bash bench/callbacks.sh

fuzz:
	bash fuzz/run.sh $(FUZZ_SECONDS)
	$(SWIFT) build --build-tests
	bash fuzz/conditions.sh $(FUZZ_SECONDS)

# A separate build directory: TSan objects never mix with the normal ones.
tsan: deps
	$(SWIFT) build --build-tests --sanitize=thread --scratch-path .build-tsan
	bash bench/tsan.sh

fuzz-cron:
	bash fuzz/run-cron.sh $(FUZZ_SECONDS)

fuzz-conditions:
	bash fuzz/run-conditions.sh $(FUZZ_SECONDS)

slow-clients:
	$(MAKE) deps EXTRA_PACKAGES="wrk"
	$(SWIFT) build -c release
	bash bench/slow-clients.sh

SCHEMATHESIS_EXAMPLES ?= 200
schemathesis:
	$(SWIFT) build
	bash bench/schemathesis.sh $(SCHEMATHESIS_EXAMPLES)

openapi-client:
	$(SWIFT) build
	bash bench/openapi-client.sh

DURABILITY_ROUNDS ?= 20
durability:
	$(SWIFT) build
	bash bench/crash-durability.sh $(DURABILITY_ROUNDS)

schedule-durability:
	$(SWIFT) build
	bash bench/schedule-durability.sh $(DURABILITY_ROUNDS)

schedule-bench:
	$(SWIFT) build -c release
	bash bench/schedule-lag.sh

# The console (design §14) driven in headless Chromium over the DevTools pipe; fails on any console error,
# CSP violation or failed request. CONSOLE_DOCS=docs also refreshes the README's two screenshots.
console-test:
	$(MAKE) deps EXTRA_PACKAGES="chromium"
	$(SWIFT) build
	bash bench/console-test.sh

# Cold start to listening with a 100-agent fixture, against no fixture in the same run (README, Operating it).
# The release binary with the Swift runtime and Foundation linked statically (swiftpm's --static-swift-stdlib): a
# cold start skips loading and binding ~20 Swift shared libraries. Its own scratch path: the flag changes every
# module's build, so sharing .build/release with the dynamic release builds (and the release test bundle, which
# cannot link against the static libraries) would rebuild everything at each switch.
# Linked by the toolchain's lld with packed relative relocations (DT_RELR, glibc >= 2.36): the binary's ~75,000
# relative relocations take 15 KB instead of 1.8 MB the loader reads at every start (gold, the default, has no RELR);
# seeded cold start 0.93-0.97x in three interleaved runs. Still a PIE with full ASLR and RELRO.
STATIC_BIN := .build-static/release/neo-server
release-static: deps
	$(SWIFT) build -c release --static-swift-stdlib --product neo-server --scratch-path .build-static \
	  -Xswiftc -use-ld=lld -Xswiftc -Xlinker -Xswiftc -zpack-relative-relocs

seed-bench: release-static
	NEO_SERVER_BIN=$(STATIC_BIN) bash bench/seed-start.sh

# swift-format (in the toolchain) with the house settings in .swift-format.
lint:
	$(SWIFT) format lint --recursive Sources Tests

clean:
	rm -rf .build .build-tsan fuzz/out

chat-bench:
	$(MAKE) deps EXTRA_PACKAGES="wrk"
	$(SWIFT) build -c release
	bash bench/chat-stream.sh
