"""The fault tests run the real `ldirectord` in the integration tests' sandbox (a
private /run, /etc/ha.d and /var/log in a mount namespace)."""

from tests.integration.conftest import sandbox  # noqa: F401 (the fixture)
