# The anycast lab (demo/, demo/README.md): two sites announce one anycast VIP
# through GoBGP, a BIRD router picks the nearer one, a client's traffic follows
# when a site's backends die and when its load balancer dies. `make lab` installs
# what it needs, runs it (in the QEMU guest of scripts/ipvs-vm/ where this kernel
# has no ip_vs) and leaves the summary, timeline and plot in demo-output/.
#   make lab DEMO_ARGS=--short             the shorter run the kernel test uses
#   make lab DEMO_ARGS="--output DIR"      elsewhere than demo-output/

DEMO_ARGS ?=

.PHONY: lab deps-lab

# gobgpd and bird2 come from scripts/install-routing-deps.sh (make deps-routing);
# qemu, busybox-static and the kernel's apt lists from install-kernel-deps.sh.
deps-lab: deps deps-kernel
	@if [ -f scripts/install-routing-deps.sh ]; then \
		sh scripts/install-routing-deps.sh; \
	else \
		sh scripts/apt-missing.sh deps-lab gobgpd bird2 >/dev/null; \
	fi

lab: deps-lab venv
	$(BIN)/python -m demo.lab $(DEMO_ARGS)
