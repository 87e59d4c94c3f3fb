"""CheckSpec: everything one check needs, taken from a virtual and one of its reals."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    # the registry and the config both import this module's users: imported
    # where used, so that config/model.py may derive its tables from the registry
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
        # the config's words (and tests' strings) become the enums: a value no check
        # module serves is refused here, where the spec is made
        from ldirectord_py.checks.registry import CheckType, Service

        if type(self.checktype) is not CheckType:
            object.__setattr__(self, "checktype", CheckType(self.checktype))
        if type(self.service) is not Service:
            object.__setattr__(self, "service", Service(self.service))

    @classmethod
    def for_real(cls, virtual: Virtual, real: Real) -> CheckSpec:
        from ldirectord_py.checks.registry import CheckType, Service

        return cls(
            identity=virtual.check_identity(real),
            checktype=CheckType(virtual.checktype),
            service=Service(virtual.service),
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

    @property
    def host(self) -> str:
        """The real's address as the original prints it (IPv6 in brackets)."""
        from ldirectord_py.config.model import bracketed

        return bracketed(self.address, 6 if self.family == 6 else 4)

    @property
    def external_args(self) -> tuple[str, str, str, str]:
        """`<vip|fwmark> <vport> <rip> <rport>`, as the original passes them."""
        if self.fwmark is not None:
            vip = str(self.fwmark)
        else:
            from ldirectord_py.config.model import bracketed

            vip = bracketed(self.virtual_address or "", 6 if self.family == 6 else 4)
        return (vip, str(self.virtual_port), self.host, str(self.port))
