# Thin wrappers; README.md documents each target. Everything runs inside .venv, which `make venv` creates.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SMOKE_DIR := _build/smoke
CARDS := _build/cards
WEB := tools/web
VENDOR := $(WEB)/dist/vendor
PYTEST := $(PY) -m pytest -n 2 --dist loadfile
# Colab's stack (tools/colab-stack.txt) on Colab's Python, found on the PATH or under pyenv.
COLAB_PY_VERSION := 3.13
COLAB_PYTHON ?= $(firstword $(foreach p,python$(COLAB_PY_VERSION) \
  $(wildcard $(or $(PYENV_ROOT),$(HOME)/.pyenv)/versions/$(COLAB_PY_VERSION)*/bin/python$(COLAB_PY_VERSION)),\
  $(shell $(p) -c 'import sys; print(sys.executable)' 2>/dev/null)))
COLAB_VENV := .venv-colab
COLAB_PY := $(COLAB_VENV)/bin/python
COLAB_STAMP := $(COLAB_VENV)/.installed

# When a build fails, print the notebooks' execution reports (myst-nb writes one per failed notebook).
REPORTS := find _build -path '*reports*' -name '*.log' -exec sh -c 'for f; do echo "==== $$f"; tail -n 60 "$$f"; done' _ {} + ; :

# Kernels run without capturing C-level output, so TensorFlow's import-time C++ line stays out of pages.
export IPYTHONDIR := $(CURDIR)/tools/ipython
export TF_CPP_MIN_LOG_LEVEL := 2
export TF_ENABLE_ONEDNN_OPTS := 0
export PYDEVD_DISABLE_FILE_VALIDATION := 1

.PHONY: help venv vendor book serve exercises test test-unit test-notebooks test-bench site-smoke test-site test-colab lint clean grade test-seeds

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

venv: $(STAMP)  ## create .venv with the pinned environment and the gdl helpers

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	touch $@

vendor: $(VENDOR)/.stamp  ## copy MathJax, RequireJS and the widget embedder from npm into the site's static files

$(VENDOR)/.stamp: $(WEB)/package.json $(WEB)/package-lock.json $(WEB)/widgets-setup.js
	npm ci --prefix $(WEB) --no-audit --no-fund --loglevel=error
	rm -rf $(VENDOR) && mkdir -p $(VENDOR)/npm/@jupyter-widgets/html-manager/dist
	cp -r $(WEB)/node_modules/mathjax/es5 $(VENDOR)/mathjax
	cp $(WEB)/node_modules/requirejs/require.js $(WEB)/widgets-setup.js $(VENDOR)/
	cd $(WEB)/node_modules/@jupyter-widgets/html-manager/dist && \
	  cp embed-amd.js *.woff2 *.woff *.ttf *.eot *.svg $(CURDIR)/$(VENDOR)/npm/@jupyter-widgets/html-manager/dist/
	touch $@

# The execution cache is only valid for one profile: clear it when the profile changes.
book: venv vendor  ## execute the notebooks (default profile) and build the site into _build/html
	@profile=$$($(PY) -c "from gdl.budget import profile; print(profile())") && \
	if [ "$$(cat _build/.profile 2>/dev/null)" != "$$profile" ]; then rm -rf _build/.jupyter_cache; fi && \
	mkdir -p _build && echo $$profile > _build/.profile && \
	echo "Building the book in the $$profile profile" && \
	GDL_PROFILE=$$profile $(VENV)/bin/jupyter-book build . -W -n --keep-going || { $(REPORTS); exit 1; }

serve:  ## serve the built site at http://127.0.0.1:8000
	$(PY) -m http.server --bind 127.0.0.1 --directory _build/html 8000

exercises: venv  ## regenerate exercises/ from solutions/
	$(PY) tools/make_exercises.py

# e.g. make grade NOTEBOOKS="submissions/*.ipynb" CSV=gradebook.csv CHAPTER=3 (README: "For instructors")
grade: venv  ## grade submitted exercise notebooks: NOTEBOOKS="..." [CSV=file] [CHAPTER=N]
	@test -n "$(NOTEBOOKS)" || { echo 'make grade NOTEBOOKS="submissions/*.ipynb" [CSV=gradebook.csv] [CHAPTER=3]'; exit 2; }
	$(PY) -m gdl.grade $(NOTEBOOKS) $(if $(CSV),--csv $(CSV)) $(if $(CHAPTER),--chapter $(CHAPTER))

test: lint test-unit test-notebooks test-bench site-smoke test-site test-colab  ## everything CI runs

test-unit: venv  ## unit tests of gdl, the checks, the data chain, the notebooks' hygiene
	$(PYTEST) tests --ignore=tests/site --ignore=tests/bench

# GDL_DATA=bundled: the notebooks see only data that the installed packages ship, as on a bare machine.
# The chapters write their report cards for Chapter 10 into a fresh $(CARDS); test-bench reads them afterwards.
test-notebooks: venv  ## run every notebook (smoke profile, bundled data only): solutions pass, exercises incomplete
	rm -rf $(CARDS)
	GDL_CARDS=$(CURDIR)/$(CARDS) GDL_DATA=bundled GDL_PROFILE=smoke GDL_CHECKS_MODE=solutions GDL_CHECKS_SEED=0 \
	  $(PYTEST) --nbval-lax chapters solutions tools/templates
	GDL_DATA=bundled GDL_PROFILE=smoke GDL_CHECKS_MODE=exercises GDL_CHECKS_SEED=0 $(PYTEST) --nbval-lax exercises

test-bench: venv  ## Chapter 10's bench has every row, from the cards the smoke notebooks wrote (run after test-notebooks)
	GDL_CARDS=$(CURDIR)/$(CARDS) GDL_DATA=bundled GDL_PROFILE=smoke $(PY) -m pytest tests/bench

# Not part of `make test`: the checks' tests, each run with the problems of another GDL_CHECKS_SEED.
SEEDS ?= 10
test-seeds: venv  ## the exercise checks' tests over SEEDS sequences of random problems (slow; not in make test)
	for seed in $$(seq 1 $(SEEDS)); do echo "GDL_CHECKS_SEED=$$seed"; \
	  GDL_CHECKS_SEED=$$seed $(PYTEST) -q tests/test_checks.py tests/test_checks_ch*.py || exit 1; done

site-smoke: venv vendor  ## build the site in the smoke profile into _build/smoke, failing on any warning
	rm -rf $(SMOKE_DIR)
	GDL_PROFILE=smoke $(VENV)/bin/jupyter-book build . --path-output $(SMOKE_DIR) -W -n --keep-going \
	  || { $(REPORTS); exit 1; }

test-site: venv  ## check the smoke-built site (pages, launch links, no log lines)
	GDL_SITE=$(SMOKE_DIR)/_build/html $(PY) -m pytest tests/site

# A second environment with Colab's versions: the helpers are installed as the notebooks' Colab cell does
# (not editable, nothing else pulled in; `pip check` fails if pyproject.toml asks for more than Colab has),
# then the widget tests and the notebooks run on it. Without Python $(COLAB_PY_VERSION) it is skipped, except in CI.
$(COLAB_STAMP): tools/colab-stack.txt pyproject.toml
	rm -rf $(COLAB_VENV)
	$(COLAB_PYTHON) -m venv $(COLAB_VENV)
	$(COLAB_PY) -m pip install -q -r tools/colab-stack.txt
	touch $@

ifeq ($(strip $(COLAB_PYTHON)),)
test-colab:  ## run the widget tests and the notebooks (smoke) on Colab's versions, in .venv-colab
	@echo "test-colab: skipped, no Python $(COLAB_PY_VERSION) found (on the PATH, under pyenv, or set COLAB_PYTHON)"
	@test -z "$$CI"
else
test-colab: $(COLAB_STAMP)
	rm -rf build && $(COLAB_PY) -m pip install -q --no-deps --no-build-isolation --force-reinstall . && rm -rf build
	$(COLAB_PY) -m pip check
	$(COLAB_PY) -m pytest -p no:xdist tests/test_plot_widgets.py
	GDL_PROFILE=smoke GDL_CHECKS_MODE=solutions GDL_CHECKS_SEED=0 $(COLAB_PY) -m pytest -n 2 --dist loadfile \
	  --nbval-lax --nbval-current-env chapters solutions
endif

lint: venv  ## ruff (the package, tools, tests, benchmarks and the notebooks) and codespell
	$(PY) -m ruff check gdl tools tests benchmarks chapters solutions
	$(VENV)/bin/codespell --toml pyproject.toml gdl tools tests benchmarks book README.md CONTRIBUTING.md

clean:  ## remove build outputs (keeps .venv)
	rm -rf _build
