# Kernel tests: tests/kernel against a real ip_vs. Where the host kernel has no
# ip_vs (this project's machines, CI), scripts/ipvs-vm/run boots one throw-away
# QEMU guest with Debian's stock kernel and runs pytest inside it.
# Knobs: see scripts/ipvs-vm/README.md (IPVS_VM_TIMEOUT, IPVS_VM_CACHE, ...).

# Inside the guest every Python import costs 20-35x its native time: loading
# the hypothesis plugin alone takes ~10-20 s there, and no kernel test uses it.
KERNEL_PYTEST_ARGS ?= -p no:hypothesispytest

.PHONY: deps-kernel test-kernel

deps-kernel:
	sh scripts/install-kernel-deps.sh

test-kernel: deps deps-kernel deps-routing venv
	scripts/ipvs-vm/run $(BIN)/pytest -q $(KERNEL_PYTEST_ARGS) tests/kernel $(PYTEST_ARGS)
