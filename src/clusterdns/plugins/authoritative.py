"""Answering from a compiled zone: what every authoritative plugin does per query.

A name outside the table's zones goes down the chain; an NXDOMAIN goes down
the chain when the plugin's ``fallthrough`` covers the name; anything else is
answered from the compiled bytes, memoized with the answer's validity guard
(``dns/zone.py``) so a change to the data retires the memoized reply.
"""

from __future__ import annotations

from collections.abc import Callable

from clusterdns.dns.reply import render
from clusterdns.dns.zone import MISSING, RecordTable
from clusterdns.plugins.plugin import FOREVER, Handler, Reply, Request


async def serve_from(
    table: RecordTable,
    request: Request,
    next: Handler,
    plugin: str,
    falls_through: Callable[[str], bool],
) -> Reply:
    query = request.query
    result = table.lookup(query.name, query.qtype)
    if result is None or (result.status == MISSING and falls_through(query.name)):
        return await next(request)
    answer = result.answer
    wire = render(query, answer, request.udp)
    return Reply(wire, answer.rcode, plugin, FOREVER, guard=result.guard)
