#!/usr/bin/env python3
"""Record ipvsadm's real output for many table shapes (run as root in the ip_vs guest).

    tests/unit/ipvs/golden/record.sh          # boots the guest and runs this

Each scenario programs the kernel with ipvsadm itself (never with our backend, so
the recordings do not depend on the code they test), then saves, in <name>.json:
the table as the kernel holds it (services and destinations in the kernel's own
order, read from `ipvsadm -Ln --nosort`), the ip_vs info, the names the C library
gives each address and port (for -L without -n), and the exact stdout, stderr and
exit code of ipvsadm for every listing form. test_format_golden.py renders the same
table with format.py and compares byte for byte.

Only the standard library is used: this runs under TCG, where imports are slow.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SHIM = os.environ.get("OBSERVE_SHIM_SO", "/tmp/ipvs-golden-observe_shim.so")

LIST_FORMS = [
    ["-Ln"],
    ["-L"],
    ["-l", "-n"],
    ["-Ln", "--stats"],
    ["-Ln", "--rate"],
    ["-Ln", "--thresholds"],
    ["-Ln", "--persistent-conn"],
    ["-Ln", "--exact"],
    ["-Ln", "--stats", "--exact"],
    ["-Ln", "--rate", "--exact"],
    ["-Ln", "--stats", "--rate"],
    ["-Ln", "--rate", "--thresholds"],
    ["-Ln", "--thresholds", "--persistent-conn"],
    ["-Ln", "--nosort"],
    ["-L", "--stats"],
    ["-L", "--thresholds"],
]

SCHEDULERS = ("rr", "wrr", "lc", "wlc", "fo", "ovf", "lblc", "lblcr", "dh", "sh", "mh", "sed", "nq")
SCHED_FLAG_BITS = {"flag-1": 8, "flag-2": 16, "flag-3": 32}
FWD = {"m": 0, "i": 2, "g": 3}


# --------------------------------------------------------------------- scenarios ----
def svc(
    proto,
    addr=None,
    port=0,
    *,
    fwmark=0,
    v6=False,
    sched="wlc",
    flags=(),
    persistent=None,
    netmask=None,
    pe=None,
    ops=False,
    dests=(),
):
    return dict(
        proto=proto,
        addr=addr,
        port=port,
        fwmark=fwmark,
        v6=v6,
        sched=sched,
        flags=list(flags),
        persistent=persistent,
        netmask=netmask,
        pe=pe,
        ops=ops,
        dests=list(dests),
    )


def dst(addr, port, fwd="g", weight=1, u=0, lo=0):
    return dict(addr=addr, port=port, fwd=fwd, weight=weight, u=u, l=lo)


SCENARIOS: list[dict] = [
    dict(name="empty", services=[], forms=LIST_FORMS[:8]),
    dict(
        name="classic",
        services=[
            svc(
                "tcp",
                "192.0.2.10",
                80,
                sched="rr",
                dests=[
                    dst("198.51.100.2", 8080, "m", 3),
                    dst("198.51.100.10", 80, "g", 0),
                    dst("198.51.100.3", 80, "i", 65535, 100, 10),
                ],
            ),
            svc(
                "tcp",
                "192.0.2.9",
                443,
                persistent=300,
                netmask="255.255.255.0",
                dests=[dst("10.0.0.1", 443, "m")],
            ),
            svc("udp", "192.0.2.11", 53, sched="wrr", persistent=360),
            svc("udp", "192.0.2.12", 5060, sched="rr", persistent=60, pe="sip", ops=True),
            svc("sctp", "192.0.2.13", 5060, sched="sh", flags=["sh-port", "sh-fallback"]),
            svc(
                "tcp", "192.0.2.14", 0, sched="mh", flags=["mh-fallback", "mh-port"], persistent=10
            ),
            svc(
                "fwm",
                fwmark=42,
                sched="sh",
                flags=["sh-port"],
                dests=[dst("198.51.100.5", 0, "g", 5), dst("198.51.100.6", 99, "m", 5)],
            ),
            svc(
                "fwm",
                fwmark=7,
                v6=True,
                sched="rr",
                persistent=100,
                netmask="64",
                dests=[dst("2001:db8:1::2", 80)],
            ),
            svc(
                "tcp",
                "2001:db8::10",
                443,
                sched="mh",
                dests=[
                    dst("2001:db8:1::2", 8443, "m", 4),
                    dst("2001:db8:ffff:ffff:ffff:ffff:ffff:fffe", 65535, "m", 4, 5000000, 4000000),
                ],
            ),
            svc(
                "tcp",
                "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff",
                65535,
                sched="lblcr",
                persistent=100,
                netmask="48",
            ),
            svc(
                "tcp",
                "255.255.255.254",
                65535,
                sched="nq",
                dests=[dst("255.255.255.253", 65535, "m", 2147483647)],
            ),
            svc("fwm", fwmark=1, sched="rr", ops=True),
            svc("fwm", fwmark=3, sched="ovf", persistent=5, netmask="255.255.0.0"),
            svc("fwm", fwmark=4294967295, sched="dh"),
            svc("udp", "192.0.2.11", 54, sched="lblc", flags=["flag-1", "flag-2", "flag-3"]),
            svc("udp", "192.0.2.11", 55, sched="sed", ops=True),
        ],
        forms=[
            *LIST_FORMS,
            ["-Ln", "-t", "192.0.2.10:80"],
            ["-Ln", "-u", "192.0.2.11:53", "--stats"],
            ["-Ln", "--sctp-service", "192.0.2.13:5060"],
            ["-Ln", "-f", "42", "--thresholds"],
            ["-Ln", "-f", "7", "-6"],
            ["-Ln", "-f", "7", "-6", "--rate"],
            ["-Ln", "-f", "7"],
            ["-Ln", "-t", "[2001:db8::10]:443", "--persistent-conn"],
            ["-Ln", "-t", "192.0.2.99:1"],
            ["-Ln", "-f", "4294967295", "--nosort"],
        ],
    ),
    dict(
        name="sort-order",
        services=[
            svc("tcp", a, p, sched="rr")
            for a, p in [
                ("1.2.3.4", 80),
                ("192.0.2.1", 80),
                ("127.0.0.1", 80),
                ("10.0.0.1", 80),
                ("128.0.0.1", 80),
                ("255.255.255.255", 1),
                ("0.0.0.1", 65535),
                ("64.0.0.1", 80),
                ("192.0.2.1", 79),
                ("192.0.2.1", 81),
                ("200.1.1.1", 80),
                ("100.1.1.1", 443),
            ]
        ]
        + [
            svc(
                "udp",
                "1.2.3.4",
                80,
                sched="rr",
                dests=[
                    dst(a, 80, "m")
                    for a in (
                        "198.51.100.8",
                        "198.51.100.9",
                        "1.2.3.4",
                        "127.0.0.1",
                        "64.1.1.1",
                        "128.1.1.1",
                        "192.0.2.200",
                        "10.9.9.9",
                        "255.0.0.1",
                        "0.1.0.1",
                        "150.0.0.1",
                    )
                ],
            ),
            svc(
                "sctp",
                "1.2.3.4",
                80,
                sched="rr",
                dests=[dst("10.0.0.1", p, "m") for p in (80, 8080, 1, 65535, 443, 0)],
            ),
            svc(
                "tcp",
                "2001:db8::1",
                80,
                sched="rr",
                dests=[
                    dst(a, 80, "m")
                    for a in (
                        "2001:db8::2",
                        "3fff::1:2",
                        "::1",
                        "8000::1",
                        "fd00::1",
                        "2001:db8:ffff::1",
                        "7fff:ffff::1",
                    )
                ],
            ),
            svc("tcp", "::1", 80, sched="rr"),
            svc("tcp", "fe80::1", 80, sched="rr"),
            svc("tcp", "8000::1", 80, sched="rr"),
            svc("tcp", "7fff::1", 80, sched="rr"),
            svc("tcp", "::ffff:192.0.2.1", 80, sched="rr"),
            svc("tcp", "::192.0.2.1", 80, sched="rr"),
            svc("udp", "2001:db8::1", 80, sched="rr"),
            svc("fwm", fwmark=2147483648, sched="rr"),
            svc("fwm", fwmark=2147483647, sched="rr"),
            svc("fwm", fwmark=2147483649, sched="rr"),
            svc("fwm", fwmark=5, sched="rr"),
            svc("fwm", fwmark=5, v6=True, sched="rr"),
            svc("fwm", fwmark=3000000000, v6=True, sched="rr"),
        ],
        forms=[["-Ln"], ["-Ln", "--nosort"], ["-Ln", "--stats"]],
    ),
    dict(
        name="flags-and-masks",
        services=[
            svc("tcp", "192.0.2.2", 80, sched="rr", netmask="255.255.255.0"),
            svc("tcp", "192.0.2.3", 80, sched="sh", flags=["flag-3"]),
            svc("tcp", "192.0.2.4", 80, sched="mh", flags=["flag-3", "mh-port"]),
            svc("tcp", "192.0.2.5", 80, sched="mh", flags=["flag-1"]),
            svc("tcp", "192.0.2.6", 80, sched="rr", flags=["flag-1"]),
            svc("tcp", "192.0.2.7", 80, sched="sh", flags=["sh-fallback"]),
            svc("tcp", "192.0.2.8", 80, sched="rr", persistent=1, netmask="0.0.0.0"),
            svc("tcp", "192.0.2.9", 80, sched="rr", persistent=1, netmask="255.255.255.255"),
            svc("tcp", "192.0.2.10", 80, sched="wrr", persistent=2592000, netmask="255.0.255.0"),
            svc(
                "udp",
                "192.0.2.11",
                80,
                sched="lc",
                flags=["flag-2"],
                persistent=30,
                netmask="255.255.255.128",
                ops=True,
            ),
            svc("tcp", "2001:db8::1", 80, sched="rr", persistent=1, netmask="128"),
            svc("tcp", "2001:db8::3", 80, sched="rr", persistent=1, netmask="1"),
            svc("tcp", "2001:db8::4", 80, sched="rr", persistent=7200, netmask="127"),
            svc("tcp", "2001:db8::5", 80, sched="dh", flags=["flag-2"], netmask="64"),
            svc("udp", "192.0.2.20", 5060, sched="rr", pe="sip", persistent=30),
            svc("fwm", fwmark=10, sched="rr", persistent=10, pe="sip"),
            svc(
                "fwm",
                fwmark=11,
                v6=True,
                sched="sh",
                flags=["sh-port", "flag-3"],
                persistent=86400,
                netmask="96",
                ops=True,
            ),
        ]
        + [svc("tcp", "198.18.0.1", 1000 + i, sched=s) for i, s in enumerate(SCHEDULERS)],
        forms=[
            ["-Ln"],
            ["-Ln", "--thresholds"],
            ["-Ln", "--persistent-conn"],
            ["-Ln", "--stats"],
            ["-L"],
        ],
    ),
    dict(
        name="mixed-family-destinations",
        services=[
            svc(
                "tcp",
                "2001:db8::1",
                80,
                sched="rr",
                persistent=1,
                dests=[
                    dst("192.0.2.99", 80, "i"),
                    dst("2001:db8::99", 80, "i"),
                    dst("10.1.1.1", 80, "i"),
                    dst("::1", 80, "g"),
                    dst("255.1.1.1", 80, "i"),
                ],
            ),
            svc(
                "fwm",
                fwmark=9,
                v6=True,
                sched="rr",
                dests=[dst("10.2.2.2", 0, "i"), dst("2001:db8::3", 0, "g")],
            ),
            svc(
                "tcp",
                "192.0.2.50",
                443,
                sched="rr",
                dests=[
                    dst("2001:db8::50", 443, "i"),
                    dst("192.0.2.51", 443, "i"),
                    dst("c000:2ff::1", 443, "i"),
                ],
            ),
        ],
        forms=[["-Ln"], ["-Ln", "--nosort"], ["-Ln", "--stats"], ["-L"], ["-Ln", "--thresholds"]],
    ),
    dict(
        name="names",
        hosts=[
            "192.0.2.10 vip-ten.example vip-ten",
            "198.51.100.2 real-two",
            "198.51.100.3 a-rather-long-host-name-for-the-column.example.org",
            "2001:db8::10 vip6.example",
            "::1 ip6-localhost ip6-loopback",
            "2001:db8:1::2 real6.example",
            "10.0.0.7 seven",
        ],
        services=[
            svc(
                "tcp",
                "192.0.2.10",
                80,
                sched="rr",
                dests=[
                    dst("198.51.100.2", 8080, "m"),
                    dst("198.51.100.3", 80, "g"),
                    dst("127.0.0.1", 80, "g"),
                    dst("10.0.0.7", 443, "m"),
                ],
            ),
            svc(
                "udp",
                "192.0.2.10",
                53,
                sched="rr",
                dests=[dst("198.51.100.2", 53, "m"), dst("10.0.0.7", 5060, "m")],
            ),
            svc("sctp", "192.0.2.10", 5060, sched="rr", dests=[dst("10.0.0.7", 80, "m")]),
            svc(
                "tcp",
                "2001:db8::10",
                443,
                sched="rr",
                dests=[
                    dst("2001:db8:1::2", 8080, "m"),
                    dst("::1", 22, "m"),
                    dst("10.0.0.7", 443, "i"),
                ],
            ),
            svc("tcp", "::1", 22, sched="rr"),
            svc("tcp", "127.0.0.1", 25, sched="rr"),
            svc("udp", "127.0.0.1", 12345, sched="rr"),
            svc(
                "fwm",
                fwmark=5,
                sched="rr",
                dests=[
                    dst("198.51.100.2", 80, "m"),
                    dst("10.0.0.7", 53, "m"),
                    dst("10.0.0.8", 5060, "m"),
                    dst("10.0.0.9", 8080, "m"),
                ],
            ),
            svc("fwm", fwmark=6, v6=True, sched="rr", dests=[dst("2001:db8:1::2", 80, "m")]),
        ],
        forms=[
            ["-L"],
            ["-L", "--stats"],
            ["-L", "--rate"],
            ["-L", "--thresholds"],
            ["-L", "--persistent-conn"],
            ["-L", "-t", "192.0.2.10:80"],
            ["-L", "-u", "192.0.2.10:53"],
            ["-Ln"],
        ],
    ),
]

FAKE_STATS = [
    [
        0,
        1,
        99999999,
        100000000,
        999999999,
        1000000000,
        99999999999,
        100000000000,
        99999999999999,
        100000000000000,
    ],
    [
        999,
        9999,
        99999,
        999999,
        9999999,
        123456789,
        1234567890,
        12345678901,
        123456789012,
        18446744073709551615,
    ],
    [
        18446744073709551615,
        100000000000000000,
        999999999999999999,
        1000000000000000,
        12345678901234,
        4294967296,
        4294967295,
        2147483648,
        77,
        0,
    ],
    [
        100000000,
        100000001,
        999999,
        1000000,
        99999999999999,
        100000000000001,
        1000000001,
        4294967297,
        99999999,
        18446744073709551614,
    ],
]
FAKE_TABLE = [
    svc("tcp", "192.0.2.10", 80, sched="rr", dests=[dst("10.0.0.1", 80, "m")]),
    svc("fwm", fwmark=3, v6=True, sched="rr", dests=[dst("2001:db8::1", 80, "m")]),
    svc(
        "tcp",
        "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff",
        65535,
        sched="rr",
        dests=[dst("2001:db8:ffff:ffff:ffff:ffff:ffff:fffe", 65535, "m")],
    ),
]
FAKE_FORMS = [
    ["-Ln", "--stats"],
    ["-Ln", "--rate"],
    ["-Ln", "--stats", "--exact"],
    ["-Ln", "--rate", "--exact"],
    ["-L", "--stats"],
]


# ---------------------------------------------------------------------- helpers ----
def run(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, env=env)


def sh(cmd: str) -> str:
    p = subprocess.run(cmd, shell=True, capture_output=True, text=True)
    if p.returncode:
        raise RuntimeError(f"{cmd!r}: {p.returncode} {p.stderr.strip()}")
    return p.stdout


def ntop(addr: str) -> str:
    """inet_ntop text, as ipvsadm prints it."""
    if ":" in addr:
        return socket.inet_ntop(socket.AF_INET6, socket.inet_pton(socket.AF_INET6, addr))
    return addr


def hostport(addr: str, port: int) -> str:
    return f"[{ntop(addr)}]:{port}" if ":" in addr else f"{addr}:{port}"


def signed32(v: int) -> int:
    return v - (1 << 32) if v & 0x80000000 else v


def service_arg(s: dict) -> list[str]:
    if s["proto"] == "fwm":
        return ["-f", str(s["fwmark"])] + (["-6"] if s["v6"] else [])
    flag = {"tcp": "-t", "udp": "-u", "sctp": "--sctp-service"}[s["proto"]]
    return [flag, hostport(s["addr"], s["port"])]


def service_ident(s: dict) -> str:
    if s["proto"] == "fwm":
        return f"FWM {signed32(s['fwmark'])}" + (" IPv6" if s["v6"] else "")
    return f"{s['proto'].upper()} {hostport(s['addr'], s['port'])}"


def program(services: list[dict]) -> None:
    sh("ipvsadm -C")
    for s in services:
        cmd = ["ipvsadm", "-A", *service_arg(s), "-s", s["sched"]]
        if s["flags"]:
            cmd += ["-b", ",".join(s["flags"])]
        if s["persistent"] is not None:
            cmd += ["-p", str(s["persistent"])]
        if s["netmask"] is not None:
            cmd += ["-M", s["netmask"]]
        if s["pe"]:
            cmd += ["--pe", s["pe"]]
        if s["ops"]:
            cmd += ["-o"]
        p = run(cmd)
        if p.returncode:
            raise RuntimeError(f"{cmd}: {p.stderr.strip()}")
        for d in s["dests"]:
            cmd = [
                "ipvsadm",
                "-a",
                *service_arg(s),
                "-r",
                hostport(d["addr"], d["port"]),
                f"-{d['fwd']}",
                "-w",
                str(d["weight"]),
                "-x",
                str(d["u"]),
                "-y",
                str(d["l"]),
            ]
            p = run(cmd)
            if p.returncode:
                raise RuntimeError(f"{cmd}: {p.stderr.strip()}")


def sched_flag_bits(s: dict) -> int:
    bits = 0
    for name in s["flags"]:
        if name.endswith("-fallback"):
            bits |= 8
        elif name.endswith("-port"):
            bits |= 16
        else:
            bits |= SCHED_FLAG_BITS[name]
    return bits


def netmask_value(s: dict) -> int:
    v6 = s["v6"] if s["proto"] == "fwm" else ":" in s["addr"]
    if s["netmask"] is None:
        return 128 if v6 else 0xFFFFFFFF
    if v6:
        return int(s["netmask"])
    return int.from_bytes(socket.inet_aton(s["netmask"]), "big")


def kernel_order(services: list[dict]) -> list[dict]:
    """Services and their destinations reordered as the kernel lists them."""
    listing = sh("ipvsadm -Ln --nosort").splitlines()[3:]
    by_ident = {service_ident(s): s for s in services}
    ordered: list[dict] = []
    current: dict | None = None
    for line in listing:
        if line.startswith("  -> "):
            ident = line[5:].split()[0]
            assert current is not None
            match = [d for d in current["dests"] if hostport(d["addr"], d["port"]) == ident]
            if not match:
                raise RuntimeError(
                    f"kernel holds {ident} under {service_ident(current)}, "
                    "which the scenario does not name in that form"
                )
            current["kernel_dests"].append(match[0])
        else:
            words = line.split()
            ident = " ".join(words[:3] if words[0] == "FWM" and words[2] == "IPv6" else words[:2])
            current = by_ident[ident]
            current["kernel_dests"] = []
            ordered.append(current)
    if len(ordered) != len(services):
        raise RuntimeError("the kernel lists a different number of services")
    return ordered


def golden_table(services: list[dict], fake: list[int] | None) -> list[dict]:
    zero = [0] * 10
    dest_fake = [0, 0, 0, fake[3], fake[4], 0, 0, 0, 0, 0] if fake else zero
    out = []
    for s in kernel_order(services):
        out.append(
            dict(
                protocol=None if s["proto"] == "fwm" else s["proto"].upper(),
                family=6 if (s["v6"] if s["proto"] == "fwm" else ":" in s["addr"]) else 4,
                address=s["addr"],
                port=s["port"],
                fwmark=s["fwmark"],
                scheduler=s["sched"],
                sched_flags=sched_flag_bits(s),
                persistence=s["persistent"],
                netmask=netmask_value(s),
                pe_name=s["pe"],
                one_packet=s["ops"],
                stats=fake or zero,
                destinations=[
                    dict(
                        address=d["addr"],
                        port=d["port"],
                        forwarding=FWD[d["fwd"]],
                        weight=d["weight"],
                        upper_threshold=d["u"],
                        lower_threshold=d["l"],
                        active=0,
                        inactive=0,
                        persistent=0,
                        stats=dest_fake,
                    )
                    for d in s["kernel_dests"]
                ],
            )
        )
    return out


def info() -> dict:
    m = re.match(
        r"IP Virtual Server version (\d+)\.(\d+)\.(\d+) \(size=(\d+)\)",
        Path("/proc/net/ip_vs").read_text(),
    )
    assert m, "unexpected /proc/net/ip_vs header"
    a, b, c, size = map(int, m.groups())
    return dict(version=(a << 16) | (b << 8) | c, connection_table_size=size)


def names_for(addresses: set[str], ports: set[int]) -> dict:
    hosts = {}
    for a in sorted(addresses):
        try:
            hosts[a] = socket.gethostbyaddr(a)[0]
        except OSError:
            hosts[a] = None
    services = {}
    for p in sorted(ports):
        for proto in ("tcp", "udp", "sctp"):
            try:
                services[f"{p}/{proto}"] = socket.getservbyport(p, proto)
            except OSError:
                services[f"{p}/{proto}"] = None
    return dict(hosts=hosts, services=services)


def table_names(services: list[dict]) -> dict:
    addrs = {s["addr"] for s in services if s["addr"]}
    addrs |= {d["addr"] for s in services for d in s["dests"]}
    ports = {s["port"] for s in services} | {d["port"] for s in services for d in s["dests"]}
    return names_for(addrs, ports)


def capture(forms: list[list[str]], env: dict[str, str] | None = None) -> list[dict]:
    out = []
    for args in forms:
        p = run(["ipvsadm", *args], env)
        out.append(dict(args=args, rc=p.returncode, stdout=p.stdout, stderr=p.stderr))
    return out


def save(name: str, data: dict) -> None:
    path = HERE / f"{name}.json"
    path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    print(f"recorded {path.name}: {len(data.get('outputs', []))} listings", flush=True)


def add_hosts(lines: list[str]) -> None:
    with open("/etc/hosts", "a") as f:  # the guest's overlay: gone at poweroff
        f.write("".join(line + "\n" for line in lines))


# -------------------------------------------------------------------- recorders ----
def record_tables() -> None:
    for sc in SCENARIOS:
        add_hosts(sc.get("hosts", []))
        program(sc["services"])
        table = golden_table(sc["services"], None)
        save(
            sc["name"],
            dict(
                description=f"scenario {sc['name']!r}, programmed with ipvsadm",
                info=info(),
                services=table,
                names=table_names(sc["services"]),
                outputs=capture(sc["forms"]),
            ),
        )


def record_fake_stats() -> None:
    program(FAKE_TABLE)
    for i, values in enumerate(FAKE_STATS):
        env = dict(os.environ, LD_PRELOAD=SHIM)
        env.update({f"FAKE_U64_{n + 1}": str(v) for n, v in enumerate(values)})
        outputs = capture(FAKE_FORMS, env)
        # the shim must really have been used: the first service shows the fake numbers
        assert any(str(values[3]) in o["stdout"] for o in outputs), "observe_shim.so had no effect"
        save(
            f"large-counters-{i + 1}",
            dict(
                description=(
                    "counters injected into ipvsadm by observe_shim.so (LD_PRELOAD on libnl's "
                    "nla_get_u64): services show all ten values; destinations, whose "
                    "32-bit counter block ipvsadm reads with nla_get_u32, only the bytes"
                ),
                info=info(),
                services=golden_table(FAKE_TABLE, values),
                names=table_names(FAKE_TABLE),
                outputs=outputs,
            ),
        )


def record_connections() -> None:
    sh("ipvsadm -C")
    www = "/tmp/ipvs-golden-www"
    nets = [
        ("rs1", "198.51.100.2/30", "198.51.100.1/30", "2001:db8:a::2/64", "2001:db8:a::1/64"),
        ("rs2", "198.51.100.6/30", "198.51.100.5/30", "2001:db8:b::2/64", "2001:db8:b::1/64"),
        ("cl", "203.0.113.2/24", "203.0.113.1/24", "2001:db8:c::2/64", "2001:db8:c::1/64"),
    ]
    for ns, cidr, gw, cidr6, gw6 in nets:
        sh(f"ip netns add {ns}")
        sh(f"ip link add v{ns} type veth peer name eth0 netns {ns}")
        sh(
            f"ip addr add {gw} dev v{ns} && ip -6 addr add {gw6} dev v{ns} nodad"
            f" && ip link set v{ns} up"
        )
        sh(
            f"ip -n {ns} addr add {cidr} dev eth0 && ip -n {ns} -6 addr add {cidr6} dev eth0 nodad"
            f" && ip -n {ns} link set eth0 up && ip -n {ns} link set lo up"
        )
        sh(
            f"ip -n {ns} route add default via {gw.split('/')[0]}"
            f" && ip -n {ns} -6 route add default via {gw6.split('/')[0]}"
        )
        if ns != "cl":
            os.makedirs(f"{www}/{ns}", exist_ok=True)
            Path(f"{www}/{ns}/index.html").write_text(ns + "\n")
            sh(f"ip netns exec {ns} busybox httpd -p 8080 -h {www}/{ns}")
    sh(
        "ip link add vip0 type dummy && ip addr add 192.0.2.10/32 dev vip0"
        " && ip addr add 192.0.2.20/32 dev vip0 && ip addr add 192.0.2.30/32 dev vip0"
        " && ip -6 addr add 2001:db8::10/128 dev vip0 nodad && ip link set vip0 up"
    )
    sh("sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1")
    add_hosts(["203.0.113.2 client.example", "198.51.100.6 rs-two"])
    for cmd in [
        "-A -t 192.0.2.10:80 -s rr",
        "-a -t 192.0.2.10:80 -r 198.51.100.2:8080 -m",
        "-a -t 192.0.2.10:80 -r 198.51.100.6:8080 -m",
        "-A -t 192.0.2.20:80 -s rr -p 300",
        "-a -t 192.0.2.20:80 -r 198.51.100.6:8080 -m",
        "-A -t [2001:db8::10]:80 -s rr -p 200 -M 64",
        "-a -t [2001:db8::10]:80 -r [2001:db8:b::2]:8080 -m",
        "-A -u 192.0.2.30:5060 -s rr -p 60 --pe sip",
        "-a -u 192.0.2.30:5060 -r 198.51.100.2:5060 -m",
    ]:
        sh(f"ipvsadm {cmd}")
    time.sleep(0.3)
    for _ in range(2):
        sh("ip netns exec cl curl -sS -m 5 http://192.0.2.10/")
        sh("ip netns exec cl curl -sS -m 5 http://192.0.2.20/")
        sh("ip netns exec cl curl -g -sS -m 5 'http://[2001:db8::10]/'")
    sip = (
        "OPTIONS sip:golden@192.0.2.30 SIP/2.0\\r\\nVia: SIP/2.0/UDP 203.0.113.2:5060\\r\\n"
        "Call-ID: golden-call-1@client.example\\r\\nCSeq: 1 OPTIONS\\r\\n\\r\\n"
    )
    sh(f"ip netns exec cl bash -c 'printf \"{sip}\" > /dev/udp/192.0.2.30/5060'")
    forms = [
        ["-Lnc"],
        ["-Lc"],
        ["-Lnc", "--persistent-conn"],
        ["-Lc", "--persistent-conn"],
        ["-L", "-n", "-c", "--exact"],
    ]
    outputs = []
    for args in forms:  # expiry counts down each second: take the file around each run
        for attempt in range(50):
            before = Path("/proc/net/ip_vs_conn").read_text()
            (listing,) = capture([args])
            if Path("/proc/net/ip_vs_conn").read_text() == before:
                outputs.append(dict(listing, ip_vs_conn=before))
                break
            time.sleep(0.01 * attempt)
        else:
            raise RuntimeError("the connection table kept changing while ipvsadm listed it")
    addrs = {
        "203.0.113.2",
        "192.0.2.10",
        "192.0.2.20",
        "192.0.2.30",
        "198.51.100.2",
        "198.51.100.6",
        "2001:db8::10",
        "2001:db8:b::2",
        "2001:db8:c::2",
        "2001:db8:c::",
    }
    ports = {int(line.split()[i], 16) for line in before.splitlines()[1:] for i in (2, 4, 6)}
    save(
        "connections",
        dict(
            description="real TCP (IPv4, IPv6, persistent) and SIP (pe sip) connections",
            names=names_for(addrs, ports),
            outputs=outputs,
        ),
    )


# Lines as the kernel writes /proc/net/ip_vs_conn (see a real one in connections.json):
# "%-3s %08X %04X %08X %04X %08X %04X %-11s %7u" and, for entries with persistence
# engine data, " <pe name> <pe data>"; IPv6 addresses in full colon-hex.
V6_CLIENT = "2001:0db8:ffff:ffff:ffff:ffff:ffff:fff1"
V6_VIP = "2001:0db8:0000:0000:0000:0000:0000:0010"
SYNTHETIC_CONN = (
    "\n".join(
        [
            "Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Expires PEName PEData",
            "TCP CB007102 C746 C0000214 0050 C6336406 1F90 ESTABLISHED  900",
            "TCP CB007102 C747 C0000214 0050 C6336406 1F90 SYN_RECV          0",
            "TCP 0A000007 0016 7F000001 0019 0A000007 0050 CLOSE_WAIT       59",
            "UDP CB007102 13C4 C000021E 13C4 C6336402 13C4 UDP              60",
            "UDP CB007102 0000 C000021E 13C4 C6336402 13C4 UDP            3599"
            " sip golden-call-1@client.example",
            "UDP CB007102 0000 C000021E 13C4 C6336402 13C4 UDP             600"
            " sip a-much-longer-call-identifier-0123456789abcdef@sip.client.example.org",
            "IP  CB007102 0000 C0000214 0000 C6336406 0000 NONE           6000",
            "SCTP C6336403 9C40 C000020D 0B59 C6336406 0B59 ESTABLISHED 99999",
            f"TCP {V6_CLIENT} FFFF {V6_VIP} 0050 2001:0db8:000b:0000:0000:0000:0000:0002 1F90"
            " FIN_WAIT        120",
            f"TCP 0000:0000:0000:0000:0000:0000:0000:0001 0016 {V6_VIP} 01BB"
            " 2001:0db8:0001:0000:0000:0000:0000:0002 01BB TIME_WAIT        61",
            "TCP C0A80101 0050 0A000001 0050 0A00000A 0050 LISTEN         86399",
            "TCP C633644D 1F90 C633644E 1F90 C633644F 1F90 ESTABLISHED    300",
            "TCP C633644F 0050 C633644F 0050 C633644F 0050 ESTABLISHED    300",
        ]
    )
    + "\n"
)
SYNTHETIC_HOSTS = [
    "10.0.0.7 seven",
    "203.0.113.2 client.example",
    "192.0.2.20 a-long-virtual-address-name.example.org",
    "2001:db8:ffff:ffff:ffff:ffff:ffff:fff1"
    " a-long-ipv6-client-name-that-needs-many-columns.example.org",
    "::1 ip6-localhost",
    "198.51.100.77 an-ipv4-client-name-long-enough-to-be-cut-in-the-connection-list.example",
    "198.51.100.78 v4-name-of-exactly-fifty-one-characters.example.org",
    "198.51.100.79 v4-name-of-exactly-fifty-nine-characters-for-the-edge.example",
]


def record_synthetic_connections() -> None:
    path = Path("/tmp/ipvs-golden-ip_vs_conn")
    path.write_text(SYNTHETIC_CONN)
    add_hosts(SYNTHETIC_HOSTS)
    env = dict(os.environ, LD_PRELOAD=SHIM, FAKE_IP_VS_CONN=str(path))
    forms = [["-Lnc"], ["-Lc"], ["-Lnc", "--persistent-conn"], ["-Lc", "--persistent-conn"]]
    outputs = [dict(o, ip_vs_conn=SYNTHETIC_CONN) for o in capture(forms, env)]
    assert "golden-call-1" in outputs[2]["stdout"], "observe_shim.so did not replace the file"
    addrs, ports = set(), set()
    for line in SYNTHETIC_CONN.splitlines()[1:]:
        f = line.split()
        for a, p in ((f[1], f[2]), (f[3], f[4]), (f[5], f[6])):
            addrs.add(ntop(a) if ":" in a else socket.inet_ntoa(bytes.fromhex(a)))
            ports.add(int(p, 16))
    save(
        "connections-synthetic",
        dict(
            description=(
                "connection entries of many shapes fed to ipvsadm -c through "
                "observe_shim.so (LD_PRELOAD on fopen of /proc/net/ip_vs_conn)"
            ),
            names=names_for(addrs, ports),
            outputs=outputs,
        ),
    )


def main() -> int:
    only = set(sys.argv[1:])
    for name, fn in (
        ("tables", record_tables),
        ("large-counters", record_fake_stats),
        ("connections", record_connections),
        ("synthetic-connections", record_synthetic_connections),
    ):
        if not only or name in only:
            fn()
    return 0


if __name__ == "__main__":
    sys.exit(main())
