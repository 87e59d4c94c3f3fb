"""`ldirectordctl list -n --health` with a running daemon: the kernel's table as
ipvsadm lists it, with each real's check state from the daemon's status socket."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from scenario_backends import Backends

from ldirectord_py.cli.ctl import _register, cli

REPO = Path(__file__).resolve().parents[2]
LDIRECTORD = str(REPO / ".venv" / "bin" / "ldirectord")


@pytest.fixture
def backends() -> Iterator[Backends]:
    b = Backends()
    yield b
    b.close()


def test_health_column_shows_the_daemons_view(
    ipvs_table: Any, backends: Backends, tmp_path: Path
) -> None:
    backends.up("127.0.0.41")
    cfg = tmp_path / "health.cf"
    cfg.write_text(
        f'checkinterval=1\nnegotiatetimeout=5\nquiescent=yes\nlogfile="{tmp_path}/ld.log"\n'
        "virtual=127.0.0.140:8080\n"
        "\treal=127.0.0.41:8080 gate 3\n"
        "\treal=127.0.0.42:8080 gate 2\n"
        '\tservice=http\n\trequest="/"\n\treceive="OK"\n'
    )
    start = subprocess.run([LDIRECTORD, str(cfg), "start"], capture_output=True, text=True)
    assert start.returncode == 0, start.stderr
    try:
        _register()
        runner = CliRunner()
        deadline = time.monotonic() + 120
        output = ""
        while time.monotonic() < deadline:
            output = runner.invoke(cli, ["list", "-n", "--health"]).output
            if (
                "127.0.0.41:8080" in output
                and "127.0.0.42:8080" in output
                and (" up since " in output and " down since " in output)
            ):
                break
            time.sleep(0.5)
        lines = {line.split()[1]: line for line in output.splitlines() if line.startswith("  ->")}
        assert " Route   3 " in lines["127.0.0.41:8080"]
        assert " up since " in lines["127.0.0.41:8080"]
        assert " Route   0 " in lines["127.0.0.42:8080"]  # quiesced
        assert " down since " in lines["127.0.0.42:8080"]
        # Without --health the listing is exactly ipvsadm's.
        plain = runner.invoke(cli, ["list", "-n"]).output
        assert plain == ipvs_table("-L", "-n")
    finally:
        subprocess.run([LDIRECTORD, str(cfg), "stop"], capture_output=True, text=True)
