"""`ldirectord`: the drop-in command line.

    ldirectord [-d|--debug] [--] [configfile] start|stop|restart|try-restart|
               reload|force-reload|status
    ldirectord -h|-?|--help
    ldirectord -v|--version

Options are parsed the way the original's Getopt::Long setup parses them
(bundling, no abbreviations, options only before the first argument, `--`
ends them, long names case-insensitive), because init scripts and resource
agents call it with exactly those forms. The commands themselves live in
`ldirectord_py.daemon.lifecycle`.
"""

from __future__ import annotations

import contextlib
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ldirectord_py import LEGACY_VERSION, __version__

if TYPE_CHECKING:
    from ldirectord_py.daemon.lifecycle import DirectorFactory

# Exit status of usage errors: the original's pod2usage(-exitval => -1).
USAGE_EXIT = 255

USAGE = """\
Usage:
    ldirectord [-d|--debug] [--] [configfile] start | stop | restart |
    try-restart | reload | force-reload | status

    ldirectord [-h|-?|--help|-v|--version]

Options:
    configfile: the configuration to act on. A bare name is looked up in
    /etc/ha.d, then /etc/ha.d/conf, then taken as a path. Without it the
    configuration is ldirectord.cf and the instance is called ldirectord.

    -d|--debug Stay in the foreground, write no pid file, and log to
    stderr.

    -h|-?|--help Show the manual and exit.

    -v|--version Show the version and exit.

    start: start a daemon for the configuration, unless one is running.

    stop: ask the running daemon to stop (it receives TERM) and wait up to 10 s
    for its cleanup; exit 1 if it is still there. Works with a broken config.

    restart: stop the running daemon, wait until it is gone, start a new
    one. try-restart does the same only if a daemon is running.

    reload: make the running daemon read its configuration again (it
    receives HUP). force-reload is the same.

    status: report whether a daemon runs for the configuration.

"""

VERSION = f"""\
{LEGACY_VERSION}
1999-2006 Jacob Rief, Horms and others
<http://www.vergenet.net/linux/ldirectord/>

ldirectord comes with ABSOLUTELY NO WARRANTY.
This is free software, and you are welcome to redistribute it
under certain conditions. See the GNU General Public Licence for details.
ldirectord-py {__version__}
"""

MANUAL = f"""\
LDIRECTORD(8)                  ldirectord-py {__version__}

NAME
    ldirectord - health checks for Linux Virtual Server real servers

SYNOPSIS
    ldirectord [-d|--debug] [--] [configfile] start | stop | restart |
               try-restart | reload | force-reload | status
    ldirectord -h|-?|--help
    ldirectord -v|--version

DESCRIPTION
    ldirectord-py is a drop-in replacement for the Perl ldirectord. It reads
    the same ldirectord.cf files, checks the real servers of each virtual
    service and keeps the kernel's ip_vs table in line with their health. The
    command line, exit codes, pid file and messages are those of the original,
    so Heartbeat, the Pacemaker OCF agent, LSB init scripts and systemd units
    keep working unchanged.

CONFIGURATION FILE
    A bare configfile name is looked up as /etc/ha.d/NAME, then
    /etc/ha.d/conf/NAME, then as given. The path found is the one that
    messages name. Without configfile the file is ldirectord.cf and the
    instance is called "ldirectord"; otherwise the instance is called by the
    file name after its last "/". Every command parses the whole file first.

COMMANDS AND EXIT STATUS
    start         Start a daemon (returns 0 once its pid file is written), or
                  do nothing if one is running (one per config, in every mode:
                  the daemon locks /var/run/ldirectord.INSTANCE.lock). Exit 0.
    stop          Send TERM to the running daemon and wait (up to 10 s) for its
                  cleanup (bounded to 8 s by the daemon). Exit 0 once it is gone,
                  also when nothing runs; 1 if it is still there. A broken or
                  missing config is reported and the daemon stopped anyway.
    restart       Stop the running daemon, wait until it has gone (at most
                  30 seconds, then exit 1), start a new one.
    try-restart   Like restart, but only if a daemon is running.
    reload        Send HUP to the running daemon: it reads the file again;
    force-reload  a broken file is logged and the running configuration
                  stays in effect. Exit 1 if no daemon runs.
    status        Running: "ldirectord for CONFIG is running with pid: PID"
                  on stderr, exit 0. Stale pid file: a note on stderr and
                  "ldirectord is stopped for CONFIG" on stdout, exit 1.
                  Stopped: "ldirectord is stopped for CONFIG" on stdout,
                  exit 3.
    Any command: configuration file not found, exit 1; configuration error,
    exit 2 (stderr names the file and line); usage error, exit 255.

OPTIONS
    -d, --debug    Stay in the foreground, write no pid file, log to stderr.
    -h, -?, --help Show this manual.
    -v, --version  Show the version.
    --             End of options.

FILES
    /var/run/ldirectord.INSTANCE.pid   pid of the running daemon
    /var/run/ldirectord.INSTANCE.lock  locked by the running daemon (one per config)
    /etc/ha.d/ldirectord.cf            default configuration
    /var/log/ldirectord.log            default log (directive "logfile")

SIGNALS
    TERM, INT, QUIT   stop cleanly and remove the pid file
    HUP               reload the configuration
    PIPE              ignored

SEE ALSO
    ldirectordctl(8), ipvsadm(8); docs/compatibility.md lists every place
    where ldirectord-py deliberately behaves differently from the original.
"""

_LONG = {"debug": "debug", "help": "help", "version": "version"}
_SHORT = {"d": "debug", "h": "help", "?": "help", "v": "version"}


@dataclass
class Options:
    debug: bool = False
    help: bool = False
    version: bool = False
    args: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def set(self, name: str) -> None:
        setattr(self, name, True)


def parse_options(argv: list[str]) -> Options:
    """Getopt::Long with bundling, no_auto_abbrev and require_order."""
    opts = Options()
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            i += 1
            break
        if arg.startswith("--"):
            name, has_value, _ = arg[2:].partition("=")
            canonical = _LONG.get(name.lower())
            if canonical is None:
                opts.errors.append(f"Unknown option: {name}")
            elif has_value:
                opts.errors.append(f"Option {canonical} does not take an argument")
            else:
                opts.set(canonical)
        elif arg.startswith("-") and arg != "-":
            for ch in arg[1:]:
                short = _SHORT.get(ch)
                if short is None:
                    opts.errors.append(f"Unknown option: {ch}")
                else:
                    opts.set(short)
        else:
            break
        i += 1
    opts.args = argv[i:]
    return opts


def _usage() -> int:
    sys.stdout.write(USAGE)
    sys.stdout.flush()
    return USAGE_EXIT


def run(argv0: str, argv: list[str], director_factory: DirectorFactory | None = None) -> int:
    """Parse the command line and run it; returns the exit status.

    `director_factory` is the seam for what a started daemon runs (see
    `ldirectord_py.daemon.director`); None means the default.
    """
    from ldirectord_py.daemon.lifecycle import COMMANDS, Invocation, Lifecycle

    opts = parse_options(argv)
    if opts.errors:
        for error in opts.errors:
            sys.stderr.write(error + "\n")
        sys.stderr.flush()
        return _usage()
    if opts.help:
        sys.stdout.write(MANUAL)
        return 0
    if opts.version:
        sys.stdout.write(VERSION)
        if opts.debug:
            sys.stderr.write("Exiting with exit_status 0: \n")
        return 0
    invocation_args = tuple(opts.args)
    if not invocation_args:
        return _usage()
    invocation = Invocation(argv0=argv0, args=invocation_args, debug=opts.debug)
    if invocation.command not in COMMANDS:
        return _usage()
    if director_factory is None:
        return Lifecycle(invocation).run()
    return Lifecycle(invocation, director_factory).run()


def main() -> int:
    """Console entry point: never a traceback, always an exit status."""
    # Arguments and paths are bytes to the kernel; echo them back unchanged, as the
    # original does, instead of failing on a name that is not valid UTF-8.
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(AttributeError, ValueError):
            stream.reconfigure(errors="surrogateescape")  # type: ignore[union-attr]
    try:
        return run(sys.argv[0], sys.argv[1:])
    except KeyboardInterrupt:
        sys.stderr.write("ldirectord: interrupted\n")
        return 1
    except Exception as err:
        with contextlib.suppress(Exception):
            sys.stderr.write(f"ldirectord: internal error: {type(err).__name__}: {err}\n")
        return 1
