# Everyday entry points. Each target creates the virtual environment it needs.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test lint bench deb clean

$(BIN)/pyser2net: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

demo: $(BIN)/pyser2net
	$(BIN)/pyser2net -n -d -c examples/demo.yaml

test: $(BIN)/pyser2net
	$(BIN)/python -m pytest -q

lint: $(BIN)/pyser2net
	$(BIN)/pip install --quiet ruff
	$(BIN)/ruff check pyser2net tests bench

bench: $(BIN)/pyser2net
	$(BIN)/python bench/run.py

deb:
	packaging/build-deb.sh

clean:
	rm -rf $(VENV) build dist *.egg-info debian
