# The two set-up commands of the README: `make demo` (the main job on the fixture) and `make test` (the tests).
# Each makes a small virtual environment holding tox, and tox makes the pinned environment it runs in.
VENV := .venv-tox
TOX := $(VENV)/bin/tox
PYTHON ?= python3

.PHONY: demo test bench
demo: $(TOX)
	$(TOX) -e demo

test: $(TOX)
	$(TOX)

bench: $(TOX)
	$(TOX) -e bench

$(TOX):
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet "tox==4.67.15"
