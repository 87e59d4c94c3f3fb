"""InterfaceWriter: VIP addresses (/32, /128) on interfaces, the paper's way.

A routing daemon that redistributes connected routes (BIRD `protocol direct`,
FRR/Quagga `redistribute connected`) announces a VIP while its address is on
the interface and withdraws it when the address goes. The writer converges the
interfaces to the submitted mapping {ifname: VIPs}, idempotently, over netlink
(pyroute2, in a worker thread so the event loop never blocks).

Ownership: the writer only ever removes an address that is
  * a host address (/32 or /128) on an interface it has been given, and
  * either was in one of its desired sets during this process's life, or lies
    inside one of its `prefixes` (the anycast prefixes; pass them so that a VIP
    left behind by a previous run killed with SIGKILL is removed too).
Every other address (127.0.0.1/8 and ::1 on lo, the interface's own addresses,
anything outside the anycast prefixes) is left alone. With `prefixes` given, a
desired VIP outside them is refused (logged, not added), as the route writer does.

A missing interface is an error naming it (logged once, in status()); the
writer retries every `retry` seconds, so an interface that appears later gets
its VIPs. IPv6 addresses are added with IFA_F_NODAD so they are usable at once.

The netlink work runs in a worker thread that only reads its arguments and
returns an `_Applied` result; the event loop alone changes the writer's state
and logs. An unexpected error ends the task, and the daemon's WriterSupervisor
logs its traceback and restarts it; netlink errors are retried here.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from ldirectord_py.observe.schema import InterfacesSnapshot, to_json

from ..networks import Network
from .model import HostPrefix, inside

IFA_F_NODAD = 0x02


class NetlinkAddresses:
    """The blocking side: one pyroute2 socket, used from one thread at a time.

    Also used directly (synchronously) by ldirectord-anycast --method interface.
    """

    def __init__(self, netns: str | None) -> None:
        self.netns = netns
        self._ipr: Any = None

    def _sock(self) -> Any:
        if self._ipr is None:
            if self.netns:
                from pyroute2 import NetNS

                self._ipr = NetNS(self.netns)
            else:
                from pyroute2 import IPRoute

                self._ipr = IPRoute()
        return self._ipr

    def close(self) -> None:
        ipr, self._ipr = self._ipr, None
        if ipr is not None:
            ipr.close()

    def index(self, ifname: str) -> int | None:
        found = self._sock().link_lookup(ifname=ifname)
        return int(found[0]) if found else None

    def host_addresses(self, index: int) -> set[HostPrefix]:
        result: set[HostPrefix] = set()
        for msg in self._sock().get_addr(index=index):
            length = int(msg["prefixlen"])
            value = msg.get_attr("IFA_LOCAL") or msg.get_attr("IFA_ADDRESS")
            if not value:
                continue
            net = ipaddress.ip_network(f"{value}/{length}", strict=False)
            if net.prefixlen == net.max_prefixlen:
                result.add(net)
        return result

    def add(self, index: int, prefix: HostPrefix) -> None:
        flags: dict[str, Any] = {"flags": IFA_F_NODAD} if prefix.version == 6 else {}
        self._addr("add", index, prefix, (errno.EEXIST,), **flags)

    def remove(self, index: int, prefix: HostPrefix) -> None:
        self._addr("del", index, prefix, (errno.EADDRNOTAVAIL, errno.ENODEV))

    def _addr(
        self, op: str, index: int, prefix: HostPrefix, done: tuple[int, ...], **extra: Any
    ) -> None:
        """One RTM_NEWADDR/DELADDR; `done` are the errors meaning "already so"."""
        try:
            self._sock().addr(
                op,
                index=index,
                address=str(prefix.network_address),
                prefixlen=prefix.prefixlen,
                family=socket.AF_INET if prefix.version == 4 else socket.AF_INET6,
                **extra,
            )
        except Exception as exc:
            if getattr(exc, "code", None) not in done:
                raise


@dataclass
class _Applied:
    """What one pass of the worker thread did (the loop takes it into the state)."""

    changes: int = 0
    errors: dict[str, str] = field(default_factory=dict)
    actual: dict[str, frozenset[HostPrefix]] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)


class InterfaceWriter:
    def __init__(
        self,
        log: Callable[[str], None],
        *,
        prefixes: Sequence[Network] = (),
        netns: str | None = None,
        retry: float = 1.0,
        recheck: float = 5.0,
    ) -> None:
        self._log = log
        self.prefixes: tuple[Network, ...] = tuple(prefixes)
        self.netns = netns
        self._retry = retry
        self._recheck = recheck
        self._netlink = NetlinkAddresses(netns)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vip-addresses")
        self._desired: dict[str, frozenset[HostPrefix]] = {}
        self._known: dict[str, set[HostPrefix]] = {}
        """Per interface, every VIP ever desired there (removable when no longer desired)."""
        self._generation = 0
        self._applied_generation = -1
        self._errors: dict[str, str] = {}
        self._refused: dict[str, str] = {}
        self._actual: dict[str, frozenset[HostPrefix]] = {}
        """Per interface read so far: the VIP addresses of ours it carries."""
        self._since = time.time()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.changes_total = 0
        self.busy_since: float | None = None

    @property
    def task(self) -> asyncio.Task[None] | None:
        return self._task

    # ---- API -------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="vip-addresses")

    def submit(self, addresses: Mapping[str, frozenset[HostPrefix]]) -> None:
        desired: dict[str, frozenset[HostPrefix]] = {}
        refused: dict[str, str] = {}
        for ifname, vips in addresses.items():
            keep: set[HostPrefix] = set()
            for vip in vips:
                reason = self._refusal(vip)
                if reason:
                    refused[f"{vip} on {ifname}"] = reason
                else:
                    keep.add(vip)
            desired[ifname] = frozenset(keep)
            self._known.setdefault(ifname, set()).update(keep)
        for key, reason in refused.items():
            if self._refused.get(key) != reason:
                self._log(f"interface writer: refusing to add {key}: {reason}")
        self._refused = refused
        # Interfaces dropped from the mapping still get their VIPs removed.
        for ifname in self._known:
            desired.setdefault(ifname, frozenset())
        if desired != self._desired:
            self._desired = desired
            self._generation += 1
            self._wake.set()

    async def converge_now(self, timeout: float) -> bool:
        """True when every interface carries exactly the desired VIPs (of those it owns)."""
        deadline = time.monotonic() + timeout
        pause = 0.005
        while True:
            if self._applied_generation == self._generation and not self._errors:
                generation = self._generation
                ok = await self._call(self._verify_sync, dict(self._desired), *self._scope())
                if ok and generation == self._generation:
                    return True
                if not ok:
                    self._wake.set()  # changed behind our back: converge again
                    pause = 0.05
            if time.monotonic() >= deadline:
                return False
            if self._errors:
                pause = max(pause, self._retry / 4)  # failing: no busy polling
            await asyncio.sleep(pause)

    async def stop(self, *, remove: bool) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        try:
            if remove:
                empty = {ifname: frozenset[HostPrefix]() for ifname in self._known}
                try:
                    removed = self._take(await self._call(self._apply_sync, empty, *self._scope()))
                    if removed:
                        self._log(f"interface writer: removed {removed} VIP addresses on stop")
                except Exception as exc:
                    self._log(f"interface writer: could not remove the VIP addresses: {exc}")
        finally:
            await self._call(self._netlink.close)
            self._executor.shutdown(wait=False)

    def present(self) -> frozenset[HostPrefix]:
        """The VIP addresses of ours on some interface, as last read."""
        return frozenset().union(*self._actual.values())

    def read_interfaces(self) -> frozenset[str]:
        """The interfaces read at least once (their addresses are known)."""
        return frozenset(self._actual)

    def errors(self) -> Mapping[str, str]:
        """Per interface (or "*": netlink itself) the error of the last pass."""
        return dict(self._errors)

    def snapshot(self) -> InterfacesSnapshot:
        return InterfacesSnapshot(
            netns=self.netns,
            converged=self._applied_generation == self._generation and not self._errors,
            since=self._since,
            last_error=next(iter(self._errors.values()), None),
            errors=dict(self._errors),
            desired={i: _texts(v) for i, v in sorted(self._desired.items())},
            actual={i: _texts(v) for i, v in self._actual.items()},
            refused=dict(self._refused),
            prefixes=tuple(str(p) for p in self.prefixes),
        )

    def status(self) -> dict[str, Any]:
        """The snapshot as JSON data."""
        return dict(to_json(self.snapshot()))

    # ---- internals -------------------------------------------------------------

    def _refusal(self, vip: HostPrefix) -> str | None:
        if vip.prefixlen != vip.max_prefixlen:
            return "not a host address (/32 or /128)"
        if self.prefixes and not inside(vip, self.prefixes):
            return "outside the anycast prefixes (" + ", ".join(map(str, self.prefixes)) + ")"
        return None

    def _scope(self) -> tuple[dict[str, frozenset[HostPrefix]], tuple[Network, ...]]:
        """A snapshot of what the worker thread may read: the VIPs ever desired per
        interface, and the anycast prefixes."""
        return {i: frozenset(v) for i, v in self._known.items()}, self.prefixes

    @staticmethod
    def _ours(
        known: Mapping[str, frozenset[HostPrefix]],
        prefixes: Sequence[Network],
        ifname: str,
        vip: HostPrefix,
    ) -> bool:
        return vip in known.get(ifname, ()) or inside(vip, prefixes)

    async def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            generation = self._generation
            self.busy_since = time.monotonic()
            try:
                applied = await self._call(self._apply_sync, dict(self._desired), *self._scope())
                self._take(applied)
            except OSError as exc:  # netlink trouble: report and retry
                self._set_error("*", f"netlink: {exc}")
                await self._call(self._netlink.close)
            except Exception as exc:
                if getattr(exc, "code", None) is None:
                    raise  # not a netlink error: a bug, for the supervisor
                self._set_error("*", f"netlink: {exc}")
                await self._call(self._netlink.close)
            finally:
                self.busy_since = None
            if not self._errors:
                self._applied_generation = generation
            wait = self._retry if self._errors else self._recheck
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)

    def _take(self, applied: _Applied) -> int:
        """On the loop: the worker's result becomes the writer's state."""
        for line in applied.lines:
            self._log(line)
        self._actual.update(applied.actual)
        self.changes_total += applied.changes
        for ifname, message in applied.errors.items():
            if self._errors.get(ifname) != message:
                self._log(f"interface writer: {message}")
        if applied.errors != self._errors:
            self._since = time.time()
        self._errors = applied.errors
        return applied.changes

    def _apply_sync(
        self,
        desired: Mapping[str, frozenset[HostPrefix]],
        known: Mapping[str, frozenset[HostPrefix]],
        prefixes: Sequence[Network],
    ) -> _Applied:
        """In the worker thread: reads its arguments, changes nothing but the kernel."""
        out = _Applied()
        for ifname, vips in sorted(desired.items()):
            index = self._netlink.index(ifname)
            if index is None:
                if vips:
                    listed = ", ".join(sorted(str(v) for v in vips))
                    out.errors[ifname] = (
                        f"interface {ifname} does not exist (VIPs {listed} not added)"
                    )
                continue
            present = self._netlink.host_addresses(index)
            for vip in sorted(vips - present, key=str):
                self._netlink.add(index, vip)
                out.lines.append(f"interface writer: added {vip} to {ifname}")
                out.changes += 1
            for vip in sorted(present - vips, key=str):
                if self._ours(known, prefixes, ifname, vip):
                    self._netlink.remove(index, vip)
                    out.lines.append(f"interface writer: removed {vip} from {ifname}")
                    out.changes += 1
            out.actual[ifname] = frozenset(
                v
                for v in self._netlink.host_addresses(index)
                if self._ours(known, prefixes, ifname, v)
            )
        return out

    def _verify_sync(
        self,
        desired: Mapping[str, frozenset[HostPrefix]],
        known: Mapping[str, frozenset[HostPrefix]],
        prefixes: Sequence[Network],
    ) -> bool:
        for ifname, vips in desired.items():
            index = self._netlink.index(ifname)
            if index is None:
                if vips:
                    return False
                continue
            present = {
                v
                for v in self._netlink.host_addresses(index)
                if self._ours(known, prefixes, ifname, v)
            }
            if present != vips:
                return False
        return True

    def _set_error(self, key: str, message: str) -> None:
        if self._errors.get(key) != message:
            self._log(f"interface writer: {message}")
        self._errors[key] = message


def _texts(vips: frozenset[HostPrefix]) -> tuple[str, ...]:
    """VIPs as text, sorted as text (as status has always listed them)."""
    return tuple(sorted(str(v) for v in vips))
