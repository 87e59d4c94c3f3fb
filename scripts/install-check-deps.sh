#!/bin/sh
# Debian packages for tests/checks: the real daemons each negotiate check is tested
# against. Idempotent and quiet when everything is there; run as root.
#
# The test suite starts its own throw-away instances of these daemons on unusual
# loopback ports with configs and data dirs under a temporary directory; the
# packages' own system services are stopped and disabled here if the package
# started them (Debian's policy-rc.d may already have prevented that).
set -eu
PACKAGES="nginx dnsmasq-base vsftpd exim4-daemon-light dovecot-imapd dovecot-pop3d
slapd ldap-utils mariadb-server postgresql freeradius openssl perl libauthen-radius-perl
iproute2 util-linux"
# shellcheck disable=SC2086 # one word per package
missing=$(sh "$(dirname "$0")/apt-missing.sh" install-check-deps $PACKAGES)
[ -z "$missing" ] && exit 0
# Never leave the services of the packages installed here running or enabled: the
# tests run their own instances. (Services of packages that were already there are
# someone else's and left alone.)
services=""
for p in $missing; do
	case "$p" in
	nginx | vsftpd | slapd | freeradius) services="$services $p" ;;
	exim4-daemon-light) services="$services exim4" ;;
	dovecot-*) services="$services dovecot" ;;
	mariadb-server) services="$services mariadb" ;;
	postgresql) services="$services postgresql" ;;
	esac
done
for s in $services; do
	if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
		systemctl disable --now "$s.service" >/dev/null 2>&1 || true
	elif [ -x "/etc/init.d/$s" ]; then
		/etc/init.d/"$s" stop >/dev/null 2>&1 || true
		update-rc.d "$s" disable >/dev/null 2>&1 || true
	fi
done
exit 0
