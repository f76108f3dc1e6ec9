# The two set-up commands of the README: `make demo` (the main job on the fixture) and `make test` (the tests).
# Each makes a small virtual environment holding tox, and tox makes the pinned environment it runs in.
VENV := .venv-tox
TOX := $(VENV)/bin/tox
PYTHON ?= python3

.PHONY: demo env test test-all bench dist sandbox postgres
# The main job on the fixture: grade the reference solution, then run the solved lesson notebook. In the tests'
# environment (the same pinned environment, made once when CI runs both): `--notest` makes it with the kit
# installed, `tox exec` runs a command in it (and installs nothing itself).
demo: env sandbox
	$(TOX) exec -e py -- autograder grade reference/rnn_embeddings.ipynb --out grading-output
	$(TOX) exec -e py -- fakenews-lesson run --out lesson-output

# The tests' pinned environment (.tox/py), with the kit installed.
env: $(TOX)
	$(TOX) run -e py --notest

# The unit tier, the corpus (in-process) and the sandbox tier's default slice, on both cores (DEVELOPING.md). (Three
# workers were tried: the CPU-bound gradings then share the cores and the longest chains, nbgrader over a course and
# calibration on 23,000 rows, grow by half.)
XDIST := -n 2 --dist loadgroup --durations=25
test: $(TOX) sandbox postgres
	$(TOX) -- $(XDIST) -m "not ci_only"

# Everything, as CI runs it (.ci/run): the parallel run, then what times itself, alone.
test-all: $(TOX) sandbox postgres
	$(TOX) -- $(XDIST) -m "not serial"
	$(TOX) -- -m serial

bench: $(TOX) sandbox
	$(TOX) -e bench

# The two packages, as wheels in dist/: the grader package (rnn-embeddings-kit) and the student package
# (rnn-embeddings-student). See docs/instructors.md, "Publishing the packages".
dist: $(TOX)
	$(TOX) -e dist

# The grader's sandbox uses bubblewrap; as root on Debian/Ubuntu it is installed here. Without it the kit falls back
# to a weaker isolation level by itself (and says so in every result), and the attacks it cannot stop are skipped.
sandbox:
	@command -v bwrap >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  (apt-get install -y -qq bubblewrap >/dev/null 2>&1 || \
	   (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq bubblewrap >/dev/null 2>&1)); } || \
	  echo "bubblewrap not installed: grading falls back to a weaker sandbox (see README, Threat model)"

$(TOX):
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet "tox==4.67.15"

# The gradebook test runs a real PostgreSQL server (started and stopped by the test); it is skipped without one.
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  (apt-get install -y -qq postgresql >/dev/null 2>&1 || \
	   (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq postgresql >/dev/null 2>&1)); } || \
	  echo "PostgreSQL not installed: the PostgreSQL gradebook test will be skipped"
