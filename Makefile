# Everyday entry points. Each target creates the virtual environment it needs
# and installs only what it uses: the demo and the benchmarks need pyser2net
# and its run-time dependencies, the tests also pytest and hypothesis.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip --quiet --disable-pip-version-check
# Stamp files: what has been installed into $(VENV), and from which pyproject.toml.
RUNTIME := $(VENV)/.installed-runtime
TESTING := $(VENV)/.installed-test
LINTING := $(VENV)/.installed-lint

.PHONY: demo test lint check bench fuzz soak deb clean

$(BIN)/python:
	@echo "make: creating the virtual environment $(VENV)"
	@$(PYTHON) -m venv $(VENV)

$(RUNTIME): pyproject.toml | $(BIN)/python
	@echo "make: installing pyser2net and its run-time dependencies into $(VENV)"
	@$(PIP) install -e .
	@touch $@

$(TESTING): pyproject.toml | $(BIN)/python
	@echo "make: installing pyser2net with its test dependencies (pytest, hypothesis) into $(VENV)"
	@$(PIP) install -e '.[test]'
	@touch $(RUNTIME) $@

$(LINTING): pyproject.toml | $(BIN)/python
	@echo "make: installing pyser2net with its lint tools (ruff, mypy, type stubs) into $(VENV)"
	@$(PIP) install -e '.[lint]'
	@touch $(RUNTIME) $@

demo: $(RUNTIME)
	@echo "make: serving examples/demo.yaml; in another terminal: telnet 127.0.0.1 7777 (Ctrl-C ends the demo)"
	@$(BIN)/pyser2net -n -d -c examples/demo.yaml

test: $(TESTING)
	@echo "make: running the test suite"
	@$(BIN)/python -m pytest -q --durations=15

# The format check comes last, so that the findings of ruff and mypy show
# even when a file only needs formatting (ruff format pyser2net tests bench).
lint: $(LINTING)
	@echo "make: ruff check"
	@$(BIN)/ruff check pyser2net tests bench
	@echo "make: mypy (settings in pyproject.toml)"
	@$(BIN)/mypy
	@echo "make: ruff format --check"
	@$(BIN)/ruff format --check pyser2net tests bench

# Before a commit: lint and the unit tests, in seconds. The hypothesis
# property tests (marked by hypothesis itself) take a minute; make test runs
# them, with everything else.
check: lint $(TESTING)
	@echo "make: unit tests, without the property tests"
	@$(BIN)/python -m pytest -q tests/unit -m "not hypothesis"

bench: $(RUNTIME)
	@echo "make: running the benchmarks"
	@$(BIN)/python bench/run.py

# Seconds of mutations per fuzz target (seven of them); what it finds is kept
# in tests/fixtures/fuzz/ and replayed by every test run from then on.
FUZZ_SECONDS ?= 60
# Worker processes per target.
FUZZ_JOBS ?= 1

fuzz: $(RUNTIME)
	@echo "make: fuzzing each target for $(FUZZ_SECONDS) s (tests/fuzz/fuzzer.py)"
	@$(BIN)/python tests/fuzz/fuzzer.py --seconds $(FUZZ_SECONDS) --jobs $(FUZZ_JOBS) --save

# MiB each way through one pty port, with client churn, kicks and refusals;
# every byte is checked (tests/soak/soak.py). The test suite runs a short form.
SOAK_MEGABYTES ?= 1024

soak: $(RUNTIME)
	@echo "make: soaking one pty port with $(SOAK_MEGABYTES) MiB each way (tests/soak/soak.py)"
	@$(BIN)/python tests/soak/soak.py --megabytes $(SOAK_MEGABYTES)

deb:
	@echo "make: building the Debian package with packaging/build-deb.sh"
	@packaging/build-deb.sh

clean:
	rm -rf $(VENV) build dist *.egg-info debian
