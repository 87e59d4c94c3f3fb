"""The check types: one line per check module. Every table about checks derives
from this list (the config's SERVICES, CHECKTYPES, SERVICE_PORTS and
SERVICE_EXTRAS, the CheckType and Service enums, the runner's dispatch, the
scheduler's fd costs).

A new check type or negotiate service is a new module in checks/ exporting a
`DESCRIPTOR` (descriptor.py) plus its line here; tests/checks/test_registry.py
fails while a descriptor is incomplete or a config word has no descriptor.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import Final

from ldirectord_py.checks import (
    connect,
    dns,
    external,
    ftp,
    http,
    imap,
    ldap,
    nntp,
    none,
    on,
    oracle,
    ping,
    pop,
    radius,
    simpletcp,
    sip,
    smtp,
    sql,
)
from ldirectord_py.checks.descriptor import CheckDescriptor

DESCRIPTORS: tuple[CheckDescriptor, ...] = (
    connect.DESCRIPTOR,
    ping.DESCRIPTOR,
    external.DESCRIPTOR,
    on.DESCRIPTOR,
    http.DESCRIPTOR,
    ftp.DESCRIPTOR,
    smtp.DESCRIPTOR,
    pop.DESCRIPTOR,
    imap.DESCRIPTOR,
    nntp.DESCRIPTOR,
    ldap.DESCRIPTOR,
    dns.DESCRIPTOR,
    sql.DESCRIPTOR,
    oracle.DESCRIPTOR,
    radius.DESCRIPTOR,
    sip.DESCRIPTOR,
    simpletcp.DESCRIPTOR,
    none.DESCRIPTOR,
)

# Checktypes that are ways of running the descriptors rather than checks of their
# own: negotiate runs the service's check, combined (checktype=N) alternates
# negotiate and connect (runner.py), off is never checked.
NEGOTIATE_WORD = "negotiate"
OFF_WORD = "off"
COMBINED_WORD = "combined"  # from checktype=N, never written as a word

BY_CHECKTYPE: Mapping[str, CheckDescriptor] = MappingProxyType(
    {word: d for d in DESCRIPTORS for word in d.checktypes}
)
BY_SERVICE: Mapping[str, CheckDescriptor] = MappingProxyType(
    {word: d for d in DESCRIPTORS for word in d.services}
)

# The config words: `checktype=` (besides a number) and `service=`.
CHECKTYPE_WORDS: tuple[str, ...] = (*BY_CHECKTYPE, NEGOTIATE_WORD, OFF_WORD)
SERVICE_WORDS: tuple[str, ...] = tuple(BY_SERVICE)
# The well-known port of each negotiate service.
SERVICE_PORTS: Mapping[str, int] = MappingProxyType(
    {service: port for d in DESCRIPTORS for service, port in d.default_ports.items()}
)
# service -> (package extra, module) for the services whose library is an extra.
SERVICE_EXTRAS: Mapping[str, tuple[str, str]] = MappingProxyType(
    {service: extra for d in DESCRIPTORS for service, extra in d.extras.items()}
)


def _members(words: tuple[str, ...]) -> dict[str, str]:
    return {word.upper().replace("-", "_"): word for word in words}


# StrEnums built from the words (a member equals its config text); the members
# the core dispatches on are named below, typed.
CheckType = StrEnum("CheckType", _members((*CHECKTYPE_WORDS, COMBINED_WORD)))  # type: ignore[misc]
Service = StrEnum("Service", _members(SERVICE_WORDS))  # type: ignore[misc]
CheckType.__doc__ = "The checktype of a CheckSpec (its config word; combined for checktype=N)."
Service.__doc__ = "The negotiate service of a CheckSpec (its config word)."

_CHECKTYPE_OF: dict[str, CheckType] = {member.value: member for member in CheckType}
_SERVICE_OF: dict[str, Service] = {member.value: member for member in Service}


def checktype_of(word: str) -> CheckType:
    """The CheckType of a config word (ValueError naming it if none)."""
    member = _CHECKTYPE_OF.get(word)
    return member if member is not None else CheckType(word)


def service_of(word: str) -> Service:
    """The Service of a config word (ValueError naming it if none)."""
    member = _SERVICE_OF.get(word)
    return member if member is not None else Service(word)


NEGOTIATE: Final[CheckType] = CheckType(NEGOTIATE_WORD)
OFF: Final[CheckType] = CheckType(OFF_WORD)
COMBINED: Final[CheckType] = CheckType(COMBINED_WORD)
CONNECT: Final[CheckDescriptor] = connect.DESCRIPTOR  # the connect half of combined
NO_SERVICE: Final[CheckDescriptor] = none.DESCRIPTOR  # an unknown service negotiates nothing


def for_service(service: str) -> CheckDescriptor:
    """The descriptor checking `service` (the none service for an unknown one)."""
    return BY_SERVICE.get(service, NO_SERVICE)


def for_checktype(checktype: str, protocol: str) -> CheckDescriptor | None:
    """The descriptor of a checktype other than negotiate and combined, on a
    virtual of `protocol` (None: never checked)."""
    descriptor = BY_CHECKTYPE.get(checktype)
    if descriptor is not None and descriptor.udp is not None and protocol == "udp":
        return descriptor.udp
    return descriptor


def descriptor_for(checktype: str, service: str, protocol: str) -> CheckDescriptor | None:
    """The descriptor whose check runs for these config words (None: never
    checked). Negotiate and combined: the service's, as a combined check's first
    check, and every one after a failure, negotiates (runner.py)."""
    if checktype in (NEGOTIATE, COMBINED):
        return for_service(service)
    return for_checktype(checktype, protocol)


def fd_cost(checktype: str, service: str, protocol: str) -> int:
    """The most descriptors one check holds at once."""
    if checktype == NEGOTIATE:
        return for_service(service).fd_cost
    if checktype == COMBINED:
        return max(CONNECT.fd_cost, for_service(service).fd_cost)
    descriptor = for_checktype(checktype, protocol)
    return 1 if descriptor is None else descriptor.fd_cost
