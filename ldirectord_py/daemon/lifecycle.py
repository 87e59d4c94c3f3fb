"""The commands of the drop-in: start, stop, restart, try-restart, reload, force-reload, status.

Exit codes, and which text goes to stdout and which to stderr, are the interface
the OCF agent, Heartbeat v1, LSB and systemd depend on (spec 1.4). In order, for
every command:

1. find the config (`/etc/ha.d/CFG`, `/etc/ha.d/conf/CFG`, then CFG as given);
   missing → `Config file CFG not found`, exit 1;
2. parse it completely; an error → the original's `Error [PID] reading file ...`
   text on stderr, exit 2. Unlike the original, a failing command never removes
   the pid file of a running daemon (quirk 1, fixed);
3. log `Invoking ldirectord invoked as: ...`;
4. look at the pid file (see `pidfile`) and act.

Deliberate differences: `restart` polls every 50 ms (not every second) for the
old daemon to go, stops waiting as soon as the process is gone even if it left
its pid file behind, and gives up after STOP_WAIT_TIMEOUT seconds with an error
(exit 1) instead of hanging forever. `start` returns only once the pid file
holds the daemon's pid.

Safe under faults (docs/reliability.md):

* One daemon per config in every mode: `start` takes the instance lock
  (`instance_lock`) before it forks; a second `start`, concurrent or not, starts
  nothing and names the running pid (exit 0 when forking, as the original's
  `start` of a running daemon; exit 1 in the foreground, where nothing runs).
* `stop` always stops: a broken config, an unwritable log or an unresolvable
  name is reported and the running daemon (found by its pid file) is stopped
  anyway; `stop` waits up to STOP_RETURN_WAIT seconds and exits 0 only when the
  daemon is gone, 1 saying so otherwise.
* A daemon without a pid file (`-d`, `supervised`, a systemd unit) is found by
  its instance lock and reached through its control socket: `stop` stops it
  and `reload` reloads it and waits for the verdict (exit 1 when the file is
  refused: the units' ExecReload), or each says why it cannot.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from ldirectord_py import LEGACY_VERSION
from ldirectord_py.config import Config, ConfigError, GlobalSettings
from ldirectord_py.config.locate import instance_name, locate_config
from ldirectord_py.daemon.config_read import FileLoader
from ldirectord_py.daemon.daemonize import DaemonizeError, daemonize
from ldirectord_py.daemon.director import Director, checking_director
from ldirectord_py.daemon.instance_lock import InstanceLock
from ldirectord_py.daemon.instances import Instances
from ldirectord_py.daemon.pidfile import PidFile, PidState, PidStatus, process_is_instance
from ldirectord_py.daemon.watch import require_regular_file
from ldirectord_py.observe.log import Log
from ldirectord_py.runpaths import RunPaths

COMMANDS = ("start", "stop", "restart", "try-restart", "reload", "force-reload", "status")

# Default config and instance name when only the command is given.
DEFAULT_CONFIG = "ldirectord.cf"
DEFAULT_CFGNAME = "ldirectord"

# restart/try-restart: how long to wait for the old daemon to remove its pid file.
STOP_WAIT_TIMEOUT = 30.0
STOP_POLL_INTERVAL = 0.05
# stop: how long to wait for the daemon's cleanup before returning anyway (exit 0);
# well inside the OCF agent's 15 s stop timeout.
STOP_RETURN_WAIT = 10.0
# reload of a daemon without a pid file: how long to wait for its verdict.
RELOAD_ANSWER_WAIT = 120.0
CUT_SHORT = "its reply was cut short"

DirectorFactory = Callable[[Log], Director]


@dataclass(frozen=True)
class Invocation:
    """One command line, after option parsing."""

    argv0: str
    args: tuple[str, ...]
    debug: bool

    @property
    def config_arg(self) -> str:
        return self.args[0] if len(self.args) >= 2 else DEFAULT_CONFIG

    @property
    def cfgname(self) -> str:
        """The instance name: the config argument as written, after its last `/`."""
        if len(self.args) >= 2:
            return instance_name(self.args[0])
        return DEFAULT_CFGNAME

    @property
    def command(self) -> str:
        return self.args[1] if len(self.args) >= 2 else self.args[0]


def program_path(argv0: str) -> str:
    """The program to run for `execute=` instances: ourselves, by absolute path."""
    path = os.path.abspath(argv0)
    if os.path.isfile(path) and os.access(path, os.X_OK):
        return path
    return shutil.which("ldirectord") or "/usr/sbin/ldirectord"


class Lifecycle:
    """Runs one command for one invocation and returns the exit status."""

    def __init__(
        self, invocation: Invocation, director_factory: DirectorFactory = checking_director
    ) -> None:
        self.inv = invocation
        self.director_factory = director_factory
        self.cfgname = invocation.cfgname
        self.program = program_path(invocation.argv0)
        self.loader = FileLoader(invocation.debug)
        defaults = GlobalSettings()
        self.log = Log.build(
            logfile=defaults.logfile,
            supervised=defaults.supervised,
            cfgname=self.cfgname,
            debug=invocation.debug,
        )

    # -- helpers ------------------------------------------------------------------

    def exit(self, status: int, reason: str) -> int:
        if status != 0 or self.inv.debug:
            self.log.info(f"Exiting with exit_status {status}: {reason}")
        return status

    def init_error(self, message: str) -> int:
        """An error before the daemon exists: logged, and on stderr unless -d (where
        the log already is stderr)."""
        self.log.info(message)
        if not self.inv.debug:
            sys.stderr.write(message + "\n")
            sys.stderr.flush()
        return self.exit(1, "Initialisation Error")

    # -- the command ----------------------------------------------------------------

    def run(self) -> int:
        path = locate_config(self.inv.config_arg)
        if path is None:
            if self._stop_anyway():
                return self.stop_without_config(f"Config file {self.inv.config_arg} not found")
            return self.init_error(f"Config file {self.inv.config_arg} not found")
        pid = os.getpid()
        try:
            # A FIFO or a device put where the file was would block the open.
            require_regular_file(path)
        except OSError as err:
            problem = f"Config file {path} cannot be read: {err}"
            if self._stop_anyway():
                return self.stop_without_config(problem, path)
            sys.stderr.write(problem + "\n")
            sys.stderr.flush()
            return self.exit(2, "config_error: Configuration Error")
        try:
            config = self.loader(path)
        except ConfigError as err:
            sys.stderr.write("".join(w.perl_text(pid) for w in err.warnings))
            sys.stderr.write(err.perl_text(pid))
            sys.stderr.flush()
            if err.logfile is not None:
                # Like the original, the exit is logged where the file said to log.
                self.log = Log.build(
                    logfile=err.logfile,
                    supervised=False,
                    cfgname=self.cfgname,
                    debug=self.inv.debug,
                )
            if self._stop_anyway():
                return self.stop_without_config(f"configuration error: {err.describe()}", path)
            return self.exit(2, "config_error: Configuration Error")
        sys.stderr.write("".join(w.perl_text(pid) for w in config.warnings))
        sys.stderr.flush()
        self.log = Log.build(
            logfile=config.settings.logfile,
            supervised=config.settings.supervised,
            cfgname=self.cfgname,
            debug=self.inv.debug,
        )
        words = "".join(f"{arg} " for arg in self.inv.args)
        self.log.info(f"Invoking ldirectord invoked as: {self.inv.argv0} {words}")
        return self.dispatch(path, config)

    def dispatch(self, path: str, config: Config) -> int:
        command = self.inv.command
        pidfile = PidFile(self.cfgname)
        state = pidfile.read()
        done = f"Exiting from ldirectord {command}"
        if state.running:
            assert state.pid is not None
            if command == "start":
                # Silent on the terminal, as the original (init scripts rely on it);
                # the log names the daemon that runs.
                self.log.info(
                    f"ldirectord for {path} is already running with pid: {state.pid}; "
                    "not starting a second one"
                )
                return self.exit(0, done)
            if command == "stop":
                return self.stop_running(path, pidfile, state)
            if command in ("reload", "force-reload"):
                _signal(state.pid, signal.SIGHUP)
                return self.exit(0, done)
            if command == "status":
                message = f"ldirectord for {path} is running with pid: {state.pid}"
                sys.stderr.write(message + "\n")
                sys.stderr.flush()
                Instances(self.program, self.log).status(config.settings.execute)
                self.log.info(message)
                self.log.info(done)
                return self.exit(0, done)
            # restart, try-restart: stop the old one, then fall through to start.
            _signal(state.pid, signal.SIGTERM)
            if not self.wait_for_stop(pidfile, state):
                message = (
                    f"ldirectord for {path} (pid {state.pid}) did not stop within "
                    f"{STOP_WAIT_TIMEOUT:g} seconds; not starting a second one"
                )
                self.log.info(message)
                sys.stderr.write(message + "\n")
                return self.exit(1, done)
        elif command == "stop":
            return self.stop_foreground(path)
        elif command == "try-restart":
            return self.exit(0, done)
        elif command == "status":
            status = 3
            if state.status is PidStatus.STALE:
                message = f"ldirectord stale pid file {pidfile.path} for {path}"
                sys.stderr.write(message + "\n")
                sys.stderr.flush()
                self.log.info(message)
                status = 1
            sys.stdout.write(f"ldirectord is stopped for {path}\n")
            sys.stdout.flush()
            return self.exit(status, done)
        elif command in ("reload", "force-reload"):
            if self._foreground_pid() is not None:
                return self.reload_foreground(path)
            self.log.info(f"ldirectord is stopped for {path}")
            return self.exit(1, done)
        return self.start(path, config, pidfile)

    def wait_for_stop(
        self, pidfile: PidFile, state: PidState, timeout: float | None = None
    ) -> bool:
        """Until the pid file is gone or its process has exited; False on timeout."""
        assert state.pid is not None
        deadline = time.monotonic() + (STOP_WAIT_TIMEOUT if timeout is None else timeout)
        # Until the process is gone, not only its pid file: it holds the instance
        # lock until it exits, and a `start` right after must be able to take it.
        while process_is_instance(state.pid, self.cfgname):
            if time.monotonic() >= deadline:
                return False
            time.sleep(STOP_POLL_INTERVAL)
        return True

    def _stop_anyway(self) -> bool:
        """`stop` with a config that cannot be read: is there a daemon to stop?"""
        if self.inv.command != "stop":
            return False
        return PidFile(self.cfgname).read().running or self._foreground_pid() is not None

    def _foreground_pid(self) -> int | None:
        """The pid of a daemon of this config that runs without a pid file (-d,
        supervised, systemd): the holder its instance lock names, if alive."""
        pid = InstanceLock(self.cfgname).holder()
        if pid is None or pid == os.getpid() or not process_is_instance(pid, self.cfgname):
            return None
        return pid

    def _say(self, message: str) -> None:
        self.log.info(message)
        if not self.inv.debug:
            sys.stderr.write(message + "\n")
            sys.stderr.flush()

    def _ask(self, command: str, timeout: float) -> tuple[dict[str, object] | None, str | None]:
        """(reply, None) from the daemon's control socket, or (None, why not)."""
        from ldirectord_py.observe.status_socket import send_command

        path = RunPaths(self.cfgname).socket
        try:
            return send_command(path, command, {}, timeout), None
        except FileNotFoundError:
            return None, f"it has no control socket at {path}"
        except PermissionError:
            return None, f"permission denied on its control socket {path} (it is root's)"
        except TimeoutError:
            return None, f"no answer on its control socket {path} within {timeout:g} s"
        except (ConnectionResetError, ValueError) as err:
            return None, f"{CUT_SHORT}: {err}"
        except OSError as err:
            return None, f"its control socket {path} does not answer: {err}"

    def stop_foreground(self, path: str) -> int:
        """`stop` for a daemon without a pid file: asked through its control socket,
        then waited for like a daemon with one. Nothing runs: exit 0, as always."""
        done = "Exiting from ldirectord stop"
        pid = self._foreground_pid()
        if pid is None:
            return self.exit(0, done)
        _reply, problem = self._ask("stop", STOP_RETURN_WAIT)
        if problem is not None and not problem.startswith(CUT_SHORT):
            self._say(
                f"ldirectord for {path} runs without a pid file (pid {pid}: -d, supervised "
                f"or a systemd unit) and cannot be asked to stop: {problem}; stop it where "
                f"it was started (systemctl stop, or kill {pid})"
            )
            return self.exit(1, done)
        # A reply cut short is the stop itself closing the socket: wait for the pid.
        state = PidState(PidStatus.RUNNING, pid)
        if self.wait_for_stop(PidFile(self.cfgname), state, STOP_RETURN_WAIT):
            return self.exit(0, done)
        self._say(
            f"ldirectord for {path} (pid {pid}) did not stop within "
            f"{STOP_RETURN_WAIT:g} seconds; it is still running"
        )
        return self.exit(1, done)

    def reload_foreground(self, path: str) -> int:
        """`reload` for a daemon without a pid file (the systemd units' ExecReload):
        through its control socket, waiting for the verdict; exit 1 when the daemon
        refuses the file (it keeps the running configuration) or cannot be asked."""
        done = f"Exiting from ldirectord {self.inv.command}"
        reply, problem = self._ask("reload", RELOAD_ANSWER_WAIT)
        if reply is None:
            self._say(f"ldirectord for {path}: not reloaded: {problem}")
            return self.exit(1, done)
        if not reply.get("ok"):
            self._say(f"ldirectord for {path}: {reply.get('error', 'reload failed')}")
            return self.exit(1, done)
        self.log.info(str(reply.get("message") or f"reloaded {path}"))
        return self.exit(0, done)

    def stop_without_config(self, problem: str, path: str | None = None) -> int:
        """Stop the running daemon although its config is now broken or missing."""
        message = f"ldirectord: {problem}; stopping the running daemon anyway"
        sys.stderr.write(message + "\n")
        sys.stderr.flush()
        self.log.info(message)
        pidfile = PidFile(self.cfgname)
        state = pidfile.read()
        if not state.running:
            return self.exit(0, "Exiting from ldirectord stop")
        return self.stop_running(path or self.inv.config_arg, pidfile, state)

    def stop_running(self, path: str, pidfile: PidFile, state: PidState) -> int:
        """TERM, then wait for the daemon's cleanup (it bounds its own, see
        mainloop.STOP_BOUND), so that a `status` or `start` right after `stop` --
        the OCF agent and Heartbeat do exactly that -- finds it gone. Exit 0 only
        when it is gone."""
        assert state.pid is not None
        done = "Exiting from ldirectord stop"
        _signal(state.pid, signal.SIGTERM)
        if self.wait_for_stop(pidfile, state, STOP_RETURN_WAIT):
            return self.exit(0, done)
        message = (
            f"ldirectord for {path} (pid {state.pid}) did not stop within "
            f"{STOP_RETURN_WAIT:g} seconds; it is still running"
        )
        self.log.info(message)
        sys.stderr.write(message + "\n")
        sys.stderr.flush()
        return self.exit(1, done)

    def _refuse_second(self, path: str, lock: InstanceLock, status: int) -> int:
        """Another process holds the instance lock: start nothing, name it."""
        holder = lock.holder()
        who = f"pid {holder}" if holder is not None else "another process"
        message = (
            f"ldirectord for {path} is already running ({who} holds {lock.path}); "
            "not starting a second one"
        )
        self.log.info(message)
        sys.stderr.write(message + "\n")
        sys.stderr.flush()
        return self.exit(status, f"Exiting from ldirectord {self.inv.command}")

    def start(self, path: str, config: Config, pidfile: PidFile) -> int:
        # Imported here: only `start` runs the asyncio loop; status & co. start faster.
        from ldirectord_py.daemon.mainloop import Daemon, Instance, block_signals

        # The daemon works from `/`, so it re-reads the file by absolute path (the
        # original keeps a relative CONFIG and then cannot reload it); messages and
        # the status keep naming it as it was given.
        instance = Instance(
            config_path=path,
            cfgname=self.cfgname,
            program=self.program,
            debug=self.inv.debug,
            loader=self.loader,
            read_path=os.path.abspath(path),
        )
        lock = InstanceLock(self.cfgname, os.path.dirname(pidfile.path))
        foreground = bool(config.settings.supervised or self.inv.debug)
        try:
            acquired = lock.acquire()
        except OSError as err:
            detail = f"Can not open {lock.path}: {err.strerror or err}"
            if not foreground:
                # The pid file cannot be written there either: the original's message.
                self.log.info(detail)
                return self.init_error(f"Can not open {pidfile.path}")
            # The foreground modes never needed /run (quirk 8): run, and say so.
            self.log.info(f"{detail}; running without the one-instance lock")
            acquired = True
        if not acquired:
            return self._refuse_second(path, lock, 1 if foreground else 0)
        if foreground:
            # Foreground, and (quirk 8, kept) no pid file. Signals are held from
            # before we announce our pid, so a TERM right after it stops us cleanly.
            lock.record(os.getpid())
            block_signals()
            self.log.info(f"Starting {LEGACY_VERSION} with pid: {os.getpid()}")
            return Daemon(instance, config, self.log, self.director_factory(self.log), None).run()

        self.log.info(f"Starting {LEGACY_VERSION} as daemon")

        def publish(pid: int) -> None:
            block_signals()
            lock.record(pid)
            try:
                pidfile.write(pid)
            except OSError as err:
                raise OSError(f"Can not open {pidfile.path}") from err

        # Built before the fork (it starts no threads or sockets until it runs), so
        # the daemon is ready to take a TERM the moment its pid file appears: the
        # OCF agent's `stop` then `status` needs the pid file gone at once.
        director = self.director_factory(self.log)
        self.log.close()
        assert lock.fd is not None
        try:
            in_daemon = daemonize(publish, keep_fds=(lock.fd,))
        except DaemonizeError as err:
            lock.release()
            return self.init_error(str(err))
        if not in_daemon:
            lock.release()  # our copy: the daemon keeps the lock
            return 0
        status = Daemon(instance, config, self.log, director, pidfile).run()
        # The cleanup is done and logged, and the pid file is gone: leave now rather
        # than through the interpreter's teardown, which takes a second or more on a
        # loaded machine (a process still there confuses supervisors that wait on it).
        self.log.close()
        os._exit(status)


def _signal(pid: int, signum: signal.Signals) -> None:
    """Like the original, a failed kill (the process just went away) is not an error."""
    with contextlib.suppress(OSError):
        os.kill(pid, signum)
