"""The drop-in's lifecycle: commands, pid file, detaching, and the asyncio daemon.

lifecycle   the seven commands, their exit codes and output channels
pidfile     /var/run/ldirectord.<CFGNAME>.pid and the liveness test
daemonize   double fork; the pid file is written before `start` returns
mainloop    the running daemon: signals, reload, autoreload, callback, control socket
director    the seam where the work plugs in (the Director protocol)
checking    the production director: scheduler -> engine -> ip_vs writer, commands
anycast     the anycast policy fed from the engine, driving the route writers
drains      drained reals, kept next to the pid file
mailer      emailalert mail (SMTP or sendmail)
maintenance maintenancedir lookups
sdnotify    systemd notifications: READY, RELOADING, STOPPING, WATCHDOG
stall       when the health checks count as stalled (watchdog rule)
instances   execute= instances started/stopped/reloaded with this one
watch       config file change detection (stat, then MD5)
shell       external commands through /bin/sh, as the original runs them
"""
