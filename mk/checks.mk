# Health checks (ldirectord_py/checks): the real daemons the negotiate checks are
# tested against come from Debian packages; tests/checks starts its own instances.

.PHONY: deps-checks test-checks

deps-checks:
	sh scripts/install-check-deps.sh

test-checks: deps-checks venv
	$(BIN)/pytest -q tests/checks $(PYTEST_ARGS)
