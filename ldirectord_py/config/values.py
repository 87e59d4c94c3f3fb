"""How the original reads directive values (spec 2.1): most numbers are the first
run of digits anywhere in the value, truth follows Perl ("0" and "" are false, "00"
is true), yes/no must be exact, and some strings must be quoted."""

from __future__ import annotations

import ipaddress
import re

from ldirectord_py.config.model import EMAIL_STATUSES, AnycastDown, MaxWithdraw
from ldirectord_py.networks import Network

_DIGITS = re.compile(r"\d+", re.ASCII)


class BadValue(Exception):
    """A value the original rejects; the caller attaches file and line."""


def first_digits(value: str) -> str | None:
    """The first run of digits anywhere in `value` (`abc5` gives `5`)."""
    m = _DIGITS.search(value)
    return m.group(0) if m else None


def perl_true(text: str | None) -> bool:
    """Perl truth of a string: everything but undef, "" and "0"."""
    return text is not None and text not in ("", "0")


def positive_digits(value: str, message: str) -> int:
    """A count or timeout: the first digit run, which must be Perl-true."""
    digits = first_digits(value)
    if not perl_true(digits):
        raise BadValue(message)
    assert digits is not None
    return int(digits)


def yes_no(value: str, message: str) -> bool:
    """Exactly `yes` or `no`: trailing blanks, comments and CR are errors."""
    if value == "yes":
        return True
    if value == "no":
        return False
    raise BadValue(message)


def email_address(value: str) -> str:
    """An address list, optionally in one pair of double quotes."""
    m = re.fullmatch(r'"([^"]*)"', value)
    if m:
        value = m.group(1)
    if not value:
        raise BadValue("no email address specified")
    return value


def email_statuses(value: str) -> frozenset[str]:
    """A comma list of all, none, starting, running, stopping, reloading."""
    words = re.split(r"\s*,\s*", value)
    while words and not words[-1]:  # Perl's split drops trailing empty fields
        words.pop()
    has_none = "none" in words
    result: set[str] = set()
    for word in words:
        if word == "none":
            continue
        if word == "all":
            result = set(EMAIL_STATUSES)
        elif word in EMAIL_STATUSES:
            result.add(word)
        else:
            raise BadValue(f'invalid email alert status at: "{word}"')
        if has_none:
            raise BadValue(f'invalid email alert status: "{word}" specified with "none"')
    return frozenset(result)


# ------------------------------------------------------------------ anycast values
# The anycast directives are additions, not the original's: their values are read
# strictly (the whole value must be right), with trailing blanks and a trailing
# `# comment` allowed, and every error says what was expected.

_COMMUNITY = re.compile(r"(\d{1,5}):(\d{1,5})", re.ASCII)
_IFNAME = re.compile(r"[A-Za-z0-9_.-]{1,15}", re.ASCII)
_HOST = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?", re.ASCII)
MAX_PREPEND = 32
MAX_UINT32 = 2**32 - 1


def anycast_value(value: str) -> str:
    """The value without a trailing comment and surrounding blanks."""
    return value.split("#", 1)[0].strip()


def one_of(value: str, directive: str, words: tuple[str, ...]) -> str:
    if value not in words:
        choices = " or ".join(f"'{w}'" for w in words)
        raise BadValue(f"{directive} must be {choices}, not {value!r}")
    return value


def uint(value: str, directive: str, maximum: int = MAX_UINT32) -> int:
    """A whole number 0..maximum, written as digits only."""
    if not re.fullmatch(r"\d+", value, re.ASCII) or int(value) > maximum:
        raise BadValue(f"{directive} must be a whole number from 0 to {maximum}, not {value!r}")
    return int(value)


def anycast_prefix(value: str) -> Network:
    """A network in CIDR notation, with no host bits set."""
    if "/" not in value:
        raise BadValue(
            f"anycastprefix must be a network in CIDR notation (198.51.100.0/24, "
            f"2001:db8::/48), not {value!r}"
        )
    try:
        return ipaddress.ip_network(value, strict=True)
    except ValueError:
        pass
    try:
        loose = ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise BadValue(f"anycastprefix {value!r} is not an IPv4 or IPv6 network") from None
    raise BadValue(f"anycastprefix {value} has host bits set: did you mean {loose}?")


def community(value: str, directive: str) -> str:
    """A standard BGP community `A:B`, each half 0..65535."""
    m = _COMMUNITY.fullmatch(value)
    if m is None or int(m.group(1)) > 65535 or int(m.group(2)) > 65535:
        raise BadValue(
            f"{directive} must be a community A:B with A and B from 0 to 65535, not {value!r}"
        )
    return f"{int(m.group(1))}:{int(m.group(2))}"


def ip_address(value: str, directive: str) -> str:
    """An IPv4 or IPv6 address, in canonical form."""
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise BadValue(f"{directive} must be an IPv4 or IPv6 address, not {value!r}") from None


def ifname(value: str) -> str:
    """A Linux interface name: 1 to 15 letters, digits, '.', '_' or '-'."""
    if not _IFNAME.fullmatch(value) or value in (".", ".."):
        raise BadValue(
            "anycastinterface must be an interface name of 1 to 15 letters, digits, "
            f"'.', '_' or '-', not {value!r}"
        )
    return value


def gobgpapi(value: str) -> str:
    """A gRPC target: `host:port`, `[v6]:port` or `unix:/absolute/path`."""
    usage = "gobgpapi must be host:port, [ipv6]:port or unix:/path"
    if value.startswith("unix:"):
        path = value[len("unix:") :]
        if not path.startswith("/") or any(c.isspace() for c in path):
            raise BadValue(f"{usage}; a unix socket needs an absolute path, not {value!r}")
        return value
    return _host_port(value, usage, empty_host=False)


def listen_address(value: str) -> str:
    """`host:port` or `[v6]:port` to listen on (`metricsaddress`); an empty host
    (`:9588`) means every address."""
    return _host_port(value, "metricsaddress must be host:port or [ipv6]:port", empty_host=True)


def _host_port(value: str, usage: str, *, empty_host: bool) -> str:
    host_pattern = r"([^\[\]:]*)" if empty_host else r"([^\[\]:]+)"
    m = re.fullmatch(r"\[([^\[\]]+)\]:(\d+)", value, re.ASCII) or re.fullmatch(
        host_pattern + r":(\d+)", value, re.ASCII
    )
    if m is None:
        raise BadValue(f"{usage}, not {value!r}")
    host, port = m.group(1), int(m.group(2))
    if value.startswith("["):
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise BadValue(f"{usage}: {host!r} is not an IPv6 address") from None
    elif host and _HOST.fullmatch(host) is None:
        raise BadValue(f"{usage}: {host!r} is not a host name or IPv4 address")
    if not 0 < port < 65536:
        raise BadValue(f"{usage}: port {port} is not in 1..65535")
    return value


def maxwithdraw(value: str) -> MaxWithdraw:
    """`N` or `N%` (N% of this config's anycast VIPs, rounded down)."""
    m = re.fullmatch(r"(\d+)(%?)", value, re.ASCII)
    if m is None or (m.group(2) and int(m.group(1)) > 100):
        raise BadValue(
            f"anycastmaxwithdraw must be a number of VIPs (3) or a percentage from 0% "
            f"to 100% (25%), not {value!r}"
        )
    return MaxWithdraw(int(m.group(1)), bool(m.group(2)))


def anycast_down(value: str) -> AnycastDown:
    """`withdraw`, `med N`, `prepend N` or `community A:B`."""
    usage = "anycastdown must be 'withdraw', 'med N', 'prepend N' or 'community A:B'"
    words = value.split()
    if words == ["withdraw"]:
        return AnycastDown()
    if len(words) != 2:
        raise BadValue(f"{usage}, not {value!r}")
    action, argument = words
    if action == "med":
        return AnycastDown("med", number=uint(argument, "anycastdown med"))
    if action == "prepend":
        count = uint(argument, "anycastdown prepend", MAX_PREPEND)
        if count == 0:
            raise BadValue("anycastdown prepend must add at least one AS (1 to 32)")
        return AnycastDown("prepend", number=count)
    if action == "community":
        return AnycastDown("community", community=community(argument, "anycastdown community"))
    raise BadValue(f"{usage}, not {value!r}")
