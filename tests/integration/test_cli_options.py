"""The command line as scripts call it: options, usage errors, version, help, config lookup."""

from __future__ import annotations

import re

import pytest

from ldirectord_py import __version__
from tests.integration.conftest import Sandbox

pytestmark = pytest.mark.root

VERSION_TEXT = (
    "Linux Director v1.186-ha\n"
    "1999-2006 Jacob Rief, Horms and others\n"
    "<http://www.vergenet.net/linux/ldirectord/>\n"
    "\n"
    "ldirectord comes with ABSOLUTELY NO WARRANTY.\n"
    "This is free software, and you are welcome to redistribute it\n"
    "under certain conditions. See the GNU General Public Licence for details.\n"
)


@pytest.mark.parametrize("flag", ["-v", "--version", "--VERSION", "-dv"])
def test_version_prints_the_original_text_on_stdout(sandbox: Sandbox, flag: str) -> None:
    res = sandbox.ld(flag)
    assert res.rc == 0
    assert res.out == VERSION_TEXT + f"ldirectord-py {__version__}\n"


@pytest.mark.parametrize("flag", ["-h", "-?", "--help", "-vh"])
def test_help_prints_a_manual_and_exits_0(sandbox: Sandbox, flag: str) -> None:
    res = sandbox.ld(flag)
    assert res.rc == 0, res
    assert res.err == ""
    assert "SYNOPSIS" in res.out
    assert "status" in res.out and "exit 3" in res.out


@pytest.mark.parametrize(
    ("args", "errors"),
    [
        (["-x", "status"], ["Unknown option: x"]),
        (["--deb", "status"], ["Unknown option: deb"]),
        (
            ["-debug", "status"],
            ["Unknown option: e", "Unknown option: b", "Unknown option: u", "Unknown option: g"],
        ),
        (["--debug=1", "status"], ["Option debug does not take an argument"]),
        (["-hx"], ["Unknown option: x"]),
        (["-D", "status"], ["Unknown option: D"]),
    ],
)
def test_unknown_option_gives_usage_and_255(
    sandbox: Sandbox, args: list[str], errors: list[str]
) -> None:
    res = sandbox.ld(*args)
    assert res.rc == 255
    assert res.err == "".join(f"{e}\n" for e in errors)
    assert res.out.startswith("Usage:\n    ldirectord [-d|--debug] [--] [configfile] start")


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["bogus"],
        ["t.cf", "bogus"],
        ["start", "t.cf"],  # config and command cannot be swapped
        ["status", "-v"],  # options only before the first argument
        ["--"],
        ["-d"],
    ],
)
def test_usage_on_stdout_and_255(sandbox: Sandbox, args: list[str]) -> None:
    sandbox.config("t.cf", directory=sandbox.cwd)
    res = sandbox.ld(*args)
    assert res.rc == 255, res
    assert res.err == ""
    assert res.out.startswith("Usage:\n")


def test_double_dash_ends_options(sandbox: Sandbox) -> None:
    res = sandbox.ld("--", "-d", "status")
    assert res.rc == 1
    assert res.err == "Config file -d not found\n"


def test_missing_config_exits_1_and_logs_to_the_default_log(sandbox: Sandbox) -> None:
    res = sandbox.ld("missing.cf", "status")
    assert (res.rc, res.out, res.err) == (1, "", "Config file missing.cf not found\n")
    log = (sandbox.varlog / "ldirectord.log").read_text()
    assert re.search(r"\|missing\.cf\|\d+\] Config file missing\.cf not found\n", log)
    assert "Exiting with exit_status 1: Initialisation Error" in log


def test_missing_config_with_debug_goes_to_stderr_once(sandbox: Sandbox) -> None:
    res = sandbox.ld("-d", "missing.cf", "status")
    assert res.rc == 1
    assert res.err.count("Config file missing.cf not found") == 1
    assert "Exiting with exit_status 1: Initialisation Error" in res.err


def test_broken_config_exits_2_naming_file_and_line(sandbox: Sandbox) -> None:
    cfg = sandbox.config()
    cfg.write_text(cfg.read_text() + "\nbogus_directive=1\n")
    for command in ("status", "stop", "start", "reload", "restart"):
        res = sandbox.ld(cfg, command)
        assert res.rc == 2, (command, res)
        assert res.out == ""
        # The original's exact text, including its odd trailing " \n" line.
        assert re.fullmatch(
            rf"Error \[\d+\] reading file {re.escape(str(cfg))} at line 9: "
            r"Unknown command bogus_directive=1\n \n",
            res.err,
        ), res.err
        assert not sandbox.pidfile().exists()


def test_config_lookup_prefers_etc_ha_d(sandbox: Sandbox) -> None:
    sandbox.config("x.cf", directory=sandbox.cwd)
    sandbox.config("x.cf", directory=sandbox.ha)
    res = sandbox.ld("x.cf", "status")
    assert (res.rc, res.out) == (3, "ldirectord is stopped for /etc/ha.d/x.cf\n")


def test_config_lookup_then_etc_ha_d_conf_then_cwd(sandbox: Sandbox) -> None:
    sandbox.config("y.cf", directory=sandbox.cwd)
    assert sandbox.ld("y.cf", "status").out == "ldirectord is stopped for y.cf\n"
    sandbox.config("y.cf", directory=sandbox.ha / "conf")
    assert sandbox.ld("y.cf", "status").out == "ldirectord is stopped for /etc/ha.d/conf/y.cf\n"


def test_one_argument_form_uses_ldirectord_cf_and_instance_ldirectord(sandbox: Sandbox) -> None:
    cfg = sandbox.config("ldirectord.cf", directory=sandbox.ha)
    res = sandbox.ld("status")
    assert (res.rc, res.out) == (3, "ldirectord is stopped for /etc/ha.d/ldirectord.cf\n")
    res = sandbox.ld("start")
    assert res.rc == 0, res
    pid = sandbox.read_pid("ldirectord")
    status = sandbox.ld("status")
    assert status.rc == 0
    assert status.err == f"ldirectord for /etc/ha.d/ldirectord.cf is running with pid: {pid}\n"
    # `ldirectord ldirectord.cf ...` is a different instance (pid file ldirectord.ldirectord.cf.pid)
    assert sandbox.ld("ldirectord.cf", "status").rc == 3
    assert sandbox.ld("stop").rc == 0
    assert cfg.exists()


def test_every_invocation_is_logged(sandbox: Sandbox) -> None:
    cfg = sandbox.config()
    sandbox.ld(cfg, "status")
    sandbox.ld(cfg, "stop")
    log = sandbox.log_text()
    binary = re.escape(str(sandbox.binary))
    assert re.search(
        rf"^\[\w{{3}} \w{{3}} [ \d]\d \d\d:\d\d:\d\d \d{{4}}\|t\.cf\|\d+\] "
        rf"Invoking ldirectord invoked as: {binary} {re.escape(str(cfg))} status \n",
        log,
        re.M,
    ), log
    assert "Exiting with exit_status 3: Exiting from ldirectord status\n" in log
    assert f"invoked as: {sandbox.binary} {cfg} stop \n" in log
    # exit 0 is not logged (except under -d)
    assert "exit_status 0" not in log


def test_warnings_go_to_stderr(sandbox: Sandbox) -> None:
    cfg = sandbox.config()
    text = cfg.read_text().replace('\treceive="OK"\n', '\treceive="OK"\n\tcheckinterval=5\n')
    cfg.write_text(text)
    res = sandbox.ld(cfg, "status")
    assert res.rc == 3
    assert re.fullmatch(
        r"Warning \[\d+\]: checkinterval in virtual service .* ignored.*\n", res.err
    ), res.err


@pytest.mark.parametrize(
    "args",
    [
        ["\udcff.cf", "status"],  # not valid UTF-8
        ["/", "status"],  # a directory
        ["/dev/null", "status"],  # not a regular file
        ["x/", "status"],
        ["", "status"],
        ["binary.cf", "status"],
        ["huge-line.cf", "status"],
    ],
)
def test_odd_input_never_gives_a_traceback(sandbox: Sandbox, args: list[str]) -> None:
    (sandbox.cwd / "binary.cf").write_bytes(bytes(range(256)) * 4)
    (sandbox.cwd / "huge-line.cf").write_text("virtual=" + "9" * 100_000 + "\n")
    res = sandbox.ld(*args)
    assert res.rc in (1, 2), res
    if args[0] == "\udcff.cf":
        assert res.err == "Config file \udcff.cf not found\n", "the name is echoed unchanged"
    assert "Traceback" not in res.err and "internal error" not in res.err
    assert res.err.endswith("\n") and res.err.count("\n") <= 3, res.err
