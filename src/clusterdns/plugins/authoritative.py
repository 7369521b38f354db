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

import random
import struct
from collections.abc import Callable

import dns.exception
import dns.message
import dns.name

from clusterdns.dns.reply import compile_answer, render
from clusterdns.dns.wire import (
    CLASS_IN,
    HEADER,
    RD,
    RR_FIXED,
    TYPE_OPT,
    WireError,
    parse_query,
)
from clusterdns.dns.zone import MISSING, RecordTable, Result
from clusterdns.plugins.plugin import FOREVER, Handler, Reply, Request

_TYPE_CLASS = struct.Struct(">HH")


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
    try:
        sub_query = parse_query(_probe_wire(result.external, query.qtype))
    except WireError:
        sub_query = None
    reply = None
    if sub_query is not None:
        # asked as over TCP, so the rest of the chain does not truncate the target's records
        reply = await next(request.with_query(sub_query, transport="tcp"))
    # an unanswered target keeps its memo_until: "no next plugin" is the configuration's
    # doing, the same every time; a forward that failed is not
    memo_until = min(FOREVER, reply.memo_until) if reply is not None else 0.0
    if reply is None or reply.wire is None or _answer_count(reply.wire) == 0:
        # nothing to append: the common case (an external target is not this server's
        # to answer, or no plugin follows) costs a render, not a dnspython round trip
        wire = render(query, result.answer, request.udp)
        return Reply(wire, result.answer.rcode, plugin, memo_until, guard=result.guard)
    mine = dns.message.from_wire(render(query, result.answer, udp=False))
    try:
        mine.answer.extend(dns.message.from_wire(reply.wire).answer)
    except dns.exception.DNSException:
        memo_until = 0.0  # the next plugin's bug: answer with what we have, kept out of the memo
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


def _probe_wire(target: str, qtype: int) -> bytes:
    """A query for ``target``, RD and EDNS (4096) set, as ``dns.message.make_query`` writes it."""
    header = HEADER.pack(random.getrandbits(16), RD, 1, 0, 0, 1)
    name = dns.name.from_text(target).to_wire()
    assert name is not None  # without a file to write to, to_wire returns the bytes
    question = name + _TYPE_CLASS.pack(qtype, CLASS_IN)
    opt = b"\x00" + RR_FIXED.pack(TYPE_OPT, 4096, 0, 0)
    return header + question + opt


def _answer_count(wire: bytes) -> int:
    return int.from_bytes(wire[6:8], "big") if len(wire) >= 12 else 0
