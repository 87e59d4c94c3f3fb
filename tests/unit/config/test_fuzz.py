"""Whatever bytes a config holds, the parser returns a model or raises ConfigError
naming a line of that file -- never another exception, never a traceback."""

from __future__ import annotations

import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ldirectord_py.config import Config, ConfigError, parse_text

from .conftest import RESOLVER

DIRECTIVES = [
    "checktimeout", "negotiatetimeout", "checkinterval", "checkcount", "failurecount",
    "fallback", "fallback6", "fallbackcommand", "autoreload", "callback", "logfile",
    "execute", "fork", "supervised", "quiescent", "readdquiescent", "emailalert",
    "emailalertfreq", "emailalertstatus", "emailalertfrom", "cleanstop", "smtp",
    "maintenancedir", "timeout", "connecttimeout", "real", "real6", "request", "receive",
    "checktype", "checkcommand", "checkport", "login", "passwd", "database", "secret",
    "load", "scheduler", "persistent", "schedflags", "netmask", "protocol", "ops",
    "service", "httpmethod", "virtualhost", "monitorfile", "servicename", "comment",
    "virtual", "virtual6",
]  # fmt: skip

VALUES = [
    "yes", "no", "0", "00", "5", "abc7", "", " ", "gate", "masq", "ipip", "tcp", "udp", "fwm",
    "http", "negotiate", "3", "connect", "127.0.0.1", "127.0.0.11:80", "127.0.0.1->127.0.0.3:80",
    "[::1]:80", "[2001:db8::1]", "localhost:http", "no-such-host", '"/x"', '"ok"', '"a", "b"',
    "l:5", "u:9", "255.255.255.0", "64", "wrr", "WRR", "all", "none,all", "starting,running",
    "/tmp", "/nonexistent/dir", "#", '"#x"', "\t", "\r", "7", "65536", "-1", "domain",
]  # fmt: skip

INDENTS = ["", "", "    ", "\t", "   ", "        ", " \t"]

line_strategy = st.builds(
    lambda indent, name, sep, values, tail: f"{indent}{name}{sep}{' '.join(values)}{tail}",
    st.sampled_from(INDENTS),
    st.sampled_from(DIRECTIVES),
    st.sampled_from(["=", " = ", "= ", " =", "==", ""]),
    st.lists(st.sampled_from(VALUES), max_size=4),
    st.sampled_from(["", "", " ", " # c", "\r", "\\"]),
)

plausible_config = st.lists(
    st.one_of(line_strategy, st.sampled_from(["", "# comment", "\t# x"])), max_size=25
).map(lambda lines: "\n".join(lines) + "\n")


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A plausible config, then damaged: bytes inserted, removed or replaced."""
    data = bytearray(draw(plausible_config).encode("latin-1"))
    for _ in range(draw(st.integers(0, 6))):
        if not data:
            break
        pos = draw(st.integers(0, len(data) - 1))
        kind = draw(st.sampled_from(["insert", "delete", "replace"]))
        if kind == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        elif kind == "delete":
            del data[pos : pos + draw(st.integers(1, 8))]
        else:
            data[pos] = draw(st.integers(0, 255))
    return bytes(data)


def check(data: bytes) -> None:
    lines = data.count(b"\n") + 1
    try:
        config = parse_text(data, "/etc/ha.d/fuzz.cf", resolver=RESOLVER, check_files=False)
    except ConfigError as err:
        assert err.line is None or 0 <= err.line <= lines
        text = err.perl_text(1)
        assert text.startswith("Error [1]") and text.endswith("\n")
        # No raw control bytes reach a terminal or a log line.
        assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\xff]", text)
        return
    assert isinstance(config, Config)
    for v in config.virtuals:
        assert v.identity
        for r in v.reals:
            v.check_identity(r)


FUZZ = settings(
    max_examples=10_000,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)


@FUZZ
@given(plausible_config)
def test_plausible_configs_parse_or_fail_cleanly(text: str) -> None:
    check(text.encode("latin-1"))


@FUZZ
@given(mutated())
def test_mutated_configs_parse_or_fail_cleanly(data: bytes) -> None:
    check(data)


@settings(max_examples=500, deadline=None, derandomize=True, database=None)
@given(st.binary(max_size=2000))
def test_binary_garbage_fails_cleanly(data: bytes) -> None:
    check(data)


def test_huge_file_is_refused_with_a_message(tmp_path: object) -> None:
    from pathlib import Path

    from ldirectord_py.config import load
    from ldirectord_py.config.parser import MAX_CONFIG_BYTES

    path = Path(str(tmp_path)) / "huge.cf"
    with open(path, "wb") as f:
        f.truncate(MAX_CONFIG_BYTES + 1)
    try:
        load(str(path))
    except ConfigError as err:
        assert "larger than 64 MiB" in err.message
        assert err.describe().startswith(str(path))
    else:
        raise AssertionError("a 64 MiB file was accepted")
