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

# The GoBGP gRPC modules are generated from the .proto when the package is
# built (setup.py): rebuild the venv's editable install when it changes.
$(BIN)/.installed: ldirectord_py/routing/proto/gobgp_api.proto

# A hung load balancer dropped by BFD vs. the BGP hold time (bench/README.md, "BFD").
.PHONY: bench-bfd
bench-bfd: deps-routing venv
	$(BIN)/python bench/bfd_failover.py
