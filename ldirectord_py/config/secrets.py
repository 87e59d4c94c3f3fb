"""The values `ldirectordctl validate` never prints, in any output format: the
check credentials `passwd` and `secret` (the model has no other secret: `smtp`
is a bare host name, mail goes without authentication, as in the original)."""

from __future__ import annotations

import re

SECRET_DIRECTIVES = ("passwd", "secret")
"""Directive names, which are also the Virtual fields that hold them."""
MASK = "********"

_SECRET_VALUE = re.compile(rf"\b({'|'.join(SECRET_DIRECTIVES)})(\s*=\s*)(\"?)[^\"\n]*(\"?)")


def mask_secrets(text: str) -> str:
    """A config line or message with the value of every secret directive hidden
    (an error may quote the line it is about: `Unknown command "passwd=..."`)."""
    return _SECRET_VALUE.sub(
        lambda m: f"{m.group(1)}{m.group(2)}{m.group(3)}{MASK}{m.group(4)}", text
    )
