"""The values `ldirectordctl validate` never prints, in any output format: the
check credentials `passwd` and `secret` (the model has no other secret: `smtp`
is a bare host name, mail goes without authentication, as in the original)."""

from __future__ import annotations

import re

SECRET_DIRECTIVES = ("passwd", "secret")
"""Directive names, which are also the Virtual fields that hold them."""
MASK = "********"

_SECRET_VALUE = re.compile(rf"\b({'|'.join(SECRET_DIRECTIVES)})(\s*=\s*)(\"?)(.*)")


def mask_secrets(text: str) -> str:
    """A config line or message with the value of every secret directive hidden, to
    the end of its line (an error may quote the line: `Unknown command "passwd=..."`;
    a password may hold quotes)."""
    return _SECRET_VALUE.sub(lambda m: f"{m.group(1)}{m.group(2)}{m.group(3)}{MASK}", text)
