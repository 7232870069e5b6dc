# The two set-up commands of the README: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo test test-slow lint browser bench install clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,federated,spark,link]'
	# pycanon, the independent k/ℓ/t check of the tests, pins exact old versions of everything
	# it touches; its own code needs only what .[dev] brings (NumPy, pandas, SciPy).
	$(BIN)/pip install --quiet --no-deps 'pycanon==1.3.6'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/privet demo

# Layers and private modules: import-linter (lint/ holds privet's own contract type); types:
# mypy ([tool.mypy] in pyproject.toml).
lint: $(STAMP)
	$(BIN)/ruff check src tests bench lint
	$(BIN)/ruff format --check src tests bench lint
	PYTHONPATH=src:lint $(BIN)/lint-imports --no-cache
	$(BIN)/mypy

# The dashboard test drives Debian's headless Chromium through its chromedriver (nothing is
# downloaded at run time): installed here when missing and allowed, else a clear stop.
browser:
	@if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	      apt-get install -y -qq chromium chromium-driver >/dev/null; \
	  else \
	    echo "make test needs Debian's chromium and chromium-driver:" \
	      "sudo apt-get install chromium chromium-driver" >&2; exit 1; \
	  fi; \
	fi

# Two workers (CI has two cores); a file's tests stay on one worker, so module fixtures are
# built once. One OpenMP thread each: two workers whose scikit-learn and PyTorch each spin two
# threads oversubscribe two cores (the Adult minimize test took 124 s instead of 35).
test: lint browser
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q -n 2 --dist loadfile

test-slow: lint browser
	OMP_NUM_THREADS=1 PRIVET_SLOW=1 $(BIN)/python -m pytest -q -n 2 --dist loadfile

bench: $(STAMP)
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
