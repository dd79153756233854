# elsa_wb: the README's commands. `make demo` and `make test` each install first (idempotent, fast when done).
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
export HF_HUB_OFFLINE ?= 1
export HF_DATASETS_OFFLINE ?= 1
export TRANSFORMERS_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false

.PHONY: install demo test test-slow lab bench bench-quality bench-speed bench-export export readme docs

$(PY):
	python3 -m venv $(VENV)

$(VENV)/.installed: $(PY) pyproject.toml
	@$(PY) -c "import torch" 2>/dev/null || $(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[dev]"
	@touch $@

install: $(VENV)/.installed
	@$(BIN)/elsa-wb fetch smollm2-135m >/dev/null

demo: install
	$(BIN)/elsa-wb demo --out bench/results   # the README's demo table is rendered from bench/results/demo.json

export: install
	$(BIN)/nbdev-export

readme:
	$(PY) scripts/make_readme.py

test: install
	$(PY) scripts/make_readme.py
	@git diff --exit-code -- README.md || (echo "README.md was out of date with nbs/index.ipynb (run make readme and commit)"; exit 1)
	$(BIN)/nbdev-export
	@git diff --exit-code -- elsa_wb || (echo "nbdev-export changed elsa_wb/: the exported package was out of sync with nbs/ (commit the export)"; exit 1)
	$(BIN)/nbdev-clean
	@git diff --exit-code -- nbs || (echo "nbdev-clean changed nbs/: notebooks were not clean (run nbdev-clean and commit)"; exit 1)
	OMP_NUM_THREADS=1 $(BIN)/nbdev-test --n-workers 2 --timing   # 2 notebooks at once on 2 cores: one thread each
	OMP_NUM_THREADS=1 $(BIN)/pytest -q -n 2 --dist loadfile tests   # 2 test files at once, one thread each (7 min instead of 11 on 2 cores)

test-slow: install
	$(BIN)/nbdev-test --flags slow --n-workers 1 --timing
	$(BIN)/pytest -q -m slow tests

docs: install   # the notebooks as a website in _docs/site, built offline (scripts/build_docs.py: runs every notebook, about 5 minutes)
	@$(PY) -c "import mkdocs_jupyter, material" 2>/dev/null || $(BIN)/pip install -q -e ".[dev,docs]"
	$(PY) scripts/build_docs.py

lab: install
	$(BIN)/jupyter lab nbs

bench: install
	$(PY) bench/elsa_step.py

bench-speed: install     # dense vs CSR/BSR (2:4 on a GPU) latency of SmolLM2 at 50/70/90%, about 10 minutes on one CPU thread
	$(PY) bench/speed.py

bench-export: install    # bytes on disk of the dense and compressed-tensors exports of SmolLM2 at 50/70/90% and 2:4, about 2 minutes
	$(PY) bench/export.py

bench-quality: install   # hours on a CPU: every method at 50/70/80/90% (runs/quality keeps the cells; rerun resumes)
	$(PY) bench/quality.py
