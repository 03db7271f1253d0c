# Two entry points for users (see README): `make demo` and `make test`.
PY ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test install install-demo clean bench

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

install-demo: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[fast]"

install: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test]"

demo: install-demo
	$(BIN)/cartwin demo --out demo-output
	@echo "open demo-output/report.html in a browser"

test: install
	$(BIN)/python -m pytest -q

bench: install
	$(BIN)/python -m pip install --quiet -e ".[test,bench]"
	$(BIN)/cartwin bench

clean:
	rm -rf $(VENV) demo-output
