#!/bin/sh
# Install the Debian packages the test suite and the lab need, if any is missing.
# Idempotent and quiet when everything is there; run as root (CI and developers are root).
set -eu
PACKAGES="ldirectord resource-agents libxml2-utils ipvsadm iproute2 procps psmisc util-linux perl"
missing=""
for p in $PACKAGES; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "install-deps: missing Debian packages:$missing (run as root, or: apt-get install$missing)" >&2
	exit 1
fi
echo "install-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $missing >/dev/null
# The Debian package may start its own service; the test suite owns ldirectord instances.
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
	systemctl disable --now ldirectord.service >/dev/null 2>&1 || true
fi
