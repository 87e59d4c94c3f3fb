"""Every directive the original knows, as two ordered tables (global and per virtual).

A directive is a row: its name, a handler, the model field(s) it fills and a
pattern (by default `NAME = value`, built from the name). Patterns are tried in
table order, the way the original's if/elsif chain tries them, so overlapping
names resolve the same way.

To add a directive, add one row here and one field to the model (and its entry
in man/src/directives.txt). `check_tables`, run when this module is imported,
refuses a row whose field the model lacks and a model field no row fills, so a
directive cannot be half-added. A per-virtual value is taken as read; only one
that a virtual inherits from a global (DERIVED_VIRTUAL_FIELDS) also needs its
line in parser._derive.
"""

from __future__ import annotations

import dataclasses
import errno
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, NoReturn

from ldirectord_py.config.errors import ConfigError
from ldirectord_py.config.model import (
    CHECKTYPES,
    SERVICES,
    AnycastSettings,
    EmailAlert,
    Fallback,
    Family,
    GlobalFallback,
    GlobalSettings,
    Real,
    Virtual,
    VirtualAnycast,
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
    keep_going: bool = False
    """Read on after an error (`ldirectordctl validate`); else the first one is raised,
    as the original stops at it."""
    errors: list[ConfigError] = field(default_factory=list)

    def warn(self, line: int | None, message: str) -> None:
        self.warnings.append((line, message))

    def error(self, line: int | None, message: str) -> None:
        """Raise the error, or, when reading on, keep it and return."""
        error = ConfigError(self.path, line, message)
        if not self.keep_going:
            raise error
        self.errors.append(error)


ANYCAST = "anycast."
"""The prefix of the fields a directive fills in the anycast part of a scope."""


@dataclass
class Draft:
    """Values read so far, each with the line it was read on, keyed by model field
    (dotted for a nested one: `emailalert.frequency`)."""

    values: dict[str, Any] = field(default_factory=dict, kw_only=True)
    sources: dict[str, int] = field(default_factory=dict, kw_only=True)

    def set(self, key: str, value: Any, line: int) -> None:
        self.values[key] = value
        self.sources[key] = line

    def append(self, key: str, value: Any, line: int) -> None:
        """A repeatable directive: each value once, in file order."""
        values = self.values.setdefault(key, [])
        if value not in values:
            values.append(value)
        self.sources[key] = line


@dataclass
class ScopeDraft(Draft):
    """A scope (the globals or one virtual) with its anycast part kept apart:
    `anycast.X` keys go there (they build AnycastSettings / VirtualAnycast)."""

    anycast: Draft = field(default_factory=Draft, kw_only=True)

    def set(self, key: str, value: Any, line: int) -> None:
        if key.startswith(ANYCAST):
            self.anycast.set(key[len(ANYCAST) :], value, line)
        else:
            super().set(key, value, line)

    def append(self, key: str, value: Any, line: int) -> None:
        if key.startswith(ANYCAST):
            self.anycast.append(key[len(ANYCAST) :], value, line)
        else:
            super().append(key, value, line)


@dataclass
class GlobalDraft(ScopeDraft):
    """Global values as read so far (the model is built once the file is read)."""

    execute: list[str] = field(default_factory=list)


@dataclass
class VirtualDraft(ScopeDraft):
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
    broken: bool = False
    """An error was found in this block (the linter reads on, the virtual is dropped)."""


Handler = Callable[[ParseContext, Any, "re.Match[str]", int, str], None]
"""(context, draft, match, line, key): `key` is the row's first model field."""


@dataclass(frozen=True)
class Directive:
    name: str
    handler: Handler
    fields: tuple[str, ...]
    """The model fields the directive fills (dotted for nested ones); empty for a
    directive that is only ever refused (a deprecated one)."""
    pattern: re.Pattern[str]

    @property
    def refused(self) -> bool:
        """Only there to refuse the name with a message (deprecated, global-only)."""
        return not self.fields

    @property
    def key(self) -> str:
        """The field a one-value handler sets (the name for a refused directive)."""
        return self.fields[0] if self.fields else self.name


def row(
    name: str,
    handler: Handler,
    *,
    fields: tuple[str, ...] | None = None,
    pattern: str | None = None,
    quoted: bool = False,
) -> Directive:
    """A table row. By default it fills the field of its own name and matches
    `NAME = value` (`NAME = "value"` when `quoted`), the value being group 1."""
    if pattern is None:
        pattern = rf'{name}\s*=\s*"(.*)"' if quoted else rf"{name}\s*=\s*(.*)"
    return Directive(name, handler, (name,) if fields is None else fields, _rx(pattern))


def _rx(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.ASCII)


def _fail(message: str) -> NoReturn:
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


def _count(message: str, deprecated: bool = False) -> Handler:
    """A count, interval or (in a block) timeout: the first digit run, Perl-true."""

    def handle(ctx: ParseContext, d: Draft, m: re.Match[str], line: int, key: str) -> None:
        d.set(key, positive_digits(m.group(1), message), line)
        if deprecated:
            ctx.warn(
                line,
                "checkcount option is deprecated and slated for removal.  "
                "please see 'failurecount'",
            )

    return handle


def _yes_no(ctx: ParseContext, d: Draft, m: re.Match[str], line: int, key: str) -> None:
    d.set(key, yes_no(m.group(1), f"{key} must be 'yes' or 'no'"), line)


def _refuse(message: str) -> Handler:
    """A directive the original refuses whatever its value (a deprecated one)."""

    def handle(ctx: ParseContext, d: Draft, m: re.Match[str], line: int, key: str) -> None:
        _fail(message)

    return handle


def _plain(ctx: ParseContext, d: Draft, m: re.Match[str], line: int, key: str) -> None:
    d.set(key, m.group(1), line)


def _emailalert(ctx: ParseContext, d: Draft, m: re.Match[str], line: int, key: str) -> None:
    d.set(key, email_address(m.group(1)), line)


def _emailalertfreq(ctx: ParseContext, d: Draft, m: re.Match[str], line: int, key: str) -> None:
    digits = first_digits(m.group(1))
    if digits is None:
        _fail("invalid email alert frequency")
    d.set(key, int(digits), line)


def _emailalertstatus(ctx: ParseContext, d: Draft, m: re.Match[str], line: int, key: str) -> None:
    d.set(key, email_statuses(m.group(1)), line)


def _smtp(ctx: ParseContext, d: Draft, m: re.Match[str], line: int, key: str) -> None:
    host = re.match(r"[0-9A-Za-z._+-]+", m.group(1), re.ASCII)
    if host is None:
        _fail("invalid SMTP server address")
    d.set(key, host.group(0), line)


# --------------------------------------------------------------- anycast handlers
# Additions of this project (docs/anycast.md). Values go to the draft's `anycast`
# part (keys `anycast.FIELD`, FIELD of AnycastSettings / VirtualAnycast). Whether
# a virtual is inside an anycastprefix, and whether virtuals on one VIP agree, is
# checked once the whole file is read (globals may follow the blocks).


def _a_word(directive: str, words: tuple[str, ...]) -> Handler:
    def handle(ctx: ParseContext, d: ScopeDraft, m: re.Match[str], line: int, key: str) -> None:
        d.set(key, one_of(anycast_value(m.group(1)), directive, words), line)

    return handle


def _a_prefix(ctx: ParseContext, d: ScopeDraft, m: re.Match[str], line: int, key: str) -> None:
    d.append(key, anycast_prefix(anycast_value(m.group(1))), line)


def _a_gobgpapi(ctx: ParseContext, d: ScopeDraft, m: re.Match[str], line: int, key: str) -> None:
    d.set(key, gobgpapi(anycast_value(m.group(1))), line)


def _a_maxwithdraw(ctx: ParseContext, d: ScopeDraft, m: re.Match[str], line: int, key: str) -> None:
    d.set(key, maxwithdraw(anycast_value(m.group(1))), line)


def _a_interface(ctx: ParseContext, d: ScopeDraft, m: re.Match[str], line: int, key: str) -> None:
    d.set(key, ifname(anycast_value(m.group(1))), line)


def _a_nexthop(
    ctx: ParseContext, d: GlobalDraft | VirtualDraft, m: re.Match[str], line: int, key: str
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
        d.set(f"{ANYCAST}nexthop", address, line)
    else:
        d.set(f"{ANYCAST}nexthop6" if family == 6 else f"{ANYCAST}nexthop", address, line)


def _a_community(ctx: ParseContext, d: ScopeDraft, m: re.Match[str], line: int, key: str) -> None:
    d.append(key, community(anycast_value(m.group(1)), "anycastcommunity"), line)


def _a_med(ctx: ParseContext, d: ScopeDraft, m: re.Match[str], line: int, key: str) -> None:
    d.set(key, uint(anycast_value(m.group(1)), "anycastmed"), line)


def _a_down(ctx: ParseContext, d: ScopeDraft, m: re.Match[str], line: int, key: str) -> None:
    d.set(key, anycast_down(anycast_value(m.group(1))), line)


def _a_holddown(ctx: ParseContext, d: ScopeDraft, m: re.Match[str], line: int, key: str) -> None:
    value = anycast_value(m.group(1))
    if not re.fullmatch(r"\d+", value, re.ASCII):
        _fail(f"anycastholddown must be a number of seconds (0 or more), not {value!r}")
    d.set(key, int(value), line)


def _a_stopwait(ctx: ParseContext, d: ScopeDraft, m: re.Match[str], line: int, key: str) -> None:
    value = anycast_value(m.group(1))
    if not re.fullmatch(r"\d+", value, re.ASCII) or int(value) > 600:
        _fail(f"anycaststopwait must be a number of seconds from 0 to 600, not {value!r}")
    d.set(key, int(value), line)


def _anycast_shared(scope: str) -> list[Directive]:
    """The anycast directives of both scopes; globally the next hop is one per family."""
    nexthops = ("nexthop", "nexthop6") if scope == "global" else ("nexthop",)
    return [
        row("anycastinterface", _a_interface, fields=(f"{ANYCAST}interface",)),
        row("anycastnexthop", _a_nexthop, fields=tuple(f"{ANYCAST}{name}" for name in nexthops)),
        row("anycastcommunity", _a_community, fields=(f"{ANYCAST}communities",)),
        row("anycastmed", _a_med, fields=(f"{ANYCAST}med",)),
        row("anycastdown", _a_down, fields=(f"{ANYCAST}down",)),
        row("anycastwhen", _a_word("anycastwhen", ("all", "any")), fields=(f"{ANYCAST}when",)),
        row("anycastholddown", _a_holddown, fields=(f"{ANYCAST}holddown",)),
    ]


_ANYCAST_GLOBAL: list[Directive] = [
    row("anycastprefix", _a_prefix, fields=(f"{ANYCAST}prefixes",)),
    row(
        "anycastmethod",
        _a_word("anycastmethod", ("gobgp", "interface")),
        fields=(f"{ANYCAST}method",),
    ),
    row("gobgpapi", _a_gobgpapi, fields=(f"{ANYCAST}gobgpapi",)),
    row(
        "gobgpversion",
        _a_word("gobgpversion", ("auto", "3", "4")),
        fields=(f"{ANYCAST}gobgpversion",),
    ),
    row("anycastmaxwithdraw", _a_maxwithdraw, fields=(f"{ANYCAST}maxwithdraw",)),
    row("anycaststop", _a_word("anycaststop", ("withdraw", "keep")), fields=(f"{ANYCAST}stop",)),
    row("anycaststopwait", _a_stopwait, fields=(f"{ANYCAST}stopwait",)),
]


def _global_only(directive: Directive) -> Directive:
    """The same name in a virtual block: refused there."""
    return row(
        directive.name,
        _refuse(f"{directive.name} is a global directive: it cannot be set in a virtual service"),
        fields=(),
        pattern=directive.pattern.pattern,
    )


# ---------------------------------------------------------------- global handlers


def _g_timeout(message: str) -> Handler:
    def handle(ctx: ParseContext, d: GlobalDraft, m: re.Match[str], line: int, key: str) -> None:
        digits = first_digits(m.group(1))
        if not perl_true(digits) or int(digits or 0) <= 0:
            _fail(message)
        d.set(key, int(digits or 0), line)

    return handle


def _g_fallback(ctx: ParseContext, d: GlobalDraft, m: re.Match[str], line: int, key: str) -> None:
    """Resolved at once for tcp and for udp, as the original does."""
    family: Family = 6 if m.group(1) else 4
    spec = parse_fallback(m.group(2), line, None)
    fallback = GlobalFallback(
        tcp=resolve_fallback(spec, "tcp", family, ctx.resolver),
        udp=resolve_fallback(spec, "udp", family, ctx.resolver),
        anonymous=spec.port in (None, ""),
    )
    d.set("fallback6" if family == 6 else "fallback", fallback, line)


def _g_nonempty(message: str) -> Handler:
    def handle(ctx: ParseContext, d: GlobalDraft, m: re.Match[str], line: int, key: str) -> None:
        if not m.group(1):
            _fail(message)
        d.set(key, m.group(1), line)

    return handle


def _g_logfile(ctx: ParseContext, d: GlobalDraft, m: re.Match[str], line: int, key: str) -> None:
    value = m.group(1)
    testing = ctx.check_files and not ctx.debug and not d.values.get("supervised", False)
    if testing and value.startswith("/") and _can_append(value) is not None:
        _fail(f"unable to open logfile: {value}")
    d.set(key, value, line)
    ctx.logfile = value


def _g_execute(ctx: ParseContext, d: GlobalDraft, m: re.Match[str], line: int, key: str) -> None:
    if m.group(1) not in d.execute:
        d.execute.append(m.group(1))
    d.sources[key] = line


def _g_supervised(ctx: ParseContext, d: GlobalDraft, m: re.Match[str], line: int, key: str) -> None:
    text = m.string
    full = re.match(r"supervised\s*=\s*(.*)", text, re.ASCII)
    if full and full.group(1) in ("yes", "no"):
        d.set(key, full.group(1) == "yes", line)
    elif re.match(r"supervised\s*$", text, re.ASCII):
        d.set(key, True, line)
        ctx.warn(line, "please update your config not to use a bare supervised directive")
    else:
        _fail("supervised must be 'yes' or 'no'")


def _g_metricsaddress(
    ctx: ParseContext, d: GlobalDraft, m: re.Match[str], line: int, key: str
) -> None:
    d.set(key, listen_address(anycast_value(m.group(1))), line)


def _g_maintenancedir(
    ctx: ParseContext, d: GlobalDraft, m: re.Match[str], line: int, key: str
) -> None:
    if not m.group(1):
        _fail("maintenance directory not specified")
    d.set(key, m.group(1), line)
    if ctx.check_files and not os.path.isdir(m.group(1)):
        ctx.warn(line, "maintenance directory does not exist")


GLOBAL_DIRECTIVES: tuple[Directive, ...] = (
    row("checktimeout", _g_timeout("invalid check timeout value")),
    row(
        "connecttimeout",
        _refuse("connecttimeout directive deprecated in favour of negotiatetimeout"),
        fields=(),
    ),
    row("negotiatetimeout", _g_timeout("invalid negotiate timeout value")),
    row("checkinterval", _count("invalid check interval value")),
    row("checkcount", _count("invalid check count value", deprecated=True)),
    row("failurecount", _count("invalid failure count value")),
    row(
        "fallback",
        _g_fallback,
        fields=("fallback", "fallback6"),
        pattern=r"fallback(6)?\s*=\s*(.*)",
    ),
    row("fallbackcommand", _g_nonempty("invalid fallback command")),
    row("autoreload", _yes_no),
    row("callback", _plain, quoted=True),
    row("logfile", _g_logfile, quoted=True),
    row("execute", _g_execute),
    row("fork", _yes_no),
    row("supervised", _g_supervised, pattern=r"supervised"),
    row("quiescent", _yes_no),
    row("readdquiescent", _yes_no),
    row("emailalert", _emailalert),
    row("emailalertfreq", _emailalertfreq, pattern=r"emailalertfreq\s*=\s*(\d*)"),
    row("emailalertstatus", _emailalertstatus),
    row("emailalertfrom", _g_nonempty("no email from address specified")),
    row("cleanstop", _yes_no),
    row("smtp", _smtp),
    row("maintenancedir", _g_maintenancedir),
    row("metricsaddress", _g_metricsaddress),
    row(
        "timeout",
        _refuse("timeout directive deprecated in favour of checktimeout and negotiatetimeout"),
        fields=(),
    ),
    *_ANYCAST_GLOBAL,
    *_anycast_shared("global"),
)


# --------------------------------------------------------------- virtual handlers


def _v_real(ctx: ParseContext, v: VirtualDraft, m: re.Match[str], line: int, key: str) -> None:
    ipv6_word = m.group(2) is not None
    if ipv6_word != (v.family == 6):
        want = "real6" if v.family == 6 else "real"
        _fail(f'cannot specify "{m.group(1)}" here.  please use "{want}" instead')
    v.real_lines.append((m.group(3), line))


def _v_quoted(message: str, slash: bool = False) -> Handler:
    def handle(ctx: ParseContext, v: VirtualDraft, m: re.Match[str], line: int, key: str) -> None:
        value = m.group(1)
        if not value:
            _fail(message)
        if slash and not value.startswith("/"):
            value = "/" + value
        v.set(key, value, line)

    return handle


def _v_checktype(ctx: ParseContext, v: VirtualDraft, m: re.Match[str], line: int, key: str) -> None:
    value = m.group(1)
    digits = first_digits(value)
    if digits is not None:
        v.set(key, "combined", line)
        v.values["num_connects"] = int(digits)
        return
    word = re.search(r"[\w-]+", value, re.ASCII)
    if word is None or word.group(0) not in CHECKTYPES:
        _fail(
            'checktype must be "connect", "negotiate", "on", "off", "ping", '
            '"external", "external-perl" or a positive number'
        )
    v.set(key, word.group(0), line)


def _v_either_quoting(name: str, message: str) -> Handler:
    """Directives whose value may be quoted or not (checkcommand, fallbackcommand)."""

    def handle(ctx: ParseContext, v: VirtualDraft, m: re.Match[str], line: int, key: str) -> None:
        quoted = re.match(rf'{name}\s*=\s*"(.*)"', m.string, re.ASCII)
        value = quoted.group(1) if quoted else m.group(1)
        if not value:
            _fail(message)
        v.set(key, value, line)

    return handle


def _v_checkport(ctx: ParseContext, v: VirtualDraft, m: re.Match[str], line: int, key: str) -> None:
    digits = first_digits(m.group(1))
    if digits is None:
        _fail("invalid port")
    port = int(digits)
    if not 0 < port < 65536:
        _fail("checkport must be in range 1..65536")
    v.set(key, port, line)


def _v_first_match(pattern: str, message: str, convert: Callable[[str], Any] = str) -> Handler:
    def handle(ctx: ParseContext, v: VirtualDraft, m: re.Match[str], line: int, key: str) -> None:
        found = re.search(pattern, m.group(1), re.ASCII)
        if found is None:
            _fail(message)
        v.set(key, convert(found.group(0)), line)

    return handle


def _v_netmask(ctx: ParseContext, v: VirtualDraft, m: re.Match[str], line: int, key: str) -> None:
    value = m.group(1)
    if v.family == 6:
        if not re.fullmatch(r"\d+\n?", value, re.ASCII) or not 1 <= int(value) <= 128:
            _fail("invalid netmask: a prefix length between 1 and 128 is required")
    elif not re.fullmatch(r"\d+\.\d+\.\d+\.\d+\n?", value, re.ASCII):
        _fail("invalid netmask: dotted quad notation is required")
    v.set(key, value, line)


def _v_protocol(ctx: ParseContext, v: VirtualDraft, m: re.Match[str], line: int, key: str) -> None:
    word = re.search(r"\w+", m.group(1), re.ASCII)
    if word is None:
        _fail("invalid protocol")
    if v.protocol == "fwm":
        if word.group(0) != "fwm":
            _fail("protocol must be fwm if the virtual service is a fwmark (a number)")
    elif word.group(0) in ("tcp", "udp"):
        v.protocol = word.group(0)
        v.sources[key] = line
    else:
        _fail("protocol must be tcp or udp if the virtual service is an address and port")


def _v_service(ctx: ParseContext, v: VirtualDraft, m: re.Match[str], line: int, key: str) -> None:
    word = re.search(r"\w+", m.group(1), re.ASCII)
    if word is None or word.group(0) not in SERVICES:
        _fail(
            "service must be dns, ftp, http, https, http_proxy, imap, imaps, ldap, "
            "ldaps, mysql, nntp, none, oracle, pop, pops, radius, pgsql, simpletcp, "
            "sip, smtp or submission"
        )
    service = word.group(0)
    v.set(key, service, line)
    # Order-dependent, as in the original: only fills credentials still empty here.
    if service == "ftp" and v.values["login"] == "":
        v.values["login"] = "anonymous"
    elif service == "sip" and v.values["login"] == "":
        v.values["login"] = f"ldirectord@{ctx.hostname}"
    if service == "ftp" and v.values["passwd"] == "":
        v.values["passwd"] = f"ldirectord@{ctx.hostname}"


def _v_httpmethod(
    ctx: ParseContext, v: VirtualDraft, m: re.Match[str], line: int, key: str
) -> None:
    word = re.search(r"\w+", m.group(1), re.ASCII)
    if word is None or word.group(0).upper() not in ("GET", "HEAD"):
        _fail("httpmethod must be GET or HEAD")
    v.set(key, word.group(0).upper(), line)


def _v_virtualhost(
    ctx: ParseContext, v: VirtualDraft, m: re.Match[str], line: int, key: str
) -> None:
    found = re.match(r'"?([^"]*)"?', m.group(1))
    assert found is not None  # every part of the pattern is optional
    v.set(key, found.group(1), line)


def _v_fallback(ctx: ParseContext, v: VirtualDraft, m: re.Match[str], line: int, key: str) -> None:
    if (m.group(2) is not None) != (v.family == 6):
        want = "fallback6" if v.family == 6 else "fallback"
        _fail(f'cannot specify "{m.group(1)}" here.  please use "{want}" instead')
    v.fallback = parse_fallback(m.group(3), line, v.port_text)
    v.sources[key] = line


def _v_monitorfile(
    ctx: ParseContext, v: VirtualDraft, m: re.Match[str], line: int, key: str
) -> None:
    quoted = re.match(r'monitorfile\s*=\s*"(.*)"', m.string, re.ASCII)
    path = quoted.group(1) if quoted else m.group(1)
    if ctx.check_files:
        problem = _can_append(path) if path else OSError(errno.ENOENT, "")
        if problem is not None:
            _fail(f"unable to open monitorfile {path}: {_strerror(problem)}")
    v.set(key, path, line)


VIRTUAL_DIRECTIVES: tuple[Directive, ...] = (
    row("real", _v_real, fields=("reals",), pattern=r"(real(6)?)\s*=\s*(.*)"),
    row("request", _v_quoted("no request string specified", slash=True), quoted=True),
    row("receive", _v_quoted("invalid receive string"), quoted=True),
    row("checktype", _v_checktype, fields=("checktype", "num_connects")),
    row("checkcommand", _v_either_quoting("checkcommand", "invalid check command")),
    row("checktimeout", _count("invalid check timeout")),
    row(
        "connecttimeout",
        _refuse("connecttimeout directive deprecated in favour of negotiatetimeout"),
        fields=(),
    ),
    row("negotiatetimeout", _count("invalid negotiate timeout")),
    row("checkcount", _count("invalid check count", deprecated=True)),
    row("failurecount", _count("invalid failure count")),
    row("checkinterval", _count("invalid checkinterval")),
    row("checkport", _v_checkport),
    row("login", _v_quoted("invalid login string"), quoted=True),
    row("passwd", _v_quoted("invalid password"), quoted=True),
    row("database", _v_quoted("invalid database"), quoted=True),
    row("secret", _v_quoted("invalid secret"), quoted=True),
    row("load", _v_first_match(r"\w+", "invalid string for load testing"), quoted=True),
    row(
        "scheduler",
        _v_first_match(r"[a-z]+", "invalid scheduler, should be only lowercase letters (a-z)"),
    ),
    row("persistent", _v_first_match(r"\d+", "invalid persistent timeout", int)),
    row("schedflags", _v_first_match(r"\S+", "invalid sched-flags")),
    row("netmask", _v_netmask),
    row("protocol", _v_protocol),
    row("ops", _yes_no),
    row("service", _v_service),
    row("httpmethod", _v_httpmethod),
    row("virtualhost", _v_virtualhost),
    row("fallback", _v_fallback, pattern=r"(fallback(6)?)\s*=\s*(.*)"),
    row("fallbackcommand", _v_either_quoting("fallbackcommand", "invalid fallback command")),
    row("quiescent", _yes_no),
    row("emailalert", _emailalert, fields=("emailalert.to",)),
    row(
        "emailalertfreq",
        _emailalertfreq,
        fields=("emailalert.frequency",),
        pattern=r"emailalertfreq\s*=\s*(\d*)",
    ),
    row("emailalertstatus", _emailalertstatus, fields=("emailalert.statuses",)),
    row("monitorfile", _v_monitorfile),
    row("cleanstop", _yes_no),
    row("smtp", _smtp, fields=("emailalert.smtp",)),
    row("servicename", _plain),
    row("comment", _plain),
    *_anycast_shared("virtual"),
    *(_global_only(d) for d in _ANYCAST_GLOBAL),
)


def dispatch(
    table: tuple[Directive, ...], text: str, ctx: ParseContext, draft: Any, line: int
) -> bool:
    """Run the first directive whose pattern matches at the start of `text`."""
    for directive in table:
        m = directive.pattern.match(text)
        if m is not None:
            directive.handler(ctx, draft, m, line, directive.key)
            return True
    return False


# ------------------------------------------------------------- table completeness

GLOBAL_MODEL: tuple[type[Any], dict[str, type[Any]]] = (
    GlobalSettings,
    {"anycast": AnycastSettings},
)
"""The model a global row fills: GlobalSettings, and nested parts by field name."""
VIRTUAL_MODEL: tuple[type[Any], dict[str, type[Any]]] = (
    Virtual,
    {"emailalert": EmailAlert, "anycast": VirtualAnycast},
)
NOT_FROM_DIRECTIVES: dict[type[Any], frozenset[str]] = {
    GlobalSettings: frozenset({"anycast", "sources"}),
    AnycastSettings: frozenset({"sources"}),
    Virtual: frozenset({"line", "family", "address", "port", "fwmark", "sources"}),
}
"""Model fields that no directive fills (the virtual line itself, bookkeeping)."""


DERIVED_VIRTUAL_FIELDS = frozenset(
    {
        "protocol",
        "reals",
        "fallback",
        "checktimeout",
        "negotiatetimeout",
        "checkcount",
        "failurecount",
        "checkinterval",
        "quiescent",
        "cleanstop",
        "fallbackcommand",
        "emailalert",
        "anycast",
    }
)
"""Virtual fields the parser computes (inherited from a global, cascaded, resolved);
every other field a virtual row fills is taken as read (PLAIN_VIRTUAL_FIELDS)."""
PLAIN_VIRTUAL_FIELDS = tuple(
    sorted({f.split(".")[0] for d in VIRTUAL_DIRECTIVES for f in d.fields} - DERIVED_VIRTUAL_FIELDS)
)


class DirectiveTableError(Exception):
    """A directive table and the model disagree: a half-added directive."""


def _field_names(cls: type[Any]) -> frozenset[str]:
    return frozenset(f.name for f in dataclasses.fields(cls))


def table_problems(
    rows: Iterable[Directive], model: tuple[type[Any], dict[str, type[Any]]]
) -> list[str]:
    """Each row field the model lacks, and each model field no row fills."""
    top, nested = model
    problems: list[str] = []
    filled: dict[type[Any], set[str]] = {}
    for directive in rows:
        for path in directive.fields:
            head, _, rest = path.partition(".")
            cls, name = (nested.get(head), rest) if rest else (top, head)
            if cls is None or name not in _field_names(cls):
                owner = top.__name__ if cls is None else cls.__name__
                problems.append(
                    f"directive {directive.name!r} fills {path!r}, which is not a field "
                    f"of {owner}: add the field to the model (config/model.py)"
                )
                continue
            filled.setdefault(cls, set()).add(name)
            if rest:
                filled.setdefault(top, set()).add(head)
    for cls in (top, *nested.values()):
        if cls not in NOT_FROM_DIRECTIVES:
            continue
        for name in sorted(_field_names(cls) - NOT_FROM_DIRECTIVES[cls] - filled.get(cls, set())):
            problems.append(
                f"{cls.__name__}.{name} is filled by no directive: add its row to the "
                "directive table (config/directives.py)"
            )
    return problems


def check_tables(global_rows: Iterable[Directive], virtual_rows: Iterable[Directive]) -> None:
    """Refuse tables that disagree with the model (run when this module is imported)."""
    problems = table_problems(global_rows, GLOBAL_MODEL) + table_problems(
        virtual_rows, VIRTUAL_MODEL
    )
    if problems:
        raise DirectiveTableError("; ".join(problems))


check_tables(GLOBAL_DIRECTIVES, VIRTUAL_DIRECTIVES)
