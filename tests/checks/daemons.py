"""Real daemons from Debian packages, started by the test suite on loopback with
throw-away configs and data under one temporary directory, and stopped afterwards.

Each daemon runs in the foreground as a child of the test process (never as the
package's system service), listens only on 127.0.0.1 on ports picked free at
start, and is terminated by its own pid. scripts/install-check-deps.sh installs
the packages; a missing one is a test failure naming the package.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.checks.servers import free_port

HOST = "127.0.0.1"
START_TIMEOUT = 60.0


def need(binary: str, package: str) -> str:
    path = shutil.which(binary) or (binary if os.path.exists(binary) else None)
    if path is None:
        pytest.fail(
            f"{binary} is missing: install the Debian package {package} "
            "(sh scripts/install-check-deps.sh, or make deps-checks)"
        )
    return path


def wait_tcp(port: int, proc: subprocess.Popen[bytes], log: Path | None, host: str = HOST) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
            pytest.fail(f"{proc.args!r} exited with {proc.returncode} at start:\n{tail}")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    pytest.fail(f"{proc.args!r} did not listen on {host}:{port} within {START_TIMEOUT}s")


def run_ok(argv: list[str], **kw: object) -> subprocess.CompletedProcess[bytes]:
    proc = subprocess.run(argv, capture_output=True, timeout=120, **kw)  # type: ignore[call-overload]
    if proc.returncode != 0:
        pytest.fail(f"{argv!r} failed ({proc.returncode}):\n{proc.stdout!r}\n{proc.stderr!r}")
    return proc  # type: ignore[no-any-return]


@dataclass
class Daemon:
    name: str
    proc: subprocess.Popen[bytes]
    ports: dict[str, int]
    extra: dict[str, str] = field(default_factory=dict)

    def stop(self) -> None:
        if self.proc.poll() is None:
            with_group = True
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except (ProcessLookupError, PermissionError):
                with_group = False
                self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                if with_group:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                else:
                    self.proc.kill()
                self.proc.wait(10)


def spawn(argv: list[str], log: Path, **kw: object) -> subprocess.Popen[bytes]:
    out = open(log, "ab")  # noqa: SIM115 (the child keeps it)
    try:
        return subprocess.Popen(  # type: ignore[call-overload, no-any-return]
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            **kw,
        )
    finally:
        out.close()


class Lab:
    """One temporary directory (world-traversable: daemons drop privileges) and the
    daemons started in it, each at most once per test session."""

    def __init__(self, cert: tuple[Path, Path]) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="ldirectord-checks-"))
        self.root.chmod(0o755)
        self.cert, self.key = cert
        shutil.copy(self.cert, self.root / "cert.pem")
        shutil.copy(self.key, self.root / "key.pem")
        self.cert, self.key = self.root / "cert.pem", self.root / "key.pem"
        for p in (self.cert, self.key):
            p.chmod(0o644)
        self.daemons: dict[str, Daemon] = {}
        self.started: list[subprocess.Popen[bytes]] = []

    def spawn(self, argv: list[str], log: Path, **kw: object) -> subprocess.Popen[bytes]:
        """Start a daemon; it is stopped at close() even if its start fails later."""
        proc = spawn(argv, log, **kw)
        self.started.append(proc)
        return proc

    def dir(self, name: str, mode: int = 0o755) -> Path:
        d = self.root / name
        d.mkdir(parents=True, exist_ok=True)
        d.chmod(mode)
        return d

    def get(self, name: str, start: Callable[[Lab], Daemon]) -> Daemon:
        if name not in self.daemons:
            self.daemons[name] = start(self)
        d = self.daemons[name]
        if d.proc.poll() is not None:
            pytest.fail(f"{name} died (exit {d.proc.returncode}); see {self.root}/{name}")
        return d

    def close(self) -> None:
        for proc in self.started:
            Daemon("", proc, {}).stop()
        shutil.rmtree(self.root, ignore_errors=True)


# --- nginx: http, https, http_proxy --------------------------------------------------


def start_nginx(lab: Lab) -> Daemon:
    nginx = need("nginx", "nginx")
    d = lab.dir("nginx")
    www = lab.dir("nginx/www")
    (www / "index.html").write_text("<html>nginx healthy</html>\n")
    (www / "health").write_text("OK ldirectord health\n")
    http, https, proxy = free_port(), free_port(), free_port()
    for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        lab.dir(f"nginx/tmp/{sub}")
    conf = d / "nginx.conf"
    conf.write_text(
        f"""
daemon off;
master_process on;
worker_processes 1;
user nobody nogroup;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
worker_rlimit_nofile 16384;
events {{ worker_connections 8192; }}
http {{
    access_log off;
    client_body_temp_path {d}/tmp/body;
    proxy_temp_path {d}/tmp/proxy;
    fastcgi_temp_path {d}/tmp/fastcgi;
    uwsgi_temp_path {d}/tmp/uwsgi;
    scgi_temp_path {d}/tmp/scgi;
    default_type text/html;
    server {{
        listen {HOST}:{http};
        server_name _;
        root {www};
        location = /down {{ return 503 "down\\n"; }}
        location = /vhost {{ return 200 "vhost=$host\\n"; }}
    }}
    server {{
        listen {HOST}:{https} ssl;
        ssl_certificate {lab.cert};
        ssl_certificate_key {lab.key};
        root {www};
    }}
    server {{
        listen {HOST}:{proxy};
        location / {{
            proxy_pass http://{HOST}:{http};
            proxy_set_header Host $host;
        }}
    }}
}}
"""
    )
    log = d / "stdout.log"
    proc = lab.spawn([nginx, "-c", str(conf), "-p", str(d), "-e", str(d / "error.log")], log)
    wait_tcp(http, proc, d / "error.log")
    wait_tcp(https, proc, d / "error.log")
    wait_tcp(proxy, proc, d / "error.log")
    return Daemon("nginx", proc, {"http": http, "https": https, "proxy": proxy})


# --- dnsmasq: dns ----------------------------------------------------------------------


def start_dnsmasq(lab: Lab) -> Daemon:
    dnsmasq = need("dnsmasq", "dnsmasq-base")
    d = lab.dir("dnsmasq")
    port = free_port()
    log = d / "dnsmasq.log"
    argv = [
        dnsmasq,
        "--keep-in-foreground",
        "--conf-file=/dev/null",
        "--no-resolv",  # never forward: no upstream servers at all
        "--no-poll",
        "--no-hosts",
        "--bind-interfaces",
        f"--listen-address={HOST}",
        f"--port={port}",
        "--pid-file=",
        "--user=nobody",
        "--host-record=www.example.test,127.1.2.3",
        "--host-record=db.example.test,127.1.2.4",
        f"--log-facility={log}",
    ]
    proc = lab.spawn(argv, d / "stdout.log")
    wait_tcp(port, proc, log)
    return Daemon("dnsmasq", proc, {"dns": port})


# --- vsftpd: ftp ------------------------------------------------------------------------


def start_vsftpd(lab: Lab) -> Daemon:
    vsftpd = need("vsftpd", "vsftpd")
    d = lab.dir("vsftpd")
    root = lab.dir("vsftpd/anon")
    empty = lab.dir("vsftpd/empty")
    (root / "health.txt").write_text("ftp is healthy\n")
    (root / "health.txt").chmod(0o644)
    port = free_port()
    conf = d / "vsftpd.conf"
    conf.write_text(
        f"""listen=YES
listen_ipv6=NO
listen_address={HOST}
listen_port={port}
background=NO
anonymous_enable=YES
anon_root={root}
no_anon_password=YES
local_enable=NO
write_enable=NO
pasv_enable=YES
secure_chroot_dir={empty}
seccomp_sandbox=NO
xferlog_enable=NO
dual_log_enable=NO
vsftpd_log_file={d}/vsftpd.log
ftp_username=ftp
nopriv_user=nobody
pam_service_name=vsftpd
"""
    )
    conf.chmod(0o600)
    proc = lab.spawn([vsftpd, str(conf)], d / "stdout.log")
    wait_tcp(port, proc, d / "stdout.log")
    return Daemon("vsftpd", proc, {"ftp": port})


# --- exim4: smtp, submission --------------------------------------------------------------


def start_exim(lab: Lab) -> Daemon:
    exim = need("exim4", "exim4-daemon-light")
    d = lab.dir("exim")
    spool = lab.dir("exim/spool", 0o777)
    logs = lab.dir("exim/log", 0o777)
    smtp, submission = free_port(), free_port()
    conf = d / "exim.conf"
    conf.write_text(
        f"""primary_hostname = mail.test.invalid
daemon_smtp_ports = {smtp} : {submission}
local_interfaces = {HOST}
spool_directory = {spool}
log_file_path = {logs}/%slog
pid_file_path = {d}/exim.pid
acl_smtp_rcpt = acl_check_rcpt
begin acl
acl_check_rcpt:
  deny message = no relaying from a test server
begin routers
begin transports
"""
    )
    conf.chmod(0o644)
    proc = lab.spawn(
        [exim, "-C", str(conf), "-bdf", "-oX", f"{smtp}:{submission}"], d / "stdout.log"
    )
    wait_tcp(smtp, proc, d / "stdout.log")
    wait_tcp(submission, proc, d / "stdout.log")
    return Daemon("exim", proc, {"smtp": smtp, "submission": submission})


# --- dovecot: imap, imaps, pop, pops ------------------------------------------------------


def start_dovecot(lab: Lab) -> Daemon:
    dovecot = need("dovecot", "dovecot-imapd dovecot-pop3d")
    d = lab.dir("dovecot")
    run = lab.dir("dovecot/run")
    state = lab.dir("dovecot/state")
    mail = lab.dir("dovecot/mail", 0o777)
    (d / "passwd").write_text("health:{PLAIN}hpass::::::\n")
    (d / "passwd").chmod(0o644)
    ports = {"imap": free_port(), "imaps": free_port(), "pop": free_port(), "pops": free_port()}
    conf = d / "dovecot.conf"
    conf.write_text(
        f"""base_dir = {run}
state_dir = {state}
log_path = {d}/dovecot.log
protocols = imap pop3
listen = {HOST}
ssl = yes
ssl_cert = <{lab.cert}
ssl_key = <{lab.key}
ssl_dh = </usr/share/dovecot/dh.pem
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
passdb {{
  driver = passwd-file
  args = {d}/passwd
}}
userdb {{
  driver = static
  args = uid=nobody gid=nogroup home={mail}/%u
}}
mail_location = maildir:{mail}/%u
default_internal_user = dovecot
default_login_user = dovenull
service imap-login {{
  inet_listener imap {{
    port = {ports["imap"]}
  }}
  inet_listener imaps {{
    port = {ports["imaps"]}
    ssl = yes
  }}
}}
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    port = {ports["pop"]}
  }}
  inet_listener pop3s {{
    port = {ports["pops"]}
    ssl = yes
  }}
}}
"""
    )
    proc = lab.spawn([dovecot, "-F", "-c", str(conf)], d / "stdout.log")
    for port in ports.values():
        wait_tcp(port, proc, d / "dovecot.log")
    return Daemon("dovecot", proc, ports)


# --- slapd: ldap, ldaps ----------------------------------------------------------------------

LDAP_SUFFIX = "dc=example,dc=test"
LDAP_ADMIN = f"cn=admin,{LDAP_SUFFIX}"
LDAP_ADMIN_PW = "adminpw"


def start_slapd(lab: Lab) -> Daemon:
    slapd = need("slapd", "slapd")
    slapadd = need("slapadd", "slapd")
    d = lab.dir("slapd")
    db = lab.dir("slapd/db", 0o700)
    ldap, ldaps = free_port(), free_port()
    conf = d / "slapd.conf"
    conf.write_text(
        f"""include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
pidfile {d}/slapd.pid
modulepath /usr/lib/ldap
moduleload back_mdb
TLSCertificateFile {lab.cert}
TLSCertificateKeyFile {lab.key}
database mdb
maxsize 16777216
suffix "{LDAP_SUFFIX}"
rootdn "{LDAP_ADMIN}"
rootpw {LDAP_ADMIN_PW}
directory {db}
"""
    )
    ldif = d / "data.ldif"
    ldif.write_text(
        f"""dn: {LDAP_SUFFIX}
objectClass: dcObject
objectClass: organization
o: Example
dc: example

dn: cn=health,{LDAP_SUFFIX}
objectClass: organizationalRole
cn: health
"""
    )
    run_ok([slapadd, "-f", str(conf), "-l", str(ldif)])
    urls = f"ldap://{HOST}:{ldap}/ ldaps://{HOST}:{ldaps}/"
    proc = lab.spawn([slapd, "-d", "0", "-h", urls, "-f", str(conf)], d / "stdout.log")
    wait_tcp(ldap, proc, d / "stdout.log")
    wait_tcp(ldaps, proc, d / "stdout.log")
    return Daemon("slapd", proc, {"ldap": ldap, "ldaps": ldaps})


# --- mariadb: mysql ------------------------------------------------------------------------

SQL_USER, SQL_PASSWORD, SQL_DB = "health", "hpass", "hc"
SQL_SETUP = f"""
CREATE DATABASE {SQL_DB};
CREATE TABLE {SQL_DB}.pool (name VARCHAR(32), enabled INT);
INSERT INTO {SQL_DB}.pool VALUES ('real1', 1), ('real2', 0);
CREATE USER '{SQL_USER}'@'%' IDENTIFIED BY '{SQL_PASSWORD}';
GRANT SELECT ON {SQL_DB}.* TO '{SQL_USER}'@'%';
"""


def start_mariadb(lab: Lab) -> Daemon:
    install_db = need("mariadb-install-db", "mariadb-server")
    mariadbd = need("mariadbd", "mariadb-server")
    client = need("mariadb", "mariadb-client")
    d = lab.dir("mariadb")
    data = lab.dir("mariadb/data", 0o700)
    shutil.chown(data, "mysql", "mysql")
    shutil.chown(d, "mysql", "mysql")
    sock = d / "mysqld.sock"
    port = free_port()
    run_ok(
        [
            install_db, "--no-defaults", f"--datadir={data}", "--user=mysql",
            "--auth-root-authentication-method=socket", "--skip-test-db",
            "--skip-name-resolve",
        ]
    )  # fmt: skip
    argv = [
        mariadbd, "--no-defaults", f"--datadir={data}", f"--socket={sock}", f"--port={port}",
        f"--bind-address={HOST}", "--user=mysql", f"--pid-file={d}/mysqld.pid",
        f"--log-error={d}/error.log", "--skip-name-resolve", "--skip-log-bin",
        "--innodb-buffer-pool-size=16M", "--performance-schema=OFF", "--skip-innodb-doublewrite",
    ]  # fmt: skip
    proc = lab.spawn(argv, d / "stdout.log")
    wait_tcp(port, proc, d / "error.log")
    run_ok([client, "--no-defaults", "-S", str(sock), "-u", "root", "-e", SQL_SETUP])
    return Daemon("mariadb", proc, {"mysql": port})


# --- postgresql: pgsql -------------------------------------------------------------------


def _pg_bin(name: str) -> str:
    candidates = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    if not candidates:
        pytest.fail(f"{name} is missing: install the Debian package postgresql")
    return str(candidates[-1])


def start_postgresql(lab: Lab) -> Daemon:
    initdb, postgres, psql = _pg_bin("initdb"), _pg_bin("postgres"), _pg_bin("psql")
    d = lab.dir("postgresql")
    shutil.chown(d, "postgres", "postgres")
    data = d / "data"
    pwfile = d / "pw"
    pwfile.write_text("superpw\n")
    shutil.chown(pwfile, "postgres", "postgres")
    port = free_port()
    as_pg = ["runuser", "-u", "postgres", "--"]
    run_ok(
        [*as_pg, initdb, "-D", str(data), "-U", "postgres", "-A", "scram-sha-256",
         f"--pwfile={pwfile}", "--no-sync", "--no-instructions"],
        cwd=str(d),
    )  # fmt: skip
    argv = [
        *as_pg, postgres, "-D", str(data), "-p", str(port), "-k", str(d),
        "-c", f"listen_addresses={HOST}", "-c", "fsync=off", "-c", "shared_buffers=16MB",
        "-c", "max_connections=40",
    ]  # fmt: skip
    proc = lab.spawn(argv, d / "stdout.log", cwd=str(d))
    wait_tcp(port, proc, d / "stdout.log")
    pg_isready = _pg_bin("pg_isready")
    deadline = time.monotonic() + START_TIMEOUT
    while subprocess.run([pg_isready, "-q", "-h", HOST, "-p", str(port)]).returncode != 0:
        if time.monotonic() > deadline or proc.poll() is not None:
            pytest.fail(f"postgres not ready:\n{(d / 'stdout.log').read_text()[-3000:]}")
        time.sleep(0.1)
    env = {**os.environ, "PGPASSWORD": "superpw"}
    psql_argv = [psql, "-h", HOST, "-p", str(port), "-U", "postgres", "-v", "ON_ERROR_STOP=1"]
    run_ok([*psql_argv, "-d", "postgres", "-c", f"CREATE DATABASE {SQL_DB}"], env=env)
    setup = (
        "CREATE TABLE pool (name VARCHAR(32), enabled INT);"
        "INSERT INTO pool VALUES ('real1', 1), ('real2', 0);"
        f"CREATE ROLE {SQL_USER} LOGIN PASSWORD '{SQL_PASSWORD}';"
        f"GRANT SELECT ON pool TO {SQL_USER};"
    )
    run_ok([*psql_argv, "-d", SQL_DB, "-c", setup], env=env)
    return Daemon("postgresql", proc, {"pgsql": port})


# --- freeradius: radius ---------------------------------------------------------------------

RADIUS_SECRET = "testing123"
RADIUS_USER, RADIUS_PASSWORD = "health", "hpass"


def start_freeradius(lab: Lab) -> Daemon:
    freeradius = need("freeradius", "freeradius")
    d = lab.dir("freeradius")
    raddb = d / "raddb"
    run_ok(["cp", "-a", "/etc/freeradius/3.0", str(raddb)])
    (raddb / "clients.conf").write_text(
        f"client loopback {{\n\tipaddr = {HOST}\n\tsecret = {RADIUS_SECRET}\n}}\n"
    )
    authorize = raddb / "mods-config" / "files" / "authorize"
    authorize.write_text(
        f'{RADIUS_USER}\tCleartext-Password := "{RADIUS_PASSWORD}"\n' + authorize.read_text()
    )
    run = lab.dir("freeradius/run", 0o777)
    logs = lab.dir("freeradius/log", 0o777)
    conf = raddb / "radiusd.conf"
    text = conf.read_text()
    text = text.replace("run_dir = ${localstatedir}/run/${name}", f"run_dir = {run}")
    text = text.replace("logdir = /var/log/freeradius", f"logdir = {logs}")
    conf.write_text(text)
    # every listener on loopback, on ports picked now: auth on `port`, the rest on
    # other free ports (acct, IPv6, the inner-tunnel's 18120), so that several
    # instances never collide
    port = free_port(kind=socket.SOCK_DGRAM)
    for site, first in (("default", port), ("inner-tunnel", None)):
        path = raddb / "sites-enabled" / site
        text = path.read_text()
        text = text.replace("ipaddr = *", f"ipaddr = {HOST}").replace(
            "ipv6addr = ::", "ipv6addr = ::1"
        )
        text = text.replace("port = 18120", "port = 0")
        parts = text.split("\n\tport = 0") if site == "default" else text.split("port = 0")
        out = parts[0]
        for i, rest in enumerate(parts[1:]):
            p = first if (i == 0 and first is not None) else free_port(kind=socket.SOCK_DGRAM)
            out += ("\n\tport = " if site == "default" else "port = ") + str(p) + rest
        path.unlink()
        path.write_text(out)
    run_ok(["chown", "-R", "freerad:freerad", str(raddb)])
    argv = [freeradius, "-f", "-d", str(raddb), "-l", "stdout"]
    proc = lab.spawn(argv, d / "stdout.log")
    _wait_radius(port, proc, d / "stdout.log")
    return Daemon("freeradius", proc, {"radius": port})


def _wait_radius(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    """Until freeradius answers a Status-Server-less probe: an Access-Request."""
    import asyncio

    from ldirectord_py.checks import run_check
    from tests.checks.conftest import make_spec

    spec = make_spec(
        service="radius", protocol="udp", checkport=port, secret=RADIUS_SECRET,
        login=RADIUS_USER, passwd=RADIUS_PASSWORD, checktimeout=0.5,
    )  # fmt: skip
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"freeradius exited at start:\n{log.read_text(errors='replace')[-3000:]}")
        if asyncio.run(run_check(spec)).ok:
            return
        time.sleep(0.1)
    pytest.fail(f"freeradius did not answer within {START_TIMEOUT}s")
