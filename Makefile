# assay — developer entry points. Both `make demo` and `make test` create and use the virtualenv at .venv.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check

.PHONY: demo test lint typecheck bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(VENV)/.installed-base: pyproject.toml | $(PY)
	$(PIP) install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(PY)
	$(PIP) install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed-base

demo: $(VENV)/.installed-base
	HF_HUB_OFFLINE=1 $(VENV)/bin/assay demo

# Tests use Debian's chromium and a throwaway PostgreSQL on 127.0.0.1 (installed when missing, as root).
# pytest exits 5 when it collected no test: that is a broken suite, not a pass.
test: $(VENV)/.installed-dev
	@scripts/system-deps.sh
	@if [ -z "$${ASSAY_TEST_POSTGRES_URL:-}" ] && pg=$$(tests/store/start_postgres.sh 2>/dev/null); then \
		export ASSAY_TEST_POSTGRES_URL="$$pg"; started=1; fi; \
	HF_HUB_OFFLINE=1 $(PY) -m pytest; rc=$$?; \
	if [ -n "$${started:-}" ]; then tests/store/start_postgres.sh stop >/dev/null 2>&1 || true; fi; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check src tests bench examples
	$(VENV)/bin/ruff format --check src tests bench examples

typecheck: $(VENV)/.installed-dev
	$(VENV)/bin/mypy

bench: $(VENV)/.installed-dev
	$(PY) bench/harness_overhead.py
	$(PY) bench/stats_bench.py
	$(PY) bench/store_bench.py
	$(PY) bench/factuality_bench.py
	$(PY) bench/safety_bench.py
	$(PY) bench/monitor_bench.py
	$(PY) bench/report_bench.py
	$(PY) bench/ray_engine_bench.py

clean:
	rm -rf $(VENV) .assay .pytest_cache .mypy_cache .ruff_cache
