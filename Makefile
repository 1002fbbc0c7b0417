# make book     execute every study on the embedded default and build the HTML book (_build/html)
# make test     run the test suite (what .ci/run runs); installs the browser first
# make browser  install headless Chromium and its driver from Debian (tests/test_site.py needs them)
# make bench    print scoring throughput and memory for the embedded models
VENV ?= .venv
PY := $(VENV)/bin/python
BROWSER_PACKAGES := chromium chromium-driver

$(VENV)/.installed: requirements.txt pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	touch $@

.PHONY: book test bench browser
book: $(VENV)/.installed
	$(VENV)/bin/rlshift book

test: $(VENV)/.installed browser
	$(PY) -m pytest -q

bench: $(VENV)/.installed
	$(PY) bench/scoring_throughput.py

# Debian's chromium and chromium-driver give /usr/bin/chromium and /usr/bin/chromedriver. The
# package lists are refreshed only when the install fails without it (an old or empty list).
browser:
	@if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ]; then \
		echo "error: /usr/bin/chromium or /usr/bin/chromedriver is missing, and installing them needs root:" >&2; \
		echo "  sudo apt-get install -y $(BROWSER_PACKAGES)   (or run 'make browser' as root)" >&2; \
		exit 1; \
	fi; \
	export DEBIAN_FRONTEND=noninteractive; \
	apt-get install -y -q $(BROWSER_PACKAGES) \
		|| { apt-get update -q && apt-get install -y -q $(BROWSER_PACKAGES); }
