# ldirectord-py: developer entry points. `make test` is what CI runs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: all deps venv test lint typecheck unit integration compat demo man clean

all: test

deps:
	sh scripts/install-deps.sh

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

venv: $(BIN)/.installed

lint: venv
	$(BIN)/ruff check ldirectord_py tests bench demo
	$(BIN)/ruff format --check ldirectord_py tests bench demo

typecheck: venv
	$(BIN)/mypy ldirectord_py

unit: venv
	$(BIN)/pytest -q tests/unit $(PYTEST_ARGS)


integration: deps venv
	$(BIN)/pytest -q tests/integration $(PYTEST_ARGS)

compat: deps venv
	$(BIN)/pytest -q tests/compat $(PYTEST_ARGS)

# Everything: lint, types, the host suites, then the kernel suite (in a QEMU
# guest when this kernel has no ip_vs), then the Debian package and the pip
# install on clean Debian 12 and 13 roots (mk/deb.mk; tests/install/ runs there,
# not under pytest). Topic makefiles in mk/ add test-* targets.
test: deps deps-checks deps-routing venv lint typecheck
	$(BIN)/pytest -q tests --ignore=tests/kernel --ignore=tests/install $(PYTEST_ARGS)
	$(MAKE) test-kernel
	$(MAKE) test-install

# The main job: the two-site anycast lab (mk/demo.mk, demo/README.md).
demo: lab

# Man pages: man/src/*.txt rendered to man/*.8 (committed; tests/unit/test_man.py
# fails when they are stale or a directive or command is undocumented).
man: venv
	$(BIN)/python scripts/build-man

# Topic makefiles (kernel test runner, lab, ...) add their own targets.
-include mk/*.mk

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
