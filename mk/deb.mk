# The Debian package and the install test (debian/, tests/install/,
# docs/install.md).
#   make deb            out/deb/ldirectord-py_<version>_amd64.deb, built with
#                       dpkg-buildpackage from a copy of this tree
#   make test-install   that package (and the documented pip install) on clean
#                       Debian 12 and Debian 13 roots made by mmdebstrap, cached
#                       in /var/tmp/ldirectord-py-roots
#   make dist           the sdist and the wheel built from it, in out/dist
# Knobs: INSTALL_TEST_RELEASES (default "bookworm trixie"), LDIRECTORD_PY_ROOT_CACHE.

DEB_OUT := out/deb
INSTALL_TEST_RELEASES ?= bookworm trixie

.PHONY: deps-deb deb dist test-install

deps-deb:
	sh scripts/install-deb-deps.sh

# The tree as git sees it (tracked and new files, nothing ignored: no .venv,
# no generated modules), copied and built apart, so that dpkg-buildpackage's
# output (written to the parent directory) stays inside out/.
deb: deps-deb
	rm -rf $(DEB_OUT) && mkdir -p $(DEB_OUT)/src
	git ls-files -z --cached --others --exclude-standard | \
		xargs -0 tar -cf - --no-recursion --ignore-failed-read | tar -xf - -C $(DEB_OUT)/src
	cd $(DEB_OUT)/src && dpkg-buildpackage -b -us -uc -Zxz > ../build.log 2>&1 || \
		{ tail -40 ../build.log; exit 1; }
	@ls -l $(DEB_OUT)/*.deb

dist: deps-deb
	rm -rf out/dist && mkdir -p out/dist
	$(PYTHON) -m venv out/dist/.venv
	out/dist/.venv/bin/pip install -q build
	out/dist/.venv/bin/python -m build --outdir out/dist .

test-install: deps-deb deb
	sh tests/install/run $(DEB_OUT) $(INSTALL_TEST_RELEASES)
