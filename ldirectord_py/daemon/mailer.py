"""The one writer of alert mail: `emailalert` messages as the original words them.

With `smtp` set, the message goes to that server (port 25) over SMTP; without
it, to the local mailer (`sendmail -t`, which is what the original's Mail::Send
ends up using). Sending happens off the event loop and never holds up checks; a
failure is logged, as in the original ("failed to send SMTP email message").
"""

from __future__ import annotations

import asyncio
import getpass
import os
import smtplib
import socket
import subprocess
from email.message import EmailMessage

from ldirectord_py.engine.events import Alert
from ldirectord_py.observe.log import Log

SENDMAIL = "/usr/sbin/sendmail"
SEND_TIMEOUT = 30.0


def compose(alert: Alert, daemon_status: str, hostname: str, user: str) -> EmailMessage:
    """The message: subject prefixed with `[servicename]`, the original's body lines."""
    subject = f"[{alert.servicename}] {alert.subject}" if alert.servicename else alert.subject
    message = EmailMessage()
    message["From"] = alert.sender or f"{user}@{hostname}"
    message["To"] = alert.to
    message["Subject"] = subject
    body = f"ldirectord host: {hostname}\nLog-Message: {subject}\nDaemon-Status: {daemon_status}\n"
    extra = ""
    if alert.servicename:
        extra += f"Service name: {alert.servicename}\n"
    if alert.comment:
        extra += f"Comment: {alert.comment}\n"
    if extra:
        body += f"\n{extra}\n"
    message.set_content(body)
    return message


class Mailer:
    def __init__(self, log: Log, *, smtp_port: int = 25) -> None:
        self.log = log
        self.smtp_port = smtp_port
        self.hostname = socket.gethostname()
        try:
            self.user = getpass.getuser()
        except (KeyError, OSError):
            self.user = str(os.getuid())
        self._tasks: set[asyncio.Task[None]] = set()

    def send(self, alert: Alert, daemon_status: str) -> None:
        """Queue `alert` if the daemon's status is one it is wanted in."""
        if daemon_status not in alert.statuses:
            return
        self.log.info(f"emailalert: {alert.subject}")
        message = compose(alert, daemon_status, self.hostname, self.user)
        task = asyncio.create_task(self._deliver(alert, message))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self, timeout: float = SEND_TIMEOUT) -> None:
        """Let queued mail go out (on stop), within `timeout`."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=timeout)

    async def _deliver(self, alert: Alert, message: EmailMessage) -> None:
        loop = asyncio.get_running_loop()
        try:
            if alert.smtp:
                await loop.run_in_executor(None, self._smtp, alert, message)
            else:
                await loop.run_in_executor(None, self._sendmail, message)
        except (OSError, smtplib.SMTPException, subprocess.SubprocessError) as exc:
            kind = "SMTP email" if alert.smtp else "email"
            self.log.err(f"failed to send {kind} message: {exc}")

    def _smtp(self, alert: Alert, message: EmailMessage) -> None:
        assert alert.smtp is not None
        with smtplib.SMTP(alert.smtp, self.smtp_port, timeout=SEND_TIMEOUT) as server:
            recipients = [a.strip() for a in alert.to.split(",") if a.strip()]
            server.send_message(
                message, from_addr=f"{self.user}@{self.hostname}", to_addrs=recipients
            )

    def _sendmail(self, message: EmailMessage) -> None:
        subprocess.run(
            [SENDMAIL, "-t", "-oi"],
            input=message.as_bytes(),
            check=True,
            timeout=SEND_TIMEOUT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
