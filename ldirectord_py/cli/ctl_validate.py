"""`ldirectordctl validate CF`: what the daemon would run, before a reload.

Prints the effective configuration (every virtual and real, defaults and inherited
values filled in, each value's origin), or the errors with file and line.
Exit 0 when valid, 2 when not, 1 when the file does not exist.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from ldirectord_py.config import Config, ConfigError, Virtual, load
from ldirectord_py.config.export import config_to_dict, render_anycast
from ldirectord_py.config.locate import locate_config
from ldirectord_py.config.schedulers import unknown_schedulers

_GLOBAL_FIELDS = (
    "checktimeout",
    "negotiatetimeout",
    "checkinterval",
    "checkcount",
    "failurecount",
    "quiescent",
    "readdquiescent",
    "cleanstop",
    "autoreload",
    "callback",
    "fork",
    "supervised",
    "logfile",
    "execute",
    "fallback",
    "fallback6",
    "fallbackcommand",
    "emailalert",
    "emailalertfreq",
    "emailalertstatus",
    "emailalertfrom",
    "smtp",
    "maintenancedir",
    "metricsaddress",
)

# Virtual fields shown, and the global directive each one inherits from (if any).
_VIRTUAL_FIELDS: tuple[tuple[str, str | None], ...] = (
    ("protocol", None),
    ("scheduler", None),
    ("persistent", None),
    ("netmask", None),
    ("schedflags", None),
    ("ops", None),
    ("checktype", None),
    ("num_connects", None),
    ("service", None),
    ("checkport", None),
    ("request", None),
    ("receive", None),
    ("httpmethod", None),
    ("virtualhost", None),
    ("checkcommand", None),
    ("login", None),
    ("passwd", None),
    ("database", None),
    ("secret", None),
    ("checktimeout", "checktimeout"),
    ("negotiatetimeout", "negotiatetimeout"),
    ("checkinterval", "checkinterval"),
    ("checkcount", "checkcount"),
    ("failurecount", "failurecount"),
    ("quiescent", "quiescent"),
    ("cleanstop", "cleanstop"),
    ("fallbackcommand", "fallbackcommand"),
    ("monitorfile", None),
    ("servicename", None),
    ("comment", None),
)

_SECRET_FIELDS = {"passwd", "secret"}


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None:
        return "-"
    if isinstance(value, frozenset):
        return ",".join(sorted(value)) or "none"
    if isinstance(value, tuple):
        return " ".join(str(v) for v in value) or "-"
    if isinstance(value, str):
        return json.dumps(value) if (value == "" or value != value.strip()) else value
    return str(value)


# The timeouts default to each other (spec 2.6): where each one looks, in order.
_CASCADE = {
    "checktimeout": ("checktimeout", "negotiatetimeout"),
    "negotiatetimeout": ("negotiatetimeout", "checktimeout"),
}


def _origin(virtual: Virtual, field: str, inherits: str | None, config: Config) -> str:
    """Where an effective value came from: its own line, a global line, or a default."""
    own = _CASCADE.get(field, (field,))
    for key in own:
        if key in virtual.sources:
            return f"line {virtual.sources[key]}"
    for key in _CASCADE.get(inherits or "", (inherits,) if inherits else ()):
        if key in config.settings.sources:
            return f"global, line {config.settings.sources[key]}"
    return "default"


def render_text(config: Config) -> str:
    """The effective configuration as an operator reads it."""
    out = [f"configuration {config.path} (md5 {config.digest}): valid", "", "global:"]
    settings = config.settings
    for field in _GLOBAL_FIELDS:
        value = getattr(settings, field)
        if field in ("fallback", "fallback6") and value is not None:
            port = "virtual's port" if value.anonymous else str(value.tcp.port)
            value = f"{value.tcp.address}:{port} {value.tcp.forward.value}"
        origin = f"line {settings.sources[field]}" if field in settings.sources else "default"
        out.append(f"    {field:<17} {_show(value):<30} ({origin})")
    for v in config.virtuals:
        out += ["", f"virtual {v.identity} (line {v.line}):"]
        for field, inherits in _VIRTUAL_FIELDS:
            value = getattr(v, field)
            if field in _SECRET_FIELDS and value:
                value = "********"
            out.append(
                f"    {field:<17} {_show(value):<30} ({_origin(v, field, inherits, config)})"
            )
        if v.fallback is not None:
            out.append(f"    {'fallback':<17} {v.fallback.hostport} {v.fallback.forward.value}")
        if v.emailalert.to:
            mail = v.emailalert
            out.append(
                f"    {'emailalert':<17} {mail.to} every {mail.frequency}s "
                f"on {_show(mail.statuses)} via {mail.smtp or 'local mailer'}"
            )
        for real in v.reals:
            line = (
                f"    real {real.hostport} {real.forward.value} weight {real.weight}"
                f" (line {real.line})"
            )
            if real.lower_threshold or real.upper_threshold:
                line += f" thresholds l:{real.lower_threshold} u:{real.upper_threshold}"
            out.append(line)
            check = f"{v.checktype}" + (f" {v.service}" if v.checktype != "off" else "")
            target = v.checkport_for(real)
            detail = f"port {target}" if target is not None else "no port"
            if v.checktype in ("negotiate", "combined") and v.service in (
                "http",
                "https",
                "http_proxy",
            ):
                detail = f"{v.httpmethod} {v.url_for(real)}"
            receive = v.receive_for(real)
            if receive:
                detail += f" expecting /{receive}/"
            out.append(f"        check: {check}, {detail}")
    out += render_anycast(config)
    if config.warnings:
        out += ["", "warnings:"]
        out += [f"    {w.describe()}" for w in config.warnings]
    return "\n".join(out) + "\n"


def _source_line(path: str, line: int | None) -> str | None:
    """The offending line, shown under the error (control bytes escaped)."""
    if not line:
        return None
    try:
        with open(path, "rb") as f:
            for number, raw in enumerate(f, 1):
                if number == line:
                    text = raw.decode("latin-1").rstrip("\n")
                    return text.encode("unicode_escape").decode("ascii").replace("\\t", "\t")
    except OSError:
        return None
    return None


@click.command()
@click.argument("configfile")
@click.option("--json", "as_json", is_flag=True, help="Print the configuration as JSON.")
def validate(configfile: str, as_json: bool) -> None:
    """Parse CONFIGFILE as the daemon would and print the effective configuration.

    CONFIGFILE is looked up like ldirectord does: /etc/ha.d/CONFIGFILE,
    /etc/ha.d/conf/CONFIGFILE, then as given. Exit status: 0 valid, 2 invalid,
    1 not found. Parse-time file tests (logfile, monitorfile) are done too.
    """
    path = locate_config(configfile)
    if path is None:
        click.echo(f"Config file {configfile} not found", err=True)
        sys.exit(1)
    try:
        config = load(path)
        # Parsed as the original parses; a scheduler no ip_vs module provides is
        # refused by the kernel at run time, so validation refuses it now.
        problems = unknown_schedulers(config)
        if problems:
            problems[0].warnings = config.warnings
            raise problems[0]
    except ConfigError as exc:
        if as_json:
            click.echo(
                json.dumps(
                    {
                        "path": path,
                        "valid": False,
                        "errors": [
                            {"path": exc.path, "line": exc.line, "message": exc.message.strip()}
                        ],
                        "warnings": [w.describe() for w in exc.warnings],
                    },
                    indent=2,
                )
            )
        else:
            for warning in exc.warnings:
                click.echo(warning.describe(), err=True)
            click.echo(exc.describe(), err=True)
            quoted = _source_line(exc.path, exc.line)
            if quoted:
                click.echo(f"    {quoted}", err=True)
        sys.exit(2)
    if as_json:
        data = config_to_dict(config)
        data["valid"] = True
        click.echo(json.dumps(data, indent=2))
    else:
        click.echo(render_text(config), nl=False)
