# make book   execute every study on the embedded default and build the HTML book (_build/html)
# make test   run the test suite (what .ci/run runs)
# make bench  print scoring throughput and memory for the embedded models
VENV ?= .venv
PY := $(VENV)/bin/python

$(VENV)/.installed: requirements.txt pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	touch $@

.PHONY: book test bench
book: $(VENV)/.installed
	$(VENV)/bin/rlshift book

test: $(VENV)/.installed
	$(PY) -m pytest -q

bench: $(VENV)/.installed
	$(PY) bench/scoring_throughput.py
