"""The drop-in's lifecycle: commands, pid file, detaching, and the asyncio daemon.

lifecycle   the seven commands, their exit codes and output channels
pidfile     /var/run/ldirectord.<CFGNAME>.pid and the liveness test
daemonize   double fork; the pid file is written before `start` returns
mainloop    the running daemon: signals, reload, autoreload, callback
director    the seam where checks and ip_vs plug in (idle until they land)
instances   execute= instances started/stopped/reloaded with this one
watch       config file change detection (stat, then MD5)
shell       external commands through /bin/sh, as the original runs them
"""
