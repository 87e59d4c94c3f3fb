"""Which API the client speaks, found at connect, against small gRPC servers on
a unix socket that serve the 3.x service, the 4.x one, or neither; and the
route writer's error reporting when nothing answers."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
import pytest

from ldirectord_py.routing.dialects import V3, V4, Dialect
from ldirectord_py.routing.gobgp import GoBGPClient, GoBGPError, GoBGPVersionError
from ldirectord_py.routing.model import ApiVersion, Route, host_prefix
from ldirectord_py.routing.writer import FailureLog, RouteWriter


class FakeGoBGP:
    """A gRPC server answering GetBgp (AS 65001) on the services of `dialects`."""

    def __init__(self, socket: Path, dialects: tuple[Dialect, ...]) -> None:
        self.target = f"unix:{socket}"
        self.dialects = dialects
        self.calls: list[str] = []
        self.delay = 0.0
        self.server: grpc.aio.Server | None = None

    def _handler(self, d: Dialect) -> grpc.GenericRpcHandler:
        async def get_bgp(request: Any, context: Any) -> Any:
            self.calls.append(f"{d.service}/GetBgp")
            await asyncio.sleep(self.delay)
            return d.pb.GetBgpResponse(**{"global": d.pb.Global(asn=65001, router_id="192.0.2.2")})

        handler = grpc.unary_unary_rpc_method_handler(
            get_bgp,
            request_deserializer=d.pb.GetBgpRequest.FromString,
            response_serializer=d.pb.GetBgpResponse.SerializeToString,
        )
        return grpc.method_handlers_generic_handler(d.service, {"GetBgp": handler})

    async def __aenter__(self) -> FakeGoBGP:
        self.server = grpc.aio.server()
        for d in self.dialects:
            self.server.add_generic_rpc_handlers((self._handler(d),))
        self.server.add_insecure_port(self.target)
        await self.server.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        await self.server.stop(None)


async def connect(fake: FakeGoBGP, version: ApiVersion = "auto") -> GoBGPClient:
    client = GoBGPClient(fake.target, timeout=2, version=version)
    await client.get_bgp()
    return client


@pytest.mark.parametrize(("served", "found"), [((V3,), V3), ((V4,), V4), ((V3, V4), V4)])
def test_auto_finds_the_api_the_daemon_speaks(
    tmp_path: Path, served: tuple[Dialect, ...], found: Dialect
) -> None:
    async def scenario() -> None:
        async with FakeGoBGP(tmp_path / "api.sock", served) as fake:
            client = await connect(fake)
            try:
                assert client.dialect is found
                await client.get_bgp()  # later calls go straight to the API found
            finally:
                await client.close()
            # 4.x is asked first; 3.x only when 4.x is UNIMPLEMENTED.
            expected = [f"{found.service}/GetBgp"] * 2
            assert fake.calls == expected

    asyncio.run(scenario())


def test_neither_api_is_one_clear_error(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with FakeGoBGP(tmp_path / "api.sock", ()) as fake:
            client = GoBGPClient(fake.target, timeout=2)
            with pytest.raises(GoBGPVersionError) as info:
                await client.get_bgp()
            await client.close()
            assert str(info.value) == (
                f"GoBGP API at {fake.target}: neither the 3.x nor the 4.x service answers"
            )
            assert not info.value.unavailable

    asyncio.run(scenario())


def test_pinned_version_says_what_the_daemon_speaks(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with FakeGoBGP(tmp_path / "api.sock", (V3,)) as fake:
            client = GoBGPClient(fake.target, timeout=2, version="4")
            with pytest.raises(GoBGPVersionError, match=r"4\.x service does not answer"):
                await client.get_bgp()
            await client.close()
            assert (await connect(fake, "3")).dialect is V3
            with pytest.raises(GoBGPError, match=r"speaks 3\.x: set gobgpversion = 3"):
                await connect(fake, "4")

    asyncio.run(scenario())


def test_writer_reports_a_daemon_without_either_api_once(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with FakeGoBGP(tmp_path / "api.sock", ()) as fake:
            logs: list[str] = []
            w = RouteWriter(
                target=fake.target,
                prefixes=[host_prefix("198.51.100.1").supernet(new_prefix=24)],
                log=logs.append,
                backoff_cap=0.05,
            )
            w.start()
            v = host_prefix("198.51.100.1")
            w.submit({v: Route(v)})
            assert not await w.converge_now(0.8)
            await w.stop(withdraw=False)
            text = f"GoBGP API at {fake.target}: neither the 3.x nor the 4.x service answers"
            assert w.status()["last_error"] == text
            assert w.status()["api"] is None and w.status()["no_api"] is True
            assert logs.count(f"route writer: {text}; retrying") == 1
            assert len(fake.calls) == 0  # neither service exists: no call got through
            assert not any("still failing" in line for line in logs)

    asyncio.run(scenario())


def test_failure_log_reports_each_text_once_and_counts_repeats() -> None:
    log = FailureLog()
    texts = ["unreachable", "deadline", "unreachable", "deadline"] * 30  # alternating
    firsts = [t for i, t in enumerate(texts) if log.add(t, float(i))]
    assert firsts == ["unreachable", "deadline"]
    assert log.due(30.0, 60.0) is None
    summary = log.due(61.0, 60.0)
    assert summary is not None and "120 attempts" in summary and "118 repeated" in summary
    assert log.due(62.0, 60.0) is None
    log.add("deadline", 200.0)
    assert "121 failed attempts" in (log.reset() or "")
    assert log.add("deadline", 201.0)  # a new outage: reported again


def test_a_call_cut_by_a_reconnect_is_a_lost_connection_not_a_cancellation(
    tmp_path: Path,
) -> None:
    # The route writer closes its client when it reconnects; converge_now() may
    # be reading through that client at that moment, in another task.
    async def scenario() -> None:
        async with FakeGoBGP(tmp_path / "api.sock", (V4,)) as fake:
            client = await connect(fake)
            fake.delay = 1.0  # the next call waits in the server
            call = asyncio.create_task(client.get_bgp())
            await asyncio.sleep(0.2)
            await client.close()
            with pytest.raises(GoBGPError, match="connection was closed") as info:
                await call
            assert info.value.unavailable
            # Our own cancellation stays a cancellation.
            client = await connect(fake)
            call = asyncio.create_task(client.get_bgp())
            await asyncio.sleep(0.2)
            call.cancel()
            with pytest.raises(asyncio.CancelledError):
                await call
            await client.close()

    asyncio.run(scenario())
