# Anycast route control (ldirectord_py/routing): gobgpd and BIRD from Debian.
# tests/integration/routing starts its own instances in network namespaces.

.PHONY: deps-routing test-routing bench-routing

deps-routing:
	sh scripts/install-routing-deps.sh

# The API-dependent tests run against gobgpd 3.10.0 (Debian 12), 3.36.0 and
# 4.8.0 (fetched by deps-routing into /var/tmp, see scripts/fetch-gobgpd.sh).
test-routing: deps-routing venv
	$(BIN)/pytest -q tests/unit/routing tests/integration/routing \
		tests/faults/test_isolation_routing_rib.py $(PYTEST_ARGS)

# Figures for bench/README.md, "Anycast" (needs root; about a minute per release).
bench-routing: deps-routing venv
	$(BIN)/python bench/routing_propagation.py --gobgpd 3.10.0,3.36.0,4.8.0

# The GoBGP gRPC modules (3.x and 4.x API) are generated from the .proto files
# when the package is built (setup.py): rebuild the venv's editable install
# when one changes.
$(BIN)/.installed: $(wildcard ldirectord_py/routing/proto/*.proto)

# A hung load balancer dropped by BFD vs. the BGP hold time (bench/README.md, "BFD").
.PHONY: bench-bfd
bench-bfd: deps-routing venv
	$(BIN)/python bench/bfd_failover.py
