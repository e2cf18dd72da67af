# Two commands set everything up on a fresh machine with Python 3.11:
#   make run    create .venv from requirements.lock, then run the quickstart study (report.md)
#   make test   create .venv from requirements.lock, then run the fast tests
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test test-slow docs bench lock clean

$(STAMP): requirements.lock pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), f"jaxdl needs Python 3.11, found {sys.version.split()[0]} at $(PYTHON) (set PYTHON=...)"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.lock
	@# Venvs made before the rename hold an editable `jaxdl`; it would shadow jaxdl-science.
	$(BIN)/pip uninstall --quiet -y jaxdl 2>/dev/null || true
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/jaxdl sweep experiments/quickstart_sweep.py

test: $(STAMP)
	$(BIN)/python -m pytest -q -n auto

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow

# The API reference (pdoc) in docs/api/index.html; fails, one line each, on a broken
# reference in a docstring (the rules: docs/build.py).
docs: $(STAMP)
	$(BIN)/python docs/build.py

# jaxdl vs PyTorch eager vs a plain flax loop on this machine; writes BENCHMARKS.md
# (~20 min on 2 idle CPU cores; `python -m bench --quick` is a < 5 min smoke run).
bench: $(STAMP)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[bench]'
	$(BIN)/python -m bench

# Re-resolve the newest versions inside pyproject's ranges and pin them (BUILD.md).
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install --quiet --disable-pip-version-check -e '.[dev]'
	.lock-venv/bin/pip freeze --exclude-editable --exclude jaxdl-science | sort -f > requirements.lock
	rm -rf .lock-venv

clean:
	rm -rf $(VENV) runs docs/api
