"""Drained reals in the daemon, in one place: where drains are kept, the keys as
the running table stores them, and the `ldirectordctl drain|undrain` command.
What a drain is (`DrainKey`) and the rule applied to the desired table
(`apply_drains`) are pure and live in engine/drain.py (the CLI parses keys too).

An operator drains a real (`ldirectordctl drain 10.0.0.5:80`) to let its
connections finish before maintenance. Unlike a failed check or a
`maintenancedir` file it does not depend on `quiescent`: a drained real stays in
the table at weight 0 in every virtual that has it, so established connections
keep their server, and its checks go on. Drains are applied to the engine's
desired table as a last step (`apply_drains`), so the engine's decisions are
untouched and undrain restores exactly what the engine wants. They are kept in a
file next to the pid file (`DrainStore`) so that they survive reload and a
restart of the daemon, as a file in `maintenancedir` would.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from ldirectord_py.config import Real
from ldirectord_py.daemon.runfiles import store_json
from ldirectord_py.engine import Engine
from ldirectord_py.engine.drain import DrainKey, apply_drains
from ldirectord_py.engine.table import destination_for
from ldirectord_py.ipvs.model import Destination, VirtualService

__all__ = ["DrainKey", "DrainStore", "Drains", "apply_drains", "matching_services", "stored_keys"]


class DrainStore:
    """The drained reals and the file that keeps them."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self.keys: set[DrainKey] = set()
        self.load_error: str | None = None
        if path is not None:
            self._load(path)

    def _load(self, path: str) -> None:
        try:
            with open(path) as fh:
                data = json.load(fh)
            self.keys = {DrainKey.parse(str(item)) for item in data}
        except FileNotFoundError:
            pass
        except (OSError, ValueError, TypeError) as exc:
            # A damaged file must not stop the daemon: say so in status, drain nothing.
            self.load_error = f"{path}: ignored: {exc}"

    def drain(self, key: DrainKey) -> bool:
        """Add; False when it was already drained."""
        if key in self.keys:
            return False
        self._save(self.keys | {key})
        self.keys.add(key)
        return True

    def undrain(self, key: DrainKey) -> bool:
        if key not in self.keys:
            return False
        self._save(self.keys - {key})
        self.keys.discard(key)
        return True

    def _save(self, keys: set[DrainKey]) -> None:
        """Write `keys` (raises OSError: then nothing changed, on disk or here)."""
        if self.path is not None:
            store_json(self.path, sorted(str(k) for k in keys))


def configured_reals(
    engine: Engine,
) -> Iterator[tuple[VirtualService, Real, Destination, Destination]]:
    """Each configured real with its service, its destination as configured, and
    as the kernel stores it (a gate real takes its virtual's port)."""
    for virtual in engine.config.virtuals:
        service = engine.service(virtual)
        if service is None:
            continue
        for real in virtual.reals:
            destination = destination_for(real)
            yield service, real, destination, service.stored_destination(destination)


def stored_keys(drained: Iterable[DrainKey], engine: Engine) -> frozenset[DrainKey]:
    """`drained` as `engine`'s table stores them: a gate real on another port than
    its virtual's is stored on the virtual's port, so `drain ADDR:PORT` with the
    configured port means that stored form too. The one rule for the writer
    (`Drains.keys_for`) and the reload preview."""
    drained = frozenset(drained)
    if not drained:
        return drained
    keys = set(drained)
    for _service, real, destination, stored in configured_reals(engine):
        for key in drained:
            if key.port == real.port and key.matches(destination):
                keys.add(DrainKey(key.address, stored.port))
    return frozenset(keys)


class Drains:
    """The daemon's drains: the store, the keys as the running table stores them,
    and the drain/undrain command."""

    def __init__(self, store: DrainStore | None = None) -> None:
        self.store = store if store is not None else DrainStore(None)
        self._cache: tuple[object, frozenset[DrainKey], frozenset[DrainKey]] | None = None

    def keys_for(self, engine: Engine | None) -> frozenset[DrainKey]:
        """The drained reals as the kernel stores them (`stored_keys`), kept until
        the drains or the engine's configuration change."""
        if not self.store.keys or engine is None:
            return frozenset()
        cache_key = frozenset(self.store.keys)
        cached = self._cache
        if cached is not None and cached[0] is engine.config and cached[1] == cache_key:
            return cached[2]
        result = stored_keys(cache_key, engine)
        self._cache = (engine.config, cache_key, result)
        return result

    def command(
        self,
        name: str,
        text: str,
        engine: Engine | None,
        changed: Callable[[DrainKey], None],
    ) -> dict[str, Any]:
        """`drain`/`undrain` TEXT: the answer for ldirectordctl; `changed(key)` is
        called once the store changed (log it, submit the table)."""
        try:
            key = DrainKey.parse(text)
        except ValueError as exc:
            return {"ok": False, "error": f"{name}: {exc}"}
        matched = matching_services(engine, key) if engine is not None else []
        try:
            done = self.store.drain(key) if name == "drain" else self.store.undrain(key)
        except OSError as exc:
            return {"ok": False, "error": f"{name} {key}: cannot save the drained reals: {exc}"}
        if not done:
            already = "already drained" if name == "drain" else "not drained"
            return {"ok": True, "message": f"{key}: {already}"}
        changed(key)
        where = ", ".join(matched) if matched else "no configured real (kept for later)"
        verb = "drained (weight 0)" if name == "drain" else "undrained"
        return {"ok": True, "message": f"{key}: {verb} in {where}"}


def matching_services(engine: Engine, key: DrainKey) -> list[str]:
    """The services that have the real as configured (before drain's change)."""
    out: list[str] = []
    for service, _real, destination, stored in configured_reals(engine):
        name = str(service.key)
        if (key.matches(destination) or key.matches(stored)) and name not in out:
            out.append(name)
    return out
