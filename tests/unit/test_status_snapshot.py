"""The status book (daemon/snapshot.py): kept current by results, drains and
reloads, and encoded in slices to the same text as one json.dumps."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from ldirectord_py.config import parse_text
from ldirectord_py.daemon.checking import CheckingDirector
from ldirectord_py.daemon.snapshot import SLICE_REALS, encode
from ldirectord_py.ipvs.netlink import AsyncIPVS
from ldirectord_py.observe.log import Log
from ldirectord_py.observe.metrics import Metrics
from ldirectord_py.observe.schema import (
    SCHEMA_VERSION,
    DataplaneSnapshot,
    RealSnapshot,
    StatusSnapshot,
    VirtualSnapshot,
)

from .config.conftest import RESOLVER
from .test_checking_director import Kernel, Lines, eventually, free_port, run


def test_encoding_in_slices_gives_the_text_of_one_dumps() -> None:
    snapshot = StatusSnapshot(
        schema=SCHEMA_VERSION,
        status="running",
        pid=1,
        drained=("192.0.2.9:80",),
        dataplane=DataplaneSnapshot(refused={"TCP 192.0.2.1:80": "why"}),
        virtuals=tuple(
            VirtualSnapshot(virtual=f"v{i}", reals=reals)
            for i, reals in enumerate(
                [
                    (),
                    (RealSnapshot(real="a", since=1.5),),
                    tuple(RealSnapshot(real=str(n)) for n in range(SLICE_REALS * 2 + 3)),
                ]
            )
        ),
    )
    text = asyncio.run(encode(snapshot))
    assert text == (json.dumps(snapshot.to_json(), default=str) + "\n").encode()
    assert StatusSnapshot.from_json(json.loads(text)) == snapshot


def test_the_status_follows_results_drains_and_reloads(tmp_path: Path) -> None:
    port = free_port("127.0.0.31")
    text = (
        "checkinterval=1\nchecktimeout=1\n"
        f"virtual=127.0.0.100:80\n\treal=127.0.0.31:{port} masq\n\treal=127.0.0.32:{port} masq\n"
        "\tchecktype=connect\n"
    )
    config = parse_text(text, str(tmp_path / "t.cf"), resolver=RESOLVER, check_files=False)

    async def scenario() -> None:
        listener = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.31", port)
        director = CheckingDirector(Log(Lines()), ipvs_factory=lambda: AsyncIPVS(Kernel))
        director.use_state_file(str(tmp_path / "t.drained"))
        await director.start(config)
        await director.wait_ready()

        def states(doc: dict[str, object]) -> list[tuple[str, str, bool]]:
            (virtual,) = doc["virtuals"]  # type: ignore[misc]
            return [(r["real"], r["state"], r["drained"]) for r in virtual["reals"]]

        # The document is the book as its build began; a check result may land
        # while it is encoded (checks run every second), and status() then shows
        # it: the two agree when no result came between, so try a few times.
        for _ in range(5):
            document = json.loads(await director.status_document())
            if document["virtuals"] == director.status()["virtuals"]:
                break
        assert document["virtuals"] == director.status()["virtuals"]
        assert states(document) == [
            (f"127.0.0.31:{port}", "up", False),
            (f"127.0.0.32:{port}", "down", False),
        ]
        reply = await director.command("drain", {"real": f"127.0.0.31:{port}"})
        assert reply["ok"], reply
        assert states(json.loads(await director.status_document()))[0] == (
            f"127.0.0.31:{port}",
            "up",
            True,
        )
        listener.close()
        await listener.wait_closed()
        await director.command("check-now", {})
        assert states(json.loads(await director.status_document()))[0][1] == "down"
        await director.reload(
            parse_text(
                text.replace("\treal=127.0.0.32", "\treal=127.0.0.33"),
                str(tmp_path / "t.cf"),
                resolver=RESOLVER,
                check_files=False,
            )
        )
        assert [r for r, _, _ in states(director.status())] == [
            f"127.0.0.31:{port}",
            f"127.0.0.33:{port}",
        ]
        assert states(director.status())[0] == (f"127.0.0.31:{port}", "down", True)  # kept
        await director.stop()

    run(scenario)


def test_weights_are_the_tables_and_failures_count_from_the_first(tmp_path: Path) -> None:
    """Issue 15: after "Quiescent real server ... (Weight set to 0)" the status says
    0 (it said the configured 5); a deleted real has no weight (it said 1); a real
    that has only ever failed shows its failures (it showed 0); the kernel's weight
    is beside the desired one; and so do the metrics."""
    up_port = free_port("127.0.0.31")
    text = (
        "checkinterval=1\nchecktimeout=1\nfailurecount=1\n"
        f"virtual=127.0.0.100:80\n\treal=127.0.0.31:{up_port} masq 5\n"
        f"\treal=127.0.0.32:{up_port} masq 3\n\tchecktype=connect\n\tquiescent=yes\n"
        f"virtual=127.0.0.101:80\n\treal=127.0.0.31:{up_port} masq 1\n"
        "\tchecktype=connect\n\tquiescent=no\n"
    )
    config = parse_text(text, str(tmp_path / "t.cf"), resolver=RESOLVER, check_files=False)

    async def scenario() -> None:
        listener = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.31", up_port)
        director = CheckingDirector(Log(Lines()), ipvs_factory=lambda: AsyncIPVS(Kernel))
        director.use_state_file(str(tmp_path / "t.drained"))
        await director.start(config)
        await director.wait_ready()

        def reals() -> dict[tuple[str, str], RealSnapshot]:
            snapshot = director.snapshot()
            return {(v.virtual, r.real): r for v in snapshot.virtuals for r in v.reals}

        quiet, plain = "tcp:127.0.0.100:80", "tcp:127.0.0.101:80"
        up, never = f"127.0.0.31:{up_port}", f"127.0.0.32:{up_port}"
        # desired first, the kernel's once the writer has applied it
        await eventually(lambda: reals()[quiet, up].programmed_weight == 5, what=reals)
        first = reals()
        assert (first[quiet, up].weight, first[quiet, up].programmed_weight) == (5, 5)
        assert first[quiet, never].state == "down" and first[quiet, never].weight == 0
        assert first[quiet, never].failures >= 1  # only ever failed: counted all the same
        listener.close()
        await listener.wait_closed()
        await director.command("check-now", {})
        await eventually(lambda: reals()[quiet, up].programmed_weight == 0, what=reals)
        later = reals()
        assert later[quiet, up].state == "down"
        assert (later[quiet, up].weight, later[quiet, up].programmed_weight) == (0, 0)
        assert later[plain, up].weight is None and later[plain, up].programmed_weight is None
        assert later[quiet, never].failures > first[quiet, never].failures
        # the kind of the last result beside its reason (the engine's last_kind)
        assert first[quiet, up].last_kind == "none"
        assert later[quiet, never].last_kind == later[quiet, up].last_kind == "refused"
        document = json.loads(await director.status_document())
        assert document["schema"] == SCHEMA_VERSION
        [entry] = [r for v in document["virtuals"] if v["virtual"] == quiet for r in v["reals"]][:1]
        assert (entry["weight"], entry["programmed_weight"]) == (0, 0)
        lines = set(
            (await Metrics(director.snapshot, director.snapshot_fresh).render("", "", {}))[0]
            .decode()
            .splitlines()
        )
        assert f'ldirectord_real_weight{{real="{up}",virtual="{quiet}"}} 0.0' in lines
        assert not any(f'real="{up}",virtual="{plain}"' in x for x in lines if "weight{" in x)
        await director.stop()

    run(scenario)


def test_the_fallback_is_described_as_the_kernel_stores_it(tmp_path: Path) -> None:
    """`list -n --health` without ip_vs draws the fallback from these two fields."""
    from ldirectord_py.daemon.snapshot import StatusBook
    from ldirectord_py.engine import Engine

    text = (
        "virtual=127.0.0.100:80\n\treal=127.0.0.31:8080 masq\n"
        "\tfallback=127.0.0.1:8081 masq\n\tchecktype=connect\n"
        "virtual=127.0.0.101:80\n\treal=127.0.0.32:80 gate\n"
        "\tfallback=127.0.0.2:8082 gate\n\tchecktype=connect\n"
    )
    config = parse_text(text, str(tmp_path / "t.cf"), resolver=RESOLVER, check_files=False)
    book = StatusBook(Engine(config, 0.0), frozenset(), lambda: 0.0)
    masq, gate = book.entries
    assert (masq.fallback_kernel, masq.fallback_forward) == ("127.0.0.1:8081", "Masq")
    assert (gate.fallback_kernel, gate.fallback_forward) == ("127.0.0.2:80", "Route")
