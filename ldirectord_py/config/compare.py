"""Which virtuals a reload leaves as they were: compared once per reload.

A reload of a large configuration usually changes a few virtuals, or none (a
comment, a moved line). What depends on a virtual alone -- the engine's state
objects, its status entries, its check specs -- can then be kept for every
virtual that compares equal to the running one, and only the others are built
again (daemon/reload_plan.py). The comparison is the config dataclasses' `==`,
which leaves out where a value was written (`line`, `sources`); global settings
are merged into each virtual's effective values by the parser, so a global that
every virtual inherits (checkinterval, quiescent, fallback, ...) makes every
inheriting virtual differ here. The reload record (observe/reloads.py) takes the
same verdict instead of comparing those virtuals again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ldirectord_py.config.model import Config


@dataclass(frozen=True)
class VirtualsCompared:
    """The new configuration's virtuals against the running one's."""

    identities: tuple[str, ...]
    """The new configuration's virtuals' identities, in its order."""
    same: frozenset[str]
    """Identities whose virtual (its reals included) equals the running one's."""
    unchanged: bool
    """Every virtual equals the running one's, in the same order: the engine, its
    status book and its checks need nothing new."""
    in_order: bool = True
    """The virtuals in `same` come in the order they came before (which of the
    virtuals sharing a check comes first decides its parameters)."""

    @property
    def count(self) -> int:
        return len(self.identities)


def compare_virtuals(
    old: Config,
    new: Config,
    old_identities: Sequence[str] | None = None,
) -> VirtualsCompared:
    """Compare each virtual of `new` with the one of `old` of the same identity
    (`is` first, then `==`). `old_identities`: those of `old.virtuals`, when the
    caller has them (an identity is a formatted string: 10,000 cost milliseconds)."""
    identities = tuple(v.identity for v in new.virtuals)
    olds = tuple(v.identity for v in old.virtuals) if old_identities is None else old_identities
    before = dict(zip(olds, old.virtuals, strict=True))
    if len(before) != len(olds) or len(set(identities)) != len(identities):
        # duplicate identities (the parser refuses them): nothing is matched
        return VirtualsCompared(identities, frozenset(), False, False)
    same = []
    for identity, virtual in zip(identities, new.virtuals, strict=True):
        previous = before.get(identity)
        if previous is not None and (previous is virtual or previous == virtual):
            same.append(identity)
    kept = frozenset(same)
    unchanged = len(same) == len(identities) == len(olds) and tuple(olds) == identities
    in_order = unchanged or [i for i in olds if i in kept] == same
    return VirtualsCompared(identities, kept, unchanged, in_order)
