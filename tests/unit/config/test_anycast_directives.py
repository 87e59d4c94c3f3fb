"""The anycast directives (additions of this project): values, defaults, scope,
repeatables, the prefix guard, per-VIP agreement, every error with its line, and
what `validate` shows."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from ldirectord_py.cli import ctl_validate
from ldirectord_py.cli.ctl import cli
from ldirectord_py.config import load
from ldirectord_py.config.export import (
    anycast_configured,
    anycast_to_dict,
    anycast_vips,
    config_to_dict,
    render_anycast,
)
from ldirectord_py.config.model import AnycastDown, AnycastSettings, MaxWithdraw

from .conftest import parse, parse_error

PREFIX = "anycastprefix = 198.51.100.0/24\n"
VIP = "virtual=198.51.100.10:80\n\treal=127.0.0.11:80 gate\n"
VIP_443 = "virtual=198.51.100.10:443\n\treal=127.0.0.11:443 gate\n"
OUTSIDE = "virtual=192.0.2.10:80\n\treal=127.0.0.11:80 gate\n"
VIP6 = "virtual6=[2001:db8::10]:80\n\treal6=[2001:db8:1::1]:80 gate\n"


def anycast(text: str) -> AnycastSettings:
    return parse(text).settings.anycast


def only_virtual(text: str) -> Any:
    (v,) = parse(text).virtuals
    return v


# ----------------------------------------------------------------- global values


def test_defaults_without_any_anycast_directive() -> None:
    config = parse(VIP)
    settings = config.settings.anycast
    assert settings == AnycastSettings()
    assert settings.prefixes == ()
    assert settings.method == "gobgp"
    assert settings.gobgpapi == "127.0.0.1:50051"
    assert settings.maxwithdraw is None
    assert settings.stop == "withdraw"
    assert settings.interface == "lo"
    assert settings.nexthop is None and settings.nexthop6 is None
    assert settings.communities == ()
    assert settings.med is None
    assert settings.down == AnycastDown("withdraw")
    assert settings.when == "all"
    assert settings.holddown == 0
    assert dict(settings.sources) == {}
    assert config.virtuals[0].anycast is None
    assert config.warnings == ()


GLOBALS = [
    ("anycastprefix = 198.51.100.0/24", "prefixes", (ipaddress.ip_network("198.51.100.0/24"),)),
    ("anycastprefix=2001:db8::/32", "prefixes", (ipaddress.ip_network("2001:db8::/32"),)),
    ("anycastprefix = 198.51.100.7/32", "prefixes", (ipaddress.ip_network("198.51.100.7/32"),)),
    ("anycastmethod = gobgp", "method", "gobgp"),
    ("anycastmethod = interface", "method", "interface"),
    ("gobgpapi = 127.0.0.1:50051", "gobgpapi", "127.0.0.1:50051"),
    ("gobgpapi = gobgp.example.org:6000", "gobgpapi", "gobgp.example.org:6000"),
    ("gobgpapi = [::1]:50051", "gobgpapi", "[::1]:50051"),
    ("gobgpapi = unix:/run/gobgpd.sock", "gobgpapi", "unix:/run/gobgpd.sock"),
    ("anycastmaxwithdraw = 2", "maxwithdraw", MaxWithdraw(2)),
    ("anycastmaxwithdraw = 0", "maxwithdraw", MaxWithdraw(0)),
    ("anycastmaxwithdraw = 25%", "maxwithdraw", MaxWithdraw(25, percent=True)),
    ("anycaststop = keep", "stop", "keep"),
    ("anycaststop = withdraw", "stop", "withdraw"),
    ("anycastinterface = dummy0", "interface", "dummy0"),
    ("anycastinterface = eth0.100", "interface", "eth0.100"),
    ("anycastnexthop = 192.0.2.1", "nexthop", "192.0.2.1"),
    ("anycastnexthop = 2001:DB8::1", "nexthop6", "2001:db8::1"),
    ("anycastcommunity = 65000:100", "communities", ("65000:100",)),
    ("anycastmed = 0", "med", 0),
    ("anycastmed = 4294967295", "med", 4294967295),
    ("anycastdown = withdraw", "down", AnycastDown()),
    ("anycastdown = med 500", "down", AnycastDown("med", number=500)),
    ("anycastdown = prepend 3", "down", AnycastDown("prepend", number=3)),
    ("anycastdown = community 65000:666", "down", AnycastDown("community", community="65000:666")),
    ("anycastwhen = any", "when", "any"),
    ("anycastwhen = all", "when", "all"),
    ("anycastholddown = 30", "holddown", 30),
    ("anycastholddown = 0", "holddown", 0),
    ("anycastholddown = 30   # half a minute", "holddown", 30),
    ("anycastmed=7\t", "med", 7),
]


@pytest.mark.parametrize(("line", "attr", "expected"), GLOBALS, ids=[g[0] for g in GLOBALS])
def test_global_directive_value(line: str, attr: str, expected: Any) -> None:
    settings = anycast(PREFIX + line + "\n" + VIP)
    if attr == "prefixes":
        settings = anycast(line + "\n" + VIP)
    assert getattr(settings, attr) == expected
    assert settings.sources[attr] == (1 if attr == "prefixes" else 2)


def test_prefixes_and_communities_repeat_in_order_without_duplicates() -> None:
    text = (
        "anycastprefix = 198.51.100.0/24\n"
        "anycastprefix = 2001:db8::/32\n"
        "anycastprefix = 198.51.100.0/24\n"
        "anycastcommunity = 65000:1\n"
        "anycastcommunity = 65000:2\n"
        "anycastcommunity = 65000:1\n" + VIP
    )
    settings = anycast(text)
    assert [str(p) for p in settings.prefixes] == ["198.51.100.0/24", "2001:db8::/32"]
    assert settings.communities == ("65000:1", "65000:2")
    assert settings.sources["prefixes"] == 3
    assert settings.sources["communities"] == 6


def test_one_global_next_hop_per_family() -> None:
    text = (
        PREFIX + "anycastprefix = 2001:db8::/32\n"
        "anycastnexthop = 192.0.2.1\nanycastnexthop = 2001:db8::1\n" + VIP + VIP6
    )
    config = parse(text)
    assert config.settings.anycast.nexthop == "192.0.2.1"
    assert config.settings.anycast.nexthop6 == "2001:db8::1"
    v4, v6 = config.virtuals
    assert v4.anycast is not None and v4.anycast.nexthop == "192.0.2.1"
    assert v6.anycast is not None and v6.anycast.nexthop == "2001:db8::1"


def test_later_global_value_wins_like_every_other_directive() -> None:
    settings = anycast(PREFIX + "anycastmed = 10\nanycastmed = 20\n" + VIP)
    assert settings.med == 20
    assert settings.sources["med"] == 3


def test_globals_may_follow_the_virtual_blocks() -> None:
    v = only_virtual(VIP + "anycastprefix = 198.51.100.0/24\nanycastmed = 5\n")
    assert v.anycast is not None
    assert v.anycast.med == 5


def test_maxwithdraw_limit_rounds_percentages_down() -> None:
    assert MaxWithdraw(2).limit(10) == 2
    assert MaxWithdraw(25, percent=True).limit(10) == 2
    assert MaxWithdraw(25, percent=True).limit(3) == 0
    assert MaxWithdraw(100, percent=True).limit(7) == 7
    assert str(MaxWithdraw(25, percent=True)) == "25%"


# ------------------------------------------------------------ the anycast virtual


def test_a_virtual_inside_a_prefix_is_an_anycast_vip_with_global_values() -> None:
    text = (
        PREFIX + "anycastinterface = dummy0\nanycastnexthop = 192.0.2.1\n"
        "anycastcommunity = 65000:1\nanycastmed = 10\nanycastdown = med 500\n"
        "anycastwhen = any\nanycastholddown = 30\n" + VIP
    )
    v = only_virtual(text)
    assert v.anycast is not None
    assert v.anycast.address == "198.51.100.10"
    assert v.anycast.prefix == ipaddress.ip_network("198.51.100.0/24")
    assert v.anycast.interface == "dummy0"
    assert v.anycast.nexthop == "192.0.2.1"
    assert v.anycast.communities == ("65000:1",)
    assert v.anycast.med == 10
    assert v.anycast.down == AnycastDown("med", number=500)
    assert v.anycast.when == "any"
    assert v.anycast.holddown == 30
    assert dict(v.anycast.sources) == {}


def test_defaults_of_an_anycast_virtual() -> None:
    v = only_virtual(PREFIX + VIP)
    assert v.anycast is not None
    assert (v.anycast.interface, v.anycast.nexthop, v.anycast.communities) == ("lo", None, ())
    assert (v.anycast.med, v.anycast.down, v.anycast.when, v.anycast.holddown) == (
        None,
        AnycastDown(),
        "all",
        0,
    )


def test_virtual_values_override_global_ones() -> None:
    text = (
        PREFIX + "anycastinterface = dummy0\nanycastnexthop = 192.0.2.1\n"
        "anycastcommunity = 65000:1\nanycastcommunity = 65000:2\nanycastmed = 10\n"
        "anycastdown = med 500\nanycastwhen = all\nanycastholddown = 30\n"
        "virtual=198.51.100.10:80\n"
        "\treal=127.0.0.11:80 gate\n"
        "\tanycastinterface = lo\n"
        "\tanycastnexthop = 192.0.2.2\n"
        "\tanycastcommunity = 65000:9\n"
        "\tanycastmed = 20\n"
        "\tanycastdown = prepend 2\n"
        "\tanycastwhen = any\n"
        "\tanycastholddown = 5  # short\n"
    )
    v = only_virtual(text)
    assert v.anycast is not None
    assert v.anycast.interface == "lo"
    assert v.anycast.nexthop == "192.0.2.2"
    assert v.anycast.communities == ("65000:9",)  # the virtual's list replaces the global one
    assert v.anycast.med == 20
    assert v.anycast.down == AnycastDown("prepend", number=2)
    assert v.anycast.when == "any"
    assert v.anycast.holddown == 5
    assert dict(v.anycast.sources) == {
        "interface": 12,
        "nexthop": 13,
        "communities": 14,
        "med": 15,
        "down": 16,
        "when": 17,
        "holddown": 18,
    }


def test_virtual_communities_repeat() -> None:
    text = PREFIX + VIP + "\tanycastcommunity = 65000:1\n\tanycastcommunity = 65000:2\n"
    v = only_virtual(text)
    assert v.anycast.communities == ("65000:1", "65000:2")


def test_ipv6_vip_and_canonical_address() -> None:
    text = "anycastprefix = 2001:db8::/32\nvirtual6=[2001:0db8::0010]:80\n\treal6=[::1]:80 gate\n"
    v = only_virtual(text)
    assert v.anycast is not None
    assert v.anycast.address == "2001:db8::10"
    assert v.label == "[2001:db8::10]:80 tcp"


def test_virtual_outside_every_prefix_is_not_anycast() -> None:
    config = parse(PREFIX + VIP + OUTSIDE)
    inside, outside = config.virtuals
    assert inside.anycast is not None
    assert outside.anycast is None


def test_fwmark_virtuals_are_never_anycast() -> None:
    v = only_virtual(PREFIX + "virtual=7\n\treal=198.51.100.20 gate\n")
    assert v.anycast is None


def test_several_services_on_one_vip_that_agree() -> None:
    text = PREFIX + "anycastmed = 10\n" + VIP + "\tanycastholddown = 9\n" + VIP_443
    text += "\tanycastholddown = 9\n"
    a, b = parse(text).virtuals
    assert a.anycast is not None and b.anycast is not None
    assert a.anycast.address == b.anycast.address
    assert a.anycast.holddown == b.anycast.holddown == 9


def test_a_file_without_anycast_parses_as_before() -> None:
    text = "checkinterval = 5\n" + OUTSIDE + VIP
    config = parse(text)
    assert all(v.anycast is None for v in config.virtuals)
    assert config.settings.anycast == AnycastSettings()
    assert not anycast_configured(config)
    assert render_anycast(config) == []


# --------------------------------------------------------------------- errors


def error_at(text: str) -> tuple[int | None, str]:
    exc = parse_error(text)
    return exc.line, exc.message


ERRORS = [
    # (text, line, message fragment)
    ("anycastprefix = 198.51.100.1/24\n", 1, "has host bits set: did you mean 198.51.100.0/24?"),
    ("anycastprefix = 2001:db8::1/32\n", 1, "has host bits set: did you mean 2001:db8::/32?"),
    ("anycastprefix = 198.51.100.0\n", 1, "anycastprefix must be a network in CIDR notation"),
    ("anycastprefix = 198.51.100.0/33\n", 1, "is not an IPv4 or IPv6 network"),
    ("anycastprefix = banana/8\n", 1, "is not an IPv4 or IPv6 network"),
    ("anycastprefix =\n", 1, "anycastprefix must be a network in CIDR notation"),
    ("anycastmethod = bgp\n", 1, "anycastmethod must be 'gobgp' or 'interface', not 'bgp'"),
    ("anycastmethod = gobgp extra\n", 1, "anycastmethod must be 'gobgp' or 'interface'"),
    ("gobgpapi = 127.0.0.1\n", 1, "gobgpapi must be host:port, [ipv6]:port or unix:/path"),
    ("gobgpapi = 127.0.0.1:0\n", 1, "port 0 is not in 1..65535"),
    ("gobgpapi = 127.0.0.1:70000\n", 1, "port 70000 is not in 1..65535"),
    ("gobgpapi = [zz::1]:50051\n", 1, "'zz::1' is not an IPv6 address"),
    ("gobgpapi = ::1:50051\n", 1, "gobgpapi must be host:port"),
    ("gobgpapi = unix:run/gobgp.sock\n", 1, "a unix socket needs an absolute path"),
    ("gobgpapi = -bad-:50051\n", 1, "is not a host name or IPv4 address"),
    ("anycastmaxwithdraw = lots\n", 1, "anycastmaxwithdraw must be a number of VIPs"),
    ("anycastmaxwithdraw = 101%\n", 1, "a percentage from 0% to 100%"),
    ("anycastmaxwithdraw = -1\n", 1, "anycastmaxwithdraw must be a number of VIPs"),
    ("anycaststop = never\n", 1, "anycaststop must be 'withdraw' or 'keep', not 'never'"),
    ("anycastinterface = this-name-is-too-long\n", 1, "anycastinterface must be an interface"),
    ("anycastinterface = eth/0\n", 1, "anycastinterface must be an interface"),
    ("anycastinterface =\n", 1, "anycastinterface must be an interface"),
    ("anycastnexthop = 192.0.2\n", 1, "anycastnexthop must be an IPv4 or IPv6 address"),
    ("anycastcommunity = 65000\n", 1, "anycastcommunity must be a community A:B"),
    ("anycastcommunity = 65536:1\n", 1, "with A and B from 0 to 65535, not '65536:1'"),
    ("anycastcommunity = no-export\n", 1, "anycastcommunity must be a community A:B"),
    ("anycastmed = -5\n", 1, "anycastmed must be a whole number from 0 to 4294967295"),
    ("anycastmed = 4294967296\n", 1, "anycastmed must be a whole number from 0 to 4294967295"),
    ("anycastmed = ten\n", 1, "anycastmed must be a whole number"),
    ("anycastdown = drop\n", 1, "anycastdown must be 'withdraw', 'med N', 'prepend N'"),
    ("anycastdown = med\n", 1, "anycastdown must be 'withdraw', 'med N', 'prepend N'"),
    ("anycastdown = med x\n", 1, "anycastdown med must be a whole number"),
    ("anycastdown = prepend 0\n", 1, "anycastdown prepend must add at least one AS"),
    ("anycastdown = prepend 33\n", 1, "anycastdown prepend must be a whole number from 0 to 32"),
    ("anycastdown = community 1:2:3\n", 1, "anycastdown community must be a community A:B"),
    ("anycastdown = withdraw now\n", 1, "anycastdown must be 'withdraw'"),
    ("anycastwhen = some\n", 1, "anycastwhen must be 'all' or 'any', not 'some'"),
    ("anycastholddown = 1.5\n", 1, "anycastholddown must be a number of seconds"),
    ("anycastholddown = -1\n", 1, "anycastholddown must be a number of seconds"),
    ("anycastholddown = 30s\n", 1, "anycastholddown must be a number of seconds"),
]


@pytest.mark.parametrize(("text", "line", "fragment"), ERRORS, ids=[e[0].strip() for e in ERRORS])
def test_bad_global_values(text: str, line: int, fragment: str) -> None:
    got_line, message = error_at("checkinterval = 5\n" + text + VIP)
    assert got_line == line + 1
    assert fragment in message


VIRTUAL_ERRORS = [
    ("\tanycastmed = x\n", "anycastmed must be a whole number"),
    ("\tanycastdown = med\n", "anycastdown must be 'withdraw'"),
    ("\tanycastwhen = sometimes\n", "anycastwhen must be 'all' or 'any'"),
    ("\tanycastholddown = soon\n", "anycastholddown must be a number of seconds"),
    ("\tanycastinterface = a b\n", "anycastinterface must be an interface name"),
    ("\tanycastcommunity = 1:99999\n", "anycastcommunity must be a community"),
    ("\tanycastnexthop = nowhere\n", "anycastnexthop must be an IPv4 or IPv6 address"),
    ("\tanycastnexthop = 2001:db8::1\n", "anycastnexthop 2001:db8::1 is IPv6 but this virtual"),
    ("\tanycastprefix = 198.51.100.0/24\n", "anycastprefix is a global directive"),
    ("\tanycastmethod = gobgp\n", "anycastmethod is a global directive"),
    ("\tgobgpapi = 127.0.0.1:50051\n", "gobgpapi is a global directive"),
    ("\tanycastmaxwithdraw = 1\n", "anycastmaxwithdraw is a global directive"),
    ("\tanycaststop = keep\n", "anycaststop is a global directive"),
]


@pytest.mark.parametrize(
    ("text", "fragment"), VIRTUAL_ERRORS, ids=[e[0].strip() for e in VIRTUAL_ERRORS]
)
def test_bad_virtual_values(text: str, fragment: str) -> None:
    got_line, message = error_at(PREFIX + VIP + text)
    assert got_line == 4
    assert fragment in message


def test_ipv4_next_hop_on_an_ipv6_virtual() -> None:
    text = "anycastprefix = 2001:db8::/32\n" + VIP6 + "\tanycastnexthop = 192.0.2.1\n"
    line, message = error_at(text)
    assert line == 4
    assert "anycastnexthop 192.0.2.1 is IPv4 but this virtual is IPv6" in message


def test_prefix_guard_names_the_virtual_and_its_line() -> None:
    text = PREFIX + "checkinterval = 5\n" + OUTSIDE + "\tanycastmed = 10\n"
    line, message = error_at(text)
    assert line == 5
    assert message == (
        "virtual 192.0.2.10:80 at line 3 is outside every anycastprefix: "
        "refusing to announce it (anycastmed)"
    )


def test_prefix_guard_without_any_prefix() -> None:
    line, message = error_at(OUTSIDE + "\tanycastwhen = any\n\tanycastmed = 1\n")
    assert line == 3
    assert "virtual 192.0.2.10:80 at line 1 is outside every anycastprefix" in message
    assert "(anycastwhen)" in message


def test_prefix_guard_uses_the_first_anycast_line_of_the_block() -> None:
    text = PREFIX + OUTSIDE + "\tanycastholddown = 1\n\tanycastdown = withdraw\n"
    assert error_at(text)[0] == 4


def test_prefix_guard_for_ipv6() -> None:
    text = PREFIX + VIP6 + "\tanycastinterface = lo\n"
    line, message = error_at(text)
    assert line == 4
    assert "virtual [2001:db8::10]:80 at line 2 is outside every anycastprefix" in message


def test_prefix_guard_for_a_fwmark_virtual() -> None:
    text = PREFIX + "virtual=7\n\treal=198.51.100.20 gate\n\tanycastmed = 1\n"
    line, message = error_at(text)
    assert line == 4
    assert "anycastmed in virtual 7 (a fwmark) at line 2" in message
    assert "only a virtual with an address can be an anycast VIP" in message


def test_the_error_text_has_file_and_line_in_the_originals_words() -> None:
    exc = parse_error(PREFIX + OUTSIDE + "\tanycastmed = 10\n")
    assert exc.describe().startswith("/etc/ha.d/test.cf:4: virtual 192.0.2.10:80 at line 2")
    assert exc.perl_text(42).startswith("Error [42] reading file /etc/ha.d/test.cf at line 4: ")


DISAGREEMENTS = [
    ("\tanycastmed = 10\n", "\tanycastmed = 20\n", "anycastmed", "10", "20"),
    ("\tanycastwhen = any\n", "", "anycastwhen", "any", "all"),
    ("\tanycastinterface = dummy0\n", "", "anycastinterface", "dummy0", "lo"),
    ("\tanycastnexthop = 192.0.2.1\n", "", "anycastnexthop", "192.0.2.1", "none"),
    ("\tanycastcommunity = 1:1\n", "", "anycastcommunity", "1:1", "none"),
    ("\tanycastdown = med 5\n", "", "anycastdown", "med 5", "withdraw"),
    ("\tanycastholddown = 5\n", "\tanycastholddown = 6\n", "anycastholddown", "5", "6"),
]


@pytest.mark.parametrize(
    ("first", "second", "directive", "one", "other"),
    DISAGREEMENTS,
    ids=[d[2] for d in DISAGREEMENTS],
)
def test_virtuals_on_one_vip_must_agree(
    first: str, second: str, directive: str, one: str, other: str
) -> None:
    text = PREFIX + VIP + first + VIP_443 + second
    exc = parse_error(text)
    first_line = 4
    second_line = 7 if second else 5
    assert exc.line == second_line
    assert exc.message == (
        f"{directive} differs between virtual services on anycast VIP 198.51.100.10: "
        f"{one} for 198.51.100.10:80 tcp (line {first_line}), {other} for "
        f"198.51.100.10:443 tcp (line {second_line}); one VIP has one route, so they must agree"
    )


def test_virtuals_on_different_vips_may_differ() -> None:
    text = PREFIX + VIP + "\tanycastmed = 1\nvirtual=198.51.100.11:80\n\treal=127.0.0.1 gate\n"
    a, b = parse(text).virtuals
    assert a.anycast is not None and b.anycast is not None
    assert (a.anycast.med, b.anycast.med) == (1, None)


@pytest.mark.parametrize("down", ["med 5", "prepend 1", "community 1:2"])
def test_soft_down_needs_the_gobgp_method(down: str) -> None:
    line, message = error_at(f"anycastmethod = interface\nanycastdown = {down}\n" + PREFIX + VIP)
    assert line == 2
    assert message == (
        f"anycastdown {down} needs anycastmethod = gobgp: with anycastmethod = interface "
        "the VIP address is there or not, so only 'withdraw' is possible"
    )
    line, message = error_at(
        "anycastmethod = interface\n" + PREFIX + VIP + f"\tanycastdown = {down}\n"
    )
    assert line == 5
    assert f"anycastdown {down} needs anycastmethod = gobgp" in message


def test_interface_method_warns_about_route_attributes_it_cannot_carry() -> None:
    config = parse(
        "anycastmethod = interface\nanycastmed = 5\n" + PREFIX + VIP + "\tanycastcommunity = 1:1\n"
    )
    assert [(w.line, w.message) for w in config.warnings] == [
        (2, "anycastmed is ignored with anycastmethod = interface"),
        (6, "anycastcommunity is ignored with anycastmethod = interface"),
    ]


def test_anycast_directives_without_a_prefix_warn() -> None:
    config = parse("anycastmed = 5\n" + VIP)
    assert [(w.line, w.message) for w in config.warnings] == [
        (1, "anycastmed without any anycastprefix: no VIP is anycast")
    ]


def test_anycast_lines_are_unknown_commands_for_nothing_else() -> None:
    """A typo is still an unknown command, in the original's words."""
    line, message = error_at("anycastprefixes 198.51.100.0/24\n" + VIP)
    assert line == 1
    assert message.startswith("Unknown command anycastprefixes")


# ------------------------------------------------------------- validate / export

FULL = (
    "anycastprefix = 198.51.100.0/24\n"  # 1
    "anycastprefix = 2001:db8::/32\n"  # 2
    "anycastmed = 10\n"  # 3
    "anycastcommunity = 65000:1\n"  # 4
    "anycastnexthop = 192.0.2.1\n"  # 5
    "anycastdown = med 500\n"  # 6
    "anycastmaxwithdraw = 50%\n"  # 7
    "virtual=198.51.100.10:80\n"  # 8
    "\treal=127.0.0.11:80 gate\n"  # 9
    "\tanycastholddown = 30\n"  # 10
    "virtual=198.51.100.10:443\n"  # 11
    "\treal=127.0.0.11:443 gate\n"  # 12
    "\tanycastholddown = 30\n"  # 13
    "virtual6=[2001:db8::10]:80\n"  # 14
    "\treal6=[2001:db8:1::1]:80 gate\n"  # 15
    "\tanycastcommunity = 65000:6\n"  # 16
    "virtual=192.0.2.5:80\n"  # 17
    "\treal=127.0.0.11:80 gate\n"  # 18
)


def test_render_anycast_shows_each_value_and_its_origin() -> None:
    out = "\n".join(render_anycast(parse(FULL)))
    assert "anycast (2 VIPs, method gobgp):" in out
    expected_rows = [
        ("anycastprefix", "198.51.100.0/24 2001:db8::/32", "line 2"),
        ("anycastmethod", "gobgp", "default"),
        ("gobgpapi", "127.0.0.1:50051", "default"),
        ("anycastmaxwithdraw", "50%", "line 7"),
        ("anycaststop", "withdraw", "default"),
        ("anycastnexthop", "192.0.2.1", "line 5"),
        ("anycastnexthop (IPv6)", "-", "default"),
        ("anycastdown", "med 500", "line 6"),
    ]
    for name, value, origin in expected_rows:
        assert f"    {name:<22} {value:<30} ({origin})" in out
    assert "anycast VIP 198.51.100.10 (in 198.51.100.0/24):" in out
    assert "    virtual 198.51.100.10:80 tcp (line 8)" in out
    assert "    virtual 198.51.100.10:443 tcp (line 11)" in out
    assert f"    {'anycastholddown':<22} {'30':<30} (lines 10, 13)" in out
    assert f"    {'anycastmed':<22} {'10':<30} (global, line 3)" in out
    assert "anycast VIP 2001:db8::10 (in 2001:db8::/32):" in out
    assert f"    {'anycastcommunity':<22} {'65000:6':<30} (line 16)" in out
    assert "192.0.2.5" not in out


def test_anycast_to_dict() -> None:
    data = anycast_to_dict(parse(FULL))
    assert data["enabled"] is True
    rows = {row["field"]: row for row in data["settings"]}
    assert rows["prefixes"] == {
        "directive": "anycastprefix",
        "field": "prefixes",
        "value": ["198.51.100.0/24", "2001:db8::/32"],
        "origin": "line 2",
    }
    assert rows["maxwithdraw"]["value"] == "50%"
    assert rows["maxwithdraw"]["origin"] == "line 7"
    assert rows["down"]["value"] == "med 500"
    assert rows["stop"] == {
        "directive": "anycaststop",
        "field": "stop",
        "value": "withdraw",
        "origin": "default",
    }
    vip4, vip6 = data["vips"]
    assert vip4["address"] == "198.51.100.10"
    assert vip4["virtuals"] == ["tcp:198.51.100.10:80", "tcp:198.51.100.10:443"]
    holddown = next(r for r in vip4["settings"] if r["field"] == "holddown")
    assert holddown == {
        "directive": "anycastholddown",
        "field": "holddown",
        "value": 30,
        "origin": "lines 10, 13",
    }
    nexthop6 = next(r for r in vip6["settings"] if r["field"] == "nexthop")
    assert nexthop6["value"] is None and nexthop6["origin"] == "default"
    nexthop4 = next(r for r in vip4["settings"] if r["field"] == "nexthop")
    assert nexthop4["origin"] == "global, line 5"


def test_config_to_dict_is_json_with_and_without_anycast() -> None:
    data = json.loads(json.dumps(config_to_dict(parse(FULL))))
    assert data["anycast"]["enabled"] is True
    assert data["settings"]["anycast"]["prefixes"] == ["198.51.100.0/24", "2001:db8::/32"]
    assert data["virtuals"][0]["anycast"]["prefix"] == "198.51.100.0/24"
    assert data["virtuals"][3]["anycast"] is None
    plain = json.loads(json.dumps(config_to_dict(parse(VIP))))
    assert plain["anycast"]["enabled"] is False
    assert plain["anycast"]["vips"] == []


def test_validate_json_command_shows_anycast(tmp_path: Path) -> None:
    assert ctl_validate.validate.name == "validate"  # registered on `cli` by importing it
    path = tmp_path / "anycast.cf"
    path.write_text(FULL.replace("127.0.0.11", "127.0.0.1").replace("2001:db8:1::1", "::1"))
    result = CliRunner().invoke(cli, ["validate", "--json", str(path)])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["valid"] is True
    assert [vip["address"] for vip in data["anycast"]["vips"]] == [
        "198.51.100.10",
        "2001:db8::10",
    ]


def test_validate_command_rejects_the_prefix_guard_with_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "guard.cf"
    path.write_text(PREFIX + "virtual=192.0.2.10:80\n\treal=127.0.0.1:80 gate\n\tanycastmed = 1\n")
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 2
    assert f"{path}:4: virtual 192.0.2.10:80 at line 2 is outside every anycastprefix" in (
        result.output
    )


# ------------------------------------------------------------------- the examples

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def test_example_anycast_gobgp_validates() -> None:
    path = EXAMPLES / "anycast-gobgp.cf"
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 0, result.output
    assert "valid" in result.output
    config = load(str(path))
    assert config.settings.anycast.method == "gobgp"
    vips = anycast_vips(config)
    assert list(vips) == ["198.51.100.10", "198.51.100.20", "2001:db8::10"]
    assert len(vips["198.51.100.10"]) == 2
    api = vips["198.51.100.20"][0].anycast
    assert api is not None
    assert (api.down, api.when, api.med) == (AnycastDown("med", number=1000), "any", 100)
    assert config.virtuals[-1].anycast is None


def test_example_anycast_interface_validates() -> None:
    path = EXAMPLES / "anycast-interface.cf"
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 0, result.output
    config = load(str(path))
    settings = config.settings.anycast
    assert (settings.method, settings.interface, settings.maxwithdraw) == (
        "interface",
        "anycast0",
        MaxWithdraw(1),
    )
    assert [v.anycast.address for v in config.virtuals if v.anycast] == [
        "198.51.100.10",
        "198.51.100.11",
    ]
