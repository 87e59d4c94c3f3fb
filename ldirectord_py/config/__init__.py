"""ldirectord.cf: the legacy lexical rules, a table of directives, and a typed model.

from ldirectord_py.config import load, ConfigError
config = load("/etc/ha.d/ldirectord.cf")   # raises ConfigError(path, line, message)
report = load_all("/etc/ha.d/ldirectord.cf")  # every error (report.errors), for validate
"""

from ldirectord_py.config.errors import ConfigError, ConfigWarning
from ldirectord_py.config.model import (
    Config,
    EmailAlert,
    Fallback,
    Forward,
    GlobalSettings,
    Real,
    Virtual,
)
from ldirectord_py.config.parser import ParseReport, load, load_all, parse_all, parse_text
from ldirectord_py.config.resolve import Resolver, SystemResolver

__all__ = [
    "Config",
    "ConfigError",
    "ConfigWarning",
    "EmailAlert",
    "Fallback",
    "Forward",
    "GlobalSettings",
    "ParseReport",
    "Real",
    "Resolver",
    "SystemResolver",
    "Virtual",
    "load",
    "load_all",
    "parse_all",
    "parse_text",
]
