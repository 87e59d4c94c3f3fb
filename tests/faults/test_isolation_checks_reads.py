"""Issue 11, finding 1: one backend cannot starve the others' checks.

Healthy reals (HTTP, receive "OK", every 1 s) next to two reals of every kind
of bad backend (tests.faults.backends: 1-byte chunks without end, a hostile
1 MiB body under a backtracking `status.*ok`, a drip, an endless body, endless
headers, an endless line, a hung server). Every healthy real must keep its 1 s
interval (loosely here: bench/isolation_reads.py holds the precise figure) and
never be down, while every bad one is down.
"""

from __future__ import annotations

from tests.faults.isolation import Check, Scenario, backends, observe

HEALTHY = 20
PER_KIND = 2
SECONDS = 8.0
LOOSE_INTERVAL = 1.3  # s; the bench holds the 1 s + 50 ms figure


def test_bad_backends_do_not_delay_or_fail_healthy_checks() -> None:
    with backends("healthy") as good, backends("bad") as bad:
        healthy = [Check(f"healthy-{i}", good["healthy"]) for i in range(HEALTHY)]
        hostile = [
            Check(f"bad-{kind}-{j}", port, "status.*ok" if kind == "hostile" else "OK", 1, 3)
            for kind, port in bad.items()
            for j in range(PER_KIND)
        ]
        observed = observe(Scenario(healthy + hostile, SECONDS))
    ids = [c.identity for c in healthy]
    assert observed.downs(ids) == []
    for identity in ids:
        assert observed.count(identity) >= SECONDS - 1, identity
    assert observed.worst_gap(ids) < LOOSE_INTERVAL
    # the bad backends were really there, and really bad
    for check in hostile:
        results = observed.results.get(check.identity, [])
        assert results, f"{check.identity}: no result in {SECONDS} s"
        assert all(not r.ok for _, r in results), check.identity


def test_a_body_of_one_byte_chunks_is_read_only_so_far() -> None:
    """Read to its end (1 MiB of 1-byte chunks, three reads per byte), such a body
    took a core until the check's timeout; read up to 16,384 chunks, as a body
    is up to 1 MiB, the check decides at once, on what it read."""
    with backends("bad") as bad:
        chunked = [Check(f"chunks-{j}", bad["chunks1"], "OK", 1, 3) for j in range(2)]
        observed = observe(Scenario(chunked, 4.0))
    results = [r for c in chunked for _, r in observed.results.get(c.identity, [])]
    assert results, "no result in 4 s"
    for result in results:
        assert not result.ok and result.reason == "receive did not match", result
        assert result.latency < 1.0, f"read until {result.latency:.2f}s (timeout 3 s)"
