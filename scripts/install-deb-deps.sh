#!/bin/sh
# Debian packages for `make deb` and `make test-install` (mk/deb.mk):
#   debhelper, dpkg-dev  build ldirectord-py_*.deb with dpkg-buildpackage (dh)
#   python3-venv         the throw-away build venv (python -m build, pip)
#   mmdebstrap           the clean Debian 12 and 13 roots of the install test
#   debian-archive-keyring  verifies the archive mmdebstrap and apt fetch from
#   util-linux           unshare (the roots' tests run in a network namespace)
#   xz-utils, zstd       pack the cached roots under /var/tmp
# Idempotent and quiet when everything is there; run as root.
set -eu
sh "$(dirname "$0")/apt-missing.sh" install-deb-deps \
	debhelper dpkg-dev python3-venv mmdebstrap debian-archive-keyring util-linux \
	zstd >/dev/null
