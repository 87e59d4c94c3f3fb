"""format.py against ipvsadm 1.31's own output, recorded in a real-kernel guest.

Every recorded listing (golden/*.json) must come out byte for byte the same from the
recorded table. Re-record with golden/record.sh.
"""

from __future__ import annotations

import pytest

from ldirectord_py.ipvs.format import ServiceNotFound, render_listing
from ldirectord_py.ipvs.model import Table
from tests.unit.ipvs.goldens import Golden, RecordedListing, all_goldens, options_from_args

GOLDENS = all_goldens()
CASES = [(g, listing) for g in GOLDENS for listing in g.listings]


def test_the_goldens_cover_every_listing_form() -> None:
    recorded = {" ".join(listing.args) for _, listing in CASES}
    for form in (
        "-Ln",
        "-L",
        "-Ln --stats",
        "-Ln --rate",
        "-Ln --thresholds",
        "-Ln --persistent-conn",
        "-Ln --exact",
        "-Ln --stats --exact",
        "-Lnc",
        "-Lc",
        "-Lnc --persistent-conn",
        "-Ln -f 7 -6",
        "-Ln --nosort",
    ):
        assert form in recorded, form
    assert len(CASES) >= 80


@pytest.mark.parametrize(
    ("golden", "listing"), CASES, ids=[f"{g.name}:{' '.join(x.args)}" for g, x in CASES]
)
def test_listing_matches_ipvsadm(golden: Golden, listing: RecordedListing) -> None:
    options = options_from_args(listing.args)
    if listing.rc != 0:
        assert listing.stderr.strip() == "No such service"
        assert golden.table is not None
        with pytest.raises(ServiceNotFound, match="No such service"):
            render_listing(golden.table, options, resolver=golden.resolver)
        return
    got = render_listing(
        golden.table if golden.table is not None else Table(),
        options,
        connections=listing.connections,
        resolver=golden.resolver,
    )
    assert got == listing.stdout
