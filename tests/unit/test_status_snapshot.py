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
from ldirectord_py.observe.schema import (
    SCHEMA_VERSION,
    DataplaneSnapshot,
    RealSnapshot,
    StatusSnapshot,
    VirtualSnapshot,
)

from .config.conftest import RESOLVER
from .test_checking_director import Kernel, Lines, free_port, run


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

        document = json.loads(await director.status_document())
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
