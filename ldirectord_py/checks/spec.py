"""CheckSpec: everything one check needs, taken from a virtual and one of its reals."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ldirectord_py.checks import registry as _registry

if TYPE_CHECKING:
    from ldirectord_py.checks.registry import CheckType, Service
    from ldirectord_py.config.model import Real, Virtual


@dataclass(frozen=True)
class CheckSpec:
    """One check of one real, with every value already effective.

    Timeouts and the interval are floats so tests can use sub-second values; the
    configuration only ever produces whole seconds.
    """

    identity: str
    checktype: CheckType  # connect negotiate external external-perl ping on off combined
    service: Service
    protocol: str  # tcp udp fwm (the virtual's)
    family: int  # 4 or 6
    address: str  # the real's address, unbracketed
    port: int  # the real's port (0 for fwmark reals without one)
    checkport: int | None  # the port checks use (spec 2.6); None if none is known
    virtual_address: str | None  # the VIP, unbracketed (None for fwmark virtuals)
    virtual_port: int
    fwmark: int | None
    request: str = "/"
    receive: str = ""
    url: str = ""
    httpmethod: str = "GET"
    virtualhost: str | None = None
    login: str = ""
    passwd: str = ""
    database: str = ""
    secret: str = ""
    checkcommand: str = "/bin/true"
    checktimeout: float = 5.0
    negotiatetimeout: float = 30.0
    checkcount: int = 1
    checkinterval: float = 10.0
    num_connects: int = 0

    def __post_init__(self) -> None:
        # words (a test's strings) become the enums: a word no check module serves
        # is refused here, where the spec is made
        if type(self.checktype) is not _registry.CheckType:
            object.__setattr__(self, "checktype", _registry.checktype_of(self.checktype))
        if type(self.service) is not _registry.Service:
            object.__setattr__(self, "service", _registry.service_of(self.service))

    @classmethod
    def for_real(cls, virtual: Virtual, real: Real) -> CheckSpec:
        return cls(
            identity=virtual.check_identity(real),
            checktype=_registry.checktype_of(virtual.checktype),
            service=_registry.service_of(virtual.service),
            protocol=virtual.protocol,
            family=real.family,
            address=real.address,
            port=real.port,
            checkport=virtual.checkport_for(real),
            virtual_address=virtual.address,
            virtual_port=virtual.port,
            fwmark=virtual.fwmark,
            request=virtual.request_for(real),
            receive=virtual.receive_for(real),
            url=virtual.url_for(real),
            httpmethod=virtual.httpmethod.upper(),
            virtualhost=virtual.virtualhost,
            login=virtual.login,
            passwd=virtual.passwd,
            database=virtual.database,
            secret=virtual.secret,
            checkcommand=virtual.checkcommand,
            checktimeout=float(virtual.checktimeout),
            negotiatetimeout=float(virtual.negotiatetimeout),
            checkcount=virtual.checkcount,
            checkinterval=float(virtual.checkinterval),
            num_connects=virtual.num_connects,
        )

    @functools.cached_property
    def host(self) -> str:
        """The real's address as the original prints it (IPv6 in brackets)."""
        from ldirectord_py.config.model import bracketed  # the config imports this module

        return bracketed(self.address, 6 if self.family == 6 else 4)

    @property
    def external_args(self) -> tuple[str, str, str, str]:
        """`<vip|fwmark> <vport> <rip> <rport>`, as the original passes them."""
        if self.fwmark is not None:
            vip = str(self.fwmark)
        else:
            from ldirectord_py.config.model import bracketed  # as in host

            vip = bracketed(self.virtual_address or "", 6 if self.family == 6 else 4)
        return (vip, str(self.virtual_port), self.host, str(self.port))
