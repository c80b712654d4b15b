# Two commands do everything: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
DATA   ?= ./data

.PHONY: run test lint bench clean docs catalogs

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

# Visitors' strings: extract from code and templates, merge into each language's .po,
# compile the .mo files the daemon loads (all committed; a test checks that running this
# again changes no byte).  The .pot has no header, so no date; --ignore-pot-creation-date
# keeps each .po's POT-Creation-Date as it is, where pybabel would write the time of the
# run; the .mo files then come out the same for the same .po.
LOCALE := meshportal/web/locale
catalogs: $(BIN)/meshportal
	$(BIN)/pybabel -q extract -F $(LOCALE)/babel.cfg --no-location --omit-header -o $(LOCALE)/meshportal.pot .
	$(BIN)/pybabel -q update -D meshportal -i $(LOCALE)/meshportal.pot -d $(LOCALE) --ignore-obsolete --no-fuzzy-matching -w 100 --ignore-pot-creation-date
	$(BIN)/pybabel -q compile -D meshportal -d $(LOCALE) --use-fuzzy
