"""The drained reals, kept in a file next to the pid file so that they survive
reload and a restart of the daemon, as a file in `maintenancedir` would."""

from __future__ import annotations

import contextlib
import json
import os

from ldirectord_py.daemon.runfiles import replace_file
from ldirectord_py.engine.drain import DrainKey


class DrainStore:
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
        if self.path is None:
            return
        if not keys:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
            return
        data = json.dumps(sorted(str(k) for k in keys)) + "\n"
        replace_file(self.path, data.encode(), f"{os.path.basename(self.path)}.tmp")
