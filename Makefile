# Portico: `make demo` to try it, `make test` to check it (installs what it needs).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
COMPILED := $(VENV)/.compiled
# The modules mypyc compiles (ingress/compiled.py lists them).
COMPILED_SOURCES := $(shell $(PYTHON) ingress/compiled.py)

.PHONY: setup demo test test-suite test-pure test-bench test-fast lint bench bench-smoke system-packages tools image image-packages test-image clean annotations-table conformance-gateway

setup: $(STAMP) $(COMPILED)

# The dependencies and the package as sources; the next step compiles it.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip 'setuptools>=77'
	PORTICO_PURE_PYTHON=1 $(PY) -m pip install --quiet -e '.[dev,bench]'
	touch $@

# The per-request modules compiled with mypyc next to their sources (setup.py), again whenever
# one of them changes (a stale extension module would not run: ingress/compiled.py imports the
# sources then, and `portico --version` says why).
$(COMPILED): $(STAMP) setup.py ingress/compiled.py $(COMPILED_SOURCES)
	@command -v cc >/dev/null && $(PY) -c 'import os, sys, sysconfig; \
		sys.exit(not os.path.exists(sysconfig.get_paths()["include"] + "/Python.h"))' || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			gcc libc6-dev python3-dev >/dev/null)
	$(PY) setup.py --quiet build_ext --inplace
	touch $@

# nginx, haproxy, wrk and h2load (nghttp2-client) are the benchmark's comparisons and
# the HTTP/2 tests' clients (Debian packages).
system-packages:
	@if ! command -v nginx >/dev/null || ! command -v haproxy >/dev/null || ! command -v wrk >/dev/null || ! command -v h2load >/dev/null; then \
		bash benchmarks/setup.sh; \
	fi

tools: $(STAMP)
	PYTHON=$(PY) bash scripts/tools.sh

demo: setup
	$(VENV)/bin/portico demo

lint: $(STAMP)
	$(VENV)/bin/ruff check --no-cache ingress tests benchmarks scripts setup.py
	$(VENV)/bin/mypy --strict ingress

# `make test` = test-suite, then test-bench. The suite's modules run on TEST_WORKERS
# processes, each module whole on one (its module-scoped `portico run` stays shared); the
# tests marked `bench` (`make bench-smoke`'s run, whose load saturates both CPUs, and a
# latency measurement) run after it, alone. compileall first: where PYTHONDONTWRITEBYTECODE
# is set, every `portico` process the tests start would compile the package again.
# Both run the compiled data plane, as the image does; test-pure runs the unit tests again on
# the pure-Python fallback (PORTICO_PURE_PYTHON=1), which an install without a C compiler
# gets, and tests/unit/test_compiled.py forwards real requests through it.
TEST_WORKERS ?= 2
test: test-suite test-pure test-bench

test-suite: setup system-packages tools lint
	@$(VENV)/bin/portico --version | grep -q 'compiled (mypyc)' || \
		{ $(VENV)/bin/portico --version; echo "make test: the data plane is not compiled"; exit 1; }
	$(PY) -m compileall -q ingress benchmarks
	$(VENV)/bin/pytest -q -p no:cacheprovider -n $(TEST_WORKERS) --dist loadfile -m "not bench"

test-pure: setup
	PORTICO_PURE_PYTHON=1 $(VENV)/bin/pytest -q -p no:cacheprovider -n $(TEST_WORKERS) \
		--dist loadfile -m "not bench" tests/unit

test-bench: setup system-packages
	$(VENV)/bin/pytest -q -p no:cacheprovider -m bench

test-fast: $(STAMP)
	$(VENV)/bin/pytest -q -x tests/unit

# Only the Gateway API tests (modelled on the upstream conformance suite's core tests).
conformance-gateway: $(STAMP)
	$(VENV)/bin/pytest -q -p no:cacheprovider tests/unit/test_gateway_*.py \
		tests/e2e/test_gateway_api.py tests/e2e/test_gateway_status.py

# The second compare: what metrics, access logs and tracing cost (README, Observability).
bench: setup system-packages
	$(PY) -m benchmarks.compare --configs direct,nginx,haproxy,portico-1,portico-2,portico-1-pure
	$(PY) -m benchmarks.compare --configs nginx,portico-1-bare,portico-1,portico-1-logged,portico-1-traced \
		--scenarios http-3B,http-3B@2krps --out benchmarks/results/observability
	$(PY) -m benchmarks.idle_connections
	$(PY) -m benchmarks.workers_scaling
	$(PY) -m benchmarks.build_scale --json benchmarks/results/build-$$(date +%F)/build_scale.json \
		100 1000 10000
	$(PY) -m benchmarks.scale
	$(PY) -m benchmarks.targets

bench-smoke: setup system-packages
	$(PY) -m benchmarks.compare --smoke

# The README's annotation reference, from ingress/build/annotations/catalog.py.
annotations-table: $(STAMP)
	$(PY) scripts/annotation_table.py

image:
	bash scripts/build-image.sh localhost/portico:dev

image-packages:
	@if ! command -v podman >/dev/null || ! command -v runc >/dev/null || ! command -v debootstrap >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman runc debootstrap >/dev/null; \
	fi

# Builds the image with podman (no Docker engine) and runs the chart's arguments in it (≈2 min).
test-image: $(STAMP) tools image-packages
	PORTICO_IMAGE_TEST=1 $(VENV)/bin/pytest -q -p no:cacheprovider tests/chart/test_image.py

clean:
	rm -rf $(VENV) .tools .mypy_cache .ruff_cache .pytest_cache build
	find . -path ./.venv -prune -o -name '*.so' -print -delete
