"""`ldirectordctl validate CF`: a linter to run before a reload (as keepalived -t
or haproxy -c), and what the daemon would run.

Every error the file has is reported in one run (the drop-in `ldirectord` stops
at the first, in the original's words), then the warnings of config/lint.py.
A valid file's effective configuration is printed (every virtual and real,
defaults and inherited values filled in, each value's origin). Exit 0 when
valid, 1 with --strict and warnings, 2 when invalid, 1 when the file does not
exist. Secrets are masked in every format.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from ldirectord_py.config import Config, ConfigError, ConfigWarning, Virtual
from ldirectord_py.config.export import config_to_dict, render_anycast, warning_to_dict
from ldirectord_py.config.lint import Machine, RouterPrefix, lint, not_checked, router_prefixes
from ldirectord_py.config.locate import locate_config
from ldirectord_py.config.parser import load_all
from ldirectord_py.config.schedulers import unknown_schedulers
from ldirectord_py.config.secrets import MASK, SECRET_DIRECTIVES, mask_secrets
from ldirectord_py.daemon.mailer import SENDMAIL

JSON_SCHEMA = 1
"""The version of `validate --json`'s shape (ldirectordctl(8)); a key may be added
without a new version, never removed or changed in meaning."""

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


def render_text(config: Config, warnings: tuple[ConfigWarning, ...], unchecked: list[str]) -> str:
    """The effective configuration as an operator reads it, then the warnings
    and what no check can see."""
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
            if field in SECRET_DIRECTIVES and value:
                value = MASK
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
    if warnings:
        out += ["", "warnings:"]
        out += [f"    {_warning_text(w)}" for w in warnings]
    if unchecked:
        out += ["", "not checked:"]
        out += [f"    {item}" for item in unchecked]
    return "\n".join(out) + "\n"


def _warning_text(warning: ConfigWarning) -> str:
    text = mask_secrets(warning.describe())
    return f"{text} [{warning.code}]" if warning.code else text


def _source_lines(path: str) -> list[str]:
    """The file's lines as shown under an error (control bytes escaped, secrets
    masked), read once however many errors there are."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError:
        return []
    shown = []
    for line in raw.decode("latin-1").split("\n"):
        escaped = line.encode("unicode_escape").decode("ascii").replace("\\t", "\t")
        shown.append(mask_secrets(escaped))
    return shown


def _error_to_dict(error: ConfigError) -> dict[str, Any]:
    return {
        "path": error.path,
        "line": error.line,
        "message": mask_secrets(error.message.strip()),
    }


def _masked_warning(warning: ConfigWarning) -> dict[str, Any]:
    data = warning_to_dict(warning)
    data["message"] = mask_secrets(data["message"])
    return data


def _router(router_config: str | None) -> tuple[RouterPrefix, ...] | None:
    """The prefixes `--router-config` accepts (exit 1 if it has none to offer)."""
    if router_config is None:
        return None
    try:
        with open(router_config, encoding="utf-8", errors="replace") as f:
            router = tuple(router_prefixes(f.read()))
    except OSError as exc:
        click.echo(f"cannot read --router-config {router_config}: {exc.strerror}", err=True)
        sys.exit(1)
    if not router:
        click.echo(
            f"--router-config {router_config}: no prefix list (FRR `ip prefix-list ... "
            "permit`) or BIRD prefix set (`[ NET{a,b} ]`) found",
            err=True,
        )
        sys.exit(1)
    return router


@click.command()
@click.argument("configfile")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--strict", is_flag=True, help="Exit 1 when there are warnings.")
@click.option(
    "--router-config",
    metavar="FILE",
    help="A BIRD or FRR configuration whose prefix lists anycast routes must pass.",
)
def validate(configfile: str, as_json: bool, strict: bool, router_config: str | None) -> None:
    """Check CONFIGFILE as the daemon would read it: every error, then warnings.

    CONFIGFILE is looked up like ldirectord does: /etc/ha.d/CONFIGFILE,
    /etc/ha.d/conf/CONFIGFILE, then as given. A valid file's effective
    configuration is printed. Exit status: 0 valid, 1 valid with warnings under
    --strict, 2 invalid, 1 not found. Parse-time file tests (logfile,
    monitorfile) are done too.
    """
    path = locate_config(configfile)
    if path is None:
        click.echo(f"Config file {configfile} not found", err=True)
        sys.exit(1)
    router = _router(router_config)
    report = load_all(path)
    errors = list(report.errors)
    config = report.config
    warnings: tuple[ConfigWarning, ...] = ()
    unchecked: list[str] = []
    if config is not None:
        # Parsed as the original parses; a scheduler no ip_vs module provides is
        # refused by the kernel at run time, so validation refuses it now.
        errors += unknown_schedulers(config)
        machine = Machine(resolver=report.resolver, sendmail=SENDMAIL, router=router)
        warnings = tuple(sorted(config.warnings + tuple(lint(config, machine)), key=_line))
        unchecked = not_checked(config, machine)
    errors.sort(key=_line)
    valid = not errors
    status = 2 if errors else 1 if strict and warnings else 0
    if as_json:
        data: dict[str, Any] = {"schema": JSON_SCHEMA, "path": path}
        if valid and config is not None:
            data.update(config_to_dict(config))
        data.update(
            valid=valid,
            strict=strict,
            errors=[_error_to_dict(e) for e in errors],
            warnings=[_masked_warning(w) for w in warnings],
            not_checked=unchecked,
        )
        click.echo(json.dumps(data, indent=2))
        sys.exit(status)
    if valid and config is not None:
        click.echo(render_text(config, warnings, unchecked), nl=False)
        sys.exit(status)
    diagnostics: list[ConfigError | ConfigWarning] = [*errors, *warnings]
    lines = _source_lines(path)
    for item in sorted(diagnostics, key=_line):
        if isinstance(item, ConfigWarning):
            click.echo(_warning_text(item), err=True)
            continue
        click.echo(mask_secrets(item.describe()), err=True)
        if item.line and item.line <= len(lines) and lines[item.line - 1]:
            click.echo(f"    {lines[item.line - 1]}", err=True)
    count = f"{len(errors)} error{'s' if len(errors) != 1 else ''}"
    count += f", {len(warnings)} warning{'s' if len(warnings) != 1 else ''}"
    click.echo(f"{path}: invalid: {count}", err=True)
    sys.exit(status)


def _line(item: ConfigError | ConfigWarning) -> int:
    return item.line or 0
