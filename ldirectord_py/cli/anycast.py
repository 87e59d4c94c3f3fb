"""ldirectord-anycast: the paper's fallbackcommand (announce/withdraw a VIP route).

It arrives with the anycast issue; until then it refuses clearly rather than
pretending to have moved a route.
"""

from __future__ import annotations

import sys


def main() -> None:
    sys.stderr.write(
        "ldirectord-anycast: route control is not implemented yet in this version "
        "of ldirectord-py; no route was changed\n"
    )
    sys.exit(1)
