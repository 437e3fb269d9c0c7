# Directory Ledger — the two commands of README's Quick start, and the longer jobs.
#
#   make demo    the main job (see README)
#   make test    install what is missing, build, run every test
#
# Both install the Debian packages the C shims link against when they are
# missing (as root, or through sudo).

SWIFT ?= swift
# python3-venv: the API fuzzer (schemathesis, from PyPI) runs in its own venv.
DEBIAN_PACKAGES := libsecp256k1-dev libleveldb-dev libssl-dev pkg-config python3-venv
CLI := .build/debug/ledger-cli

.PHONY: all deps build test demo soak bench bench-micro bench-memtable api-fuzz format-vectors openapi clean

all: build

deps:
	@missing=""; \
	for package in $(DEBIAN_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$package 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$package"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "Installing Debian packages:$$missing"; \
	  if [ "$$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi; \
	  $$sudo apt-get update -q && \
	  DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -q --no-install-recommends $$missing; \
	fi

build: deps
	$(SWIFT) build

test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test
	scripts/api-fuzz.sh $(CLI) 25

# API fuzzing of docs/openapi.yaml with schemathesis against a live node
# (make test runs 25 examples per operation; API_FUZZ_EXAMPLES for more).
API_FUZZ_EXAMPLES ?= 200
api-fuzz: build
	scripts/api-fuzz.sh $(CLI) $(API_FUZZ_EXAMPLES)

# A local 4-validator network (plus one observer) with the sample city on
# embedded LevelDB, a data-sharing scenario played on it, then the network
# stays up until Ctrl-C. DEMO_ARGS="--once" exits after the scenario;
# DEMO_ARGS="--dir DIR" keeps the node homes in DIR.
demo: build
	$(CLI) demo $(DEMO_ARGS)

# The long consensus soak: 10,000 simulation seeds on a release build, then
# 2,000 with validator-set changes and a slow ledger.
SOAK_SEEDS ?= 10000
SOAK_RECONFIGURE_SEEDS ?= 2000
soak: deps
	$(SWIFT) build -c release --product ledger-cli
	.build/release/ledger-cli dev simulate --seeds $(SOAK_SEEDS)
	.build/release/ledger-cli dev simulate --seeds $(SOAK_RECONFIGURE_SEEDS) --reconfigure --execution-latency-ms 40

# Micro-benchmarks (ordo-one/benchmark). The benchmark framework joins the
# package only with LEDGER_BENCHMARKS set, in its own build folder, so the
# test build never compiles it. BENCH_ARGS passes options, e.g. --filter.
bench-micro: deps
	LEDGER_BENCHMARKS=1 $(SWIFT) package --scratch-path .build-bench --allow-writing-to-package-directory benchmark $(BENCH_ARGS)

# LevelDB's memtable inserts by the order of a batch's keys (docs/BENCHMARKS.md,
# "the write round"): plain C against the same Debian LevelDB the node links.
bench-memtable: deps
	mkdir -p .build
	cc -O2 -o .build/memtable_order Benchmarks/MemtableOrder/memtable_order.c -lleveldb
	for order in random sorted fresh; do .build/memtable_order $$order; done

# Rewrites the hex vectors in docs/FORMAT.md from Ledger.FormatExamples.
format-vectors: deps
	REWRITE_FORMAT_VECTORS=1 $(SWIFT) test --filter FormatDocument >/dev/null || true
	$(SWIFT) test --filter FormatDocument

# The whole-network benchmark on a release build (docs/BENCHMARKS.md);
# BENCH_NET_ARGS passes options, e.g. --rate 3000 or --output json.
bench: deps
	$(SWIFT) build -c release --product ledger-cli
	.build/release/ledger-cli bench --duration 60 $(BENCH_NET_ARGS)

# Re-embeds docs/openapi.yaml into the node (served at /openapi.yaml).
openapi:
	python3 scripts/embed-openapi.py

clean:
	rm -rf .build .build-bench
