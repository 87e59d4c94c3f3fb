#!/bin/sh
# Install the Debian packages the test suite and the lab need, if any is missing.
# Idempotent and quiet when everything is there; run as root (CI and developers are root).
set -eu
installed=$(sh "$(dirname "$0")/apt-missing.sh" install-deps \
	ldirectord resource-agents libxml2-utils ipvsadm iproute2 procps psmisc util-linux perl \
	systemd groff-base man-db zsh prometheus)
# The Debian package may start its own service; the test suite owns ldirectord instances.
case "$installed" in *ldirectord*)
	if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
		systemctl disable --now ldirectord.service >/dev/null 2>&1 || true
	fi
	;;
esac
# Only promtool is wanted (tests/unit/test_metrics_promtool.py); the server must not run.
case "$installed" in *prometheus*)
	if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
		systemctl disable --now prometheus.service >/dev/null 2>&1 || true
	fi
	;;
esac
exit 0
