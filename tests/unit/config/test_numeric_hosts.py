"""Numeric addresses in a config are read without the C library's resolver where
inet_pton can read them (a reload parses tens of thousands; each resolver call hands
the interpreter lock to the loop and back), with the same text as the resolver gives."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from ldirectord_py.config import resolve


def _by_the_c_library(name: str, family: int) -> str | None:
    af = socket.AF_INET6 if family == 6 else socket.AF_INET
    try:
        infos = socket.getaddrinfo(name, 0, af, 0, 0, socket.AI_NUMERICHOST)
    except (OSError, UnicodeError, ValueError):
        return None
    return resolve._numeric_text(infos, af)


@pytest.mark.parametrize(
    ("name", "family"),
    [
        ("10.0.0.1", 4),
        ("192.0.2.01", 4),
        ("127.1", 4),
        ("0x7f.1", 4),
        ("1.2.3", 4),
        ("a.b", 4),
        ("", 4),
        ("::1", 6),
        ("2001:DB8::1", 6),
        ("2001:db8:0:0:0:0:0:1", 6),
        ("2001:db8:0:1:1:1:1:1", 6),
        ("::ffff:192.0.2.1", 6),
        ("0:0:0:0:0:ffff:c000:201", 6),
        ("fe80::1%lo", 6),
        ("10.0.0.1", 6),
    ],
)
def test_the_same_text_as_the_c_library(name: str, family: int) -> None:
    assert resolve._numeric_host(name, family) == _by_the_c_library(name, family)  # type: ignore[arg-type]


def test_the_usual_forms_do_not_call_the_resolver(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Any] = []

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        raise OSError("not expected")

    monkeypatch.setattr(socket, "getaddrinfo", counted)
    assert resolve._numeric_host("192.0.2.7", 4) == "192.0.2.7"
    assert resolve._numeric_host("2001:DB8::7", 6) == "2001:db8::7"
    assert calls == []
    # a form only the C library reads still goes there
    assert resolve._numeric_host("127.1", 4) is None
    assert len(calls) == 1
