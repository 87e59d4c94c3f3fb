#!/bin/sh
# Fetch the gobgpd releases the routing tests run against besides Debian 12's
# own 3.10.0 (installed by install-routing-deps.sh):
#   3.36.0  from Debian 13 "trixie"
#   4.8.0   from Debian unstable "sid"
# as .deb files from the Debian archive, unpacked with `dpkg -x` into
#   $GOBGPD_CACHE/<version>/usr/bin/{gobgpd,gobgp}   (default /var/tmp/ldirectord-py-gobgpd)
# The binaries are Go programs linked only against libc and run on Debian 12.
#
# apt runs with a private sources list, state and cache directory under the
# cache (-o Dir::Etc::SourceList, Dir::State, Dir::Cache): the machine's own apt
# sources, lists and dpkg database are read-only to this script and unchanged.
# The archive's signatures are checked with the machine's Debian keyring.
#
# Usage: sh scripts/fetch-gobgpd.sh [VERSION...]      (default: all of them)
# Idempotent and quiet when the binaries are there; run as root or as a user
# who may write the cache. A version the archive no longer serves is an error
# that lists what it serves now.
set -eu
CACHE=${GOBGPD_CACHE:-/var/tmp/ldirectord-py-gobgpd}
ALL="3.36.0 4.8.0"
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

suite_of() {
	case "$1" in
	3.36.0) echo trixie ;;
	4.8.0) echo sid ;;
	*) echo "fetch-gobgpd: unknown version $1 (known: $ALL)" >&2; exit 2 ;;
	esac
}

have() {
	bin="$CACHE/$1/usr/bin/gobgpd"
	[ -x "$bin" ] && "$bin" --version 2>/dev/null | grep -qx "gobgpd version $1"
}

versions=${*:-$ALL}
need=""
for v in $versions; do
	suite_of "$v" >/dev/null
	have "$v" || need="$need $v"
done
[ -z "$need" ] && exit 0

APT="$CACHE/apt"
mkdir -p "$APT/state/lists/partial" "$APT/cache/archives/partial" "$APT/debs"
: >"$APT/sources.list"
for s in trixie sid; do
	echo "deb [signed-by=$KEYRING] $MIRROR $s main" >>"$APT/sources.list"
done
arch=$(dpkg --print-architecture)
set -- -o Dir::Etc::SourceList="$APT/sources.list" -o Dir::Etc::SourceParts=/dev/null \
	-o Dir::State="$APT/state" -o Dir::State::status=/var/lib/dpkg/status \
	-o Dir::Cache="$APT/cache" -o Acquire::Languages=none -o APT::Architectures="$arch" \
	-o APT::Sandbox::User=root -qq
echo "fetch-gobgpd: reading the trixie and sid package lists (private apt state in $APT)" >&2
apt-get "$@" update

for v in $need; do
	suite=$(suite_of "$v")
	# The newest Debian revision of this upstream version (3.36.0-2+b3, ...).
	deb_version=$(apt-cache "$@" madison gobgpd | awk -v v="$v" -v s="$suite" \
		'$3 ~ "^" v "-" && $0 ~ " " s "/" {print $3; exit}')
	if [ -z "$deb_version" ]; then
		echo "fetch-gobgpd: Debian $suite no longer serves gobgpd $v; it serves:" >&2
		apt-cache "$@" madison gobgpd >&2
		exit 1
	fi
	rm -f "$APT/debs"/gobgpd_*.deb
	(cd "$APT/debs" && apt-get "$@" download "gobgpd=$deb_version")
	rm -rf "$CACHE/$v.tmp"
	dpkg -x "$APT/debs"/gobgpd_*.deb "$CACHE/$v.tmp"
	rm -rf "$CACHE/$v" && mv "$CACHE/$v.tmp" "$CACHE/$v"
	rm -f "$APT/debs"/gobgpd_*.deb
	have "$v" || { echo "fetch-gobgpd: $CACHE/$v/usr/bin/gobgpd does not report $v" >&2; exit 1; }
	echo "fetch-gobgpd: gobgpd $v (Debian $suite, $deb_version) in $CACHE/$v/usr/bin" >&2
done
