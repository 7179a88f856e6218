# Two commands a newcomer needs: `make demo` and `make test`. Both create .venv when missing.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export DVC_NO_ANALYTICS := 1
export PATH := $(abspath $(BIN)):$(PATH)
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: setup demo test test-fast lint bench bench-language bench-topics bench-report clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "Installing kaznet-monitor and its dependencies into $(VENV) (torch pinned to the CPU build)..."
	@$(BIN)/pip install -q -e ".[dev]" 2>&1 | grep -v "^WARNING: Location" || true
	@$(BIN)/python -c "import pipeline, torch, natasha, bertopic; assert torch.__version__.startswith('2.13.0')" \
		|| { echo "Install failed: see the pip output above"; exit 1; }
	@touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	@$(BIN)/dvc repro
	@echo
	@echo "Weekly report: $$(ls -t reports/weekly/weekly_*.html | head -1)"
	@echo "Tables (XLSX): $$(ls -t reports/weekly/weekly_*.xlsx | head -1)"
	@echo "Period report: $$(ls -t reports/period/period_*.html | head -1)"

test: $(STAMP)
	@$(BIN)/python -m pytest -q

test-fast: $(STAMP)
	@$(BIN)/python -m pytest -q -m "not slow"

lint: $(STAMP)
	@$(BIN)/ruff check pipeline tests scripts

bench: $(STAMP)
	@$(BIN)/python scripts/bench.py

bench-language: $(STAMP)
	@$(BIN)/kaznet evaluate language
	@$(BIN)/python scripts/bench_language.py

bench-topics: $(STAMP)
	@$(BIN)/python scripts/bench_topics.py --docs 20000 --kk-share 0.2

bench-report: $(STAMP)
	@$(BIN)/python scripts/bench_report.py --docs 20000

clean:
	rm -rf data/processed reports metrics plots
