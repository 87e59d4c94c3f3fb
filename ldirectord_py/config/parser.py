"""Read an ldirectord.cf into a Config, accepting and rejecting exactly what the
Perl original does, with the same messages and line numbers."""

from __future__ import annotations

import hashlib
import ipaddress
import os
import re
import socket
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from ldirectord_py.config.directives import (
    GLOBAL_DIRECTIVES,
    PLAIN_VIRTUAL_FIELDS,
    VIRTUAL_DIRECTIVES,
    GlobalDraft,
    ParseContext,
    VirtualDraft,
    dispatch,
)
from ldirectord_py.config.errors import ConfigError, ConfigWarning
from ldirectord_py.config.extensions import unmask
from ldirectord_py.config.extras import missing_extra
from ldirectord_py.config.lexer import GlobalLine, VirtualBlock, lex, split_lines
from ldirectord_py.config.model import (
    ANYCAST_DIRECTIVES,
    ANYCAST_VIP_FIELDS,
    DEFAULT_CHECKTIMEOUT,
    DEFAULT_NEGOTIATETIMEOUT,
    PORT_SERVICES,
    AnycastSettings,
    Config,
    EmailAlert,
    Family,
    GlobalSettings,
    Protocol,
    Virtual,
    VirtualAnycast,
    bracketed,
)
from ldirectord_py.config.reals import (
    parse_reals,
    resolve_fallback,
    resolve_host,
    resolve_port,
    split_port,
)
from ldirectord_py.config.resolve import Resolver, SystemResolver
from ldirectord_py.config.values import BadValue

MAX_CONFIG_BYTES = 64 * 1024 * 1024
"""Far beyond any real ldirectord.cf (bench/README.md has the size of a very large
one); a bigger file is a mistake, and reading it would only exhaust memory."""

_V4_HOSTPORT = re.compile(r"(\d+\.\d+\.\d+\.\d+):([0-9A-Za-z_-]+)", re.ASCII)
_NAME_HOSTPORT = re.compile(r"([0-9A-Za-z._+-]+):([0-9A-Za-z_-]+)", re.ASCII)
_FWMARK = re.compile(r"(\d+)", re.ASCII)
_V6_HOSTPORT = re.compile(r"\[([0-9A-Fa-f:]+)\]:([0-9A-Za-z_-]+)", re.ASCII)


def default_hostname() -> str:
    """$HOSTNAME if set (even empty), else the node name, as the original."""
    hostname = os.environ.get("HOSTNAME")
    return hostname if hostname is not None else os.uname().nodename


def load(
    path: str,
    *,
    hostname: str | None = None,
    resolver: Resolver | None = None,
    debug: bool = False,
    check_files: bool = True,
) -> Config:
    """Read and parse `path` (already located: it is the name used in messages)."""
    return parse_text(
        _read_file(path),
        path,
        hostname=hostname,
        resolver=resolver,
        debug=debug,
        check_files=check_files,
    )


def _read_file(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_CONFIG_BYTES + 1)
    except OSError:
        raise ConfigError(path, 0, f"can not open file {path}") from None
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(
            path, 0, f"file {path} is larger than {MAX_CONFIG_BYTES // (1024 * 1024)} MiB"
        )
    return data


def parse_text(
    text: str | bytes,
    path: str,
    *,
    hostname: str | None = None,
    resolver: Resolver | None = None,
    debug: bool = False,
    check_files: bool = True,
) -> Config:
    """Parse configuration text; `path` names it in messages.

    `check_files=False` skips the original's parse-time file tests (logfile and
    monitorfile opened for append, maintenancedir existence), for offline checks."""
    ctx = _context(path, hostname, resolver, debug, check_files, keep_going=False)
    try:
        return _parse(text, ctx)
    except ConfigError as exc:
        exc.warnings = _warnings(ctx)
        exc.logfile = ctx.logfile
        raise


@dataclass(frozen=True)
class ParseReport:
    """Everything a read that goes on after errors found (`ldirectordctl validate`).

    `errors` are in the order they were found, the first being the one the
    original (and `parse_text`) stops at; `config` holds the global settings and
    the virtual services that had no error (None if the file could not be read)."""

    path: str
    errors: tuple[ConfigError, ...]
    config: Config | None
    resolver: Resolver

    @property
    def warnings(self) -> tuple[ConfigWarning, ...]:
        return () if self.config is None else self.config.warnings


def load_all(
    path: str,
    *,
    hostname: str | None = None,
    resolver: Resolver | None = None,
    check_files: bool = True,
) -> ParseReport:
    """Read `path` as `load` does, but report every error it can find in one run:
    a bad line is reported and the next read, a bad virtual block is reported and
    left out, and the checks that need the whole file run on what is left."""
    try:
        data = _read_file(path)
    except ConfigError as exc:
        return ParseReport(path, (exc,), None, resolver or SystemResolver())
    return parse_all(data, path, hostname=hostname, resolver=resolver, check_files=check_files)


def parse_all(
    text: str | bytes,
    path: str,
    *,
    hostname: str | None = None,
    resolver: Resolver | None = None,
    check_files: bool = True,
) -> ParseReport:
    """`load_all` on text already read; `path` names it in messages."""
    ctx = _context(path, hostname, resolver, False, check_files, keep_going=True)
    config = _parse(text, ctx)
    return ParseReport(path, tuple(ctx.errors), config, ctx.resolver)


def _context(
    path: str,
    hostname: str | None,
    resolver: Resolver | None,
    debug: bool,
    check_files: bool,
    *,
    keep_going: bool,
) -> ParseContext:
    return ParseContext(
        path=path,
        hostname=hostname if hostname is not None else default_hostname(),
        resolver=resolver if resolver is not None else SystemResolver(),
        debug=debug,
        check_files=check_files,
        keep_going=keep_going,
    )


def _parse(text: str | bytes, ctx: ParseContext) -> Config:
    data = text.encode("latin-1") if isinstance(text, str) else text
    settings, drafts = _read(unmask(data.decode("latin-1"), ctx.error), ctx)
    virtuals = tuple(v for d in drafts if (v := _derive(d, settings, ctx)) is not None)
    _check_anycast(settings.anycast, virtuals, ctx)
    warnings = list(_warnings(ctx))
    if not settings.fork:
        for v in virtuals:
            if "checkinterval" in v.sources:
                warnings.append(
                    ConfigWarning(
                        ctx.path,
                        None,
                        f"checkinterval in virtual service {v.identity} ignored when fork=no",
                    )
                )
    return Config(
        path=ctx.path,
        settings=settings,
        virtuals=virtuals,
        warnings=tuple(warnings),
        digest=hashlib.md5(data).hexdigest(),
    )


def _warnings(ctx: ParseContext) -> tuple[ConfigWarning, ...]:
    return tuple(ConfigWarning(ctx.path, line, msg) for line, msg in ctx.warnings)


def _read(text: str, ctx: ParseContext) -> tuple[GlobalSettings, list[VirtualDraft]]:
    globals_ = GlobalDraft()
    drafts: list[VirtualDraft] = []
    seen: set[str] = set()
    for item in lex(split_lines(text)):
        if isinstance(item, VirtualBlock):
            draft = _read_block(item, ctx)
            if draft.broken:
                continue
            identity = _draft_identity(draft)
            if identity in seen:
                ctx.error(item.end_line, "duplicate virtual server")
                continue
            seen.add(identity)
            drafts.append(draft)
            continue
        _read_global(item, globals_, ctx)
    return _settings(globals_), drafts


def _read_global(item: GlobalLine, draft: GlobalDraft, ctx: ParseContext) -> None:
    if re.match(r"\s*$", item.text, re.ASCII) or re.match(r"\s*#", item.text, re.ASCII):
        return
    try:
        known = dispatch(GLOBAL_DIRECTIVES, item.text, ctx, draft, item.line)
    except BadValue as exc:
        ctx.error(item.line, str(exc))
        return
    if not known:
        ctx.error(item.line, f"Unknown command {item.text} ")


def _new_draft(item: VirtualBlock, ctx: ParseContext) -> VirtualDraft:
    """The virtual line itself: address:port, hostname:port, fwmark or [v6]:port."""
    family: Family = 6 if item.ipv6 else 4
    value = item.value
    hostport: str | None = None
    port_text = "0"
    fwmark: str | None = None
    problem: str | None = None
    if (family == 4 and (m := _V4_HOSTPORT.match(value))) or (m := _NAME_HOSTPORT.match(value)):
        hostport, port_text = f"{m.group(1)}:{m.group(2)}", m.group(2)
    elif m := _FWMARK.match(value):
        fwmark = m.group(1)
    elif (m := _V6_HOSTPORT.match(value)) and family == 4:
        problem = 'cannot specify an IPv6 address here. please use "virtual6" instead.'
    elif m := _V6_HOSTPORT.match(value):
        try:
            socket.inet_pton(socket.AF_INET6, m.group(1))
            hostport, port_text = f"[{m.group(1)}]:{m.group(2)}", m.group(2)
        except OSError:
            problem = "invalid ipv6 address for virtual server"
    else:
        problem = "invalid address for virtual server"
    if problem is not None:
        # Reading on (validate): the block is still read for its own errors.
        ctx.error(item.line, problem)

    protocol = "fwm"
    if hostport is not None:
        protocol = "udp" if re.search(r":(53|domain)$", hostport) else "tcp"
    draft = VirtualDraft(
        line=item.line,
        family=family,
        hostport=hostport,
        port_text=port_text,
        fwmark=fwmark,
        protocol=protocol,
        broken=problem is not None,
    )
    draft.values.update(
        checktype="negotiate",
        num_connects=0,
        scheduler="wrr",
        checkcommand="/bin/true",
        request="/",
        receive="",
        login="",
        passwd="",
        database="",
        secret="",
        httpmethod="GET",
        ops=False,
    )
    if fwmark is not None:
        draft.values["service"] = "none"
    return draft


def _read_block(item: VirtualBlock, ctx: ParseContext) -> VirtualDraft:
    draft = _new_draft(item, ctx)
    for entry in item.body:
        try:
            known = dispatch(VIRTUAL_DIRECTIVES, entry.command, ctx, draft, entry.line)
        except BadValue as exc:
            _block_error(draft, ctx, entry.line, str(exc))
            continue
        if not known:
            _block_error(draft, ctx, entry.line, f'Unknown command "{entry.raw}"')
    # Names are resolved only now: the protocol (for service names) is final.
    if draft.fallback is not None:
        try:
            draft.resolved_fallback = resolve_fallback(
                draft.fallback, draft.protocol, draft.family, ctx.resolver
            )
        except BadValue as exc:
            _block_error(draft, ctx, draft.fallback.line, str(exc))
    _resolve_virtual(draft, ctx)
    for text, line in draft.real_lines:
        try:
            draft.reals.extend(parse_reals(text, line, draft.family, ctx.resolver))
        except BadValue as exc:
            _block_error(draft, ctx, line, str(exc))
    return draft


def _block_error(draft: VirtualDraft, ctx: ParseContext, line: int, message: str) -> None:
    """An error in a virtual block: raised, or (reading on) kept, the block then
    being left out of the configuration."""
    draft.broken = True
    ctx.error(line, message)


def _resolve_virtual(draft: VirtualDraft, ctx: ParseContext) -> None:
    if draft.hostport is None:
        return
    host, port = split_port(draft.hostport)
    address = resolve_host(ctx.resolver, host, draft.family)
    resolved_port = None if port is None else resolve_port(ctx.resolver, port, draft.protocol)
    if address is None or resolved_port is None:
        _block_error(draft, ctx, draft.line, "invalid address for virtual service")
        return
    draft.values["address"] = address
    draft.port_text = resolved_port
    if "service" not in draft.values:
        # The original compares the port as written ("021" is not 21).
        service = PORT_SERVICES.get(int(resolved_port))
        draft.values["service"] = (
            service if service and str(int(resolved_port)) == resolved_port else "none"
        )


def _draft_identity(draft: VirtualDraft) -> str:
    if draft.fwmark is not None:
        return f"fwm{'6' if draft.family == 6 else ''}:{draft.fwmark}"
    address = bracketed(draft.values["address"], draft.family)
    return f"{draft.protocol}:{address}:{draft.port_text}"


def _settings(draft: GlobalDraft) -> GlobalSettings:
    values: dict[str, Any] = dict(draft.values)
    values["execute"] = tuple(draft.execute)
    return GlobalSettings(
        **values,
        anycast=_anycast_settings(draft),
        sources=MappingProxyType(dict(draft.sources)),
    )


def _anycast_settings(draft: GlobalDraft) -> AnycastSettings:
    values: dict[str, Any] = dict(draft.anycast.values)
    for key in ("prefixes", "communities"):
        if key in values:
            values[key] = tuple(values[key])
    return AnycastSettings(**values, sources=MappingProxyType(dict(draft.anycast.sources)))


class _Refused(Exception):
    """A virtual left out of the configuration (its error is already reported)."""


def _virtual_anycast(
    draft: VirtualDraft, settings: AnycastSettings, ctx: ParseContext
) -> VirtualAnycast | None:
    """The anycast settings of a virtual inside an anycastprefix; None outside
    (where any anycast directive in the block is an error: the prefix guard,
    raised as _Refused when reading on)."""
    own = draft.anycast
    address = draft.values.get("address")
    prefix = None if address is None else settings.prefix_for(address)
    if prefix is None:
        if own.sources:
            key = min(own.sources, key=lambda k: own.sources[k])
            directive = ANYCAST_DIRECTIVES[key]
            if draft.fwmark is not None:
                message = (
                    f"{directive} in virtual {draft.fwmark} (a fwmark) at line {draft.line}: "
                    "only a virtual with an address can be an anycast VIP"
                )
            else:
                assert address is not None
                where = f"{bracketed(address, draft.family)}:{draft.port_text}"
                message = (
                    f"virtual {where} at line {draft.line} is outside every anycastprefix: "
                    f"refusing to announce it ({directive})"
                )
            ctx.error(own.sources[key], message)
            raise _Refused
        return None
    assert address is not None
    v = own.values
    nexthop = v.get("nexthop", settings.nexthop6 if draft.family == 6 else settings.nexthop)
    communities = tuple(v["communities"]) if "communities" in v else settings.communities
    return VirtualAnycast(
        address=str(ipaddress.ip_address(address)),
        prefix=prefix,
        interface=v.get("interface", settings.interface),
        nexthop=nexthop,
        communities=communities,
        med=v.get("med", settings.med),
        down=v.get("down", settings.down),
        when=v.get("when", settings.when),
        holddown=v.get("holddown", settings.holddown),
        sources=MappingProxyType(dict(own.sources)),
    )


def _anycast_line(virtual: Virtual, key: str) -> int:
    """Where a virtual's anycast value was written (its own line if inherited)."""
    assert virtual.anycast is not None
    return virtual.anycast.sources.get(key, virtual.line)


def _check_anycast(
    settings: AnycastSettings, virtuals: tuple[Virtual, ...], ctx: ParseContext
) -> None:
    """Checks that need the whole file: one set of values per VIP, and the
    interface method's limits (an address is there or not: no MED, no prepend)."""
    if settings.method == "interface":
        if settings.down.action != "withdraw":
            _interface_down_error(str(settings.down), settings.sources["down"], ctx)
        for key in ("nexthop", "nexthop6", "communities", "med"):
            if key in settings.sources:
                ctx.warn(
                    settings.sources[key],
                    f"{ANYCAST_DIRECTIVES[key]} is ignored with anycastmethod = interface",
                )
    elif "prefixes" not in settings.sources and settings.sources:
        key = min(settings.sources, key=lambda k: settings.sources[k])
        ctx.warn(
            settings.sources[key],
            f"{ANYCAST_DIRECTIVES[key]} without any anycastprefix: no VIP is anycast",
        )
    first: dict[str, Virtual] = {}
    for virtual in virtuals:
        anycast = virtual.anycast
        if anycast is None:
            continue
        if settings.method == "interface":
            if anycast.down.action != "withdraw":
                _interface_down_error(str(anycast.down), anycast.sources["down"], ctx)
            for key in ("nexthop", "communities", "med"):
                if key in anycast.sources:
                    ctx.warn(
                        anycast.sources[key],
                        f"{ANYCAST_DIRECTIVES[key]} is ignored with anycastmethod = interface",
                    )
        other = first.setdefault(anycast.address, virtual)
        if other is virtual:
            continue
        assert other.anycast is not None
        for key in ANYCAST_VIP_FIELDS:
            mine, theirs = getattr(anycast, key), getattr(other.anycast, key)
            if mine == theirs:
                continue
            directive = ANYCAST_DIRECTIVES[key]
            ctx.error(
                _anycast_line(virtual, key),
                f"{directive} differs between virtual services on anycast VIP "
                f"{anycast.address}: {_shown(theirs)} for {other.label} (line "
                f"{_anycast_line(other, key)}), {_shown(mine)} for {virtual.label} (line "
                f"{_anycast_line(virtual, key)}); one VIP has one route, so they must agree",
            )
            break


def _shown(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, tuple):
        return " ".join(value) or "none"
    return str(value)


def _interface_down_error(down: str, line: int, ctx: ParseContext) -> None:
    ctx.error(
        line,
        f"anycastdown {down} needs anycastmethod = gobgp: with anycastmethod = interface "
        "the VIP address is there or not, so only 'withdraw' is possible",
    )


def _effective(draft: VirtualDraft, key: str, default: Any) -> Any:
    return draft.values.get(key, default)


def _derive(draft: VirtualDraft, settings: GlobalSettings, ctx: ParseContext) -> Virtual | None:
    """The original's ld_setup: the timeout cascade and every inherited value
    (None: the virtual was refused and, reading on, left out)."""
    v = draft.values
    port = int(draft.port_text)
    checktimeout = next(
        t
        for t in (
            v.get("checktimeout"),
            v.get("negotiatetimeout"),
            settings.checktimeout,
            settings.negotiatetimeout,
            DEFAULT_CHECKTIMEOUT,
        )
        if t is not None
    )
    negotiatetimeout = next(
        t
        for t in (
            v.get("negotiatetimeout"),
            v.get("checktimeout"),
            settings.negotiatetimeout,
            settings.checktimeout,
            DEFAULT_NEGOTIATETIMEOUT,
        )
        if t is not None
    )
    fallback = draft.resolved_fallback
    inherited = settings.fallback6 if draft.family == 6 else settings.fallback
    if fallback is None and inherited is not None:
        fallback = inherited.for_virtual(draft.protocol, port)
    protocol: Protocol = draft.protocol  # type: ignore[assignment]
    if need := missing_extra(v["checktype"], v["service"]):
        ctx.error(draft.sources.get("service", draft.line), need)
        return None
    try:
        anycast = _virtual_anycast(draft, settings.anycast, ctx)
    except _Refused:
        return None
    # Values taken as read (or the block's default): a new directive of this kind
    # needs a table row and a model field, no line here.
    as_read: dict[str, Any] = {name: v.get(name) for name in PLAIN_VIRTUAL_FIELDS}
    return Virtual(
        line=draft.line,
        family=draft.family,
        protocol=protocol,
        address=v.get("address"),
        port=port,
        fwmark=None if draft.fwmark is None else int(draft.fwmark),
        **as_read,
        checktimeout=checktimeout,
        negotiatetimeout=negotiatetimeout,
        checkcount=_effective(draft, "checkcount", settings.checkcount),
        failurecount=_effective(draft, "failurecount", settings.failurecount),
        checkinterval=(
            _effective(draft, "checkinterval", settings.checkinterval)
            if settings.fork
            else settings.checkinterval
        ),
        quiescent=_effective(draft, "quiescent", settings.quiescent),
        cleanstop=_effective(draft, "cleanstop", settings.cleanstop),
        fallback=fallback,
        fallbackcommand=_effective(draft, "fallbackcommand", settings.fallbackcommand),
        emailalert=EmailAlert(
            to=_effective(draft, "emailalert.to", settings.emailalert),
            frequency=_effective(draft, "emailalert.frequency", settings.emailalertfreq),
            statuses=_effective(draft, "emailalert.statuses", settings.emailalertstatus),
            smtp=_effective(draft, "emailalert.smtp", settings.smtp),
            sender=settings.emailalertfrom,
        ),
        reals=tuple(draft.reals),
        sources=MappingProxyType(dict(draft.sources)),
        anycast=anycast,
    )
