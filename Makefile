# The two commands of the README:
#   make demo   set up .venv, then run the demo code-ratio sweep (local Ray, local MLflow)
#   make test   set up .venv, then run the test suite (what .ci/run runs)
# and the fast lane while developing:
#   make test-fast   the tests marked neither e2e nor slow (the README says how long)
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python

.PHONY: demo test test-fast setup browser
setup: $(VENV)/.installed

# torch is pinned to 2.13.0 in pyproject.toml: pip takes the CPU wheel, not a multi-GB CUDA build.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

demo: setup
	$(PY) sweeps/ratio.py --preset demo

# The MLflow UI test drives Debian's Chromium through its ChromeDriver (nothing downloads a
# browser of its own); installed here when missing, as root or through password-less sudo.
APT := $(shell [ "$$(id -u)" = 0 ] && echo apt-get || { sudo -n true 2>/dev/null && echo "sudo -n apt-get"; })
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  { [ -n "$(APT)" ] && { $(APT) install -y -qq chromium chromium-driver >/dev/null 2>&1 || \
	    { $(APT) update -qq && $(APT) install -y -qq chromium chromium-driver >/dev/null; }; } || \
	    echo "make: no chromium/chromedriver and no root or sudo: install Debian's chromium and chromium-driver, or the UI test fails"; }

test: setup browser
	PATH="$(abspath $(VENV))/bin:$$PATH" $(PY) -m pytest

test-fast: setup
	PATH="$(abspath $(VENV))/bin:$$PATH" $(PY) -m pytest -m "not e2e and not slow"
