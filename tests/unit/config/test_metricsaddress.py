"""`metricsaddress`: where the Prometheus exporter listens (global only)."""

from __future__ import annotations

import pytest

from .conftest import parse, parse_error


@pytest.mark.parametrize("value", ["127.0.0.1:9588", "[::1]:9588", ":9588", "metrics.example:9588"])
def test_accepted_forms(value: str) -> None:
    config = parse(f"metricsaddress = {value}\n")
    assert config.settings.metricsaddress == value
    assert config.settings.sources["metricsaddress"] == 1


def test_default_is_off() -> None:
    assert parse("checkinterval=5\n").settings.metricsaddress is None


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("9588", "metricsaddress must be host:port"),
        ("127.0.0.1:0", "port 0 is not in 1..65535"),
        ("[nope]:9588", "is not an IPv6 address"),
        ("", "metricsaddress must be host:port"),
    ],
)
def test_bad_values_name_the_line(value: str, message: str) -> None:
    error = parse_error(f"checkinterval=5\nmetricsaddress={value}\n")
    assert error.line == 2
    assert message in str(error)
