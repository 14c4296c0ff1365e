# One-command entry points. Each sets up .venv itself on a fresh machine (needs python3.11+).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip

.PHONY: quickstart test lint bench-serving bench-batch bench-monitoring checkov clean venv

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e '.[test]'
	touch $@

venv: $(VENV)/.installed

## Train, deploy locally, predict, canary, promote, roll back (and more as it lands).
quickstart: venv
	$(PY) examples/quickstart.py

## The whole test suite (what CI runs), on three workers for two cores: most tests wait on
## servers, emulator clocks and bakes, so a third process fills the waits (a module's tests
## share one worker and its module-scoped emulator endpoints).
test: venv
	$(PY) -m pytest -q -n 3 --dist loadscope --durations=30

## ruff, then the import contracts of .importlinter (the layer diagram of DESIGN.md).
lint: venv
	$(VENV)/bin/ruff check src tests
	$(VENV)/bin/lint-imports --no-cache

## Static checks of the Terraform modules with checkov (own venv: checkov pins clash with ours).
checkov:
	bash .ci/checkov.sh

bench-serving: venv
	$(PY) bench/serving/run.py

clean:
	rm -rf $(VENV) .cloudeploy .pytest_cache
