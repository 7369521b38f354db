"""The dump handler: one log line per query as it arrives, before any plugin (the external *dump* plugin).

The line is miekg/dump's default, ``{remote} - {>id} {type} {class} {name}
{proto} {port}``, followed by the request's size, DO bit and EDNS buffer size
(the fields of the *log* plugin's ``{size} {>do} {>bufsize}``):

    [INFO] 10.244.1.7 - 3644 MX IN example.net. udp 46481 40 false 1232

Queries answered from the server's reply memo are dumped too.  A query the
server could not parse is not (it reached no block); ``debug`` logs those.
"""

from __future__ import annotations

import logging

import dns.rdatatype

from clusterdns.dns.wire import WireError, parse_query
from clusterdns.plugins.plugin import Plugin, Seen

log = logging.getLogger("clusterdns.plugins.dump")

_CLASSES = {1: "IN", 3: "CH", 4: "HS", 254: "NONE", 255: "ANY"}


def _type(qtype: int) -> str:
    try:
        return dns.rdatatype.to_text(dns.rdatatype.RdataType(qtype))
    except ValueError:
        return f"TYPE{qtype}"


def line(seen: Seen) -> str | None:
    """The dump line of a query, or None when it does not parse."""
    try:
        query = parse_query(seen.data)
    except WireError:
        return None
    host = seen.client[0]
    bufsize = query.udp_size if query.edns else 512
    return (
        f"[INFO] {host} - {query.id} {_type(query.qtype)} "
        f"{_CLASSES.get(query.qclass, f'CLASS{query.qclass}')} {query.name} {seen.transport} "
        f"{seen.client[1]} {len(seen.data)} {str(query.do).lower()} {bufsize}"
    )


class Dump(Plugin):
    name = "dump"
    replies_outlive_reload = True
    handles_queries = False
    taps_queries = True

    def tap_query(self, seen: Seen) -> None:
        text = line(seen)
        if text is not None:
            log.info(text)
