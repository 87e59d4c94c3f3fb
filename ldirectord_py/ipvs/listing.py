"""`ipvsadm -L` for the running kernel: read it, then list it (ldirectordctl list)."""

from __future__ import annotations

import json

from ldirectord_py.ipvs.connections import PROC_IP_VS_CONN, read_connections
from ldirectord_py.ipvs.format import ListingOptions, listing_as_dict, render_listing
from ldirectord_py.ipvs.model import Table
from ldirectord_py.ipvs.netlink import IPVSUnavailable, NetlinkIPVS


def live_listing(options: ListingOptions, *, as_json: bool = False) -> str:
    """What `ipvsadm -L` prints with these options right now (or the same as JSON).

    Raises IPVSUnavailable without ip_vs, ServiceNotFound for a service selection
    the kernel does not hold ("No such service", exit 1 in ipvsadm).
    """
    if options.connections:
        if not PROC_IP_VS_CONN.exists():
            raise IPVSUnavailable()
        connections = read_connections()
        if as_json:
            return json.dumps(listing_as_dict(Table(), options, connections), indent=2) + "\n"
        return render_listing(Table(), options, connections=connections)
    with NetlinkIPVS() as ipvs:
        table = ipvs.read_table()
    if as_json:
        return json.dumps(listing_as_dict(table, options), indent=2) + "\n"
    return render_listing(table, options)
