"""The kernel's connection table, as /proc/net/ip_vs_conn shows it.

Generic netlink has no command that lists connections; ipvsadm -c reads this file
too, so reading it here gives the same entries ipvsadm would list.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path

from ldirectord_py.ipvs.model import IPAddress

PROC_IP_VS_CONN = Path("/proc/net/ip_vs_conn")


@dataclass(frozen=True)
class Connection:
    """One entry of the connection table (a persistence template is one too)."""

    protocol: str  # as the kernel writes it: TCP, UDP, SCTP, IP...
    client_address: IPAddress
    client_port: int
    virtual_address: IPAddress
    virtual_port: int
    destination_address: IPAddress
    destination_port: int
    state: str
    expires: int  # seconds left
    pe_name: str | None = None
    pe_data: str | None = None


def _address(text: str) -> IPAddress:
    """IPv4 comes as 8 hex digits (C0000201), IPv6 as full colon-separated hex."""
    if ":" in text:
        return ipaddress.IPv6Address(text)
    return ipaddress.IPv4Address(int(text, 16))


def parse_ip_vs_conn(text: str) -> tuple[Connection, ...]:
    """Parse the text of /proc/net/ip_vs_conn (the header line is skipped)."""
    entries = []
    for line in text.splitlines()[1:]:
        fields = line.split(None, 10)
        if len(fields) < 9:
            continue
        proto, caddr, cport, vaddr, vport, daddr, dport, state, expires = fields[:9]
        entries.append(
            Connection(
                protocol=proto,
                client_address=_address(caddr),
                client_port=int(cport, 16),
                virtual_address=_address(vaddr),
                virtual_port=int(vport, 16),
                destination_address=_address(daddr),
                destination_port=int(dport, 16),
                state=state,
                expires=int(expires),
                pe_name=fields[9] if len(fields) > 9 else None,
                pe_data=fields[10].rstrip() if len(fields) > 10 else None,
            )
        )
    return tuple(entries)


def read_connections(path: Path = PROC_IP_VS_CONN) -> tuple[Connection, ...]:
    """The live connection table (empty when ip_vs holds no connections)."""
    return parse_ip_vs_conn(path.read_text())
