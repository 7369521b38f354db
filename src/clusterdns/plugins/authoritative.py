"""Answering from a compiled zone: what every authoritative plugin does per query.

A name outside the table's zones goes down the chain; an NXDOMAIN goes down
the chain when the plugin's ``fallthrough`` covers the name; anything else is
answered from the compiled bytes, memoized with the answer's validity guard
(``dns/zone.py``) so a change to the data retires the memoized reply.

With ``upstream``, an answer that ends in a CNAME to a name outside the zones
gets that name's records from the rest of the chain, as CoreDNS's plugins ask
their upstream (plugin/pkg/upstream: the server itself) and append its answer.
"""

from __future__ import annotations

from collections.abc import Callable

import dns.exception
import dns.message
import dns.rdatatype

from clusterdns.dns.reply import compile_answer, render
from clusterdns.dns.wire import WireError, parse_query
from clusterdns.dns.zone import MISSING, RecordTable, Result
from clusterdns.plugins.plugin import FOREVER, Handler, Reply, Request


async def serve_from(
    table: RecordTable,
    request: Request,
    next: Handler,
    plugin: str,
    falls_through: Callable[[str], bool],
    upstream: bool = False,
) -> Reply:
    query = request.query
    result = table.lookup(query.name, query.qtype)
    if result is None or (result.status == MISSING and falls_through(query.name)):
        return await next(request)
    if upstream and result.external:
        return await _with_upstream(result, request, next, plugin)
    answer = result.answer
    wire = render(query, answer, request.udp)
    return Reply(wire, answer.rcode, plugin, FOREVER, guard=result.guard)


async def _with_upstream(result: Result, request: Request, next: Handler, plugin: str) -> Reply:
    """The answer, then what the rest of the chain answers for its CNAME target."""
    query = request.query
    mine = dns.message.from_wire(render(query, result.answer, udp=False))
    probe = dns.message.make_query(
        result.external, dns.rdatatype.RdataType.make(query.qtype), use_edns=0, payload=4096
    )
    memo_until = 0.0
    try:
        sub_query = parse_query(probe.to_wire())
    except WireError:
        sub_query = None
    if sub_query is not None:
        # asked as over TCP, so the rest of the chain does not truncate the target's records
        sub = request.with_query(sub_query, transport="tcp")
        reply = await next(sub)
        if reply.wire is not None:
            try:
                mine.answer.extend(dns.message.from_wire(reply.wire).answer)
                memo_until = min(FOREVER, reply.memo_until)
            except dns.exception.DNSException:
                pass  # the next plugin's bug: answer with what we have, and keep it out of the memo
    answer = compile_answer(
        query.name,
        query.qtype,
        result.answer.rcode,
        mine.answer,
        mine.authority,
        mine.additional,
    )
    wire = render(query, answer, request.udp)
    return Reply(wire, answer.rcode, plugin, memo_until, guard=result.guard)
