"""The registry of check types (checks/registry.py): every descriptor complete,
every check module listed, every word of the original's configuration served by a
descriptor, and the tables derived from it the same as the ones they replaced."""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil

import pytest

import ldirectord_py.checks as checks_pkg
from ldirectord_py.checks import CheckSpec, plan, registry
from ldirectord_py.checks.descriptor import CheckDescriptor, checktimeout
from ldirectord_py.checks.registry import CheckType, Service
from ldirectord_py.checks.scheduler import fd_cost
from ldirectord_py.config import extras, model, parse_text
from tests.checks.conftest import make_spec

# The original's words (ldirectord(8)): `checktype=` besides a number, `service=`.
ORIGINAL_CHECKTYPES = ("connect", "negotiate", "ping", "off", "on", "external", "external-perl")
ORIGINAL_SERVICES = (
    "dns", "ftp", "http", "https", "http_proxy", "imap", "imaps", "ldap", "ldaps", "mysql",
    "nntp", "none", "oracle", "pop", "pops", "radius", "pgsql", "simpletcp", "sip", "smtp",
    "submission",
)  # fmt: skip
# The well-known ports as they were written out in config/model.py before the registry.
ORIGINAL_PORTS = {
    "ftp": 21, "smtp": 25, "dns": 53, "http": 80, "pop": 110, "nntp": 119, "imap": 143,
    "ldap": 389, "https": 443, "submission": 587, "ldaps": 636, "imaps": 993, "pops": 995,
    "oracle": 1521, "radius": 1812, "http_proxy": 3128, "mysql": 3306, "sip": 5060,
    "pgsql": 5432,
}  # fmt: skip


@pytest.mark.parametrize("descriptor", registry.DESCRIPTORS, ids=lambda d: d.name)
def test_every_descriptor_is_complete(descriptor: CheckDescriptor) -> None:
    assert descriptor.problems() == []
    module = importlib.import_module(descriptor.check.__module__)
    assert module.DESCRIPTOR is descriptor, "a module exports its own descriptor"


def test_an_incomplete_descriptor_is_found_out() -> None:
    async def check(spec: CheckSpec, runtime: object) -> str:
        return "up"

    good = CheckDescriptor("x", check, checktimeout, 1, False, services=("x",))
    assert good.problems() == []
    assert dataclasses.replace(good, services=()).problems() == [
        "serves no checktype and no service"
    ]
    assert dataclasses.replace(good, name="").problems() == ["no name"]
    assert dataclasses.replace(good, fd_cost=-1).problems() == ["fd_cost -1 is negative"]
    assert dataclasses.replace(good, deadline=None).problems() == ["deadline is not callable"]
    assert dataclasses.replace(good, check=None).problems() == ["check is not callable"]
    assert dataclasses.replace(good, default_ports={"y": 1}).problems() == [
        "default port for 'y', which it does not serve"
    ]
    assert dataclasses.replace(good, default_ports={"x": 0}).problems() == [
        "default port 0 out of range"
    ]
    assert dataclasses.replace(good, extras={"y": ("e", "m")}).problems() == [
        "extra for 'y', which it does not serve"
    ]


def test_every_check_module_is_in_the_registry() -> None:
    """A module with a DESCRIPTOR that the registry does not list is half-added."""
    listed = {d.check.__module__ for d in registry.DESCRIPTORS}
    for info in pkgutil.iter_modules(checks_pkg.__path__):
        module = importlib.import_module(f"{checks_pkg.__name__}.{info.name}")
        if isinstance(getattr(module, "DESCRIPTOR", None), CheckDescriptor):
            assert module.__name__ in listed, f"{module.__name__} is not in registry.py"


def test_no_word_is_served_twice() -> None:
    checktypes = [w for d in registry.DESCRIPTORS for w in d.checktypes]
    services = [w for d in registry.DESCRIPTORS for w in d.services]
    assert len(checktypes) == len(set(checktypes))
    assert len(services) == len(set(services))
    assert not set(checktypes) & {"negotiate", "off", "combined"}


def test_the_config_tables_come_from_the_registry() -> None:
    """The original's words and ports are all there (a new module adds to them)."""
    assert set(model.CHECKTYPES) >= set(ORIGINAL_CHECKTYPES)
    assert set(model.SERVICES) >= set(ORIGINAL_SERVICES)
    assert set(model.CHECKTYPES) == set(registry.BY_CHECKTYPE) | {"negotiate", "off"}
    assert set(model.SERVICES) == set(registry.BY_SERVICE)
    assert dict(model.SERVICE_PORTS).items() >= ORIGINAL_PORTS.items()
    assert dict(model.PORT_SERVICES).items() >= {p: s for s, p in ORIGINAL_PORTS.items()}.items()
    assert (
        dict(extras.SERVICE_EXTRAS).items()
        >= {
            "mysql": ("sql", "aiomysql"),
            "pgsql": ("sql", "asyncpg"),
        }.items()
    )


def test_a_port_implies_one_service() -> None:
    ports = [p for d in registry.DESCRIPTORS for p in d.default_ports.values()]
    assert len(ports) == len(set(ports)), "two services claim one well-known port"


CONFIG = """
virtual=127.0.0.100:{port}
\treal=127.0.0.11:{port} gate
\tprotocol={protocol}
\tchecktype={checktype}
\tservice={service}
"""


def _spec(checktype: str, service: str, protocol: str = "tcp", port: int = 80) -> CheckSpec:
    text = CONFIG.format(checktype=checktype, service=service, protocol=protocol, port=port)
    config = parse_text(text, "test.cf", hostname="director", check_files=False)
    virtual = config.virtuals[0]
    return CheckSpec.for_real(virtual, virtual.reals[0])


@pytest.mark.parametrize("service", ORIGINAL_SERVICES)
def test_every_service_of_the_config_has_its_check(service: str) -> None:
    spec = _spec("negotiate", service)
    assert type(spec.service) is Service and spec.service == service
    assert type(spec.checktype) is CheckType and spec.checktype == "negotiate"
    kind, fn, _deadline = plan(spec)
    descriptor = registry.BY_SERVICE[service]
    assert kind == "negotiate" and fn is descriptor.check
    assert service in descriptor.services


@pytest.mark.parametrize("checktype", [c for c in ORIGINAL_CHECKTYPES if c != "negotiate"])
def test_every_checktype_of_the_config_has_its_check(checktype: str) -> None:
    spec = _spec(checktype, "none")
    assert type(spec.checktype) is CheckType and spec.checktype == checktype
    if checktype == "off":
        with pytest.raises(ValueError, match="never checked"):
            plan(spec)
        return
    _kind, fn, _deadline = plan(spec)
    assert fn is registry.BY_CHECKTYPE[checktype].check


def test_a_number_is_the_combined_checktype() -> None:
    spec = _spec("3", "http")
    assert spec.checktype is registry.COMBINED and spec.num_connects == 3


def test_a_word_no_module_serves_is_refused_where_the_spec_is_made() -> None:
    with pytest.raises(ValueError, match="'gopher' is not a valid Service"):
        make_spec(service="gopher")
    with pytest.raises(ValueError, match="'telnet' is not a valid CheckType"):
        make_spec(checktype="telnet")


@pytest.mark.parametrize(
    ("checktype", "service", "protocol", "cost"),
    [
        ("connect", "none", "tcp", 1),
        ("connect", "none", "udp", 0),  # pinged: the shared socket
        ("ping", "none", "tcp", 0),
        ("external", "none", "tcp", 2),
        ("external-perl", "none", "tcp", 2),
        ("on", "none", "tcp", 0),
        ("negotiate", "none", "tcp", 0),
        ("negotiate", "ftp", "tcp", 2),
        ("negotiate", "http", "tcp", 1),
        ("negotiate", "dns", "udp", 1),
        ("combined", "ftp", "tcp", 2),
        ("combined", "none", "tcp", 1),
        ("combined", "none", "udp", 1),  # its connect half is a socket connect()
        ("combined", "http", "tcp", 1),
    ],
)
def test_fd_costs(checktype: str, service: str, protocol: str, cost: int) -> None:
    spec = make_spec(checktype=checktype, service=service, protocol=protocol)
    assert fd_cost(spec) == cost


def test_slotted_deadlines_are_connect_and_http_only() -> None:
    slotted = {d.name for d in registry.DESCRIPTORS if d.slotted}
    assert slotted == {"connect", "http"}
