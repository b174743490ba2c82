# The two commands of the README:
#   make demo   set up .venv, then run the demo code-ratio sweep (local Ray, local MLflow)
#   make test   set up .venv, then run the test suite (what .ci/run runs)
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python

.PHONY: demo test setup
setup: $(VENV)/.installed

# torch is pinned to 2.13.0 in pyproject.toml: pip takes the CPU wheel, not a multi-GB CUDA build.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

demo: setup
	$(PY) sweeps/ratio.py --preset demo

test: setup
	PATH="$(abspath $(VENV))/bin:$$PATH" $(PY) -m pytest
