# Anycast route control (ldirectord_py/routing): gobgpd and BIRD from Debian.
# tests/integration/routing starts its own instances in network namespaces.

.PHONY: deps-routing test-routing bench-routing

deps-routing:
	sh scripts/install-routing-deps.sh

test-routing: deps-routing venv
	$(BIN)/pytest -q tests/unit/routing tests/integration/routing $(PYTEST_ARGS)

# Figures for bench/README.md, "Anycast" (needs root; about a minute).
bench-routing: deps-routing venv
	$(BIN)/python bench/routing_propagation.py

# The GoBGP gRPC modules (3.x and 4.x API) are generated from the .proto files
# when the package is built (setup.py): rebuild the venv's editable install
# when one changes.
$(BIN)/.installed: $(wildcard ldirectord_py/routing/proto/*.proto)
