"""Issue 10, finding 6 (control socket part) and issue 11, finding 2.

Invariant: every malformed control request -- JSON nested 50,000 deep, a line
over 64 KiB, not JSON, not UTF-8, not an object, wrong types, an unknown command,
a line never finished -- gets an error reply saying what was wrong, never no
reply and never the status document; the checks go on meanwhile.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from tests.faults.conftest import assert_checks_kept_their_interval
from tests.faults.loop_isolation import BAD_REQUESTS, Outcome, Scenario


def test_every_bad_control_request_gets_an_error_reply(
    isolation: Callable[[Scenario], Outcome],
) -> None:
    outcome = isolation(Scenario(fault="bad-requests", virtuals=500, interval=2))
    for name in [*BAD_REQUESTS, "unfinished line"]:
        text = outcome.replies[name]
        reply = json.loads(text)
        assert reply["ok"] is False and reply["error"], (name, text)
        assert "virtuals" not in reply, (name, text)
    # 50k deep is 100 kB: refused for its length before it is parsed
    assert "longer than 65536 bytes" in outcome.replies["json nested 50k deep"]
    assert "nested too deep" in outcome.replies["json nested 30k deep"]
    assert "longer than 65536 bytes" in outcome.replies["line over 64 KiB"]
    assert "no complete line within 2 s" in outcome.replies["unfinished line"]
    assert "unknown command 'launch-missiles'" in outcome.replies["unknown command"]
    assert_checks_kept_their_interval(outcome, bound=0.5)
