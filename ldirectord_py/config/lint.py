"""What `ldirectordctl validate` warns about: a file both parsers accept, that
will not do what its author most likely meant.

Each check reads the parsed Config (and, for a few, the machine: files, the
resolver, a sysctl) and returns warnings with the file and line to look at and
a stable `code`, so scripts can allow a warning by name. The drop-in
`ldirectord` never runs these: it prints what the original prints.

What no check can see: that packets for a fwmark virtual are marked (iptables
or nftables rules live outside the file), and what the routers accept beyond
the prefixes given with `--router-config` (see `not_checked`).
"""

from __future__ import annotations

import ipaddress
import os
import re
import shlex
import shutil
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from ldirectord_py.checks import registry
from ldirectord_py.checks.descriptor import DeadlineRule
from ldirectord_py.config.errors import ConfigWarning
from ldirectord_py.config.locate import locate_config
from ldirectord_py.config.model import Config, Forward, Virtual
from ldirectord_py.config.resolve import Resolver
from ldirectord_py.networks import Network

EXPIRE_QUIESCENT_TEMPLATE = "/proc/sys/net/ipv4/vs/expire_quiescent_template"


def read_sysctl(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


@dataclass(frozen=True)
class RouterPrefix:
    """One `permit` of a router's prefix filter: routes inside `network` whose
    length is from `ge` to `le` are accepted."""

    network: Network
    ge: int
    le: int

    def accepts(self, host: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        length = host.max_prefixlen
        return (
            host.version == self.network.version
            and host in self.network
            and (self.ge <= length <= self.le)
        )


_FRR = re.compile(
    r"^\s*ipv?6?\s+prefix-list\s+\S+\s+(?:seq\s+\d+\s+)?permit\s+(\S+)"
    r"(?:\s+ge\s+(\d+))?(?:\s+le\s+(\d+))?",
    re.MULTILINE,
)
_BIRD = re.compile(r"([0-9A-Fa-f.:]+/\d+)(?:\{(\d+),(\d+)\}|(\+))?")


def router_prefixes(text: str) -> list[RouterPrefix]:
    """The prefixes a BIRD (`define X = [ NET{a,b}, NET+, NET ]`) or FRR (`ip
    prefix-list ... permit NET [ge A] [le B]`) configuration accepts, as in
    examples/router-*.conf. Only the permits are read (a deny listed before a
    permit is not seen): a VIP none of them accepts is surely refused."""
    found: list[RouterPrefix] = []
    for m in _FRR.finditer(text):
        network = _network(m.group(1))
        if network is None:
            continue
        # FRR: no ge/le is an exact match; `ge N` alone runs to the longest length.
        ge = int(m.group(2)) if m.group(2) else network.prefixlen
        if m.group(3):
            le = int(m.group(3))
        else:
            le = network.max_prefixlen if m.group(2) else network.prefixlen
        found.append(RouterPrefix(network, ge, le))
    for define in re.finditer(r"\[([^\]]*)\]", text):
        for m in _BIRD.finditer(define.group(1)):
            network = _network(m.group(1))
            if network is None:
                continue
            if m.group(2) is not None:
                found.append(RouterPrefix(network, int(m.group(2)), int(m.group(3))))
            elif m.group(4):
                found.append(RouterPrefix(network, network.prefixlen, network.max_prefixlen))
            else:
                found.append(RouterPrefix(network, network.prefixlen, network.prefixlen))
    return found


def _network(text: str) -> Network | None:
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None


@dataclass(frozen=True)
class Machine:
    """What the checks read outside the file (replaced in tests)."""

    resolver: Resolver
    sendmail: str = "/usr/sbin/sendmail"
    perl: str = "/usr/bin/perl"
    sysctl: Callable[[str], str | None] = read_sysctl
    router: tuple[RouterPrefix, ...] | None = None
    """The prefixes the routers accept (--router-config), or None: not checked."""


def not_checked(config: Config, machine: Machine) -> list[str]:
    """What this file needs that no check can see, said in every report so that
    an operator does not take silence for a pass."""
    out = []
    if any(v.fwmark is not None for v in config.virtuals):
        out.append(
            "fwmark virtuals: that iptables/nftables rules mark packets with the fwmark "
            "(the rules are outside this file)"
        )
    if machine.router is None and any(v.anycast is not None for v in config.virtuals):
        out.append(
            "anycast VIPs: that the routers accept their host routes (give the router's "
            "configuration with --router-config to check its prefix lists)"
        )
    return out


def lint(config: Config, machine: Machine) -> list[ConfigWarning]:
    """Every warning for `config`, in file order."""
    found = [w for check in _CHECKS for w in check(config, machine)]
    return sorted(found, key=lambda w: w.line or 0)


Warnings = Iterator[ConfigWarning]


def _warn(config: Config, line: int | None, code: str, message: str) -> ConfigWarning:
    return ConfigWarning(config.path, line, message, code)


def _gate_port(config: Config, machine: Machine) -> Warnings:
    """ip_vs cannot change the port with gate or ipip: the kernel uses the virtual's."""
    for v in config.virtuals:
        if v.fwmark is not None:
            continue
        for real in v.reals:
            if real.forward is Forward.MASQ or real.port in (0, v.port):
                continue
            yield _warn(
                config,
                real.line,
                "gate-port",
                f"real {real.hostport} of virtual {v.hostport} uses {real.forward.value}, "
                f"which cannot change the port: the kernel sends to port {v.port} and "
                f"ignores {real.port} (the check still goes to {v.checkport_for(real)})",
            )


def _command_problem(command: str) -> str | None:
    """Why a command run through the shell cannot start, or None."""
    try:
        words = shlex.split(command)
    except ValueError:
        return None
    if not words:
        return None
    return _file_problem(words[0], executable=True, search=True)


def _file_problem(path: str, *, executable: bool, search: bool = False) -> str | None:
    if search and "/" not in path:
        return None if shutil.which(path) else f"{path} is not found in PATH"
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        return f"{path}: {os.strerror(exc.errno) if exc.errno else exc}"
    if stat.S_ISDIR(mode):
        return f"{path} is a directory"
    if executable and not os.access(path, os.X_OK):
        return f"{path} is not executable"
    if not executable and not os.access(path, os.R_OK):
        return f"{path} is not readable"
    return None


def _commands(config: Config, machine: Machine) -> Warnings:
    settings = config.settings
    for v in config.virtuals:
        if v.checktype == "external":
            line = v.sources.get("checkcommand", v.line)
            if "checkcommand" not in v.sources:
                yield _warn(
                    config,
                    line,
                    "checkcommand",
                    f"checktype=external in virtual {v.hostport} without checkcommand: "
                    "the default /bin/true counts every real as up",
                )
            elif problem := _file_problem(v.checkcommand, executable=True):
                yield _warn(
                    config,
                    line,
                    "checkcommand",
                    f"checkcommand of virtual {v.hostport} cannot run (it is run without a "
                    f"shell, so it cannot carry arguments): {problem}",
                )
        elif v.checktype == "external-perl":
            line = v.sources.get("checkcommand", v.line)
            for problem in (
                _file_problem(machine.perl, executable=True),
                _file_problem(v.checkcommand, executable=False),
            ):
                if problem:
                    yield _warn(
                        config,
                        line,
                        "checkcommand",
                        f"checktype=external-perl in virtual {v.hostport} cannot run: {problem}",
                    )
    commands: list[tuple[str, str, int | None]] = []
    for name in ("fallbackcommand", "callback"):
        value = getattr(settings, name)
        if value is not None:
            commands.append((name, value, settings.sources.get(name)))
    commands += [
        ("fallbackcommand", v.fallbackcommand, v.sources["fallbackcommand"])
        for v in config.virtuals
        if v.fallbackcommand is not None and "fallbackcommand" in v.sources
    ]
    for name, command, where in commands:
        if problem := _command_problem(command):
            yield _warn(config, where, name, f"{name} cannot run: {problem}")


def _deadline(v: Virtual) -> DeadlineRule | None:
    """The deadline rule a check of `v` runs under (the check registry's: the
    runner arms the same); None when no check of `v` waits on its real."""
    descriptor = registry.descriptor_for(v.checktype, v.service, v.protocol)
    if descriptor is None or not descriptor.waits:
        return None
    return descriptor.deadline


def _timeout_interval(config: Config, machine: Machine) -> Warnings:
    """A check that can last its interval or longer delays the real's next check.

    The Perl original says nothing; with fork=no its checks run one after the
    other, so one hung check holds every other check that long. Here each real
    is checked on its own grid, and a turn that comes while the previous check
    still runs is skipped: a hung real is found down only after the timeout."""
    settings = config.settings
    for v in config.virtuals:
        rule = _deadline(v)
        if rule is None:
            continue
        name, timeout = rule.directive, rule.nominal(v)
        if timeout < v.checkinterval:
            continue
        keys = ("checktimeout", "negotiatetimeout", "checkinterval")
        written = [v.sources[k] for k in keys if k in v.sources] + [
            settings.sources[k] for k in keys if k in settings.sources
        ]
        if not written:
            continue  # the original's defaults (negotiatetimeout 30, checkinterval 10)
        where = next(
            (
                scope[key]
                for key in (name, "checkinterval")
                for scope in (v.sources, settings.sources)
                if key in scope
            ),
            v.line,
        )
        yield _warn(
            config,
            where,
            "timeout-interval",
            f"{rule.words} {timeout:g} of virtual {v.hostport} is not below its checkinterval "
            f"{v.checkinterval}: a check that hangs outlasts the interval, the next one "
            f"is skipped, and a hung real is found down only after {timeout:g} s (the Perl "
            "original would also hold every other check that long)",
        )


def _hosts(config: Config, machine: Machine) -> Warnings:
    """Names the parser does not resolve: they are looked up only when used."""
    settings = config.settings
    names: list[tuple[str, int | None, str]] = []
    smtps = {(settings.smtp, settings.sources.get("smtp"))} if settings.smtp else set()
    for v in config.virtuals:
        if v.emailalert.smtp and v.emailalert.to:
            smtps.add(
                (v.emailalert.smtp, v.sources.get("emailalert.smtp", settings.sources.get("smtp")))
            )
    names += [(host, line, "smtp") for host, line in sorted(smtps, key=lambda s: s[1] or 0)]
    gobgp = settings.anycast.gobgpapi
    if "gobgpapi" in settings.anycast.sources and not gobgp.startswith(("unix:", "[")):
        names.append((gobgp.rsplit(":", 1)[0], settings.anycast.sources["gobgpapi"], "gobgpapi"))
    if settings.metricsaddress and not settings.metricsaddress.startswith("["):
        host = settings.metricsaddress.rsplit(":", 1)[0]
        if host:
            names.append((host, settings.sources.get("metricsaddress"), "metricsaddress"))
    for name, line, directive in names:
        if machine.resolver.host(name, 4) is None and machine.resolver.host(name, 6) is None:
            yield _warn(
                config,
                line,
                "unresolvable",
                f"{directive} host {name} does not resolve (or the resolver did not answer "
                "in time)",
            )


def _oracle(config: Config, machine: Machine) -> Warnings:
    for v in config.virtuals:
        if v.service == "oracle" and v.checktype in ("negotiate", "combined"):
            yield _warn(
                config,
                v.sources.get("service", v.line),
                "oracle-check",
                f"service=oracle in virtual {v.hostport} checks only that the TNS listener "
                f"accepts a connection for SID {v.database or '(none)'}: login, passwd and "
                "request are not used (the Perl original logged in and ran the query)",
            )


def _anycast(config: Config, machine: Machine) -> Warnings:
    anycast = config.settings.anycast
    used = {v.anycast.prefix for v in config.virtuals if v.anycast is not None}
    for prefix in anycast.prefixes:
        if prefix not in used:
            yield _warn(
                config,
                anycast.sources.get("prefixes"),
                "anycast-prefix-unused",
                f"anycastprefix {prefix} holds no virtual service: nothing in it is announced",
            )
    if machine.router is None:
        return
    seen: set[str] = set()
    for v in config.virtuals:
        if v.anycast is None or v.anycast.address in seen:
            continue
        seen.add(v.anycast.address)
        host = ipaddress.ip_address(v.anycast.address)
        if not any(p.accepts(host) for p in machine.router):
            yield _warn(
                config,
                v.line,
                "anycast-router-prefix",
                f"anycast VIP {v.anycast.address}/{host.max_prefixlen} is in no prefix the "
                "router configuration accepts: the router would refuse its route",
            )


def _quiescent_persistent(config: Config, machine: Machine) -> Warnings:
    if machine.sysctl(EXPIRE_QUIESCENT_TEMPLATE) == "1":
        return
    for v in config.virtuals:
        if v.quiescent and v.persistent is not None:
            yield _warn(
                config,
                v.sources.get("quiescent", v.sources.get("persistent", v.line)),
                "quiescent-persistent",
                f"virtual {v.hostport} is persistent with quiescent=yes: a client with a "
                "persistence template keeps going to a failed (weight 0) real until the "
                f"template expires, unless sysctl net.ipv4.vs.expire_quiescent_template=1",
            )


def _email(config: Config, machine: Machine) -> Warnings:
    settings = config.settings
    reported: set[str] = set()
    for v in config.virtuals:
        mail = v.emailalert
        if not mail.to:
            continue
        line = v.sources.get("emailalert.to", settings.sources.get("emailalert"))
        if not mail.statuses:
            yield _warn(
                config,
                line,
                "emailalert-never",
                f"emailalert of virtual {v.hostport} with emailalertstatus=none: no mail is sent",
            )
        if mail.smtp is None and "sendmail" not in reported:
            problem = _file_problem(machine.sendmail, executable=True)
            if problem:
                reported.add("sendmail")
                yield _warn(
                    config,
                    line,
                    "emailalert-mailer",
                    f"emailalert without smtp goes through the local mailer, which is "
                    f"missing: {problem} (set smtp = HOST or install a sendmail)",
                )


def _reals(config: Config, machine: Machine) -> Warnings:
    for v in config.virtuals:
        if not v.reals:
            yield _warn(
                config,
                v.line,
                "no-reals",
                f"virtual {v.hostport} has no real server"
                + (": only its fallback serves" if v.fallback else ""),
            )
        first: dict[tuple[str, int], int] = {}
        for real in v.reals:
            key = (real.address, real.port)
            if key in first:
                yield _warn(
                    config,
                    real.line,
                    "duplicate-real",
                    f"real {real.hostport} is listed twice in virtual {v.hostport} (lines "
                    f"{first[key]} and {real.line}): ip_vs holds one destination for both",
                )
            else:
                first[key] = real.line


def _negotiate(config: Config, machine: Machine) -> Warnings:
    for v in config.virtuals:
        if v.checktype not in ("negotiate", "combined"):
            continue
        line = v.sources.get("service", v.line)
        own_receive = any(r.receive for r in v.reals)
        if v.service == "dns" and not v.receive and not own_receive:
            yield _warn(
                config,
                line,
                "negotiate-receive",
                f"service=dns in virtual {v.hostport} without receive: the check is always "
                "down (an answer must match receive)",
            )
        elif v.service in ("mysql", "pgsql") and (not v.login or "request" not in v.sources):
            yield _warn(
                config,
                line,
                "negotiate-receive",
                f"service={v.service} in virtual {v.hostport} needs login and request (the "
                "query): without them the check is always down",
            )
        elif (
            v.service in ("http", "https", "http_proxy")
            and not v.receive
            and not own_receive
            and "request" not in v.sources
        ):
            yield _warn(
                config,
                line,
                "negotiate-receive",
                f"service={v.service} in virtual {v.hostport} without request or receive: "
                f"the check takes any 2xx answer to {v.httpmethod} / as up",
            )


def _udp_connect(config: Config, machine: Machine) -> Warnings:
    for v in config.virtuals:
        if v.protocol == "udp" and v.checktype == "connect":
            yield _warn(
                config,
                v.sources.get("checktype", v.line),
                "udp-connect",
                f"checktype=connect on udp virtual {v.hostport} is an ICMP ping of each "
                "real (as in the original): it does not check the service",
            )


def _secrets_readable(config: Config, machine: Machine) -> Warnings:
    holders = [v for v in config.virtuals if v.passwd or v.secret]
    if not holders:
        return
    try:
        mode = os.stat(config.path).st_mode
    except OSError:
        return
    if mode & stat.S_IROTH:
        yield _warn(
            config,
            holders[0].sources.get("passwd", holders[0].sources.get("secret")),
            "secret-readable",
            f"{config.path} holds passwords (passwd/secret) and every user can read it: "
            f"chmod o-r {config.path}",
        )


def _execute(config: Config, machine: Machine) -> Warnings:
    for name in config.settings.execute:
        if locate_config(name) is None:
            yield _warn(
                config,
                config.settings.sources.get("execute"),
                "execute-missing",
                f"execute = {name}: no such configuration file (looked in /etc/ha.d, "
                "/etc/ha.d/conf and as given)",
            )


def _resolver_timeouts(config: Config, machine: Machine) -> Warnings:
    """Names that failed because the resolver did not answer in time (resolve.py
    bounds each lookup), not because they do not exist: run last, so that the
    lookups of the checks above count too."""
    names = sorted(set(getattr(machine.resolver, "timed_out", ())))
    if names:
        yield _warn(
            config,
            None,
            "resolver-timeout",
            f"the resolver did not answer in time for {', '.join(names)}: counted as "
            "unresolved (check /etc/resolv.conf, or use addresses)",
        )


_CHECKS: tuple[Callable[[Config, Machine], Warnings], ...] = (
    _gate_port,
    _commands,
    _timeout_interval,
    _hosts,
    _oracle,
    _anycast,
    _quiescent_persistent,
    _email,
    _reals,
    _negotiate,
    _udp_connect,
    _secrets_readable,
    _execute,
    _resolver_timeouts,
)
CODES = (
    "gate-port",
    "checkcommand",
    "fallbackcommand",
    "callback",
    "timeout-interval",
    "unresolvable",
    "oracle-check",
    "anycast-prefix-unused",
    "anycast-router-prefix",
    "quiescent-persistent",
    "emailalert-never",
    "emailalert-mailer",
    "no-reals",
    "duplicate-real",
    "negotiate-receive",
    "udp-connect",
    "secret-readable",
    "execute-missing",
    "resolver-timeout",
)
"""Every code a lint warning may carry (documented in ldirectordctl(8))."""
