# Two commands for a fresh machine (see README): `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# torch is pinned to the local CPU build and installed first, so that no other
# dependency can pull a different (CUDA) torch from the registry.
TORCH  := torch==2.13.0

.PHONY: demo test test-all screenshot bench lint typecheck clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.base: $(BIN)/python pyproject.toml
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.dev: $(VENV)/.base
	$(BIN)/pip install -q $(TORCH)
	$(BIN)/pip install -q -e ".[dev,torch,ray,text,scale,ot]" $(TORCH)
	touch $@

demo: $(VENV)/.base            ## install and run the main job on the built-in digits dataset
	$(BIN)/thresher demo

test: $(VENV)/.dev             ## install and run the test suite (slow tests excluded)
	$(BIN)/python -m pytest -q -m "not slow"

test-all: $(VENV)/.dev         ## every test, slow ones included
	$(BIN)/python -m pytest -q

screenshot: $(VENV)/.base     ## the demo report checked in headless Chromium; writes runs/demo/report/screenshot.png
	$(BIN)/thresher demo
	$(BIN)/python -m thresher.report.browser runs/demo

bench: $(VENV)/.dev            ## peer libraries for the benchmarks in benchmarks/
	$(BIN)/pip install -q -e ".[bench]" $(TORCH)
	$(BIN)/pip install -q --no-deps pydvl==0.10.0

lint: $(VENV)/.dev
	$(BIN)/ruff check src tests benchmarks

typecheck: $(VENV)/.dev
	$(BIN)/mypy

clean:
	rm -rf $(VENV) runs .pytest_cache
