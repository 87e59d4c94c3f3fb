"""Where a config name points: /etc/ha.d/NAME, /etc/ha.d/conf/NAME, then NAME as given.

The first regular file wins (so a file in /etc/ha.d beats one of the same name in
the current directory), exactly as the original looks it up."""

from __future__ import annotations

import os

SEARCH_DIRS = ("/etc/ha.d", "/etc/ha.d/conf")


def locate_config(name: str) -> str | None:
    """The path the original would use for `name`, or None if there is no such file."""
    for directory in SEARCH_DIRS:
        candidate = f"{directory}/{name}"
        if os.path.isfile(candidate):
            return candidate
    return name if os.path.isfile(name) else None


def instance_name(name: str) -> str:
    """The instance name (pid file, log prefix): the text after the last `/`."""
    return name.rsplit("/", 1)[-1]
