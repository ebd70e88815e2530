# Two commands do all the set-up on a fresh machine:
#   make workbook   create .venv, install, run every notebook in the default (cpu) profile, offline
#   make test       create .venv, install test deps, run pytest (units + every notebook in smoke mode)
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PROFILE ?= cpu
# torch first, pinned: the CPU wheel (no multi-GB CUDA download); the rest resolves against it.
TORCH_PIN ?= torch==2.13.0
STAMP := $(VENV)/.installed

.PHONY: install workbook test lint format clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q "$(TORCH_PIN)"
	$(BIN)/pip install -q -e ".[dev,notebook,gpu]"
	touch $(STAMP)

install: $(STAMP)

# Executes notebooks/NN_*.ipynb in order into runs/$(PROFILE)/notebooks/ (committed notebooks stay clean).
workbook: $(STAMP)
	@mkdir -p runs/$(PROFILE)/notebooks
	@for nb in notebooks/[0-9][0-9]_*.ipynb; do \
		echo "== $$nb ($(PROFILE))"; \
		UMI_PROFILE=$(PROFILE) $(BIN)/papermill "$$nb" "runs/$(PROFILE)/notebooks/$$(basename $$nb)" \
			-k python3 --cwd notebooks --log-level WARNING || exit 1; \
	done
	@echo "outputs: runs/$(PROFILE)/notebooks/  figures: figures/"

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
