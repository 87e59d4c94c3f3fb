"""The running daemon: an asyncio loop that owns the lifecycle of one instance.

Signals only set flags and wake the loop; the loop does the work, one step at a
time, so a reload and a stop never interleave:

* TERM (and INT, QUIT, ABRT, SYS, XCPU, XFSZ): stop `execute=` instances, let
  the director clean up, log `Linux Director Daemon terminated on signal: TERM`,
  remove our pid file, exit 0. A second terminating signal while stopping is
  logged and ignored, so the cleanup always finishes (the original dies with
  `Exit Handler Repeatedly Called` and leaves the table and the pid file behind).
  The hardware-fault signals the original also traps (ILL, FPE, SEGV, BUS) keep
  their default action: in Python a real fault cannot be resumed safely.
* HUP: reload. The new file is parsed completely first; a broken one is logged
  with file and line and the running config stays in effect whole (the original
  keeps half-parsed globals).
* PIPE is ignored.
* Every second the config file is checked for changes (autoreload, callback).

An unexpected exception in any step is logged and the daemon keeps running.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import signal
import traceback
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from ldirectord_py.config import Config, ConfigError
from ldirectord_py.daemon import shell
from ldirectord_py.daemon.director import Director
from ldirectord_py.daemon.instances import Instances
from ldirectord_py.daemon.pidfile import PidFile
from ldirectord_py.daemon.watch import ConfigWatcher, file_digest
from ldirectord_py.observe.log import Log
from ldirectord_py.observe.status_socket import StatusServer, socket_path

TERMINATING_SIGNALS: tuple[signal.Signals, ...] = (
    signal.SIGTERM,
    signal.SIGINT,
    signal.SIGQUIT,
    signal.SIGABRT,
    signal.SIGSYS,
    signal.SIGXCPU,
    signal.SIGXFSZ,
)
HANDLED_SIGNALS: tuple[signal.Signals, ...] = (*TERMINATING_SIGNALS, signal.SIGHUP)

# How often the config file is looked at for autoreload/callback. The original
# looks once per check cycle (every second in fork mode); a stat per second is free.
CONFIG_CHECK_INTERVAL = 1.0


def block_signals() -> None:
    """Hold the signals we handle until the loop can take them.

    Called before the pid file becomes visible: a `stop` that arrives before the
    loop is up is then delivered to the loop rather than killing the process with
    the pid file left behind.
    """
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_BLOCK, HANDLED_SIGNALS)


def signal_name(signum: int) -> str:
    """`TERM`, as the original logs it."""
    try:
        return signal.Signals(signum).name.removeprefix("SIG")
    except ValueError:
        return str(signum)


@dataclass(frozen=True)
class Instance:
    """What identifies this instance: the resolved config path (CONFIG in messages),
    CFGNAME, how to parse, and which program to run for `execute=`."""

    config_path: str
    cfgname: str
    program: str
    debug: bool
    loader: Callable[[str], Config]


class Daemon:
    def __init__(
        self,
        instance: Instance,
        config: Config,
        log: Log,
        director: Director,
        pidfile: PidFile | None,
    ) -> None:
        self.instance = instance
        self.config = config
        self.log = log
        self.director = director
        self.pidfile = pidfile
        self.watcher = ConfigWatcher(instance.config_path)
        self.watcher.rebase(config.digest)
        self._wake: asyncio.Event | None = None
        self._term: str | None = None
        self._hup = False
        self._background: set[asyncio.Task[Any]] = set()

    @property
    def instances(self) -> Instances:
        return Instances(self.instance.program, self.log)

    # -- running ---------------------------------------------------------------

    def run(self) -> int:
        """Run until a terminating signal; returns the exit status (0, or 1 if the
        loop itself could not run, which is logged: a daemon has no stderr)."""
        try:
            return asyncio.run(self._main())
        except Exception as err:
            self._log_exception("Linux Director Daemon failed", err)
            return 1
        finally:
            self._remove_pidfile()

    async def _main(self) -> int:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(self._on_loop_exception)
        self._wake = asyncio.Event()
        for signum in HANDLED_SIGNALS:
            loop.add_signal_handler(signum, self._on_signal, signum)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, HANDLED_SIGNALS)

        await self._guard("starting", self.director.start(self.config))
        status = StatusServer(self._status_path(), self.director.status)
        await self._guard("starting the status socket", status.start())
        await self._guard("starting execute= instances", self._start_instances())
        while self._term is None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), CONFIG_CHECK_INTERVAL)
            self._wake.clear()
            if self._term is not None:
                break
            if self._hup:
                self._hup = False
                self.log.info("Reloading Linux Director Daemon config on signal")
                await self._guard("reloading", self._reload())
            if self._term is None:
                await self._guard("checking the config file", self._check_config_file())
        await status.stop()
        await self._shutdown(self._term)
        return 0

    def _status_path(self) -> str:
        """Next to the pid file (or where it would be, in the foreground)."""
        run_dir = os.path.dirname(self.pidfile.path) if self.pidfile else None
        if run_dir:
            return socket_path(self.instance.cfgname, run_dir)
        return socket_path(self.instance.cfgname)

    async def _start_instances(self) -> None:
        await self.instances.run("start", self.config.settings.execute)

    async def _shutdown(self, signame: str) -> None:
        await self._guard("stopping execute= instances", self._stop_instances())
        await self._guard("stopping", self.director.stop())
        self.log.info(f"Linux Director Daemon terminated on signal: {signame}")
        self._remove_pidfile()
        self.log.debug_detail(
            f"Exiting with exit_status 0: Linux Director Daemon terminated on signal: {signame}"
        )
        for task in list(self._background):
            task.cancel()

    async def _stop_instances(self) -> None:
        await self.instances.run("stop", self.config.settings.execute)

    def _remove_pidfile(self) -> None:
        if self.pidfile is not None:
            self.pidfile.remove_if_owned(os.getpid())

    # -- signals ----------------------------------------------------------------

    def _on_signal(self, signum: int) -> None:
        name = signal_name(signum)
        if signum == signal.SIGHUP:
            if self._term is None:
                self._hup = True
        elif self._term is None:
            self._term = name
        else:
            self.log.info(f"Received signal {name} while stopping; finishing the cleanup first")
        if self._wake is not None:
            self._wake.set()

    # -- reload -------------------------------------------------------------------

    async def _reload(self) -> None:
        """Parse completely, then switch; on any error the running config stays whole."""
        pid = os.getpid()
        path = self.instance.config_path
        try:
            seen: str | None = file_digest(path)
        except OSError:
            seen = None
        try:
            new = self.instance.loader(path)
        except ConfigError as err:
            # Remember the broken content, so that the fix is noticed whenever it lands.
            self.watcher.rebase(seen)
            for warning in err.warnings:
                self.log.info(warning.perl_text(pid))
            self.log.info(err.perl_text(pid))
            self.log.info(
                f"Configuration not reloaded, the running configuration stays in effect: "
                f"{err.describe()}"
            )
            return
        self.watcher.rebase(new.digest)
        for warning in new.warnings:
            self.log.info(warning.perl_text(pid))
        old = self.config
        # Logging follows the new file from here on, as in the original, where
        # the logfile directive takes effect while the file is being read.
        self.log.sink = Log.build(
            logfile=new.settings.logfile,
            supervised=new.settings.supervised,
            cfgname=self.instance.cfgname,
            debug=self.instance.debug,
        ).sink
        try:
            await self.instances.reload(old.settings.execute, new.settings.execute)
            await self.director.reload(new)
        except Exception:
            self.log.sink = Log.build(
                logfile=old.settings.logfile,
                supervised=old.settings.supervised,
                cfgname=self.instance.cfgname,
                debug=self.instance.debug,
            ).sink
            raise
        self.config = new

    # -- autoreload / callback ----------------------------------------------------

    async def _check_config_file(self) -> None:
        path = self.instance.config_path
        try:
            changed = self.watcher.poll()
        except OSError:
            self.log.info(f"Warning [{os.getpid()}]: can not open file {path} for checking")
            return
        if not changed:
            return
        self.log.info(f"Configuration file '{path}' has changed on disk")
        if self.config.settings.autoreload:
            self.log.info(" - reread new configuration")
            await self._guard("reloading", self._reload())
        else:
            self.log.info(" - ignore new configuration")
        callback = self.config.settings.callback
        if callback and os.path.isfile(callback) and os.access(callback, os.X_OK):
            # In the background: a slow callback must not hold up signals or checks.
            command = f"{callback} {shlex.quote(path)}"
            task = asyncio.create_task(shell.run_async(command, self.log))
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    # -- errors -------------------------------------------------------------------

    async def _guard(self, what: str, step: Coroutine[Any, Any, None]) -> None:
        """Run one lifecycle step; an unexpected error is logged, never fatal."""
        try:
            await step
        except asyncio.CancelledError:
            raise
        except Exception as err:
            self._log_exception(f"Error while {what}", err)

    def _on_loop_exception(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        err = context.get("exception")
        if isinstance(err, BaseException):
            self._log_exception("Unexpected error", err)
        else:
            self.log.info(f"Unexpected error: {context.get('message', 'unknown')}")

    def _log_exception(self, prefix: str, err: BaseException) -> None:
        self.log.info(f"{prefix}: {type(err).__name__}: {err}")
        if self.instance.debug:
            for line in traceback.format_exception(err):
                for part in line.rstrip("\n").split("\n"):
                    self.log.info(part)
