# Two commands set everything up on a fresh machine with Python 3.11:
#   make run    create .venv from requirements.lock, then train the default (MNIST-1D CNN)
#   make test   create .venv from requirements.lock, then run the fast tests
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test test-slow lock clean

$(STAMP): requirements.lock pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), f"jaxdl needs Python 3.11, found {sys.version.split()[0]} at $(PYTHON) (set PYTHON=...)"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/jaxdl train

test: $(STAMP)
	$(BIN)/python -m pytest -q -n auto

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow

# Re-resolve the newest versions inside pyproject's ranges and pin them (BUILD.md).
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install --quiet --disable-pip-version-check -e '.[dev]'
	.lock-venv/bin/pip freeze --exclude-editable --exclude jaxdl | sort -f > requirements.lock
	rm -rf .lock-venv

clean:
	rm -rf $(VENV) runs
