"""Optional extras: check services whose Python client library only an extra of
the package installs (`pip install 'ldirectord-py[sql]'`; the Debian package has
them all). A configuration that needs a missing one is refused when it is read,
by `ldirectordctl validate` and at start, with the name of the extra, rather
than failing with an ImportError at every check."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Mapping

from ldirectord_py.checks import registry

# negotiate service -> (extra, the module its check imports): the check modules'
# descriptors say (checks/registry.py)
SERVICE_EXTRAS: Mapping[str, tuple[str, str]] = registry.SERVICE_EXTRAS


def _importable(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def missing_extra(
    checktype: str, service: str, importable: Callable[[str], bool] = _importable
) -> str | None:
    """The error text when this check needs an extra that is not installed."""
    if checktype not in ("negotiate", "combined") or service not in SERVICE_EXTRAS:
        return None
    extra, module = SERVICE_EXTRAS[service]
    if importable(module):
        return None
    return (
        f"service = {service} needs the Python module {module}, which is not installed: "
        f"install the '{extra}' extra (pip install 'ldirectord-py[{extra}]')"
    )
