"""Commands that reach a daemon without a pid file (-d, supervised, systemd) and
reloads you can see (issue 15 items 3 and 5): `ldirectord CFG stop|reload` go
through the control socket, `ldirectordctl reload --dry-run` shows the change
without applying it, every reload is logged with what changed and kept as the
status's `last_reload`, drain refuses a real no virtual has, check-now names the
reals that are down."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from .conftest import DRIVER, REPO, Sandbox, read_until, wait_until

CTL = REPO / ".venv" / "bin" / "ldirectordctl"


def ctl(sandbox: Sandbox, *args: str) -> tuple[int, str, str]:
    res = sandbox.call(CTL, *args, timeout=60)
    return res.rc, res.out, res.err


def _foreground(sandbox: Sandbox, cfg: Path, *argv: str) -> subprocess.Popen[str]:
    proc = sandbox.popen(*(argv or (sandbox.binary,)), "-d", cfg, "start")
    assert proc.stderr is not None
    read_until(proc.stderr, r"^Starting Linux Director")
    wait_until(lambda: (sandbox.run / f"ldirectord.{cfg.name}.sock").exists(), "the control socket")
    return proc


def test_stop_reaches_a_foreground_daemon(sandbox: Sandbox) -> None:
    cfg = sandbox.config("fg.cf")
    proc = _foreground(sandbox, cfg)
    assert not sandbox.pidfile("fg.cf").exists()
    res = sandbox.ld(cfg, "stop")
    assert (res.rc, res.out, res.err) == (0, "", ""), res
    assert proc.wait(timeout=5) == 0, "stopped, not left running"
    # nothing runs: stop is still exit 0, as the original's
    assert sandbox.ld(cfg, "stop").rc == 0


def test_stop_says_why_it_cannot_reach_a_foreground_daemon(sandbox: Sandbox) -> None:
    cfg = sandbox.config("nosock.cf")
    proc = _foreground(sandbox, cfg)
    (sandbox.run / "ldirectord.nosock.cf.sock").unlink()
    res = sandbox.ld(cfg, "stop")
    assert res.rc == 1, res
    assert re.search(
        rf"ldirectord for {re.escape(str(cfg))} runs without a pid file \(pid {proc.pid}: .*\) "
        r"and cannot be asked to stop: it has no control socket at .*ldirectord\.nosock\.cf\.sock;"
        rf" stop it where it was started \(systemctl stop, or kill {proc.pid}\)",
        res.err,
    ), res.err
    assert proc.poll() is None, "still running, and the operator knows it"


def test_reload_of_a_foreground_daemon_waits_for_the_verdict(sandbox: Sandbox) -> None:
    cfg = sandbox.config("rl.cf")
    _foreground(sandbox, cfg)
    res = sandbox.ld("-d", cfg, "reload")
    assert res.rc == 0, res
    # A director that refuses every reload: the command fails, saying why.
    refusing = sandbox.config("refusing.cf")
    sandbox.extra_env = {"LDTEST_DIRECTOR": "fail-reload", "PYTHONPATH": str(REPO)}
    _foreground(sandbox, refusing, sys.executable, str(DRIVER))
    res = sandbox.ld("-d", refusing, "reload")
    assert res.rc == 1, res
    assert "reload failed, the running configuration stays in effect" in res.err


def test_reloads_are_logged_kept_and_previewed(sandbox: Sandbox) -> None:
    cfg = sandbox.config("vis.cf")
    sandbox.start(cfg)
    wait_until(lambda: ctl(sandbox, "status")[0] == 0, "the daemon answers")

    # the file on disk gains a real and a virtual: dry-run prints the change
    text = cfg.read_text()
    cfg.write_text(
        text + "virtual=127.0.0.101:8080\n\treal=127.0.0.12:8080 gate\n\tchecktype=connect\n"
    )
    rc, out, err = ctl(sandbox, "reload", "--dry-run")
    assert rc == 0, err
    assert "virtuals +1 -0 ~0, reals +1 -0 ~0" in out
    assert "virtuals added: tcp:127.0.0.101:8080" in out
    assert "desired ip_vs table:" in out and "+ TCP 127.0.0.101:8080 wrr" in out
    _rc, status, _ = ctl(sandbox, "status", "--json")
    assert json.loads(status)["last_reload"] is None, "a dry run applies nothing"

    rc, out, err = ctl(sandbox, "reload")
    assert rc == 0, err
    log = sandbox.log_text()
    assert re.search(
        r"Reloaded configuration .*vis\.cf \(control socket\): virtuals \+1 -0 ~0, "
        r"reals \+1 -0 ~0; virtuals added: tcp:127\.0\.0\.101:8080",
        log,
    ), log
    last = json.loads(ctl(sandbox, "status", "--json")[1])["last_reload"]
    assert last["ok"] is True and last["trigger"] == "control socket"
    assert last["change"]["reals_added"] == ["tcp:127.0.0.101:8080 127.0.0.12:8080"]

    # a broken file: refused, with file:line, in the record; the dry run says so too
    cfg.write_text(cfg.read_text() + "bogusdirective=1\n")
    bad_line = len(cfg.read_text().splitlines())
    rc, _out, err = ctl(sandbox, "reload", "--dry-run")
    assert rc == 1 and "the file would be refused" in err and "Unknown command" in err
    os.kill(sandbox.read_pid("vis.cf"), 1)  # HUP
    wait_until(
        lambda: (
            (json.loads(ctl(sandbox, "status", "--json")[1])["last_reload"] or {}).get("ok")
            is False
        ),
        "the refused reload is recorded",
    )
    last = json.loads(ctl(sandbox, "status", "--json")[1])["last_reload"]
    assert last["trigger"] == "signal" and last["where"].endswith(f"vis.cf:{bad_line}"), last
    assert "Unknown command bogusdirective=1" in last["error"]


def test_the_config_path_stays_as_given_after_a_reload(sandbox: Sandbox) -> None:
    cfg = sandbox.config("rel.cf", directory=sandbox.cwd)
    res = sandbox.ld("rel.cf", "start")  # relative to the sandbox's working directory
    assert res.rc == 0, res
    wait_until(lambda: ctl(sandbox, "status")[0] == 0, "the daemon answers")
    assert json.loads(ctl(sandbox, "status", "--json")[1])["config"] == "rel.cf"
    cfg.write_text(cfg.read_text().replace("checkinterval=1", "checkinterval=2"))
    rc, out, err = ctl(sandbox, "reload")
    assert (rc, out) == (0, "reloaded rel.cf\n"), err
    assert json.loads(ctl(sandbox, "status", "--json")[1])["config"] == "rel.cf"
    assert sandbox.ld("rel.cf", "stop").rc == 0


def test_drain_refuses_an_unknown_real_and_check_now_names_the_down(sandbox: Sandbox) -> None:
    cfg = sandbox.config("dr.cf")
    sandbox.start(cfg)
    wait_until(lambda: ctl(sandbox, "status")[0] == 0, "the daemon answers")
    rc, out, err = ctl(sandbox, "drain", "127.0.0.99")
    assert rc == 1, (out, err)
    assert "drain 127.0.0.99: no virtual service of" in err and "--force" in err
    rc, _out, err = ctl(sandbox, "drain", "127.0.0.11:8081")
    assert rc == 1 and "near matches: 127.0.0.11:8080" in err, err
    rc, out, err = ctl(sandbox, "drain", "--force", "127.0.0.99")
    assert rc == 0 and "kept for later" in out, err
    # undrain of what is drained works without --force, although no virtual has it
    rc, out, err = ctl(sandbox, "undrain", "127.0.0.99")
    assert rc == 0, err
    rc, _out, err = ctl(sandbox, "undrain", "127.0.0.98")
    assert rc == 1 and "undrain 127.0.0.98" in err

    # nothing listens on the real: check-now names it, and why
    rc, out, err = ctl(sandbox, "check-now")
    assert rc == 0, err
    assert "0 up, 1 down" in out
    assert re.search(r"^  down: 127\.0\.0\.11:8080 in TCP 127\.0\.0\.100:8080: \S", out, re.M), out


def test_an_autoreload_is_recorded_as_such(sandbox: Sandbox) -> None:
    cfg = sandbox.config("auto.cf", globals_="autoreload=yes\n")
    sandbox.start(cfg)
    wait_until(lambda: ctl(sandbox, "status")[0] == 0, "the daemon answers")
    cfg.write_text(cfg.read_text().replace("checkinterval=1", "checkinterval=3"))

    def recorded() -> dict[str, object] | None:
        last = json.loads(ctl(sandbox, "status", "--json")[1])["last_reload"]
        return last if last and last["trigger"] == "autoreload" else None

    wait_until(recorded, "the autoreload is recorded", timeout=10)
    last = recorded()
    assert last is not None and last["ok"] is True
    assert last["change"] == {
        "virtuals_added": [],
        "virtuals_removed": [],
        "virtuals_changed": ["tcp:127.0.0.100:8080"],
        "reals_added": [],
        "reals_removed": [],
        "reals_changed": [],
        "globals_changed": ["checkinterval"],
    }
    assert "(autoreload): virtuals +0 -0 ~1, reals +0 -0 ~0" in sandbox.log_text()
