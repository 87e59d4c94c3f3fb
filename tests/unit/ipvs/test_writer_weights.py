"""The ip_vs writer reports the weights the kernel holds (status's
`programmed_weight`), also when the kernel refuses part of a change."""

from __future__ import annotations

import asyncio
import errno
import ipaddress

from ldirectord_py.ipvs.model import Destination, Family, Forwarding, Protocol, VirtualService
from ldirectord_py.ipvs.netlink import AsyncIPVS
from ldirectord_py.ipvs.operations import EditDestination, Operation
from ldirectord_py.ipvs.writer import IPVSWriter

from .fake_kernel import FakeKernel, FakeKernelError

A = Destination.of("192.0.2.1", 80, Forwarding.MASQ, weight=5)
B = Destination.of("192.0.2.2", 80, Forwarding.MASQ, weight=3)


class Kernel(FakeKernel):
    def __init__(self) -> None:
        super().__init__()
        self.refuse_edits_of: set[str] = set()

    def close(self) -> None:
        pass

    def _one(self, op: Operation) -> None:
        if isinstance(op, EditDestination) and str(op.destination.key) in self.refuse_edits_of:
            raise FakeKernelError(errno.EINVAL, str(op))
        super()._one(op)


def service(*destinations: Destination) -> VirtualService:
    return VirtualService(
        Family.INET,
        Protocol.TCP,
        ipaddress.ip_address("198.51.100.10"),
        80,
        destinations=destinations,
    )


def test_programmed_weights_follow_the_kernel_also_when_it_refuses_a_change() -> None:
    kernel = Kernel()

    async def scenario() -> None:
        writer = IPVSWriter(AsyncIPVS(lambda: kernel), lambda line: None)
        key = service().key
        writer.submit([service(A, B)])
        await writer.converge_now()
        assert writer.state.weights[key] == {A.key: 5, B.key: 3}
        kernel.refuse_edits_of = {str(B.key)}
        a0 = Destination.of("192.0.2.1", 80, Forwarding.MASQ, weight=0)
        b7 = Destination.of("192.0.2.2", 80, Forwarding.MASQ, weight=7)
        writer.submit([service(a0, b7)])
        await writer.converge_now()
        # the edit of A applied, the edit of B refused: the kernel keeps B at 3
        assert writer.state.weights[key] == {A.key: 0, B.key: 3}
        writer.submit([])
        await writer.converge_now()
        assert key not in writer.state.weights

    asyncio.run(scenario())
