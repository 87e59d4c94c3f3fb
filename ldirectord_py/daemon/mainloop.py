"""The running daemon: an asyncio loop that owns the lifecycle of one instance.

Signals only set flags and wake the loop; the loop does the work, one step at a
time, and a reload from the control socket (`ldirectordctl reload`) takes the
same lock as every reload and the stop, so a reload and a stop never interleave:

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

Under systemd (`NOTIFY_SOCKET`, see `sdnotify`) the loop tells the supervisor
where it stands: `READY=1` once the director is up -- if the director has a
`wait_ready()` coroutine, only when that returns (the first check round has
programmed the table), otherwise as soon as its `start()` has returned;
`RELOADING=1` then `READY=1` around every reload (signal or autoreload);
`STOPPING=1` when a terminating signal arrives. With `WatchdogSec=` it sends
`WATCHDOG=1` every half watchdog interval, but only while the health checks
make progress; `WatchdogRule` (daemon/stall.py) says when they do not.

Every reload ends in a `ReloadResult` (observe/reloads.py), kept as
`last_reload`: it is logged with what changed, shown in the status document
(and so in the metrics' last-reload gauges) and in the systemd STATUS= line.
The config path keeps the form it was given in (the daemon reads it through
its absolute form, since it works from `/`).

An unexpected exception in any step is logged and the daemon keeps running.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import shlex
import signal
import threading
import time
import traceback
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from ldirectord_py.config import Config
from ldirectord_py.daemon import shell
from ldirectord_py.daemon.config_read import (
    ChildFailed,
    ConfigRead,
    FileLoader,
    read_config,
    read_in_child,
)
from ldirectord_py.daemon.director import Director, WatchdogFacts
from ldirectord_py.daemon.instances import Instances
from ldirectord_py.daemon.library_logging import route_library_logging
from ldirectord_py.daemon.pidfile import PidFile
from ldirectord_py.daemon.sdnotify import Notifier
from ldirectord_py.daemon.stall import WatchdogRule
from ldirectord_py.daemon.watch import ConfigWatcher
from ldirectord_py.observe.log import Log
from ldirectord_py.observe.reloads import (
    ConfigChange,
    ReloadResult,
    ReloadTrigger,
    config_change_sliced,
)
from ldirectord_py.observe.status_socket import StatusServer
from ldirectord_py.offloop import collector_paused, in_thread
from ldirectord_py.runpaths import RunPaths

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

RELOAD_READ_TIMEOUT = 30.0
"""How long a reload may take to read and parse the file (name lookups included,
which config.resolve bounds on their own) before it fails."""

STOP_BOUND = 8.0
"""Seconds from a terminating signal to the daemon's exit, whatever hangs: the
cleanup steps share this budget (routes first), and past it the daemon kills the
commands it runs (by process group), removes its pid file and exits. Inside
`ldirectord stop`'s 10 s wait, and the OCF agent's stop timeout."""
STOP_GRACE = 1.0
"""After STOP_BOUND, how long the loop may still take before a timer thread ends
the process (a loop blocked in a library call cannot cancel anything)."""

STOP_REPLY_GRACE = 0.1
"""Seconds between the answer to a `stop` command and the stop itself."""

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


# The key of `Director.status()` that tells the watchdog when a check last completed
# (time.monotonic() seconds, or None while none has); a director without it is
# assumed to make progress whenever the loop runs.
LAST_RESULT_KEY = "last_result_at"


@dataclass(frozen=True)
class Instance:
    """What identifies this instance: the config path as located (CONFIG in
    messages and status), CFGNAME, how to parse, which program to run for
    `execute=`, and the absolute path the file is read from (None: config_path)."""

    config_path: str
    cfgname: str
    program: str
    debug: bool
    loader: Callable[[str], Config]
    read_path: str | None = None

    @property
    def source(self) -> str:
        """Where the file is read from (the daemon works from `/`)."""
        return self.config_path if self.read_path is None else self.read_path

    def named(self, read: ConfigRead) -> ConfigRead:
        """`read` with the config, its error and warnings naming config_path (the
        form given) rather than the absolute path the daemon reads."""
        if self.read_path is None or self.read_path == self.config_path:
            return read
        given, absolute = self.config_path, self.read_path

        def rename(path: str) -> str:
            return given if path == absolute else path

        config = read.config
        if config is not None:
            config = dataclasses.replace(
                config,
                path=rename(config.path),
                warnings=tuple(
                    dataclasses.replace(w, path=rename(w.path)) for w in config.warnings
                ),
            )
        error = read.error
        if error is not None:
            error.path = rename(error.path)
            error.warnings = tuple(
                dataclasses.replace(w, path=rename(w.path)) for w in error.warnings
            )
        return dataclasses.replace(read, config=config, error=error)


class Daemon:
    def __init__(
        self,
        instance: Instance,
        config: Config,
        log: Log,
        director: Director,
        pidfile: PidFile | None,
        notifier: Notifier | None = None,
    ) -> None:
        self.instance = instance
        self.config = config
        self.log = log
        self.director = director
        self.pidfile = pidfile
        self.watcher = ConfigWatcher(instance.source)
        self.watcher.rebase(config.digest)
        self._wake: asyncio.Event | None = None
        self._term: str | None = None
        self._hup = False
        self._background: set[asyncio.Task[Any]] = set()
        # systemd: read (and removed from the environment, so that commands we run
        # do not inherit it) in the process that runs the loop.
        self.notifier = notifier if notifier is not None else Notifier.from_environment()
        self._reload_problem: str | None = None
        self._switching = asyncio.Lock()
        """Held by a reload and by the stop, which the control socket could otherwise
        start while the other runs."""
        self._watch_since = time.monotonic()
        self._stalled = False
        self._watchdog_rule: WatchdogRule | None = None
        self._stop_timer: threading.Timer | None = None
        self._owns_process = False
        self.last_reload: ReloadResult | None = None
        """The outcome of the latest reload (None before the first)."""
        self._refused_at: tuple[str, int | None] = (instance.config_path, None)
        self._change: ConfigChange | None = None

    @property
    def instances(self) -> Instances:
        return Instances(self.instance.program, self.log)

    # -- running ---------------------------------------------------------------

    def run(self) -> int:
        """Run until a terminating signal; returns the exit status (0, or 1 if the
        loop itself could not run, which is logged: a daemon has no stderr)."""
        self._owns_process = True
        try:
            return asyncio.run(self._main())
        except Exception as err:
            self._log_exception("Linux Director Daemon failed", err)
            return 1
        finally:
            self._disarm_stop_bound()
            self._remove_pidfile()

    async def _main(self) -> int:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(self._on_loop_exception)
        self._wake = asyncio.Event()
        for signum in HANDLED_SIGNALS:
            loop.add_signal_handler(signum, self._on_signal, signum)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, HANDLED_SIGNALS)

        route_library_logging(self.log)
        if self.notifier.last_error is not None:
            self.log.info(f"systemd notification: {self.notifier.last_error}")
        self._start_watchdog()
        use_state_file = getattr(self.director, "use_state_file", None)
        if callable(use_state_file):
            use_state_file(self._run_paths().drained)
        await self._guard("starting", self.director.start(self.config))
        status = StatusServer(
            self._run_paths().socket,
            self.director.status,
            self._command,
            getattr(self.director, "status_document", None),
        )
        await self._guard("starting the status socket", status.start())
        await self._guard("starting execute= instances", self._start_instances())
        self._spawn(self._announce_ready())
        while self._term is None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), CONFIG_CHECK_INTERVAL)
            self._wake.clear()
            if self._term is not None:
                break
            if self._hup:
                self._hup = False
                self.log.info("Reloading Linux Director Daemon config on signal")
                await self._reload_notified(ReloadTrigger.SIGNAL)
            if self._term is None:
                await self._guard("checking the config file", self._check_config_file())
        self._arm_stop_bound()
        deadline = time.monotonic() + STOP_BOUND
        await self._guard("stopping the status socket", status.stop())
        try:
            async with asyncio.timeout(max(0.1, deadline - time.monotonic())):
                await self._shutdown(self._term)
        except TimeoutError:
            killed = shell.kill_running()
            self.log.info(
                f"Cleanup did not finish within {STOP_BOUND:g} seconds; stopping anyway"
                + (f" ({killed} running commands killed)" if killed else "")
            )
            self.log.info(f"Linux Director Daemon terminated on signal: {self._term}")
            self._remove_pidfile()
        return 0

    def _disarm_stop_bound(self) -> None:
        timer, self._stop_timer = self._stop_timer, None
        if timer is not None:
            timer.cancel()

    def _arm_stop_bound(self) -> None:
        """A timer thread that ends the process if the loop cannot (see STOP_GRACE);
        armed only when run() owns the process, and disarmed once the loop is done."""
        if not self._owns_process:
            return

        def overrun() -> None:
            shell.kill_running()
            with contextlib.suppress(Exception):
                self.log.info(
                    f"Cleanup did not finish within {STOP_BOUND + STOP_GRACE:g} seconds "
                    "and the loop does not answer; exiting now"
                )
            self._remove_pidfile()
            os._exit(1)

        self._disarm_stop_bound()
        timer = threading.Timer(STOP_BOUND + STOP_GRACE, overrun)
        timer.daemon = True
        timer.start()
        self._stop_timer = timer

    async def _command(self, name: str, args: dict[str, Any]) -> dict[str, Any]:
        """A command from the control socket: `reload` and `stop` here (they are the
        loop's job), the rest by the director."""
        if self._term is not None:
            return {"ok": False, "error": "the daemon is stopping"}
        if name == "stop":
            # As a TERM: `ldirectord CFG stop` for a daemon without a pid file (-d,
            # systemd), which then waits for this pid to be gone. A moment later, so
            # that this reply leaves before the socket closes.
            asyncio.get_running_loop().call_later(STOP_REPLY_GRACE, self._on_signal, signal.SIGTERM)
            return {"ok": True, "pid": os.getpid(), "message": "stopping"}
        if name == "reload" and args.get("dry_run"):
            return await self._dry_run()
        if name == "reload":
            await self._reload_notified(ReloadTrigger.CONTROL)
            if self._reload_problem is not None:
                return {"ok": False, "error": self._reload_problem}
            message = f"reloaded {self.instance.config_path}"
            refused = await self._refused_services()
            if refused:
                error = f"ip_vs refused {len(refused)} service(s), the others run: " + "; ".join(
                    refused
                )
                self.log.info(f"Reloaded, but {error}")
                return {"ok": False, "message": message, "error": error}
            return {"ok": True, "message": message}
        command = getattr(self.director, "command", None)
        if not callable(command):
            return {"ok": False, "error": f"unknown command {name!r}"}
        reply: dict[str, Any] = await command(name, args)
        return reply

    async def _refused_services(self) -> list[str]:
        """The services the kernel refused after a reload (optional director hook)."""
        refused = getattr(self.director, "refused_services", None)
        if not callable(refused):
            return []
        try:
            result: list[str] = await refused()
        except Exception as err:
            self._log_exception("Error while reading the dataplane after the reload", err)
            return []
        return result

    def _run_paths(self) -> RunPaths:
        """Next to the pid file (or where it would be, in the foreground)."""
        run_dir = os.path.dirname(self.pidfile.path) if self.pidfile else None
        return RunPaths(self.instance.cfgname, run_dir or None)

    async def _start_instances(self) -> None:
        await self.instances.run("start", self.config.settings.execute)

    async def _shutdown(self, signame: str) -> None:
        self.notifier.stopping(f"Stopping on signal {signame}")
        async with self._switching:  # a reload from the control socket finishes first
            # The director withdraws the routes first of all (then the pools);
            # each step runs whatever the previous one did.
            await self._guard("stopping", self.director.stop())
            await self._guard("stopping execute= instances", self._stop_instances())
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

    async def _read_off_loop(self) -> ConfigRead:
        """The file read and parsed off the loop (a big file or a slow resolver must
        not stop the checks), within RELOAD_READ_TIMEOUT: in a child interpreter
        for the daemon's own loader (a thread shares the interpreter lock with the
        loop, see daemon/config_read.py), else, or if the child cannot run, in a
        thread."""
        path, source, loader = self.instance.config_path, self.instance.source, self.instance.loader
        try:
            async with asyncio.timeout(RELOAD_READ_TIMEOUT):
                read: ConfigRead | None = None
                if isinstance(loader, FileLoader):
                    try:
                        read = await read_in_child(source, loader)
                    except ChildFailed as err:
                        self.log.debug_detail(f"Reading {path} in a thread: {err}")
                if read is None:
                    with collector_paused():
                        read = await in_thread(
                            lambda: read_config(source, loader),
                            RELOAD_READ_TIMEOUT,
                            "ldirectord-reload",
                        )
        except TimeoutError:
            return ConfigRead(
                None, None, None, f"{path}: not read within {RELOAD_READ_TIMEOUT:g} seconds"
            )
        return self.instance.named(read)

    async def _reload(self) -> None:
        """Parse completely, then switch; on any error the running config stays whole."""
        pid = os.getpid()
        read = await self._read_off_loop()
        if read.unreadable is not None:
            self.log.err(
                "Configuration not reloaded, the running configuration stays in effect: "
                f"{read.unreadable}"
            )
            self._reload_problem = f"configuration not reloaded: {read.unreadable}"
            self._refused_at = (self.instance.config_path, None)
            return
        seen, new, err = read.digest, read.config, read.error
        if err is not None:
            self._refused_at = (err.path, err.line)
            # Remember the broken content, so that the fix is noticed whenever it lands.
            self.watcher.rebase(seen)
            for warning in err.warnings:
                self.log.warning(warning.perl_text(pid))
            self.log.err(err.perl_text(pid))
            self.log.warning(
                f"Configuration not reloaded, the running configuration stays in effect: "
                f"{err.describe()}"
            )
            self._reload_problem = f"configuration not reloaded: {err.describe()}"
            return
        assert new is not None
        self.watcher.rebase(new.digest)
        for warning in new.warnings:
            self.log.warning(warning.perl_text(pid))
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
        # the virtuals the director found equal are not compared a second time
        same: frozenset[str] = getattr(self.director, "kept_virtuals", frozenset())
        self._change = await self._config_change(old, new, same)
        self.config = new
        self._reload_problem = None
        self._rearm_watchdog()

    async def _config_change(
        self, old: Config, new: Config, same: frozenset[str] = frozenset()
    ) -> ConfigChange | None:
        """What the reload changes, compared on the loop in slices (a deep comparison
        of tens of thousands of reals; in a thread it would hold the interpreter
        lock against the loop). `same`: the virtuals the director found equal, not
        compared again. None: not known in time."""
        try:
            async with asyncio.timeout(RELOAD_READ_TIMEOUT):
                return await config_change_sliced(old, new, same)
        except TimeoutError:
            return None

    async def _dry_run(self) -> dict[str, Any]:
        """What a reload of the file on disk would change in the desired ip_vs table
        and routes, computed and not applied (`ldirectordctl reload --dry-run`)."""
        from ldirectord_py.daemon.reload_preview import drained_reals, preview

        read = await self._read_off_loop()
        if read.unreadable is not None:
            return {"ok": False, "error": f"the file would be refused: {read.unreadable}"}
        if read.error is not None:
            return {"ok": False, "error": f"the file would be refused: {read.error.describe()}"}
        assert read.config is not None
        change = await self._config_change(self.config, read.config)
        lines = [
            f"{self.instance.config_path}: {change.describe() if change else 'change unknown'}"
        ]
        new, drained = read.config, drained_reals(self.director)
        try:
            lines += await in_thread(
                lambda: preview(self.director, new, drained),
                RELOAD_READ_TIMEOUT,
                "ldirectord-preview",
            )
        except Exception as err:  # a preview must never disturb the running daemon
            lines.append(f"(the table change cannot be computed: {type(err).__name__}: {err})")
        return {
            "ok": True,
            "message": "\n".join(lines),
            "change": change.as_json() if change is not None else None,
        }

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
            await self._reload_notified(ReloadTrigger.AUTORELOAD)
        else:
            self.log.info(" - ignore new configuration")
        callback = self.config.settings.callback
        if callback and os.path.isfile(callback) and os.access(callback, os.X_OK):
            # In the background: a slow callback must not hold up signals or checks.
            # The absolute path: the daemon (and so the callback) runs from `/`.
            command = f"{callback} {shlex.quote(self.instance.source)}"
            self._spawn(shell.run_async(command, self.log))

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        """A background task, cancelled at the end of the shutdown."""
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # -- systemd: readiness, reload, watchdog -------------------------------------------

    def _status_text(self) -> str:
        virtuals = self.config.virtuals
        reals = sum(len(v.reals) for v in virtuals)
        text = f"Checking {len(virtuals)} virtual services, {reals} real servers"
        if self._reload_problem is not None:
            text += f"; {self._reload_problem}"
        elif self.last_reload is not None:
            text += f"; {self.last_reload.summary()}"
        return text

    async def _announce_ready(self) -> None:
        """READY=1 once the director says the first round has programmed the table
        (its optional `wait_ready()`), else now: `start()` has returned."""
        wait_ready = getattr(self.director, "wait_ready", None)
        if callable(wait_ready):
            await self._guard("waiting for the first check round", wait_ready())
        if self._term is None:
            self.notifier.ready(self._status_text())

    async def _reload_notified(self, trigger: ReloadTrigger) -> None:
        """A reload, bracketed by RELOADING=1 and READY=1 (also when it failed: the
        running configuration stays in effect, so the daemon is ready either way).
        One at a time, and never during a stop: a reload may come from the control
        socket while the loop handles a signal."""
        async with self._switching:
            if self._term is not None:
                self._reload_problem = "the daemon is stopping"
                return
            await self._reload_notified_now(trigger)

    async def _reload_notified_now(self, trigger: ReloadTrigger) -> None:
        self.notifier.reloading("Reloading the configuration")
        self._reload_problem = "reload failed, the running configuration stays in effect"
        self._refused_at = (self.instance.config_path, None)
        self._change = None
        try:
            await self._guard("reloading", self._reload())
        finally:
            self._record_reload(trigger)
            metrics = getattr(self.director, "metrics", None)
            if metrics is not None:
                metrics.reloads.labels("ok" if self._reload_problem is None else "failed").inc()
            if self._term is None:
                self.notifier.ready(self._status_text())

    def _record_reload(self, trigger: ReloadTrigger) -> None:
        """Keep and log the outcome (the refusal itself is logged by `_reload`)."""
        ok = self._reload_problem is None
        at = time.time()
        previous = self.last_reload
        last_success_at = previous.last_success_at if previous is not None else None
        result = ReloadResult(
            at=at,
            trigger=trigger,
            ok=ok,
            config=self.instance.config_path,
            error=self._reload_problem,
            error_path=None if ok else self._refused_at[0],
            error_line=None if ok else self._refused_at[1],
            change=self._change if ok else None,
            last_success_at=at if ok else last_success_at,
        )
        self.last_reload = result
        if hasattr(self.director, "last_reload"):
            self.director.last_reload = result
        if ok:
            change = self._change.describe() if self._change is not None else "no change"
            self.log.info(
                f"Reloaded configuration {self.instance.config_path} ({trigger}): {change}"
            )

    def _start_watchdog(self) -> None:
        watchdog = self.notifier.watchdog_seconds
        if watchdog is None:
            return
        self._rearm_watchdog()
        self._watch_since = time.monotonic()
        self._spawn(self._feed_watchdog(watchdog / 2))

    def _rearm_watchdog(self) -> None:
        watchdog = self.notifier.watchdog_seconds
        if watchdog is None:
            return
        rule = WatchdogRule.for_config(self.config, watchdog)
        if rule != self._watchdog_rule:
            self._watchdog_rule = rule
            self._watch_since = time.monotonic()

    async def _feed_watchdog(self, period: float) -> None:
        """From the loop itself: a blocked loop sends nothing, and neither does a loop
        whose checks have stopped completing (WatchdogRule)."""
        while True:
            self._watchdog_tick(time.monotonic())
            await asyncio.sleep(period)

    def _watchdog_tick(self, now: float) -> None:
        rule = self._watchdog_rule
        if rule is None:
            return
        if self._term is not None:
            # systemd keeps the watchdog armed while the unit stops; the checks have
            # ended on purpose, and the cleanup must not be cut short.
            self.notifier.watchdog()
            return
        reported, last = self._last_result_at()
        # A configuration without virtual services has nothing to check.
        checks_stalled = (
            reported and bool(self.config.virtuals) and rule.stalled(last, self._watch_since, now)
        )
        writers = self._stalled_writers()
        stalled = checks_stalled or bool(writers)
        if stalled and not self._stalled:
            since = self._watch_since if last is None else max(last, self._watch_since)
            # The director logs the stall itself ("Health checks stalled", "writer
            # stalled"); this is what it means under systemd.
            if checks_stalled:
                detail = (
                    f"no check has completed for {now - since:.0f} seconds (limit {rule.limit:g})"
                )
            else:
                detail = f"writer without progress: {', '.join(writers)}"
            self.log.info(f"Not answering the systemd watchdog: {detail}")
            self.notifier.status(f"Health checks stalled: {detail}")
        elif not stalled and self._stalled:
            self.log.info("Answering the systemd watchdog again: health checks are completing")
            self.notifier.status(self._status_text())
        self._stalled = stalled
        if not stalled:
            self.notifier.watchdog()

    def _watchdog_facts(self) -> WatchdogFacts | None:
        """The director's cheap answer for the watchdog, if it has one (a director
        without it is asked for its whole status)."""
        facts = getattr(self.director, "watchdog_facts", None)
        if facts is None:
            return None
        try:
            result = facts()
        except Exception as err:
            self._log_exception("Error while reading the director's progress", err)
            return None
        return result if isinstance(result, WatchdogFacts) else None

    def _stalled_writers(self) -> list[str]:
        """The writers the director's supervisor reports stalled (status `writers`)."""
        facts = self._watchdog_facts()
        if facts is not None:
            return list(facts.stalled_writers)
        try:
            writers = self.director.status().get("writers")
        except Exception:
            return []
        if not isinstance(writers, dict):
            return []
        return [str(n) for n, w in writers.items() if isinstance(w, dict) and w.get("stalled")]

    def _last_result_at(self) -> tuple[bool, float | None]:
        """(whether the director reports check progress, when a check last completed)."""
        facts = self._watchdog_facts()
        if facts is not None:
            return True, facts.last_result_at
        try:
            status = self.director.status()
        except Exception as err:
            self._log_exception("Error while reading the director's status", err)
            return False, None
        if LAST_RESULT_KEY not in status:
            return False, None
        value = status[LAST_RESULT_KEY]
        if isinstance(value, int | float) and not isinstance(value, bool):
            return True, float(value)
        return True, None

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
