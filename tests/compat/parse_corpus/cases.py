"""The parse corpus: small ldirectord.cf files, each pinning one rule of the legacy syntax.

Every case is `(name, description, text)`. `text` is written byte for byte (latin-1,
no newline translation), after replacing the token TMPDIR with the absolute path of a
private, writable, per-case directory (no trailing slash). The Perl original's verdict
on each file (`ldirectord <file> status`: exit code, stdout, stderr) is recorded by
`tests/compat/record_perl_verdicts.py` into `verdicts.json` next to this file.

Names are resolved only through HOSTS_FILE (the recorder bind-mounts it as /etc/hosts,
the unit tests give the same table to StaticResolver); names that must not resolve end
in `.invalid`. Addresses are loopback or documentation ranges (RFC 5737 / RFC 3849),
except where a rule needs a particular numeric value (noted on the case); nothing is
ever contacted: `status` only parses.

Spec references are to the compatibility specification, ldirectord-spec.md (section 2, quirk 9.7).
"""

from __future__ import annotations

# The token replaced by the per-case directory, in configs and in recorded outputs.
TMPDIR = "TMPDIR"
# The token that replaces the config file's absolute path in recorded outputs.
CONFIG = "CONFIG"
# Name of the config file inside the per-case directory.
CONFIG_NAME = "ldirectord.cf"
# HOSTNAME given to the Perl original (and to our parser), for ftp/sip login defaults.
HOSTNAME = "ldpy-test"

# The /etc/hosts used while recording: (address, names). Loopback and documentation only.
HOSTS_FILE: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("127.0.0.1", ("localhost",)),
    ("127.0.0.11", ("backend-a",)),
    ("127.0.0.12", ("backend-b",)),
    ("127.0.0.13", ("backend-c",)),
    ("127.0.0.21", ("dual",)),
    ("127.0.0.100", ("vip",)),
    ("::1", ("localhost", "ip6-localhost", "ip6-loopback")),
    ("2001:db8::11", ("backend6-a",)),
    ("2001:db8::12", ("backend6-b",)),
    ("2001:db8::21", ("dual",)),
    ("2001:db8::100", ("vip6",)),
)


# The /etc/services used while recording: (name, port, protocol, aliases). Every
# service name the cases use, as Debian's netbase has it (http has no udp entry).
SERVICES_FILE: tuple[tuple[str, int, str, tuple[str, ...]], ...] = (
    ("ftp", 21, "tcp", ()),
    ("smtp", 25, "tcp", ("mail",)),
    ("domain", 53, "tcp", ()),
    ("domain", 53, "udp", ()),
    ("http", 80, "tcp", ("www",)),
    ("https", 443, "tcp", ()),
)


def services_table() -> dict[tuple[str, str], int]:
    """SERVICES_FILE as (name, protocol) -> port, the shape StaticResolver takes (it
    answers protocol "" from any entry of the name, as getservbyname(name, NULL))."""
    table: dict[tuple[str, str], int] = {}
    for name, port, protocol, aliases in SERVICES_FILE:
        for n in (name, *aliases):
            table.setdefault((n, protocol), port)
    return table


def services_file_text() -> str:
    return "".join(
        f"{name}\t{port}/{protocol}{''.join(chr(9) + a for a in aliases)}\n"
        for name, port, protocol, aliases in SERVICES_FILE
    )


def hosts_table() -> dict[str, tuple[str | None, str | None]]:
    """HOSTS_FILE as name -> (first IPv4, first IPv6), the shape StaticResolver takes."""
    table: dict[str, tuple[str | None, str | None]] = {}
    for address, names in HOSTS_FILE:
        for name in names:
            v4, v6 = table.get(name, (None, None))
            if ":" in address:
                v6 = v6 or address
            else:
                v4 = v4 or address
            table[name] = (v4, v6)
    return table


def hosts_file_text() -> str:
    return "".join(f"{address}\t{' '.join(names)}\n" for address, names in HOSTS_FILE)


LOG = 'logfile="TMPDIR/ld.log"\n'
REAL = "\treal=127.0.0.11:8080 gate\n"
# The standard virtual block (the recorded matrix's PARSE_V).
VB = "virtual=127.0.0.100:8080\n" + REAL + "\tservice=http\n"


def g(*lines: str) -> str:
    """Global lines (each without its newline) before the standard virtual block."""
    return LOG + "".join(line + "\n" for line in lines) + VB


def v(*lines: str, head: str = "virtual=127.0.0.100:8080", real: str = REAL) -> str:
    """A virtual block whose extra lines are tab-indented (each without its newline)."""
    return LOG + head + "\n" + real + "".join("\t" + line + "\n" for line in lines)


def v6(*lines: str, head: str = "virtual6=[2001:db8::100]:80") -> str:
    """A virtual6 block with one real6, extra lines tab-indented."""
    return v(*lines, head=head, real="\treal6=[2001:db8::11]:80 gate\n")


def r(real_value: str, head: str = "virtual=127.0.0.100:8080") -> str:
    """A virtual block with one `real=` line."""
    return LOG + head + "\n\treal=" + real_value + "\n\tservice=http\n"


CASES: list[tuple[str, str, str]] = [
    # ---------------------------------------------------------------- baseline
    ("std-baseline", "the standard file every other case varies", g()),
    ("std-no-newline-at-eof", "last line without a newline", LOG + VB.rstrip("\n")),
    (
        "std-crlf-everywhere-numbers",
        "CRLF file: logfile, numbers, virtual, real, service all "
        "tolerate the CR (only exact-match values do not)",
        'logfile="TMPDIR/ld.log"\r\ncheckinterval=5\r\nvirtual=127.0.0.100:8080\r\n'
        "\treal=127.0.0.11:8080 gate\r\n\tservice=http\r\n",
    ),
    ("std-only-logfile", "no virtual at all is fine", LOG),
    (
        "std-empty-file",
        "an empty file (no logfile line: the default log is a private tmpfs while recording)",
        "",
    ),
    ("std-only-comments", "", LOG + "# nothing\n#virtual=127.0.0.100:80\n"),
    (
        "std-comments-and-blanks",
        "comment lines (also indented) and blank/whitespace lines between globals are skipped",
        LOG + "# a comment\n   # indented comment\n\n   \n\t\nchecktimeout=3\n" + VB,
    ),
    # ---------------------------------------------------------------- checktimeout
    ("gl-checktimeout-valid", "global checktimeout=5", g("checktimeout=5")),
    ("gl-checktimeout-spaces", "spaces and tabs around =", g("checktimeout \t= \t7")),
    (
        "gl-checktimeout-quoted",
        "numbers: quotes are junk around the first digit run",
        g('checktimeout="5"'),
    ),
    (
        "gl-checktimeout-first-digits",
        "first digit run anywhere in the value",
        g("checktimeout=abc7def"),
    ),
    ("gl-checktimeout-negative", "'-3': the digit run is 3", g("checktimeout=-3")),
    ("gl-checktimeout-decimal", "'1.5': the digit run is 1", g("checktimeout=1.5")),
    ("gl-checktimeout-00", "'00' is a true string but not > 0", g("checktimeout=00")),
    ("gl-checktimeout-05", "'05' is accepted", g("checktimeout=05")),
    ("gl-checktimeout-0x10", "'0x10': the first digit run is 0", g("checktimeout=0x10")),
    ("gl-checktimeout-empty", "empty value", g("checktimeout=")),
    ("gl-checktimeout-letters", "no digit at all", g("checktimeout=five")),
    ("gl-checktimeout-crlf", "CR after a number is junk, tolerated", g("checktimeout=5\r")),
    ("gl-checktimeout-prefix-name", "checktimeoutx= is not checktimeout", g("checktimeoutx=5")),
    # ---------------------------------------------------------------- negotiatetimeout
    ("gl-negotiatetimeout-valid", "", g("negotiatetimeout=30")),
    ("gl-negotiatetimeout-0", "zero rejected", g("negotiatetimeout=0")),
    ("gl-negotiatetimeout-00", "'00' rejected (> 0 test)", g("negotiatetimeout=00")),
    ("gl-negotiatetimeout-junk", "trailing junk tolerated", g("negotiatetimeout=10 seconds")),
    ("gl-negotiatetimeout-empty", "", g("negotiatetimeout=")),
    # ---------------------------------------------------------------- checkinterval
    ("gl-checkinterval-valid", "", g("checkinterval=2")),
    ("gl-checkinterval-0", "zero rejected", g("checkinterval=0")),
    (
        "gl-checkinterval-00",
        "'00' is a true string and there is no > 0 test: accepted",
        g("checkinterval=00"),
    ),
    ("gl-checkinterval-leading-junk", "first digit run: abc5", g("checkinterval = abc5")),
    ("gl-checkinterval-empty", "", g("checkinterval=")),
    # ---------------------------------------------------------------- checkcount / failurecount
    ("gl-checkcount-valid", "accepted with the deprecation warning", g("checkcount=3")),
    ("gl-checkcount-0", "zero: error, no warning", g("checkcount=0")),
    ("gl-checkcount-00", "'00' accepted (plus warning)", g("checkcount=00")),
    ("gl-checkcount-twice", "one warning per use", g("checkcount=3", "checkcount=4")),
    ("gl-failurecount-valid", "", g("failurecount=3")),
    ("gl-failurecount-0", "", g("failurecount=0")),
    ("gl-failurecount-00", "'00' accepted", g("failurecount=00")),
    ("gl-failurecount-junk", "", g("failurecount=x3y")),
    ("gl-failurecount-empty", "", g("failurecount=")),
    # ---------------------------------------------------------------- deprecated
    (
        "gl-timeout-with-junk",
        "timeout is always an error, whatever the value",
        g("timeout = nonsense"),
    ),
    ("gl-connecttimeout-empty", "connecttimeout is always an error", g("connecttimeout=")),
    ("gl-timeout-uppercase", "Timeout= is just unknown", g("Timeout=3")),
    # ---------------------------------------------------------------- yes/no globals
    ("gl-autoreload-yes", "", g("autoreload=yes")),
    ("gl-autoreload-no", "", g("autoreload = no")),
    ("gl-autoreload-uppercase", "exact match only", g("autoreload=YES")),
    ("gl-autoreload-quoted", "quotes are part of the value", g('autoreload="yes"')),
    ("gl-autoreload-empty", "", g("autoreload=")),
    ("gl-fork-yes", "", g("fork=yes")),
    ("gl-fork-bogus", "", g("fork=sometimes")),
    ("gl-fork-trailing-comment", "", g("fork=no # single process")),
    ("gl-quiescent-no", "", g("quiescent=no")),
    ("gl-quiescent-1", "", g("quiescent=1")),
    ("gl-readdquiescent-yes", "", g("readdquiescent=yes")),
    ("gl-readdquiescent-bogus", "", g("readdquiescent=true")),
    ("gl-cleanstop-no", "", g("cleanstop=no")),
    ("gl-cleanstop-bogus", "", g("cleanstop=off")),
    ("gl-cleanstop-crlf", "CR is part of an exact-match value", g("cleanstop=no\r")),
    # ---------------------------------------------------------------- supervised
    ("gl-supervised-yes", "logs go to stdout with a timestamp", g("supervised=yes")),
    ("gl-supervised-no", "", g("supervised = no")),
    ("gl-supervised-bogus", "", g("supervised=maybe")),
    (
        "gl-supervised-bare-trailing-space",
        "bare with trailing blanks is still bare",
        g("supervised  "),
    ),
    ("gl-supervised-junk", "supervised followed by a word: error", g("supervised junk")),
    (
        "gl-supervised-prefix",
        "any line starting with 'supervised' is that directive",
        g("supervisedx=yes"),
    ),
    (
        "gl-supervised-then-bad-logfile",
        "with supervised=yes the logfile is not test-opened",
        g("supervised=yes", 'logfile="/proc/ldpy-nonexistent/x.log"'),
    ),
    # ---------------------------------------------------------------- logfile
    ("gl-logfile-spaces", "spaces around = (first line)", 'logfile = "TMPDIR/ld.log"\n' + VB),
    (
        "gl-logfile-crlf",
        "CR after the closing quote is ignored",
        'logfile="TMPDIR/ld.log"\r\n' + VB,
    ),
    (
        "gl-logfile-unwritable",
        "the file is test-opened at parse time",
        g('logfile="/proc/ldpy-nonexistent/x.log"'),
    ),
    ("gl-logfile-directory", "a directory cannot be opened for append", g('logfile="TMPDIR"')),
    ("gl-logfile-facility", "no leading slash: a syslog facility", g('logfile="local0"')),
    ("gl-logfile-empty", "empty quotes: a syslog facility named ''", g('logfile=""')),
    ("gl-logfile-single-quotes", "only double quotes count", g("logfile='TMPDIR/x.log'")),
    (
        "gl-logfile-trailing-junk",
        "text after the closing quote is ignored",
        g('logfile="TMPDIR/ld2.log" # second'),
    ),
    # ---------------------------------------------------------------- callback / execute
    ("gl-callback-quoted", "", g('callback="/bin/true"')),
    ("gl-callback-unquoted", "quotes are required", g("callback=/bin/true")),
    ("gl-callback-empty-quotes", "", g('callback=""')),
    (
        "gl-callback-nonexistent",
        "not checked at parse time",
        g('callback="/nonexistent/ldpy-callback"'),
    ),
    ("gl-execute", "another config, not checked at parse time", g("execute=other.cf")),
    ("gl-execute-empty", "", g("execute=")),
    ("gl-execute-quoted", "quotes kept", g('execute="other.cf" --x')),
    # ---------------------------------------------------------------- fallbackcommand
    ("gl-fallbackcommand", "", g("fallbackcommand=/usr/local/bin/route-ctl")),
    (
        "gl-fallbackcommand-quoted-hash",
        "quotes and # are kept in a global value",
        g('fallbackcommand="/bin/echo" # x'),
    ),
    ("gl-fallbackcommand-empty", "", g("fallbackcommand=")),
    # ---------------------------------------------------------------- fallback (global)
    ("gl-fallback-ip-port", "", g("fallback=127.0.0.1:80")),
    (
        "gl-fallback-quoted",
        "a closing quote hides the port, the host keeps its quote",
        g('fallback="127.0.0.1:80"'),
    ),
    ("gl-fallback-no-port", "anonymous: takes each virtual's port", g("fallback=127.0.0.1")),
    ("gl-fallback-masq", "", g("fallback=127.0.0.1:80 masq")),
    ("gl-fallback-bad-forward", "", g("fallback=127.0.0.1:80 nat")),
    (
        "gl-fallback-extra-word",
        "'gate junk': the last word is taken as the forward method",
        g("fallback=127.0.0.1:80 gate junk"),
    ),
    (
        "gl-fallback-hostname-service",
        "a global fallback is resolved for tcp and udp: localhost:http fails on http/udp",
        g("fallback=localhost:http"),
    ),
    ("gl-fallback-unresolvable", "", g("fallback=no-such-host.invalid:80")),
    (
        "gl-fallback-bad-service",
        "unknown service name (tcp and udp lookups)",
        g("fallback=127.0.0.1:ldpy-no-such-service"),
    ),
    ("gl-fallback-port-too-big", "", g("fallback=127.0.0.1:65536")),
    (
        "gl-fallback-http-udp",
        "global fallbacks are resolved for tcp AND udp: http/udp does not exist",
        g("fallback=127.0.0.1:http"),
    ),
    ("gl-fallback-domain", "domain exists for tcp and udp", g("fallback=127.0.0.1:domain")),
    ("gl-fallback-empty", "", g("fallback=")),
    (
        "gl-fallback-port-only",
        "an empty host resolves (getaddrinfo of an empty name: loopback)",
        g("fallback=:80"),
    ),
    ("gl-fallback6-empty", "an empty host resolves to ::1", g("fallback6=")),
    ("gl-fallback-v6-in-fallback", "an IPv6 address in fallback=", g("fallback=[::1]:80")),
    ("gl-fallback6", "", g("fallback6=[::1]:80")),
    ("gl-fallback6-masq-doc", "", g("fallback6=[2001:db8::11]:80 masq")),
    ("gl-fallback6-v4-address", "", g("fallback6=127.0.0.1:80")),
    ("gl-fallback6-no-brackets", "'::1' splits as host ':' port '1'", g("fallback6=::1")),
    ("gl-fallback6-no-port", "", g("fallback6=[::1]")),
    ("gl-fallback6-hostname", "", g("fallback6=backend6-a:80")),
    (
        "gl-fallback-with-fwmark",
        "a global fallback with a fwmark virtual parses",
        LOG + "fallback=127.0.0.1:80\nvirtual=7\n\treal=127.0.0.11 gate\n",
    ),
    # ---------------------------------------------------------------- emailalert*
    ("gl-emailalert", "", g("emailalert=ops@example.com")),
    ("gl-emailalert-quoted", "", g('emailalert="ops@example.com, dev@example.com"')),
    ("gl-emailalert-empty", "", g("emailalert=")),
    ("gl-emailalert-empty-quotes", "quotes stripped, then empty", g('emailalert=""')),
    ("gl-emailalertfreq", "", g("emailalertfreq=60")),
    ("gl-emailalertfreq-0", "zero allowed", g("emailalertfreq=0")),
    ("gl-emailalertfreq-junk-after", "digits then junk", g("emailalertfreq=10min")),
    ("gl-emailalertfreq-junk-before", "digits must come right after =", g("emailalertfreq=x10")),
    ("gl-emailalertfreq-empty", "", g("emailalertfreq=")),
    ("gl-emailalertstatus-all", "", g("emailalertstatus=all")),
    ("gl-emailalertstatus-none", "", g("emailalertstatus=none")),
    (
        "gl-emailalertstatus-list",
        "spaces around commas",
        g("emailalertstatus=starting , running,stopping"),
    ),
    ("gl-emailalertstatus-all-none", "all then none", g("emailalertstatus=all,none")),
    ("gl-emailalertstatus-reloading-none", "", g("emailalertstatus=reloading,none")),
    ("gl-emailalertstatus-none-none", "", g("emailalertstatus=none,none")),
    ("gl-emailalertstatus-bogus", "", g("emailalertstatus=starting,bogus")),
    (
        "gl-emailalertstatus-trailing-space",
        "the split keeps a trailing blank",
        g("emailalertstatus=all "),
    ),
    ("gl-emailalertstatus-empty", "empty list", g("emailalertstatus=")),
    ("gl-emailalertstatus-uppercase", "", g("emailalertstatus=ALL")),
    ("gl-emailalertfrom", "", g("emailalertfrom=ldirectord@example.com")),
    ("gl-emailalertfrom-empty", "", g("emailalertfrom=")),
    # ---------------------------------------------------------------- smtp / maintenancedir
    ("gl-smtp-ip", "", g("smtp=127.0.0.1")),
    ("gl-smtp-quoted", "the host must start right after =", g('smtp="mail.example.com"')),
    ("gl-quiescent-quoted", "quotes are part of an exact-match value", g('quiescent="yes"')),
    ("gl-emailalertfreq-quoted", "the digits must follow = directly", g('emailalertfreq="60"')),
    (
        "gl-maintenancedir-quoted",
        "the quotes are part of the path: warning",
        g('maintenancedir="TMPDIR"'),
    ),
    ("gl-emailalertfrom-quoted", "kept with its quotes", g('emailalertfrom="ld@example.com"')),
    ("gl-smtp-name-port", "the host part up to ':' is taken", g("smtp=mail.example.com:25")),
    ("gl-smtp-empty", "", g("smtp=")),
    ("gl-smtp-bad-start", "", g("smtp=@mail")),
    ("gl-maintenancedir-exists", "", g("maintenancedir=TMPDIR")),
    (
        "gl-maintenancedir-dot",
        "a relative directory (tested against the cwd)",
        g("maintenancedir=."),
    ),
    ("gl-maintenancedir-empty", "", g("maintenancedir=")),
    (
        "gl-maintenancedir-file",
        "a file is not a directory: warning",
        g('logfile="TMPDIR/ld.log"', "maintenancedir=TMPDIR/ld.log"),
    ),
    (
        "gl-maintenancedir-trailing-space",
        "the blank is part of the path: warning",
        g("maintenancedir=TMPDIR "),
    ),
    # ---------------------------------------------------------------- unknown / case
    ("gl-unknown-word", "a bare word", g("nonsense")),
    ("gl-only-equals", "", g("=5")),
    ("gl-unknown-service", "per-virtual directive at column 0", g("service=http")),
    ("gl-unknown-real", "real= outside a block", LOG + "real=127.0.0.11:80 gate\n"),
    ("gl-uppercase-virtual", "Virtual= is unknown", LOG + "Virtual=127.0.0.100:8080\n" + REAL),
    ("gl-uppercase-checktimeout", "", g("CHECKTIMEOUT=5")),
    ("gl-no-equals", "no separator", g("checktimeout 5")),
    ("gl-indented-tab", "a tab-indented global line", g("\tchecktimeout=5")),
    (
        "gl-indented-comment-after-value",
        "indented text with a # later is not a comment",
        g("  checktimeout=5 # x"),
    ),
    ("gl-readdquiescent-spaces", "separator is \\s*=\\s*", g("readdquiescent   =   yes")),
    # ---------------------------------------------------------------- warnings + errors
    (
        "warn-then-error",
        "a warning printed before a later error",
        g("checkcount=2", "quiescent=maybe"),
    ),
    (
        "warn-three-kinds",
        "checkcount, bare supervised, checkinterval-in-virtual warnings",
        LOG + "checkcount=2\nsupervised\n" + VB + "\tcheckinterval=4\n",
    ),
    ("warn-maintenancedir-then-error", "", g("maintenancedir=/nonexistent-ldpy", "fork=perhaps")),
    # ---------------------------------------------------------------- virtual line forms
    ("vl-hostname", "hostname resolved in IPv4", LOG + "virtual=vip:80\n" + REAL),
    ("vl-service-name", "port by service name", LOG + "virtual=127.0.0.100:http\n" + REAL),
    (
        "vl-service-domain-udp",
        ":domain makes the virtual udp",
        LOG + "virtual=127.0.0.100:domain\n\treal=127.0.0.11:53 gate\n",
    ),
    (
        "vl-port-53-udp",
        ":53 makes the virtual udp",
        LOG + "virtual=127.0.0.100:53\n\treal=127.0.0.11:53 gate\n",
    ),
    (
        "vl-port-053",
        "053 is not 53 (tcp, service none)",
        LOG + "virtual=127.0.0.100:053\n\treal=127.0.0.11:53 gate\n",
    ),
    (
        "vl-http-protocol-udp",
        "protocol=udp makes the service lookup http/udp (absent)",
        LOG + "virtual=127.0.0.100:http\n" + REAL + "\tprotocol=udp\n",
    ),
    (
        "vl-domain-protocol-tcp",
        "domain/tcp exists",
        LOG + "virtual=127.0.0.100:domain\n" + REAL + "\tprotocol=tcp\n",
    ),
    ("vl-unknown-service", "", LOG + "virtual=127.0.0.100:ldpy-nosvc\n" + REAL),
    ("vl-port-65536", "port out of range", LOG + "virtual=127.0.0.100:65536\n" + REAL),
    ("vl-port-0", "port 0", LOG + "virtual=127.0.0.100:0\n" + REAL),
    ("vl-unresolvable-host", "", LOG + "virtual=no-such-host.invalid:80\n" + REAL),
    (
        "vl-v6-only-name",
        "a name with only an IPv6 address, in virtual=",
        LOG + "virtual=backend6-a:80\n" + REAL,
    ),
    (
        "vl-decimal-address",
        "an all-digit host with a port is a hostname (inet_aton), not a fwmark",
        LOG + "virtual=2130706532:80\n" + REAL,
    ),
    ("vl-short-address", "127.1 is 127.0.0.1 to getaddrinfo", LOG + "virtual=127.1:80\n" + REAL),
    (
        "vl-no-port",
        "1.2.3.4 without a port is fwmark 1 (leading digit run)",
        LOG + "virtual=192.0.2.4\n\treal=127.0.0.11 gate\n",
    ),
    ("vl-fwmark-0", "fwmark 0", LOG + "virtual=0\n\treal=127.0.0.11 gate\n"),
    ("vl-fwmark-leading-zero", "fwmark 007", LOG + "virtual=007\n\treal=127.0.0.11 gate\n"),
    ("vl-fwmark-trailing-junk", "fwmark 12abc", LOG + "virtual=12abc\n\treal=127.0.0.11 gate\n"),
    ("vl-fwmark-protocol-udp", "", LOG + "virtual=9\n\treal=127.0.0.11 gate\n\tprotocol=udp\n"),
    ("vl-fwmark-real-with-port", "", LOG + "virtual=9\n\treal=127.0.0.11:80 gate\n"),
    ("vl-garbage", "", LOG + "virtual=!!!\n" + REAL),
    ("vl-empty", "", LOG + "virtual=\n" + REAL),
    ("vl-spaces-around-equals", "", LOG + "virtual = 127.0.0.100:8080\n" + REAL),
    ("vl-space-before-port", "", LOG + "virtual=127.0.0.100 :8080\n" + REAL),
    (
        "vl-indented",
        "an indented virtual line is a global with leading blanks",
        LOG + "  virtual=127.0.0.100:8080\n" + REAL,
    ),
    ("vl-virtualx", "virtualx= is unknown", LOG + "virtualx=127.0.0.100:8080\n" + REAL),
    (
        "vl-v6-in-virtual-no-brackets",
        "an IPv6 address without brackets in virtual=",
        LOG + "virtual=2001:db8::1:80\n" + REAL,
    ),
    ("vl-v6-in-virtual-loopback", "::1:80 in virtual=", LOG + "virtual=::1:80\n" + REAL),
    (
        "vl-v6-hostname-in-virtual-brackets",
        "[name]:port in virtual=",
        LOG + "virtual=[localhost]:80\n" + REAL,
    ),
    (
        "vl-v4-in-virtual6",
        "an IPv4 address in virtual6=",
        LOG + "virtual6=127.0.0.1:80\n\treal6=[::1]:80 gate\n",
    ),
    ("v6-basic", "virtual6 with a documentation address", v6()),
    ("v6-service-name", "", v6(head="virtual6=[2001:db8::100]:http")),
    ("v6-hostname", "a name resolved in IPv6", v6(head="virtual6=vip6:80")),
    ("v6-localhost", "localhost has ::1 in IPv6", v6(head="virtual6=localhost:80")),
    ("v6-v4-only-name", "", v6(head="virtual6=backend-a:80")),
    ("v6-uppercase-hex", "", v6(head="virtual6=[2001:DB8::100]:80")),
    (
        "v6-invalid-address",
        "matches the pattern, fails inet_pton",
        v6(head="virtual6=[1:2:3:4:5:6:7:8:9]:80"),
    ),
    ("v6-bad-chars", "", v6(head="virtual6=[2001:db8::zz]:80")),
    ("v6-mapped-v4", "dots are not in the IPv6 pattern", v6(head="virtual6=[::ffff:127.0.0.1]:80")),
    ("v6-no-port", "", v6(head="virtual6=[2001:db8::100]")),
    ("v6-fwmark", "an IPv6 fwmark service", v6(head="virtual6=3")),
    (
        "v6-fwmark-and-v4-fwmark",
        "fwm:3 and fwm6:3 are different services",
        LOG + "virtual=3\n\treal=127.0.0.11 gate\n\nvirtual6=3\n\treal6=[2001:db8::11] gate\n",
    ),
    (
        "v6-real-in-virtual6",
        "real= in a virtual6 block",
        LOG + "virtual6=[2001:db8::100]:80\n\treal=127.0.0.11:80 gate\n",
    ),
    ("v6-real6-v4-address", "", LOG + "virtual6=[::1]:80\n\treal6=127.0.0.1:80 gate\n"),
    ("v6-real6-hostname", "", LOG + "virtual6=[::1]:80\n\treal6=backend6-b:80 gate\n"),
    (
        "v6-real6-dual-name",
        "a name with both families, in real6=",
        LOG + "virtual6=[::1]:80\n\treal6=dual:80 gate\n",
    ),
    ("v6-real6-localhost", "", LOG + "virtual6=[::1]:80\n\treal6=localhost:80 gate\n"),
    ("v6-real6-v4-only-name", "", LOG + "virtual6=[::1]:80\n\treal6=backend-b:80 gate\n"),
    ("v6-real6-no-port", "", LOG + "virtual6=[::1]:80\n\treal6=[::1] gate\n"),
    (
        "v6-real6-bracket-class",
        "the real= bracket class is [0-9A-fa-f:] (A-f spans "
        "A-Z and [\\]^_`), so [::G] is taken whole",
        LOG + "virtual6=[::1]:80\n\treal6=[::G]:80 gate\n",
    ),
    ("v6-protocol-udp", "", v6("protocol=udp")),
    (
        "v6-real6-range",
        "IPv6 ranges are not supported",
        LOG + "virtual6=[::1]:80\n\treal6=[2001:db8::11]->[2001:db8::12]:80 gate\n",
    ),
    ("v6-netmask-64", "", v6("persistent=300", "netmask=64")),
    ("v6-netmask-0", "", v6("persistent=300", "netmask=0")),
    ("v6-netmask-129", "", v6("persistent=300", "netmask=129")),
    ("v6-netmask-128", "", v6("persistent=300", "netmask=128")),
    ("v6-netmask-dotted", "", v6("persistent=300", "netmask=255.255.255.0")),
    ("v6-netmask-slash", "", v6("netmask=/64")),
    ("v6-fallback6", "", v6("fallback6=[2001:db8::12]:80")),
    ("v6-fallback-in-virtual6", "", v6("fallback=127.0.0.1:80")),
    ("v6-fallback6-unresolvable", "", v6("fallback6=no-such-host.invalid:80")),
    # ---------------------------------------------------------------- duplicates
    (
        "dup-tcp-and-udp",
        "same ip:port, tcp and udp: two services",
        LOG + VB + "virtual=127.0.0.100:8080\n" + REAL + "\tprotocol=udp\n",
    ),
    (
        "dup-hostname-and-ip",
        "vip:8080 and 127.0.0.100:8080 are the same service",
        LOG + VB + "virtual=vip:8080\n" + REAL,
    ),
    (
        "dup-service-name-and-number",
        ":http and :80 are the same service",
        LOG + "virtual=127.0.0.100:http\n" + REAL + "virtual=127.0.0.100:80\n" + REAL,
    ),
    (
        "dup-leading-zero-port",
        "8080 and 08080 are different strings: no duplicate",
        LOG + VB + "virtual=127.0.0.100:08080\n" + REAL,
    ),
    ("dup-fwmark", "fwmark twice", LOG + "virtual=4\n" + REAL + "virtual=4\n" + REAL),
    ("dup-fwmark-leading-zero", "4 and 04", LOG + "virtual=4\n" + REAL + "virtual=04\n" + REAL),
    (
        "dup-udp-53-twice",
        "",
        LOG + "virtual=127.0.0.100:53\n" + REAL + "virtual=127.0.0.100:domain\n" + REAL,
    ),
    (
        "dup-line-number",
        "the duplicate error names the line that ended the second block",
        LOG + VB + "\n# gap\n\nvirtual=127.0.0.100:8080\n" + REAL + "\n\nchecktimeout=5\n",
    ),
    ("dup-v6", "", v6() + "virtual6=[2001:db8:0::100]:80\n\treal6=[2001:db8::11]:80 gate\n"),
    # ---------------------------------------------------------------- block structure
    (
        "blk-tab-indent",
        "one tab is four spaces",
        LOG + "virtual=127.0.0.100:8080\n\treal=127.0.0.11:8080 gate\n",
    ),
    (
        "blk-mixed-indent",
        "space+tab = 5 spaces",
        LOG + "virtual=127.0.0.100:8080\n \treal=127.0.0.11:8080 gate\n",
    ),
    (
        "blk-ws-only-4-spaces",
        "a line of exactly 4 blanks ends the block",
        LOG + "virtual=127.0.0.100:8080\n" + REAL + "    \n\tservice=http\n",
    ),
    (
        "blk-ws-only-5-spaces",
        "a line of 5 blanks is an empty directive",
        LOG + "virtual=127.0.0.100:8080\n" + REAL + "     \n\tservice=http\n",
    ),
    (
        "blk-ws-only-two-tabs",
        "two tabs = 8 blanks",
        LOG + "virtual=127.0.0.100:8080\n" + REAL + "\t\t\n\tservice=http\n",
    ),
    (
        "blk-ws-only-tab",
        "one tab = 4 blanks: ends the block; the next line is a global",
        LOG + "virtual=127.0.0.100:8080\n" + REAL + "\t\n\tservice=http\n",
    ),
    (
        "blk-indented-comment",
        "indented comment does not end the block",
        LOG + "virtual=127.0.0.100:8080\n" + REAL + "  # note\n\tservice=http\n",
    ),
    (
        "blk-comment-last-line",
        "a comment as the last line of the file, inside a block",
        LOG + "virtual=127.0.0.100:8080\n" + REAL + "# end\n",
    ),
    (
        "blk-ended-by-global",
        "a global line ends the block and is parsed",
        LOG + "virtual=127.0.0.100:8080\n" + REAL + "checktimeout=0\n",
    ),
    (
        "blk-virtual-after-virtual",
        "an empty block ended by the next virtual",
        LOG + "virtual=127.0.0.101:8080\nvirtual=127.0.0.100:8080\n" + REAL,
    ),
    (
        "blk-hash-in-value",
        "# cuts a value in a block: virtualhost=a#b",
        v("virtualhost=www.example.com#frag"),
    ),
    (
        "blk-hash-in-checkcommand",
        "# inside quotes leaves an unterminated quote, taken as a bare value",
        v("checktype=external", 'checkcommand="/bin/echo #x"'),
    ),
    ("blk-hash-in-request", "", v('request="/a#b"')),
    (
        "blk-hash-no-space",
        "in a block '#c' is cut even without a blank before it",
        v("quiescent=yes#comment"),
    ),
    (
        "blk-crlf-real-service",
        "CRLF inside a block: real and service tolerate the CR",
        LOG + "virtual=127.0.0.100:8080\r\n\treal=127.0.0.11:8080 gate\r\n\tservice=http\r\n",
    ),
    (
        "blk-crlf-quiescent",
        "CRLF inside a block: exact values fail",
        LOG + "virtual=127.0.0.100:8080\r\n\treal=127.0.0.11:8080 gate\r\n\tquiescent=no\r\n",
    ),
    (
        "blk-crlf-unknown",
        "the unknown line is echoed with its CR",
        LOG + "virtual=127.0.0.100:8080\r\n\treal=127.0.0.11:8080 gate\r\n\tbogus=1\r\n",
    ),
    (
        "blk-virtual-last-line-crlf",
        "virtual as last line, CRLF",
        LOG + "virtual=127.0.0.100:8080\r\n",
    ),
    (
        "blk-virtual-last-line-no-newline",
        "virtual as last line without a newline",
        LOG + "virtual=127.0.0.100:8080",
    ),
    (
        "blk-virtual-last-then-comment",
        "a comment after it avoids the duplicate",
        LOG + "virtual=127.0.0.100:8080\n# end\n",
    ),
    (
        "blk-virtual-only-real",
        "a block whose last line is its only real",
        LOG + "virtual=127.0.0.100:8080\n" + REAL,
    ),
    (
        "blk-nested-virtual",
        "an indented virtual= inside a block",
        LOG + "virtual=127.0.0.100:8080\n" + REAL + "\tvirtual=127.0.0.101:8080\n",
    ),
    ("blk-uppercase-real", "Real= in a block", v("Real=127.0.0.12:8080 gate")),
    ("blk-global-only-directive", "autoreload in a block", v("autoreload=yes")),
    ("blk-logfile-in-virtual", "", v('logfile="TMPDIR/ld.log"')),
    ("blk-emailalertfrom-in-virtual", "", v("emailalertfrom=a@example.com")),
    ("blk-timeout-in-virtual", "timeout is simply unknown in a block", v("timeout=3")),
    ("blk-connecttimeout-in-virtual", "", v("connecttimeout=3")),
    ("blk-no-equals", "", v("service http")),
    # ---------------------------------------------------------------- checktype
    ("ct-connect", "", v("checktype=connect")),
    ("ct-negotiate", "", v("checktype=negotiate")),
    ("ct-ping", "", v("checktype=ping")),
    ("ct-on", "", v("checktype=on")),
    ("ct-off", "", v("checktype=off")),
    ("ct-external", "", v("checktype=external")),
    ("ct-external-perl", "", v("checktype=external-perl")),
    ("ct-zero", "0 is a number >= 0: combined with 0 connects", v("checktype=0")),
    ("ct-negotiate2", "a digit anywhere makes it a number", v("checktype=negotiate2")),
    ("ct-minus-one", "'-1': the digit run is 1", v("checktype=-1")),
    ("ct-uppercase", "", v("checktype=Connect")),
    ("ct-suffix", "", v("checktype=connectx")),
    ("ct-double-equals", "the word is searched for, not anchored", v("checktype==connect")),
    ("ct-leading-junk-word", "the first [\\w-]+ run is taken", v("checktype=!connect")),
    ("ct-two-words", "", v("checktype=ping pong")),
    ("ct-empty", "", v("checktype=")),
    (
        "ct-combined-word",
        "'combined' is the internal name, not a valid value",
        v("checktype=combined"),
    ),
    # ---------------------------------------------------------------- checkcommand
    ("cc-quoted", "", v("checktype=external", 'checkcommand="/bin/true --x"')),
    ("cc-unquoted", "", v("checktype=external", "checkcommand=/bin/true")),
    ("cc-empty-quotes", "", v('checkcommand=""')),
    ("cc-empty", "", v("checkcommand=")),
    # ---------------------------------------------------------------- per-virtual numbers
    ("vn-checktimeout", "", v("checktimeout=3")),
    ("vn-checktimeout-0", "", v("checktimeout=0")),
    ("vn-checktimeout-00", "no > 0 test in a block: '00' accepted", v("checktimeout=00")),
    ("vn-checktimeout-junk", "", v("checktimeout=3s")),
    ("vn-negotiatetimeout-0", "", v("negotiatetimeout=0")),
    ("vn-negotiatetimeout-empty", "", v("negotiatetimeout=")),
    ("vn-checkcount", "warning in a block too", v("checkcount=2")),
    ("vn-checkcount-0", "", v("checkcount=0")),
    ("vn-failurecount", "", v("failurecount=2")),
    ("vn-failurecount-0", "", v("failurecount=0")),
    ("vn-checkinterval-0", "", v("checkinterval=0")),
    (
        "vn-checkinterval-fork-yes",
        "fork=yes before the virtual: no warning",
        LOG + "fork=yes\n" + VB + "\tcheckinterval=3\n",
    ),
    (
        "vn-checkinterval-fork-yes-after",
        "fork=yes after the virtual: still no warning (checked after the whole file)",
        LOG + VB + "\tcheckinterval=3\n\nfork=yes\n",
    ),
    ("vn-checkinterval-fork-no-explicit", "", LOG + "fork=no\n" + VB + "\tcheckinterval=3\n"),
    (
        "vn-checkinterval-fork-yes-then-no",
        "the last fork= wins",
        LOG + "fork=yes\n" + VB + "\tcheckinterval=3\nfork=no\n",
    ),
    (
        "vn-checkinterval-two-virtuals",
        "one warning per virtual, in file order",
        LOG + VB + "\tcheckinterval=3\nvirtual=127.0.0.101:53\n" + REAL + "\tcheckinterval=4\n",
    ),
    (
        "vn-checkinterval-fwmark",
        "the warning names fwm:N",
        LOG + "virtual=12\n\treal=127.0.0.11 gate\n\tcheckinterval=3\n",
    ),
    ("vn-checkinterval-v6", "the warning names tcp:[v6]:port", v6("checkinterval=3")),
    (
        "vn-checkinterval-v6-fwmark",
        "the warning names fwm6:N",
        v6("checkinterval=3", head="virtual6=12"),
    ),
    ("vn-checkport-valid", "", v("checkport=8081")),
    ("vn-checkport-0", "", v("checkport=0")),
    ("vn-checkport-65535", "", v("checkport=65535")),
    ("vn-checkport-65536", "", v("checkport=65536")),
    ("vn-checkport-letters", "", v("checkport=http")),
    ("vn-checkport-junk", "", v("checkport=80x")),
    # ---------------------------------------------------------------- request / receive
    ("rq-request", "", v('request="/index.html"')),
    ("rq-request-no-slash", "a / is prepended", v('request="index.html"')),
    ("rq-request-empty", "", v('request=""')),
    ("rq-request-trailing-junk", "text after the closing quote", v('request="/a" junk')),
    ("rq-receive", "", v('receive="OK"')),
    ("rq-receive-empty", "", v('receive=""')),
    ("rq-receive-unquoted", "", v("receive=OK")),
    ("rq-receive-single-quotes", "", v("receive='OK'")),
    # ---------------------------------------------------------------- credentials / load
    ("cr-login", "", v('login="user"')),
    ("cr-login-empty", "", v('login=""')),
    ("cr-login-unquoted", "", v("login=user")),
    ("cr-passwd", "", v('passwd="s3cret"')),
    ("cr-passwd-empty", "", v('passwd=""')),
    ("cr-database", "", v('database="db"')),
    ("cr-database-empty", "", v('database=""')),
    ("cr-secret", "", v('secret="radius"')),
    ("cr-secret-empty", "", v('secret=""')),
    ("cr-secret-unquoted", "", v("secret=radius")),
    ("ld-load", "", v('load="cpu"')),
    ("ld-load-empty", "", v('load=""')),
    ("ld-load-punctuation", "needs a word character", v('load="!!"')),
    ("ld-load-unquoted", "", v("load=cpu")),
    # ---------------------------------------------------------------- scheduler etc.
    ("sc-rr", "", v("scheduler=rr")),
    ("sc-mixed-case", "first lowercase run of 'Rr' is 'r'", v("scheduler=Rr")),
    ("sc-digits-after", "", v("scheduler=wrr2")),
    ("sc-leading-digit", "", v("scheduler=1lc")),
    ("sc-empty", "", v("scheduler=")),
    ("ps-persistent", "", v("persistent=300")),
    ("ps-persistent-0", "digits only, 0 allowed", v("persistent=0")),
    ("ps-persistent-letters", "", v("persistent=long")),
    ("ps-persistent-empty", "", v("persistent=")),
    ("nm-empty", "", v("persistent=60", "netmask=")),
    ("nm-dotted", "", v("persistent=300", "netmask=255.255.255.0")),
    ("nm-quoted", "", v("persistent=300", 'netmask="255.255.255.0"')),
    (
        "nm-dotted-trailing-space",
        "anchored at the end: the blank fails",
        v("persistent=300", "netmask=255.255.255.0 "),
    ),
    ("nm-without-persistent", "accepted (only emitted with persistent)", v("netmask=255.255.0.0")),
    ("nm-bad-quad", "the dotted-quad test is syntactic only", v("netmask=999.1.1.1")),
    ("sf-schedflags", "", v("schedflags=sh-fallback,sh-port")),
    ("sf-schedflags-empty", "", v("schedflags=")),
    # ---------------------------------------------------------------- protocol / ops
    ("pr-udp", "", v("protocol=udp")),
    ("pr-tcp", "", v("protocol=tcp")),
    ("pr-quoted", "the first word is taken", v('protocol="udp"')),
    ("pr-fwm-on-ip", "", v("protocol=fwm")),
    ("pr-uppercase", "", v("protocol=UDP")),
    ("pr-empty", "", v("protocol=")),
    ("pr-trailing-comment", "", v("protocol=udp # dns")),
    ("pr-punctuation", "no word character", v("protocol=!!")),
    ("ops-yes-udp", "", v("protocol=udp", "ops=yes")),
    ("ops-yes-tcp", "accepted, only emitted for udp", v("ops=yes")),
    ("ops-bogus", "", v("ops=1")),
    # ---------------------------------------------------------------- service / httpmethod
    ("sv-ftp", "", v("service=ftp")),
    ("sv-sip", "", v("service=sip")),
    ("sv-http-proxy", "", v("service=http_proxy")),
    ("sv-simpletcp", "", v("service=simpletcp")),
    ("sv-dns", "", v("service=dns")),
    ("sv-quoted", "the first word is taken", v('service="http"')),
    ("ct-quoted", "", v('checktype="connect"')),
    ("sc-quoted", "", v('scheduler="rr"')),
    ("vm-quiescent-quoted", "", v('quiescent="yes"')),
    ("ops-quoted", "", v("protocol=udp", 'ops="yes"')),
    ("hm-quoted", "", v('httpmethod="HEAD"')),
    ("sv-uppercase", "", v("service=HTTP")),
    ("sv-empty", "", v("service=")),
    ("sv-trailing-comment", "", v("service=ldap # directory")),
    ("hm-head-lower", "case-insensitive", v("httpmethod=head")),
    ("hm-get-mixed", "", v("httpmethod=Get")),
    ("hm-post", "", v("httpmethod=POST")),
    ("hm-empty", "", v("httpmethod=")),
    ("vh-unquoted", "", v("virtualhost=www.example.com")),
    ("vh-quoted", "", v('virtualhost="www.example.com"')),
    ("vh-empty", "", v("virtualhost=")),
    ("vh-unterminated-quote", "", v('virtualhost="www.example.com')),
    # ---------------------------------------------------------------- per-virtual fallback
    ("vf-fallback", "", v("fallback=127.0.0.1:80")),
    ("vf-fallback-no-port", "takes the virtual's port", v("fallback=127.0.0.1")),
    ("vf-fallback-masq", "", v("fallback=127.0.0.1:80 masq")),
    ("vf-fallback-empty", "an empty host resolves (loopback)", v("fallback=")),
    ("vf-fallback-port-only-masq", "", v("fallback=:8081 masq")),
    ("vf-fallback-bad-forward", "", v("fallback=127.0.0.1:80 tun")),
    ("vf-fallback-unresolvable", "", v("fallback=no-such-host.invalid")),
    (
        "vf-fallback-service-udp",
        "per-virtual: looked up with the virtual's protocol",
        v("protocol=udp", "fallback=127.0.0.1:http"),
    ),
    ("vf-fallback-service-tcp", "", v("fallback=127.0.0.1:http")),
    ("vf-fallback6-in-virtual", "", v("fallback6=[::1]:80")),
    (
        "vf-fallback-line-of-error",
        "a bad port is reported on the fallback line, after the block",
        v("fallback=127.0.0.1:ldpy-nosvc", "service=http"),
    ),
    (
        "ord-fallback-first",
        "resolution order after a block: fallback, virtual, reals",
        LOG + "virtual=no-such-host.invalid:80\n\treal=127.0.0.11:80 nat\n"
        "\tfallback=no-such-host.invalid:80\n",
    ),
    (
        "ord-virtual-before-real",
        "",
        LOG + "virtual=no-such-host.invalid:80\n\treal=127.0.0.11:80 nat\n",
    ),
    (
        "ord-real-before-duplicate",
        "",
        LOG + VB + "virtual=127.0.0.100:8080\n\treal=127.0.0.11:80 nat\n",
    ),
    ("vf-fallback-fwmark", "", LOG + "virtual=8\n\treal=127.0.0.11 gate\n\tfallback=127.0.0.1\n"),
    ("vf-fallbackcommand-quoted", "", v('fallbackcommand="/bin/echo x"')),
    ("vf-fallbackcommand-bare", "", v("fallbackcommand=/bin/echo x")),
    ("vf-fallbackcommand-empty", "", v("fallbackcommand=")),
    ("vf-fallbackcommand-empty-quotes", "", v('fallbackcommand=""')),
    # ---------------------------------------------------------------- per-virtual misc
    ("vm-quiescent-yes", "", v("quiescent=yes")),
    ("vm-quiescent-bogus", "", v("quiescent=on")),
    ("vm-quiescent-capitalised", "", v("quiescent=Yes")),
    ("vm-ops-uppercase", "", v("protocol=udp", "ops=YES")),
    ("vm-cleanstop-no", "", v("cleanstop=no")),
    ("vm-cleanstop-bogus", "", v("cleanstop=0")),
    ("vm-emailalert", "", v("emailalert=ops@example.com")),
    ("vm-emailalert-empty", "", v("emailalert=")),
    ("vm-emailalertfreq", "", v("emailalertfreq=300")),
    ("vm-emailalertfreq-bogus", "", v("emailalertfreq=often")),
    ("vm-emailalertstatus", "", v("emailalertstatus=starting,stopping")),
    ("vm-emailalertstatus-none-running", "", v("emailalertstatus=none, running")),
    ("vm-emailalertstatus-bogus", "", v("emailalertstatus=never")),
    ("vm-smtp", "", v("smtp=127.0.0.1")),
    ("vm-smtp-bad", "", v("smtp=")),
    ("vm-servicename-comment", "free text", v("servicename=Web Front", "comment=primary site")),
    ("vm-servicename-empty", "", v("servicename=")),
    ("mf-writable", "", v("monitorfile=TMPDIR/monitor.log")),
    ("mf-quoted", "", v('monitorfile="TMPDIR/monitor.log"')),
    ("mf-unwritable", "", v("monitorfile=/proc/ldpy-nonexistent/y")),
    ("mf-directory", "", v("monitorfile=TMPDIR")),
    ("mf-empty", "", v("monitorfile=")),
    (
        "md-in-virtual-missing",
        "maintenancedir is global only, whatever the value",
        v("maintenancedir=/nonexistent-ldpy"),
    ),
    # ---------------------------------------------------------------- real= grammar
    ("rl-masq", "", r("127.0.0.11:8080 masq")),
    ("rl-ipip", "", r("127.0.0.11:8080 ipip")),
    ("rl-weight", "", r("127.0.0.11:8080 gate 5")),
    ("rl-weight-0", "", r("127.0.0.11:8080 gate 0")),
    ("rl-weight-00", "", r("127.0.0.11:8080 gate 00")),
    ("rl-weight-negative", "", r("127.0.0.11:8080 gate -1")),
    ("rl-weight-attached", "gate5 is one word", r("127.0.0.11:8080 gate5")),
    ("rl-weight-comma", "", r("127.0.0.11:8080 gate,5")),
    ("rl-forward-uppercase", "", r("127.0.0.11:8080 GATE")),
    ("rl-no-port", "port 0", r("127.0.0.11 gate")),
    ("rl-port-by-name", "", r("127.0.0.11:http gate")),
    ("rl-port-alias", "www is an alias of http", r("127.0.0.11:www gate")),
    ("rl-port-unknown-name", "", r("127.0.0.11:ldpy-nosvc gate")),
    ("rl-port-65536", "", r("127.0.0.11:65536 gate")),
    ("rl-port-0", "", r("127.0.0.11:0 gate")),
    ("rl-hostname", "", r("backend-a:8080 gate")),
    ("rl-hostname-uppercase", "the hosts file is case-insensitive", r("BACKEND-A:8080 gate")),
    ("rl-localhost", "", r("localhost:8080 masq")),
    ("rl-dual-name", "a name with both families, in real=", r("dual:8080 gate")),
    ("rl-short-address", "127.1 via getaddrinfo", r("127.1:8080 gate")),
    ("rl-hex-address", "0x7f00000b via inet_aton", r("0x7f00000b:8080 gate")),
    (
        "rl-leading-junk",
        "the address pattern is searched, not anchored",
        r("@@127.0.0.11:8080 gate"),
    ),
    ("rl-v6-in-real", "", r("[::1]:8080 gate")),
    ("rl-unresolvable-v6-only-name", "", r("backend6-a:8080 gate")),
    ("rl-bad-quad", "256.1.1.1 is no address, and no name", r("256.1.1.1:8080 gate")),
    ("rl-trailing-space", "a blank after host:port but no method", r("127.0.0.11:8080 ")),
    ("rl-trailing-comment-only", "'# c' removed, leaving a blank", r("127.0.0.11:8080 # c")),
    ("rl-empty", "", r("")),
    (
        "rl-spaces-around-equals",
        "",
        LOG + "virtual=127.0.0.100:8080\n\treal = 127.0.0.11:8080 gate\n",
    ),
    ("rl-two-spaces-before-method", "", r("127.0.0.11:8080   gate   2")),
    ("rl-req-rcv-comma", "", r('127.0.0.11:8080 gate "/a.html", "ok"')),
    ("rl-req-rcv-space", "", r('127.0.0.11:8080 gate 2 "/a.html" "ok"')),
    ("rl-req-rcv-comma-no-space", "", r('127.0.0.11:8080 gate 2 "/a.html","ok"')),
    ("rl-req-rcv-no-slash", "", r('127.0.0.11:8080 gate 2 "a.html", "ok"')),
    ("rl-req-only", "one string: leftover", r('127.0.0.11:8080 gate 2 "/a.html"')),
    (
        "rl-req-rcv-digits-inside",
        "a number inside the quotes is taken as the weight",
        r('127.0.0.11:8080 gate "/a 5", "b"'),
    ),
    ("rl-req-rcv-empty-strings", "", r('127.0.0.11:8080 gate 1 "", ""')),
    ("rl-req-rcv-thresholds", "", r('127.0.0.11:8080 gate 1 "/a", "b" l:2 u:20')),
    ("rl-lower-only", "", r("127.0.0.11:8080 gate l:5")),
    ("rl-upper-only", "", r("127.0.0.11:8080 gate 2 u:50")),
    (
        "rl-upper-then-lower",
        "u: before l: (without weight): accepted, the u: value is lost",
        r("127.0.0.11:8080 gate u:10 l:5"),
    ),
    ("rl-lower-letters", "", r("127.0.0.11:8080 gate 2 l:x")),
    ("rl-upper-twice", "", r("127.0.0.11:8080 gate 2 u:5 u:6")),
    ("rl-weight-after-threshold", "", r("127.0.0.11:8080 gate l:5 3")),
    ("rl-two-weights", "", r("127.0.0.11:8080 gate 5 6")),
    ("rl-lower-twice", "", r("127.0.0.11:8080 gate l:5 l:6")),
    ("rl-tab-separator", "tabs become blanks in a block", r("127.0.0.11:8080\tgate\t2")),
    (
        "rl-req-rcv-three-strings",
        "greedy: the request swallows the middle string",
        r('127.0.0.11:8080 gate 1 "/a", "b", "c"'),
    ),
    ("rl-weight-comment", "", r("127.0.0.11:8080 gate 5 # five")),
    ("rg-hostnames", "a range given by names", r("backend-a->backend-c:8080 gate")),
    ("rg-single", "A->A", r("127.0.0.11->127.0.0.11:8080 gate")),
    ("rg-9-to-11", "127.0.0.9->127.0.0.11", r("127.0.0.9->127.0.0.11:8080 gate")),
    ("rg-98-to-101", "127.0.0.98->127.0.0.101", r("127.0.0.98->127.0.0.101:8080 gate")),
    (
        "rg-decimal-digit-crossing",
        "999999998..1000000001 as integers: the string compare "
        "stops the loop at once (never contacted; the value needs these digits)",
        r("59.154.201.254->59.154.202.1:8080 gate"),
    ),
    ("rg-reversed-last-octet", "", r("127.0.0.101->127.0.0.98:8080 gate")),
    ("rg-end-unresolvable", "", r("127.0.0.11->no-such-host.invalid:8080 gate")),
    ("rg-no-port", "", r("127.0.0.11->127.0.0.12 gate")),
    ("rg-bad-forward", "", r("127.0.0.11->127.0.0.12:8080 nat")),
    (
        "rg-short-address",
        "range end given as 127.1: resolved to 127.0.0.1 before the range test, so accepted",
        r("127.0.0.0->127.1:8080 gate"),
    ),
    (
        "rg-port-on-both-ends",
        "'A:80->B:80': the unanchored search settles on '80->B:80 gate', a range from "
        "0.0.0.80 (inet_aton) to B, which the decimal-string compare leaves empty",
        r("127.0.0.11:80->127.0.0.12:80 gate"),
    ),
    (
        "rg-three-ends",
        "A->B->C: the search settles on B->C",
        r("127.0.0.11->127.0.0.12->127.0.0.13:80 gate"),
    ),
    (
        "rl-multiple-reals",
        "",
        LOG
        + "virtual=127.0.0.100:8080\n"
        + REAL
        + "\treal=127.0.0.12:8080 gate 2\n\treal=127.0.0.13:8080 masq 0\n",
    ),
    ("rl-duplicate-real", "the same real twice", LOG + "virtual=127.0.0.100:8080\n" + REAL + REAL),
    (
        "rl-error-line",
        "reals are resolved after the block: the error names the real's line",
        LOG + "virtual=127.0.0.100:8080\n\treal=127.0.0.11:8080 nat\n\tservice=http\n"
        "\tquiescent=bogus\n",
    ),
    # ---------------------------------------------------------------- garbage
    ("gb-nul-in-global", "a NUL inside a global value", g("quiescent=yes\x00")),
    ("gb-nul-line", "a line of NULs", g("\x00\x00\x00")),
    ("gb-binary-global", "high bytes and control characters", g("\xff\xfe\x01garbage\x7f")),
    ("gb-binary-in-block", "", v("\x1b[31mred\x1b[0m")),
    ("gb-utf8-unknown", "UTF-8 text in an unknown directive", g("s\xc3\xa9rvice=http")),
    (
        "gb-utf8-bom",
        "a UTF-8 byte order mark makes line 1 unknown (no logfile: the "
        "default log is a private tmpfs while recording)",
        "\xef\xbb\xbf" + LOG + VB,
    ),
    ("gb-long-unknown-global", "a 5000-byte unknown line", g("x" * 5000)),
    ("gb-long-valid-global", "a 70000-byte value", g("emailalertfrom=" + "a" * 70000)),
    ("gb-long-in-block", "", v("comment=" + "y" * 100000)),
    (
        "gb-long-real-line",
        "many blanks between real fields",
        r("127.0.0.11:8080" + " " * 20000 + "gate"),
    ),
    (
        "gb-cr-only-lines",
        "old-Mac CR line ends: one long line",
        'logfile="TMPDIR/ld.log"\rcheckinterval=5\rvirtual=127.0.0.100:8080\r',
    ),
    (
        "gb-form-feed-indent",
        "a form feed is blank to \\s but is no indentation",
        LOG + "virtual=127.0.0.100:8080\n\x0c    real=127.0.0.11:8080 gate\n",
    ),
]
