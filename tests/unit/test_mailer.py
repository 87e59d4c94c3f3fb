"""Alert mail: what the engine asks for, and what reaches an SMTP server.

The SMTP peer is a minimal in-test server (the few commands smtplib sends): a
mail daemon would add nothing but install time to what is checked here."""

from __future__ import annotations

import asyncio
from pathlib import Path

from ldirectord_py.daemon.mailer import Mailer, compose
from ldirectord_py.engine import Alert, Engine
from ldirectord_py.observe.log import Log, Sink

from .config.conftest import parse


class Lines(Sink):
    def __init__(self) -> None:
        self.lines: list[str] = []

    def write(self, message: str) -> None:
        self.lines.append(message)


CONFIG = (
    "emailalert=ops@example.org\nemailalertfreq=60\nsmtp=127.0.0.1\n"
    "virtual=127.0.0.100:80\n\treal=127.0.0.11:80 gate\n"
    "\tservicename=shop\n\tcomment=front end\n"
)


def alerts(effects: list[object]) -> list[Alert]:
    return [e for e in effects if isinstance(e, Alert)]


def test_engine_alerts_and_repeats_while_down() -> None:
    config = parse(CONFIG)
    engine = Engine(config, 0.0)
    identity = engine.checks()[0].identity
    (up,) = alerts(engine.record(identity, True, "ok", 1.0))
    assert up.subject == "Added real server: 127.0.0.11:80 (127.0.0.100:80) (Weight set to 1)"
    assert (up.to, up.smtp, up.servicename) == ("ops@example.org", "127.0.0.1", "shop")
    (down,) = alerts(engine.record(identity, False, "x", 10.0))
    assert down.subject == "Deleted real server: 127.0.0.11:80 (127.0.0.100:80)"
    assert alerts(engine.tick(69.0)) == []
    (again,) = alerts(engine.tick(70.0))
    assert again.subject == "Inaccessible real server: 127.0.0.11:80 (127.0.0.100:80)"
    assert alerts(engine.tick(100.0)) == []
    engine.record(identity, True, "ok", 101.0)
    assert alerts(engine.tick(500.0)) == []  # back up: no more repeats


def test_message_wording() -> None:
    alert = Alert("tcp:1", "Deleted real server: a (b)", "ops@example.org",
                  frozenset({"running"}), None, None, "shop", "front end")  # fmt: skip
    text = compose(alert, "running", "director1", "root").as_string()
    assert "Subject: [shop] Deleted real server: a (b)" in text
    assert "From: root@director1" in text
    assert "ldirectord host: director1\nLog-Message: [shop] Deleted real server: a (b)\n" in text
    assert "Daemon-Status: running\n" in text
    assert "Service name: shop\nComment: front end\n" in text


async def smtp_sink(received: list[bytes]) -> asyncio.Server:
    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 sink ESMTP\r\n")
        data = False
        body = b""
        while line := await reader.readline():
            if data:
                if line == b".\r\n":
                    received.append(body)
                    data = False
                    writer.write(b"250 queued\r\n")
                else:
                    body += line
                continue
            verb = line[:4].upper()
            if verb == b"DATA":
                data, body = True, b""
                writer.write(b"354 go on\r\n")
            elif verb == b"QUIT":
                writer.write(b"221 bye\r\n")
                await writer.drain()
                break
            else:
                writer.write(b"250 ok\r\n")
            await writer.drain()
        writer.close()

    return await asyncio.start_server(session, "127.0.0.1", 0)


def test_mailer_sends_over_smtp_and_filters_by_status(tmp_path: Path) -> None:
    received: list[bytes] = []
    lines = Lines()
    alert = Alert("tcp:1", "Deleted real server: a (b)", "ops@example.org",
                  frozenset({"running"}), "127.0.0.1", "ld@example.org", None, None)  # fmt: skip

    async def scenario() -> None:
        server = await smtp_sink(received)
        port = server.sockets[0].getsockname()[1]
        mailer = Mailer(Log(lines), smtp_port=port)
        mailer.send(alert, "starting")  # not in emailalertstatus: nothing sent
        mailer.send(alert, "running")
        await mailer.drain(10)
        server.close()

    asyncio.run(asyncio.wait_for(scenario(), 30))
    (message,) = received
    assert b"Subject: Deleted real server: a (b)" in message
    assert b"From: ld@example.org" in message
    assert lines.lines == ["emailalert: Deleted real server: a (b)"]


def test_mailer_logs_a_failure(tmp_path: Path) -> None:
    lines = Lines()
    alert = Alert("tcp:1", "s", "ops@example.org", frozenset({"running"}), "127.0.0.1",
                  None, None, None)  # fmt: skip

    async def scenario() -> None:
        mailer = Mailer(Log(lines), smtp_port=9)  # nothing listens on discard
        mailer.send(alert, "running")
        await mailer.drain(10)

    asyncio.run(scenario())
    assert lines.lines[0] == "emailalert: s"
    assert lines.lines[1].startswith("failed to send SMTP email message")
