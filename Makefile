# The two commands a new user types (see README): `make demo` and `make test`.
# Each creates the virtual environment on first use, with pinned dependencies.
VENV ?= .venv
PYTHON ?= python3

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check -e '.[test]'
	touch $@

.PHONY: demo test lint docs
demo: $(VENV)/.installed
	$(VENV)/bin/vidssl demo

test: $(VENV)/.installed
	$(VENV)/bin/pytest -q

lint: $(VENV)/.installed
	$(VENV)/bin/pip install -q ruff==0.17.5 && $(VENV)/bin/ruff check vidssl tests bench

# The documentation site (mkdocs.yml, docs/) into site/; --strict: a broken link, a page
# missing from the nav or a docstring that does not render fails, as in .ci/run.
docs: $(VENV)/.installed
	$(VENV)/bin/pip install -q --disable-pip-version-check -e '.[docs]'
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict
