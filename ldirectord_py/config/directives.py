"""Every directive the original knows, as two ordered tables (global and per virtual).

A directive is a pattern and a handler. Patterns are tried in table order, the way
the original's if/elsif chain tries them, so overlapping names resolve the same
way. To add a directive, add one row here and one field to the model.
"""

from __future__ import annotations

import errno
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ldirectord_py.config.model import (
    CHECKTYPES,
    SERVICES,
    Fallback,
    Family,
    GlobalFallback,
    Real,
)
from ldirectord_py.config.reals import FallbackSpec, parse_fallback, resolve_fallback
from ldirectord_py.config.resolve import Resolver
from ldirectord_py.config.values import (
    BadValue,
    anycast_down,
    anycast_prefix,
    anycast_value,
    community,
    email_address,
    email_statuses,
    first_digits,
    gobgpapi,
    ifname,
    ip_address,
    listen_address,
    maxwithdraw,
    one_of,
    perl_true,
    positive_digits,
    uint,
    yes_no,
)


@dataclass
class ParseContext:
    """What handlers may consult or report to while a file is read."""

    path: str
    hostname: str
    resolver: Resolver
    debug: bool
    check_files: bool
    warnings: list[tuple[int | None, str]] = field(default_factory=list)
    logfile: str | None = None
    """The `logfile` in effect so far (where a failing command logs its exit)."""

    def warn(self, line: int | None, message: str) -> None:
        self.warnings.append((line, message))


@dataclass
class Draft:
    """Values read so far, each with the line it was read on."""

    values: dict[str, Any] = field(default_factory=dict, kw_only=True)
    sources: dict[str, int] = field(default_factory=dict, kw_only=True)

    def set(self, key: str, value: Any, line: int) -> None:
        self.values[key] = value
        self.sources[key] = line


@dataclass
class GlobalDraft(Draft):
    """Global values as read so far (the model is built once the file is read)."""

    execute: list[str] = field(default_factory=list)
    anycast: Draft = field(default_factory=Draft)
    """The anycast directives, kept apart (they build AnycastSettings)."""


@dataclass
class VirtualDraft(Draft):
    """One virtual block as read so far, with the original's per-block defaults."""

    line: int
    family: Family
    hostport: str | None
    port_text: str
    fwmark: str | None
    protocol: str
    real_lines: list[tuple[str, int]] = field(default_factory=list)
    reals: list[Real] = field(default_factory=list)
    fallback: FallbackSpec | None = None
    resolved_fallback: Fallback | None = None
    anycast: Draft = field(default_factory=Draft)
    """The anycast directives written in this block (they override the global ones)."""


Handler = Callable[[ParseContext, Any, "re.Match[str]", int], None]


@dataclass(frozen=True)
class Directive:
    name: str
    pattern: re.Pattern[str]
    handler: Handler


def _rx(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.ASCII)


def _fail(message: str) -> None:
    raise BadValue(message)


def _can_append(path: str) -> OSError | None:
    """Open for append and close, as the original tests log and monitor files."""
    try:
        with open(path, "a"):
            pass
    except OSError as exc:
        return exc
    return None


def _strerror(exc: OSError) -> str:
    return os.strerror(exc.errno) if exc.errno else str(exc)


# ------------------------------------------------------- handlers for both scopes


def _count(key: str, message: str, deprecated: bool = False) -> Handler:
    """A count, interval or (in a block) timeout: the first digit run, Perl-true."""

    def handle(ctx: ParseContext, d: Draft, m: re.Match[str], line: int) -> None:
        d.set(key, positive_digits(m.group(1), message), line)
        if deprecated:
            ctx.warn(
                line,
                "checkcount option is deprecated and slated for removal.  "
                "please see 'failurecount'",
            )

    return handle


def _yes_no(key: str) -> Handler:
    def handle(ctx: ParseContext, d: Draft, m: re.Match[str], line: int) -> None:
        d.set(key, yes_no(m.group(1), f"{key} must be 'yes' or 'no'"), line)

    return handle


def _deprecated(message: str) -> Handler:
    def handle(ctx: ParseContext, d: Draft, m: re.Match[str], line: int) -> None:
        _fail(message)

    return handle


def _plain(key: str) -> Handler:
    def handle(ctx: ParseContext, d: Draft, m: re.Match[str], line: int) -> None:
        d.set(key, m.group(1), line)

    return handle


def _emailalert(ctx: ParseContext, d: Draft, m: re.Match[str], line: int) -> None:
    d.set("emailalert", email_address(m.group(1)), line)


def _emailalertfreq(ctx: ParseContext, d: Draft, m: re.Match[str], line: int) -> None:
    digits = first_digits(m.group(1))
    if digits is None:
        _fail("invalid email alert frequency")
    d.set("emailalertfreq", int(digits or 0), line)


def _emailalertstatus(ctx: ParseContext, d: Draft, m: re.Match[str], line: int) -> None:
    d.set("emailalertstatus", email_statuses(m.group(1)), line)


def _smtp(ctx: ParseContext, d: Draft, m: re.Match[str], line: int) -> None:
    host = re.match(r"[0-9A-Za-z._+-]+", m.group(1), re.ASCII)
    if host is None:
        _fail("invalid SMTP server address")
    assert host is not None
    d.set("smtp", host.group(0), line)


# --------------------------------------------------------------- anycast handlers
# Additions of this project (docs/anycast.md). Values go to the draft's `anycast`
# part, keyed by AnycastSettings / VirtualAnycast field name. Whether a virtual is
# inside an anycastprefix, and whether virtuals on one VIP agree, is checked once
# the whole file is read (globals may follow the blocks).


def _a_word(key: str, directive: str, words: tuple[str, ...]) -> Handler:
    def handle(
        ctx: ParseContext, d: GlobalDraft | VirtualDraft, m: re.Match[str], line: int
    ) -> None:
        d.anycast.set(key, one_of(anycast_value(m.group(1)), directive, words), line)

    return handle


def _a_prefix(ctx: ParseContext, d: GlobalDraft, m: re.Match[str], line: int) -> None:
    prefix = anycast_prefix(anycast_value(m.group(1)))
    prefixes = d.anycast.values.setdefault("prefixes", [])
    if prefix not in prefixes:
        prefixes.append(prefix)
    d.anycast.sources["prefixes"] = line


def _a_gobgpapi(ctx: ParseContext, d: GlobalDraft, m: re.Match[str], line: int) -> None:
    d.anycast.set("gobgpapi", gobgpapi(anycast_value(m.group(1))), line)


def _a_maxwithdraw(ctx: ParseContext, d: GlobalDraft, m: re.Match[str], line: int) -> None:
    d.anycast.set("maxwithdraw", maxwithdraw(anycast_value(m.group(1))), line)


def _a_interface(
    ctx: ParseContext, d: GlobalDraft | VirtualDraft, m: re.Match[str], line: int
) -> None:
    d.anycast.set("interface", ifname(anycast_value(m.group(1))), line)


def _a_nexthop(
    ctx: ParseContext, d: GlobalDraft | VirtualDraft, m: re.Match[str], line: int
) -> None:
    """Globally one next hop per family; in a virtual, one of the virtual's family."""
    address = ip_address(anycast_value(m.group(1)), "anycastnexthop")
    family = 6 if ":" in address else 4
    if isinstance(d, VirtualDraft):
        if family != d.family:
            _fail(
                f"anycastnexthop {address} is IPv{family} but this virtual is IPv{d.family}: "
                "a route's next hop must be of the route's family"
            )
        d.anycast.set("nexthop", address, line)
    else:
        d.anycast.set("nexthop6" if family == 6 else "nexthop", address, line)


def _a_community(
    ctx: ParseContext, d: GlobalDraft | VirtualDraft, m: re.Match[str], line: int
) -> None:
    value = community(anycast_value(m.group(1)), "anycastcommunity")
    communities = d.anycast.values.setdefault("communities", [])
    if value not in communities:
        communities.append(value)
    d.anycast.sources["communities"] = line


def _a_med(ctx: ParseContext, d: GlobalDraft | VirtualDraft, m: re.Match[str], line: int) -> None:
    d.anycast.set("med", uint(anycast_value(m.group(1)), "anycastmed"), line)


def _a_down(ctx: ParseContext, d: GlobalDraft | VirtualDraft, m: re.Match[str], line: int) -> None:
    d.anycast.set("down", anycast_down(anycast_value(m.group(1))), line)


def _a_holddown(
    ctx: ParseContext, d: GlobalDraft | VirtualDraft, m: re.Match[str], line: int
) -> None:
    value = anycast_value(m.group(1))
    if not re.fullmatch(r"\d+", value, re.ASCII):
        _fail(f"anycastholddown must be a number of seconds (0 or more), not {value!r}")
    d.anycast.set("holddown", int(value), line)


def _a_stopwait(ctx: ParseContext, d: GlobalDraft, m: re.Match[str], line: int) -> None:
    value = anycast_value(m.group(1))
    if not re.fullmatch(r"\d+", value, re.ASCII) or int(value) > 600:
        _fail(f"anycaststopwait must be a number of seconds from 0 to 600, not {value!r}")
    d.anycast.set("stopwait", int(value), line)


def _a_global_only(directive: str) -> Handler:
    def handle(ctx: ParseContext, d: VirtualDraft, m: re.Match[str], line: int) -> None:
        _fail(f"{directive} is a global directive: it cannot be set in a virtual service")

    return handle


_ANYCAST_SHARED: list[tuple[str, str, Handler]] = [
    ("anycastinterface", r"anycastinterface\s*=\s*(.*)", _a_interface),
    ("anycastnexthop", r"anycastnexthop\s*=\s*(.*)", _a_nexthop),
    ("anycastcommunity", r"anycastcommunity\s*=\s*(.*)", _a_community),
    ("anycastmed", r"anycastmed\s*=\s*(.*)", _a_med),
    ("anycastdown", r"anycastdown\s*=\s*(.*)", _a_down),
    ("anycastwhen", r"anycastwhen\s*=\s*(.*)", _a_word("when", "anycastwhen", ("all", "any"))),
    ("anycastholddown", r"anycastholddown\s*=\s*(.*)", _a_holddown),
]

_ANYCAST_GLOBAL: list[tuple[str, str, Handler]] = [
    ("anycastprefix", r"anycastprefix\s*=\s*(.*)", _a_prefix),
    (
        "anycastmethod",
        r"anycastmethod\s*=\s*(.*)",
        _a_word("method", "anycastmethod", ("gobgp", "interface")),
    ),
    ("gobgpapi", r"gobgpapi\s*=\s*(.*)", _a_gobgpapi),
    (
        "gobgpversion",
        r"gobgpversion\s*=\s*(.*)",
        _a_word("gobgpversion", "gobgpversion", ("auto", "3", "4")),
    ),
    ("anycastmaxwithdraw", r"anycastmaxwithdraw\s*=\s*(.*)", _a_maxwithdraw),
    (
        "anycaststop",
        r"anycaststop\s*=\s*(.*)",
        _a_word("stop", "anycaststop", ("withdraw", "keep")),
    ),
    ("anycaststopwait", r"anycaststopwait\s*=\s*(.*)", _a_stopwait),
]


# ---------------------------------------------------------------- global handlers


def _g_timeout(key: str, message: str) -> Handler:
    def handle(ctx: ParseContext, d: GlobalDraft, m: re.Match[str], line: int) -> None:
        digits = first_digits(m.group(1))
        if not perl_true(digits) or int(digits or 0) <= 0:
            _fail(message)
        d.set(key, int(digits or 0), line)

    return handle


def _g_fallback(ctx: ParseContext, d: GlobalDraft, m: re.Match[str], line: int) -> None:
    """Resolved at once for tcp and for udp, as the original does."""
    family: Family = 6 if m.group(1) else 4
    spec = parse_fallback(m.group(2), line, None)
    fallback = GlobalFallback(
        tcp=resolve_fallback(spec, "tcp", family, ctx.resolver),
        udp=resolve_fallback(spec, "udp", family, ctx.resolver),
        anonymous=spec.port in (None, ""),
    )
    d.set("fallback6" if family == 6 else "fallback", fallback, line)


def _g_nonempty(key: str, message: str) -> Handler:
    def handle(ctx: ParseContext, d: GlobalDraft, m: re.Match[str], line: int) -> None:
        if not m.group(1):
            _fail(message)
        d.set(key, m.group(1), line)

    return handle


def _g_logfile(ctx: ParseContext, d: GlobalDraft, m: re.Match[str], line: int) -> None:
    value = m.group(1)
    testing = ctx.check_files and not ctx.debug and not d.values.get("supervised", False)
    if testing and value.startswith("/") and _can_append(value) is not None:
        _fail(f"unable to open logfile: {value}")
    d.set("logfile", value, line)
    ctx.logfile = value


def _g_execute(ctx: ParseContext, d: GlobalDraft, m: re.Match[str], line: int) -> None:
    if m.group(1) not in d.execute:
        d.execute.append(m.group(1))
    d.sources["execute"] = line


def _g_supervised(ctx: ParseContext, d: GlobalDraft, m: re.Match[str], line: int) -> None:
    text = m.string
    full = re.match(r"supervised\s*=\s*(.*)", text, re.ASCII)
    if full and full.group(1) in ("yes", "no"):
        d.set("supervised", full.group(1) == "yes", line)
    elif re.match(r"supervised\s*$", text, re.ASCII):
        d.set("supervised", True, line)
        ctx.warn(line, "please update your config not to use a bare supervised directive")
    else:
        _fail("supervised must be 'yes' or 'no'")


def _g_metricsaddress(ctx: ParseContext, d: GlobalDraft, m: re.Match[str], line: int) -> None:
    try:
        d.set("metricsaddress", listen_address(anycast_value(m.group(1))), line)
    except BadValue as exc:
        _fail(str(exc))


def _g_maintenancedir(ctx: ParseContext, d: GlobalDraft, m: re.Match[str], line: int) -> None:
    if not m.group(1):
        _fail("maintenance directory not specified")
    d.set("maintenancedir", m.group(1), line)
    if ctx.check_files and not os.path.isdir(m.group(1)):
        ctx.warn(line, "maintenance directory does not exist")


GLOBAL_DIRECTIVES: tuple[Directive, ...] = tuple(
    Directive(name, _rx(pattern), handler)
    for name, pattern, handler in [
        (
            "checktimeout",
            r"checktimeout\s*=\s*(.*)",
            _g_timeout("checktimeout", "invalid check timeout value"),
        ),
        (
            "connecttimeout",
            r"connecttimeout\s*=\s*(.*)",
            _deprecated("connecttimeout directive deprecated in favour of negotiatetimeout"),
        ),
        (
            "negotiatetimeout",
            r"negotiatetimeout\s*=\s*(.*)",
            _g_timeout("negotiatetimeout", "invalid negotiate timeout value"),
        ),
        (
            "checkinterval",
            r"checkinterval\s*=\s*(.*)",
            _count("checkinterval", "invalid check interval value"),
        ),
        (
            "checkcount",
            r"checkcount\s*=\s*(.*)",
            _count("checkcount", "invalid check count value", deprecated=True),
        ),
        (
            "failurecount",
            r"failurecount\s*=\s*(.*)",
            _count("failurecount", "invalid failure count value"),
        ),
        ("fallback", r"fallback(6)?\s*=\s*(.*)", _g_fallback),
        (
            "fallbackcommand",
            r"fallbackcommand\s*=\s*(.*)",
            _g_nonempty("fallbackcommand", "invalid fallback command"),
        ),
        ("autoreload", r"autoreload\s*=\s*(.*)", _yes_no("autoreload")),
        ("callback", r'callback\s*=\s*"(.*)"', _plain("callback")),
        ("logfile", r'logfile\s*=\s*"(.*)"', _g_logfile),
        ("execute", r"execute\s*=\s*(.*)", _g_execute),
        ("fork", r"fork\s*=\s*(.*)", _yes_no("fork")),
        ("supervised", r"supervised", _g_supervised),
        ("quiescent", r"quiescent\s*=\s*(.*)", _yes_no("quiescent")),
        ("readdquiescent", r"readdquiescent\s*=\s*(.*)", _yes_no("readdquiescent")),
        ("emailalert", r"emailalert\s*=\s*(.*)", _emailalert),
        ("emailalertfreq", r"emailalertfreq\s*=\s*(\d*)", _emailalertfreq),
        ("emailalertstatus", r"emailalertstatus\s*=\s*(.*)", _emailalertstatus),
        (
            "emailalertfrom",
            r"emailalertfrom\s*=\s*(.*)",
            _g_nonempty("emailalertfrom", "no email from address specified"),
        ),
        ("cleanstop", r"cleanstop\s*=\s*(.*)", _yes_no("cleanstop")),
        ("smtp", r"smtp\s*=\s*(.*)", _smtp),
        ("maintenancedir", r"maintenancedir\s*=\s*(.*)", _g_maintenancedir),
        ("metricsaddress", r"metricsaddress\s*=\s*(.*)", _g_metricsaddress),
        (
            "timeout",
            r"timeout\s*=\s*(.*)",
            _deprecated(
                "timeout directive deprecated in favour of checktimeout and negotiatetimeout"
            ),
        ),
        *_ANYCAST_GLOBAL,
        *_ANYCAST_SHARED,
    ]
)


# --------------------------------------------------------------- virtual handlers


def _v_real(ctx: ParseContext, v: VirtualDraft, m: re.Match[str], line: int) -> None:
    ipv6_word = m.group(2) is not None
    if ipv6_word != (v.family == 6):
        want = "real6" if v.family == 6 else "real"
        _fail(f'cannot specify "{m.group(1)}" here.  please use "{want}" instead')
    v.real_lines.append((m.group(3), line))


def _v_quoted(key: str, message: str, slash: bool = False) -> Handler:
    def handle(ctx: ParseContext, v: VirtualDraft, m: re.Match[str], line: int) -> None:
        value = m.group(1)
        if not value:
            _fail(message)
        if slash and not value.startswith("/"):
            value = "/" + value
        v.set(key, value, line)

    return handle


def _v_checktype(ctx: ParseContext, v: VirtualDraft, m: re.Match[str], line: int) -> None:
    value = m.group(1)
    digits = first_digits(value)
    if digits is not None:
        v.set("checktype", "combined", line)
        v.values["num_connects"] = int(digits)
        return
    word = re.search(r"[\w-]+", value, re.ASCII)
    if word is None or word.group(0) not in CHECKTYPES:
        _fail(
            'checktype must be "connect", "negotiate", "on", "off", "ping", '
            '"external", "external-perl" or a positive number'
        )
    assert word is not None
    v.set("checktype", word.group(0), line)


def _v_either_quoting(key: str, message: str) -> Handler:
    """Directives whose value may be quoted or not (checkcommand, fallbackcommand)."""

    def handle(ctx: ParseContext, v: VirtualDraft, m: re.Match[str], line: int) -> None:
        quoted = re.match(rf'{key}\s*=\s*"(.*)"', m.string, re.ASCII)
        value = quoted.group(1) if quoted else m.group(1)
        if not value:
            _fail(message)
        v.set(key, value, line)

    return handle


def _v_checkport(ctx: ParseContext, v: VirtualDraft, m: re.Match[str], line: int) -> None:
    digits = first_digits(m.group(1))
    if digits is None:
        _fail("invalid port")
    port = int(digits or 0)
    if not 0 < port < 65536:
        _fail("checkport must be in range 1..65536")
    v.set("checkport", port, line)


def _v_first_match(key: str, pattern: str, message: str, convert: Any = str) -> Handler:
    def handle(ctx: ParseContext, v: VirtualDraft, m: re.Match[str], line: int) -> None:
        found = re.search(pattern, m.group(1), re.ASCII)
        if found is None:
            _fail(message)
        assert found is not None
        v.set(key, convert(found.group(0)), line)

    return handle


def _v_netmask(ctx: ParseContext, v: VirtualDraft, m: re.Match[str], line: int) -> None:
    value = m.group(1)
    if v.family == 6:
        if not re.fullmatch(r"\d+\n?", value, re.ASCII) or not 1 <= int(value) <= 128:
            _fail("invalid netmask: a prefix length between 1 and 128 is required")
    elif not re.fullmatch(r"\d+\.\d+\.\d+\.\d+\n?", value, re.ASCII):
        _fail("invalid netmask: dotted quad notation is required")
    v.set("netmask", value, line)


def _v_protocol(ctx: ParseContext, v: VirtualDraft, m: re.Match[str], line: int) -> None:
    word = re.search(r"\w+", m.group(1), re.ASCII)
    if word is None:
        _fail("invalid protocol")
    assert word is not None
    if v.protocol == "fwm":
        if word.group(0) != "fwm":
            _fail("protocol must be fwm if the virtual service is a fwmark (a number)")
    elif word.group(0) in ("tcp", "udp"):
        v.protocol = word.group(0)
        v.sources["protocol"] = line
    else:
        _fail("protocol must be tcp or udp if the virtual service is an address and port")


def _v_service(ctx: ParseContext, v: VirtualDraft, m: re.Match[str], line: int) -> None:
    word = re.search(r"\w+", m.group(1), re.ASCII)
    if word is None or word.group(0) not in SERVICES:
        _fail(
            "service must be dns, ftp, http, https, http_proxy, imap, imaps, ldap, "
            "ldaps, mysql, nntp, none, oracle, pop, pops, radius, pgsql, simpletcp, "
            "sip, smtp or submission"
        )
    assert word is not None
    service = word.group(0)
    v.set("service", service, line)
    # Order-dependent, as in the original: only fills credentials still empty here.
    if service == "ftp" and v.values["login"] == "":
        v.values["login"] = "anonymous"
    elif service == "sip" and v.values["login"] == "":
        v.values["login"] = f"ldirectord@{ctx.hostname}"
    if service == "ftp" and v.values["passwd"] == "":
        v.values["passwd"] = f"ldirectord@{ctx.hostname}"


def _v_httpmethod(ctx: ParseContext, v: VirtualDraft, m: re.Match[str], line: int) -> None:
    word = re.search(r"\w+", m.group(1), re.ASCII)
    if word is None or word.group(0).upper() not in ("GET", "HEAD"):
        _fail("httpmethod must be GET or HEAD")
    assert word is not None
    v.set("httpmethod", word.group(0).upper(), line)


def _v_virtualhost(ctx: ParseContext, v: VirtualDraft, m: re.Match[str], line: int) -> None:
    found = re.match(r'"?([^"]*)"?', m.group(1))
    assert found is not None
    v.set("virtualhost", found.group(1), line)


def _v_fallback(ctx: ParseContext, v: VirtualDraft, m: re.Match[str], line: int) -> None:
    if (m.group(2) is not None) != (v.family == 6):
        want = "fallback6" if v.family == 6 else "fallback"
        _fail(f'cannot specify "{m.group(1)}" here.  please use "{want}" instead')
    v.fallback = parse_fallback(m.group(3), line, v.port_text)
    v.sources["fallback"] = line


def _v_monitorfile(ctx: ParseContext, v: VirtualDraft, m: re.Match[str], line: int) -> None:
    quoted = re.match(r'monitorfile\s*=\s*"(.*)"', m.string, re.ASCII)
    path = quoted.group(1) if quoted else m.group(1)
    if ctx.check_files:
        problem = _can_append(path) if path else OSError(errno.ENOENT, "")
        if problem is not None:
            _fail(f"unable to open monitorfile {path}: {_strerror(problem)}")
    v.set("monitorfile", path, line)


VIRTUAL_DIRECTIVES: tuple[Directive, ...] = tuple(
    Directive(name, _rx(pattern), handler)
    for name, pattern, handler in [
        ("real", r"(real(6)?)\s*=\s*(.*)", _v_real),
        (
            "request",
            r'request\s*=\s*"(.*)"',
            _v_quoted("request", "no request string specified", slash=True),
        ),
        ("receive", r'receive\s*=\s*"(.*)"', _v_quoted("receive", "invalid receive string")),
        ("checktype", r"checktype\s*=\s*(.*)", _v_checktype),
        (
            "checkcommand",
            r"checkcommand\s*=\s*(.*)",
            _v_either_quoting("checkcommand", "invalid check command"),
        ),
        (
            "checktimeout",
            r"checktimeout\s*=\s*(.*)",
            _count("checktimeout", "invalid check timeout"),
        ),
        (
            "connecttimeout",
            r"connecttimeout\s*=\s*(.*)",
            _deprecated("connecttimeout directive deprecated in favour of negotiatetimeout"),
        ),
        (
            "negotiatetimeout",
            r"negotiatetimeout\s*=\s*(.*)",
            _count("negotiatetimeout", "invalid negotiate timeout"),
        ),
        (
            "checkcount",
            r"checkcount\s*=\s*(.*)",
            _count("checkcount", "invalid check count", deprecated=True),
        ),
        (
            "failurecount",
            r"failurecount\s*=\s*(.*)",
            _count("failurecount", "invalid failure count"),
        ),
        (
            "checkinterval",
            r"checkinterval\s*=\s*(.*)",
            _count("checkinterval", "invalid checkinterval"),
        ),
        ("checkport", r"checkport\s*=\s*(.*)", _v_checkport),
        ("login", r'login\s*=\s*"(.*)"', _v_quoted("login", "invalid login string")),
        ("passwd", r'passwd\s*=\s*"(.*)"', _v_quoted("passwd", "invalid password")),
        ("database", r'database\s*=\s*"(.*)"', _v_quoted("database", "invalid database")),
        ("secret", r'secret\s*=\s*"(.*)"', _v_quoted("secret", "invalid secret")),
        (
            "load",
            r'load\s*=\s*"(.*)"',
            _v_first_match("load", r"\w+", "invalid string for load testing"),
        ),
        (
            "scheduler",
            r"scheduler\s*=\s*(.*)",
            _v_first_match(
                "scheduler",
                r"[a-z]+",
                "invalid scheduler, should be only lowercase letters (a-z)",
            ),
        ),
        (
            "persistent",
            r"persistent\s*=\s*(.*)",
            _v_first_match("persistent", r"\d+", "invalid persistent timeout", int),
        ),
        (
            "schedflags",
            r"schedflags\s*=\s*(.*)",
            _v_first_match("schedflags", r"\S+", "invalid sched-flags"),
        ),
        ("netmask", r"netmask\s*=\s*(.*)", _v_netmask),
        ("protocol", r"protocol\s*=\s*(.*)", _v_protocol),
        ("ops", r"ops\s*=\s*(.*)", _yes_no("ops")),
        ("service", r"service\s*=\s*(.*)", _v_service),
        ("httpmethod", r"httpmethod\s*=\s*(.*)", _v_httpmethod),
        ("virtualhost", r"virtualhost\s*=\s*(.*)", _v_virtualhost),
        ("fallback", r"(fallback(6)?)\s*=\s*(.*)", _v_fallback),
        (
            "fallbackcommand",
            r"fallbackcommand\s*=\s*(.*)",
            _v_either_quoting("fallbackcommand", "invalid fallback command"),
        ),
        ("quiescent", r"quiescent\s*=\s*(.*)", _yes_no("quiescent")),
        ("emailalert", r"emailalert\s*=\s*(.*)", _emailalert),
        ("emailalertfreq", r"emailalertfreq\s*=\s*(\d*)", _emailalertfreq),
        ("emailalertstatus", r"emailalertstatus\s*=\s*(.*)", _emailalertstatus),
        ("monitorfile", r"monitorfile\s*=\s*(.*)", _v_monitorfile),
        ("cleanstop", r"cleanstop\s*=\s*(.*)", _yes_no("cleanstop")),
        ("smtp", r"smtp\s*=\s*(.*)", _smtp),
        ("servicename", r"servicename\s*=\s*(.*)", _plain("servicename")),
        ("comment", r"comment\s*=\s*(.*)", _plain("comment")),
        *_ANYCAST_SHARED,
        *((name, pattern, _a_global_only(name)) for name, pattern, _handler in _ANYCAST_GLOBAL),
    ]
)


def dispatch(
    table: tuple[Directive, ...], text: str, ctx: ParseContext, draft: Any, line: int
) -> bool:
    """Run the first directive whose pattern matches at the start of `text`."""
    for directive in table:
        m = directive.pattern.match(text)
        if m is not None:
            directive.handler(ctx, draft, m, line)
            return True
    return False
