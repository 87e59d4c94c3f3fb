#!/bin/sh
# Debian packages for anycast route control and its tests: gobgpd (the BGP
# speaker our route writer drives over gRPC, and the `gobgp` CLI), bird2 (the
# router the tests peer with, and the load-balancer-side BIRD of the interface
# method), frr (the second router, to test examples/router-frr.conf), iproute2
# (network namespaces). Idempotent and quiet when everything
# is there; run as root.
#
# The tests start their own gobgpd and BIRD instances inside network namespaces
# with their own configs and control sockets (tests/integration/routing/lab.py).
# The packages' system services (bird, gobgpd, frr) are stopped and
# disabled here when this script installed the package: a system BIRD or gobgpd
# must not hold port 179 or a default control socket on the test machine.
#
# The routing tests also run against gobgpd 3.36.0 (Debian 13) and 4.8.0
# (Debian unstable): fetch-gobgpd.sh puts them in a cache under /var/tmp
# without touching the machine's apt sources.
set -eu
here=$(dirname "$0")
sh "$here/fetch-gobgpd.sh"
missing=$(sh "$here/apt-missing.sh" install-routing-deps gobgpd bird2 frr iproute2)
[ -z "$missing" ] && exit 0
for p in $missing; do
	case "$p" in
	bird2) s=bird ;;
	gobgpd) s=gobgpd ;;
	frr) s=frr ;;
	*) continue ;;
	esac
	if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
		systemctl disable --now "$s.service" >/dev/null 2>&1 || true
	elif [ -x "/etc/init.d/$s" ]; then
		/etc/init.d/"$s" stop >/dev/null 2>&1 || true
		update-rc.d "$s" disable >/dev/null 2>&1 || true
	fi
done
exit 0
