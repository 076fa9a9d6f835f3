# Paperboy — the two set-up commands in the README are `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000
DATA   ?=

.PHONY: install install-test run test test-fast bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Installs Paperboy and its runtime dependencies, the embedding model's packages included
# (no PyTorch, no CUDA).
$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[test,postgres]'
	touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

## make run [DATA=path/to/dump.jsonl.gz] — migrate, import DATA if given, serve on http://$(HOST):$(PORT)/
run: install
	$(BIN)/paperboy db upgrade
	$(if $(DATA),$(BIN)/paperboy import $(DATA))
	$(BIN)/paperboy serve --host $(HOST) --port $(PORT)

## make test — system packages the tests need (Chromium), Python dependencies, the whole suite
test: install-test
	scripts/install-system-deps
	$(BIN)/pytest

## make test-fast — everything but the real-browser tests
test-fast: install-test
	scripts/install-system-deps
	$(BIN)/pytest -m "not browser"

## make bench — every benchmark behind docs/benchmarks.md, in order (about an hour on 2 cores: the
## known-item benchmark needs the real vectors search_latency.py --real-vectors builds once)
bench: install
	scripts/install-system-deps --bench
	$(BIN)/python bench/import_bench.py
	$(BIN)/python bench/web_bench.py
	$(BIN)/python bench/web_bench.py --members
	$(BIN)/python bench/web_bench.py --api
	$(BIN)/python bench/import_contention.py --papers 20000
	$(BIN)/python bench/digest_bench.py
	$(BIN)/python bench/search_quality.py
	$(BIN)/python bench/search_latency.py --real-vectors
	$(BIN)/python bench/known_item.py
	$(BIN)/python bench/embed_bench.py

clean:
	rm -rf $(VENV) test-artifacts .pytest_cache
