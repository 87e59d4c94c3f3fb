"""dns: ask the real for `request` and match `receive` against the answers.

What is sent: one recursive query for `request` without its leading `/`: an A
query for a name, or a PTR query (in-addr.arpa / ip6.arpa) when the request is an
IP address, as Net::DNS does. Over UDP (falling back to TCP when the answer is
truncated), or over TCP when the virtual's protocol is tcp. The name is queried
as written (absolute): the resolver's search list is not applied.

Up: an A record's address or a PTR record's name (without the final dot) in the
answer section matches `receive`, within negotiatetimeout. An empty receive is
always down, as in the original.
"""

from __future__ import annotations

import ipaddress
from types import MappingProxyType
from typing import TYPE_CHECKING

import dns.asyncquery
import dns.exception
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rdtypes.ANY.PTR
import dns.rdtypes.IN.A
import dns.reversename

from ldirectord_py.checks import regex
from ldirectord_py.checks.deadline import backstop
from ldirectord_py.checks.descriptor import CheckDescriptor, negotiatetimeout
from ldirectord_py.checks.result import CheckFailed, FailureKind

if TYPE_CHECKING:
    from ldirectord_py.checks.runtime import CheckRuntime
    from ldirectord_py.checks.spec import CheckSpec


def question(request: str) -> tuple[dns.name.Name, dns.rdatatype.RdataType]:
    text = request[1:] if request.startswith("/") else request
    try:
        ipaddress.ip_address(text)
    except ValueError:
        try:
            return dns.name.from_text(text), dns.rdatatype.A
        except dns.exception.DNSException as e:
            raise CheckFailed(f"bad request name {text!r}", FailureKind.MALFORMED) from e
    return dns.reversename.from_address(text), dns.rdatatype.PTR


async def check(spec: CheckSpec, runtime: CheckRuntime) -> str:
    if spec.checkport is None or spec.checkport <= 0:
        raise CheckFailed("no check port", FailureKind.OTHER)
    if spec.receive == "":
        raise CheckFailed("empty receive is always down", FailureKind.OTHER)
    name, rdtype = question(spec.request)
    query = dns.message.make_query(name, rdtype)
    timeout = backstop(spec.negotiatetimeout)  # run_check's deadline comes first
    try:
        if spec.protocol == "tcp":
            response = await dns.asyncquery.tcp(query, spec.address, timeout, spec.checkport)
        else:
            response, _tcp = await dns.asyncquery.udp_with_fallback(
                query, spec.address, timeout, spec.checkport
            )
    except dns.exception.Timeout as e:
        raise CheckFailed("no answer", FailureKind.NO_ANSWER) from e
    except dns.exception.DNSException as e:
        raise CheckFailed(f"bad reply: {e}", FailureKind.MALFORMED) from e
    if response.rcode() != dns.rcode.NOERROR:
        raise CheckFailed(dns.rcode.to_text(response.rcode()), FailureKind.DNS_RCODE)
    try:
        pattern = regex.compile_receive(spec.receive)
    except regex.BadPattern as e:
        raise CheckFailed(f"bad receive regex: {e}", FailureKind.MALFORMED) from e
    answers = 0
    for rrset in response.answer:
        for rdata in rrset:
            if isinstance(rdata, dns.rdtypes.IN.A.A):
                text = rdata.address
            elif isinstance(rdata, dns.rdtypes.ANY.PTR.PTR):
                text = rdata.target.to_text(omit_final_dot=True)
            else:
                continue
            answers += 1
            if await regex.matches(pattern, text):
                return f"answer {text} matched"
    if answers == 0:
        raise CheckFailed("no answer", FailureKind.NO_ANSWER)
    raise CheckFailed("receive did not match", FailureKind.RECEIVE_MISMATCH)


DESCRIPTOR: CheckDescriptor = CheckDescriptor(
    name="dns",
    check=check,
    deadline=negotiatetimeout,
    fd_cost=1,
    slotted=False,
    services=("dns",),
    default_ports=MappingProxyType({"dns": 53}),
)
