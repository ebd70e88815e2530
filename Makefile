# Two commands do all the set-up on a fresh machine:
#   make workbook   create .venv, install, run every notebook in the default (cpu) profile, offline
#   make test       create .venv, install test deps, run pytest (units + every notebook in smoke mode)
# and more for people:
#   make lab        open the notebooks in JupyterLab
#   make html       render the executed notebooks (make workbook) to runs/$(PROFILE)/html/, figures embedded
#   make bfcl       install the optional BFCL package that `umi eval bfcl` needs (docs/bfcl.md)
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PROFILE ?= cpu
# torch first: on a machine without an NVIDIA GPU, PyTorch's CPU wheel when its index is reachable (PyPI's Linux
# build is a multi-GB CUDA one); the rest resolves against the installed torch and never replaces it.
TORCH_PIN ?= torch==2.13.0
TORCH_CPU_INDEX ?= https://download.pytorch.org/whl/cpu
TORCH_INDEX_ARG = $(shell if ! command -v nvidia-smi >/dev/null 2>&1 && \
	curl -sfI --max-time 5 $(TORCH_CPU_INDEX)/torch/ >/dev/null 2>&1; then echo --extra-index-url $(TORCH_CPU_INDEX); fi)
STAMP := $(VENV)/.installed

.PHONY: install workbook test lint format clean lab html bfcl

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q "$(TORCH_PIN)" $(TORCH_INDEX_ARG)
	$(BIN)/pip install -q -e ".[dev,notebook,gpu]"
	touch $(STAMP)

install: $(STAMP)

# The optional BFCL package (umi eval bfcl, docs/bfcl.md): its data, tool classes and checker, without its declared
# dependencies (none of them is needed; mpmath is, by BFCL's MathAPI).
bfcl: $(STAMP)
	$(BIN)/pip install -q --no-deps "bfcl-eval==2026.3.23" mpmath

# Executes notebooks/NN_*.ipynb in order into runs/$(PROFILE)/notebooks/ (committed notebooks stay clean).
workbook: $(STAMP)
	@mkdir -p runs/$(PROFILE)/notebooks
	@for nb in notebooks/[0-9][0-9]_*.ipynb; do \
		echo "== $$nb ($(PROFILE))"; \
		UMI_PROFILE=$(PROFILE) UMI_PROGRESS=final $(BIN)/papermill "$$nb" "runs/$(PROFILE)/notebooks/$$(basename $$nb)" \
			-k python3 --cwd notebooks --log-level WARNING || exit 1; \
	done
	@echo "outputs: runs/$(PROFILE)/notebooks/  figures: figures/"

lab: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/jupyter lab notebooks/

html: $(STAMP)
	$(BIN)/python -m umi_lib.workbook.report runs/$(PROFILE)/notebooks runs/$(PROFILE)/html

test: $(STAMP)
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff format --check umi_lib tests bench notebooks/*.py
	$(BIN)/ruff check umi_lib tests bench notebooks/*.py

format: $(STAMP)
	$(BIN)/ruff format umi_lib tests bench notebooks/*.py
	$(BIN)/ruff check --fix umi_lib tests bench notebooks/*.py

clean:
	rm -rf runs .pytest_cache
