# Thin wrappers over the package's CLI (python -m overparam). Two commands do everything:
#   make book   create .venv, install pinned packages, run every chapter (quick), build HTML
#   make test   the same environment, then the whole test suite
# Variables: PYTHON (interpreter for the venv), PROFILE, DEVICE, JOBS (for `make book`;
# JOBS empty = one chapter per CPU core, up to 4 on a GPU).

PYTHON  ?= python3.11
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
PROFILE ?= quick
DEVICE  ?= auto
JOBS    ?=

.PHONY: env test test-notebooks book book-published gpu-wheels bench lab clean distclean

env: $(STAMP)

# Re-install only when the package definition or the pins change (idempotent).
# torch goes first, from the constraints file: on CPU machines that takes the local
# CPU wheel; a looser requirement would pull a multi-GB CUDA build. The kernelspec
# "python3" is rewritten to this venv's interpreter (absolute path) for papermill and lab.
$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -c constraints.txt torch
	$(BIN)/python -m pip install -c constraints.txt -e ".[book,lab,test,ray]"
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (overparam)"
	$(BIN)/python -c "import torch; print('torch', torch.__version__, '| CUDA build:', torch.version.cuda)"
	touch $(STAMP)

test: env
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} $(BIN)/pytest

# Only the notebooks: clean-commit checks and the smoke run of every chapter (+ book build).
test-notebooks: env
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} $(BIN)/pytest tests/test_notebooks_clean.py tests/notebooks

# Runs what is stale at $(PROFILE), builds book/_build/html, prints the path of index.html.
book: env
	$(BIN)/python -m overparam book --profile $(PROFILE) --device $(DEVICE) $(if $(JOBS),--jobs $(JOBS))

# The published edition (book/published/, the `full` run kept from a GPU machine), as it
# is: nothing runs. HTML in book/_build/published/book/_build/html.
book-published: env
	$(BIN)/python -m overparam book --edition published

# The wheels a GPU machine needs to make the published edition (see README.md).
gpu-wheels: env
	scripts/gpu_edition.sh wheels

bench: env
	@set -e; for f in benchmarks/*.py; do echo "== $$f"; $(BIN)/python $$f; done

lab: env
	$(BIN)/jupyter lab notebooks/

# Generated files only; `make distclean` also removes the environment.
clean:
	rm -rf book/_build book/chapters book/status.md book/scorecard.md book/calibration.md \
	       book/synthesis.md book/scale.md book/calibration.json .pytest_cache
	find . -name __pycache__ -not -path "./$(VENV)/*" -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) *.egg-info
