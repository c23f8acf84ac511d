# Two entry points for a fresh machine:
#   make demo   create .venv, install the package, run the calibration demos on the bundled data
#   make test   create/update .venv and run the test suite
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
OUT    ?= results

.PHONY: venv demo test bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/calib demo --out $(OUT)

# Two workers (pytest-xdist), each compiling on one core: most of the suite's time is XLA
# compilation, which is single-threaded. A file's tests stay on one worker (they share compiled
# functions).
test: $(STAMP)
	$(PY) -m pytest -q -m "not benchmark" -n 2 --dist loadfile

# Benchmarks against jaxopt/optimistix (optional extras); sizes are arguments of the scripts.
bench: $(STAMP)
	$(PY) -m pip install --quiet -e ".[test,bench]"
	$(PY) experiments/bench_equilibrium.py

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache
