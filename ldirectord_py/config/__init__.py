"""ldirectord.cf: the legacy lexical rules, a table of directives, and a typed model.

from ldirectord_py.config import load, ConfigError
config = load("/etc/ha.d/ldirectord.cf")   # raises ConfigError(path, line, message)
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
from ldirectord_py.config.parser import load, parse_text
from ldirectord_py.config.resolve import Resolver, SystemResolver

__all__ = [
    "Config",
    "ConfigError",
    "ConfigWarning",
    "EmailAlert",
    "Fallback",
    "Forward",
    "GlobalSettings",
    "Real",
    "Resolver",
    "SystemResolver",
    "Virtual",
    "load",
    "parse_text",
]
