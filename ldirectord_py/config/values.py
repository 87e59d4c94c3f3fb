"""How the original reads directive values (spec 2.1): most numbers are the first
run of digits anywhere in the value, truth follows Perl ("0" and "" are false, "00"
is true), yes/no must be exact, and some strings must be quoted."""

from __future__ import annotations

import re

from ldirectord_py.config.model import EMAIL_STATUSES

_DIGITS = re.compile(r"\d+", re.ASCII)


class BadValue(Exception):
    """A value the original rejects; the caller attaches file and line."""


def first_digits(value: str) -> str | None:
    """The first run of digits anywhere in `value` (`abc5` gives `5`)."""
    m = _DIGITS.search(value)
    return m.group(0) if m else None


def perl_true(text: str | None) -> bool:
    """Perl truth of a string: everything but undef, "" and "0"."""
    return text is not None and text not in ("", "0")


def positive_digits(value: str, message: str) -> int:
    """A count or timeout: the first digit run, which must be Perl-true."""
    digits = first_digits(value)
    if not perl_true(digits):
        raise BadValue(message)
    assert digits is not None
    return int(digits)


def yes_no(value: str, message: str) -> bool:
    """Exactly `yes` or `no`: trailing blanks, comments and CR are errors."""
    if value == "yes":
        return True
    if value == "no":
        return False
    raise BadValue(message)


def email_address(value: str) -> str:
    """An address list, optionally in one pair of double quotes."""
    m = re.fullmatch(r'"([^"]*)"', value)
    if m:
        value = m.group(1)
    if not value:
        raise BadValue("no email address specified")
    return value


def email_statuses(value: str) -> frozenset[str]:
    """A comma list of all, none, starting, running, stopping, reloading."""
    words = re.split(r"\s*,\s*", value)
    while words and not words[-1]:  # Perl's split drops trailing empty fields
        words.pop()
    has_none = "none" in words
    result: set[str] = set()
    for word in words:
        if word == "none":
            continue
        if word == "all":
            result = set(EMAIL_STATUSES)
        elif word in EMAIL_STATUSES:
            result.add(word)
        else:
            raise BadValue(f'invalid email alert status at: "{word}"')
        if has_none:
            raise BadValue(f'invalid email alert status: "{word}" specified with "none"')
    return frozenset(result)
