"""The `real=` and `fallback=` grammars (spec 2.5) and their resolution.

The patterns are searched, not anchored, as in the original: that is what decides
which odd lines parse, and legacy files rely on it. One deliberate difference:
`a->b` ranges compare addresses as numbers (the original compares them as decimal
strings and silently cuts ranges short; quirk 13).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from dataclasses import dataclass

from ldirectord_py.config.model import Fallback, Family, Forward, Real
from ldirectord_py.config.resolve import Resolver
from ldirectord_py.config.values import BadValue

_HOST = r"(?:\d+\.\d+\.\d+\.\d+|[A-Za-z0-9.-]+|\[[0-9A-fa-f:]+\])"
_REAL = re.compile(
    rf"({_HOST})(->({_HOST}))?(:(\d+|[A-Za-z0-9-_]+))?\s+(.*)",
    re.ASCII,
)
_FORWARD = re.compile(r"(\w+)(.*)", re.ASCII)
_WEIGHT = re.compile(r"\s+(\d+)(.*)", re.ASCII)
_REQUEST_RECEIVE = re.compile(r'\s+"(.*)"[, ]\s*"(.*)"(.*)', re.ASCII)
_LOWER = re.compile(r"\s+l:(\d+)(.*)", re.ASCII)
_UPPER = re.compile(r"\s+u:(\d+)(.*)", re.ASCII)
_PORT_SUFFIX = re.compile(r"(:(\d+|[A-Za-z0-9-_]+))?$", re.ASCII)
_BRACKETED = re.compile(r"\[(.*)\]")

FORWARDS = {"gate": Forward.GATE, "masq": Forward.MASQ, "ipip": Forward.IPIP}

MAX_RANGE = 65536
"""The most addresses one `a->b` range may expand to (a /16). The original never
expands more than a few by accident because it compares decimal strings; with the
numeric comparison a typo such as `1.2.3.4:80->1.2.3.9:80` (read as 0.0.0.80 to
1.2.3.9) would otherwise ask for millions of reals."""


def resolve_host(resolver: Resolver, name: str, family: Family) -> str | None:
    """Like the original's ld_gethostbyname: brackets anywhere are stripped first."""
    m = _BRACKETED.search(name)
    if m:
        name = m.group(1)
    return resolver.host(name, family)


def resolve_port(resolver: Resolver, name: str, protocol: str) -> str | None:
    """A number 0..65535 is kept as written; a name goes through getservbyname."""
    if re.fullmatch(r"[0-9]+\n?", name, re.ASCII):
        return name.rstrip("\n") if int(name) < 65536 else None
    port = resolver.service(name, protocol)
    return None if port is None else str(port)


def split_port(hostport: str) -> tuple[str, str | None]:
    """`host:port` into host and port (the port part is optional)."""
    m = _PORT_SUFFIX.search(hostport)
    assert m is not None  # the pattern can match the empty string at the end
    return hostport[: m.start()] + hostport[m.end() :], m.group(2)


def _forward(word: str) -> Forward:
    if word not in FORWARDS:
        raise BadValue("forward method must be gate, masq or ipip")
    return FORWARDS[word]


def parse_reals(text: str, line: int, family: Family, resolver: Resolver) -> list[Real]:
    """One `real=` value: one Real, or one per address of an IPv4 range."""
    m = _REAL.search(text)
    if m is None:
        raise BadValue("invalid address for real server (wrong format)")
    first_name, last_name = m.group(1), m.group(3)
    port_name = m.group(5) if m.group(5) is not None else "0"
    flags = m.group(6)
    first = resolve_host(resolver, first_name, family)
    if first is None:
        raise BadValue(f"invalid address ({first_name}) for real server (could not resolve host)")
    port = resolve_port(resolver, port_name, "")
    if port is None:
        raise BadValue(f"invalid port ({port_name}) for real server (could not resolve port)")
    if last_name is None:
        return [_real(first, family, int(port), flags, line)]
    last = resolve_host(resolver, last_name, family)
    if last is None:
        raise BadValue(
            f"invalid address ({last_name}) for real server (could not resolve end host)"
        )
    if family == 6:
        raise BadValue("Address range for IPv6 is not supported yet")
    first_int = int(ipaddress.IPv4Address(first))
    last_int = int(ipaddress.IPv4Address(last))
    if first_int > last_int:
        raise BadValue(
            f"Invalid Range: {first}-{last}: First value must be greater than or "
            "equal to the second value"
        )
    count = last_int - first_int + 1
    if count > MAX_RANGE:
        raise BadValue(
            f"Invalid Range: {first}-{last}: {count} addresses, more than the "
            f"{MAX_RANGE} one range may hold"
        )
    template = _real(first, family, int(port), flags, line)
    return [
        dataclasses.replace(template, address=str(ipaddress.IPv4Address(n)))
        for n in range(first_int, last_int + 1)
    ]


def _real(address: str, family: Family, port: int, flags: str, line: int) -> Real:
    """The words after the address: forward [weight] ["req", "recv"] [l:N] [u:N]."""
    m = _FORWARD.search(flags)
    if m is None:
        raise BadValue("forward method must be gate, masq or ipip")
    forward = _forward(m.group(1))
    rest = m.group(2)
    weight = 1
    if w := _WEIGHT.search(rest):
        weight, rest = int(w.group(1)), w.group(2)
    request = receive = None
    if rr := _REQUEST_RECEIVE.search(rest):
        request, receive, rest = rr.group(1), rr.group(2), rr.group(3)
        if not request.startswith("/"):
            request = "/" + request
    lower = upper = 0
    if lo := _LOWER.search(rest):
        lower, rest = int(lo.group(1)), lo.group(2)
    if up := _UPPER.search(rest):
        upper, rest = int(up.group(1)), up.group(2)
    if re.search(r"\S", rest):
        raise BadValue(f'Invalid real server line, around "{rest}"')
    return Real(
        address=address,
        family=family,
        port=port,
        forward=forward,
        weight=weight,
        line=line,
        request=request,
        receive=receive,
        lower_threshold=lower,
        upper_threshold=upper,
    )


@dataclass(frozen=True)
class FallbackSpec:
    """A fallback as written, before resolution (the port may be a service name)."""

    server: str
    port: str | None
    forward: Forward
    line: int


def parse_fallback(text: str, line: int, default_port: str | None) -> FallbackSpec:
    """`host[:port] [gate|masq|ipip]`; the forwarding method defaults to gate."""
    server_part = text
    forward_word: str | None = None
    m = re.search(r"(\S+)(\s+(\S+))?\s*$", text, re.ASCII)
    if m:
        forward_word, server_part = m.group(3), m.group(1)
    server, port = split_port(server_part)
    if port is None:
        port = default_port
    forward = _forward(forward_word) if forward_word not in (None, "", "0") else Forward.GATE
    return FallbackSpec(server, port, forward, line)


def resolve_fallback(
    spec: FallbackSpec, protocol: str, family: Family, resolver: Resolver
) -> Fallback:
    """Resolve the host in the block's family and the port for `protocol`.

    A fallback without a port gets port 0 here; callers that inherit a global
    fallback give it the virtual's port (the original's "anonymous" fallback)."""
    address = resolve_host(resolver, spec.server, family)
    if address is None:
        version = "IPv6" if family == 6 else "IPv4"
        raise BadValue(
            f"invalid {version} address or could not resolve for fallback server: {spec.server}"
        )
    port = 0
    if spec.port not in (None, "", "0"):
        assert spec.port is not None
        resolved = resolve_port(resolver, spec.port, protocol)
        if resolved is None or resolved in ("", "0"):
            raise BadValue("invalid port for fallback server")
        port = int(resolved)
    return Fallback(address=address, family=family, port=port, forward=spec.forward, line=spec.line)
