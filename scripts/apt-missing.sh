#!/bin/sh
# Shared by the install-*-deps scripts: install whichever of the given Debian
# packages are missing, quietly, and print their names (nothing if none was).
# usage: sh scripts/apt-missing.sh WHO PACKAGE...   (WHO prefixes messages)
set -eu
who=$1
shift
missing=""
for p in "$@"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "$who: missing Debian packages:$missing (run as root, or: apt-get install$missing)" >&2
	exit 1
fi
echo "$who: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
# Other sessions on the machine may hold the dpkg lock for a while.
apt-get update -q -o DPkg::Lock::Timeout=600 >/dev/null
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=600 $missing >/dev/null
echo "$missing"
