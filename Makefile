# Entry points for users (see README): `make demo`, `make test` and `make serve`.
PY ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test install install-demo clean bench serve

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

serve: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[fast,web]"
	$(BIN)/cartwin serve

bench: install
	$(BIN)/python -m pip install --quiet -e ".[test,bench]"
	$(BIN)/cartwin bench

clean:
	rm -rf $(VENV) demo-output
