# The anycast lab (demo/, demo/README.md): two sites announce one anycast VIP
# through GoBGP, a BIRD router picks the nearer one, a client's traffic follows
# when a site's backends die and when its load balancer dies. `make lab` installs
# what it needs, runs it (in the QEMU guest of scripts/ipvs-vm/ where this kernel
# has no ip_vs) and leaves the summary, timeline and plot in demo-output/.
#   make lab DEMO_ARGS=--short             the shorter run the kernel test uses
#   make lab DEMO_ARGS="--output DIR"      elsewhere than demo-output/
#   make demo GOBGPD=4.8.0                 the sites run gobgpd 4.8.0 (GoBGP's 4.x API;
#                                          fetched by deps-routing), or GOBGPD=/path/gobgpd

DEMO_ARGS ?=
GOBGPD ?=

.PHONY: lab

# deps: ipvsadm, iproute2 (ip, tc); deps-kernel: qemu, busybox-static (the
# backends' httpd) and the guest kernel; deps-routing: gobgpd, bird2.
lab: deps deps-kernel deps-routing venv
	$(BIN)/python -m demo.lab $(if $(GOBGPD),--gobgpd $(GOBGPD)) $(DEMO_ARGS)
