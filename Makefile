# The two commands a newcomer needs (as root, on Debian bookworm with Python 3.11):
#   make demo   bring the lab up and do a real blue-green deploy of the demo app
#   make test   run the whole test suite (unit, the built wheel, then lab tests against real components)
PYTHON ?= python3
PIP_FLAGS ?= --quiet --disable-pip-version-check --root-user-action=ignore

.PHONY: install demo test test-unit test-package test-lab lint lab-down

install:
	$(PYTHON) -m pip install $(PIP_FLAGS) -e '.[test]'

demo: install
	bash lab/demo.sh

test: install lint
	$(PYTHON) -m pytest tests/unit -q -n auto
	$(PYTHON) -m pytest tests/package -q
	$(PYTHON) -m pytest tests/lab -m lab -q

test-unit: install
	$(PYTHON) -m pytest tests/unit -q -n auto

# the sdist and wheel built, the wheel installed into a fresh venv (dependencies from the package index), ghost run
test-package: install
	$(PYTHON) -m pytest tests/package -q

test-lab: install
	$(PYTHON) -m pytest tests/lab -m lab -q

lint: install
	ruff check .
	ruff format --check .
	lint-imports

lab-down:
	inv lab.down
