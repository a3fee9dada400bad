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

# pytest exits 5 when it collected no test: that is a broken suite, not a pass.
test: $(VENV)/.installed-dev
	HF_HUB_OFFLINE=1 $(PY) -m pytest; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check src tests bench examples
	$(VENV)/bin/ruff format --check src tests bench examples

typecheck: $(VENV)/.installed-dev
	$(VENV)/bin/mypy

bench: $(VENV)/.installed-dev
	$(PY) bench/harness_overhead.py
	$(PY) bench/stats_bench.py

clean:
	rm -rf $(VENV) .assay .pytest_cache .mypy_cache .ruff_cache
