# Two commands do everything: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
DATA   ?= ./data

.PHONY: run test lint bench clean docs

$(BIN)/meshportal: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

run: $(BIN)/meshportal
	$(BIN)/meshportal init --data $(DATA)
	$(BIN)/meshportal serve --data $(DATA) --host 127.0.0.1 --port 8080

lint: $(BIN)/meshportal
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy --strict sync captive
	$(BIN)/mypy meshportal
	$(BIN)/lint-imports

test: lint
	$(BIN)/python -m pytest

bench: $(BIN)/meshportal
	$(BIN)/pip install --quiet -e '.[test,bench]'
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache

docs: $(BIN)/meshportal
	$(BIN)/meshportal settings --reference > .reference.md
	$(BIN)/python -c "from pathlib import Path; from meshportal.reference import rewrite_readme; rewrite_readme(Path('README.md'), Path('.reference.md').read_text().rstrip('\n'))"
	rm -f .reference.md
