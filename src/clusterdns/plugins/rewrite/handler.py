"""The rewrite handler: a changed query for the rest of the chain, the reply changed back.

One plugin instance holds one rule (one ``rewrite`` directive); several directives chain in
Corefile order.  A rule that matches in ``stop`` mode marks the query it hands on, so the
rewrite instances after it let it pass untouched, as CoreDNS's single handler stops at it.
Response rules run in reverse order because each instance fixes the reply of the ones after it.

The request is rebuilt as new wire bytes (dnspython, off the hot path) and parsed again, so the
next plugin sees an ordinary ``Query``.  The reply gets the client's question back (as sent,
0x20 case included), the response rules, and is rendered again.

Memoizing: the server keys its memo on the client's query bytes.  Name, type, class, TTL,
rcode and static EDNS0 rules depend only on those bytes, so the rewritten query, and with it
the reply, is the same every time: the reply keeps the memo lifetime the rest of the chain gave
it.  Rules whose result depends on who asks (``edns0 subnet``, ``{client_ip}``,
``{client_port}``, ``{server_ip}``, ``{server_port}``) make the reply never memoized.
"""

from __future__ import annotations

import dns.edns
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from clusterdns.dns.reply import error_reply, shrink_to_fit
from clusterdns.dns.wire import SERVFAIL, Query, WireError, parse_query
from clusterdns.plugins.plugin import FOREVER, Handler, Plugin, Reply, Request
from clusterdns.plugins.rewrite.rules import (
    STOP,
    CnameTarget,
    RcodeResponse,
    ResponseRule,
    Rule,
    State,
)


class RewrittenQuery(Query):
    """A query a rewrite rule produced; ``stopped`` tells later rewrite rules to leave it alone."""

    __slots__ = ("stopped",)

    def __init__(self, data: bytes, stopped: bool = False) -> None:
        super().__init__(data)
        self.stopped = stopped

    @classmethod
    def of(cls, query: Query, stopped: bool) -> RewrittenQuery:
        copy = cls(query.data, stopped)
        for slot in Query.__slots__:
            setattr(copy, slot, getattr(query, slot))
        return copy


class Rewrite(Plugin):
    name = "rewrite"
    replies_outlive_reload = True

    def __init__(self, rule: Rule) -> None:
        self.rule = rule

    async def serve(self, request: Request, next: Handler) -> Reply:
        query = request.query
        if isinstance(query, RewrittenQuery) and query.stopped:
            return await next(request)
        state = State(
            name=query.name,
            qtype=query.qtype,
            qclass=query.qclass,
            qname_as_sent=_name_as_sent(query),
            client=request.client,
            transport=request.transport,
            server=_server_address(request.server),
            load_options=lambda: _query_options(query),
        )
        responses = self.rule.rewrite(state)
        if responses is None:
            return await next(request)
        stop = self.rule.mode == STOP
        changed = (
            state.name != query.name
            or state.qtype != query.qtype
            or state.qclass != query.qclass
            or state.edns_touched
        )
        if changed:
            try:
                rewritten: Query = _rebuild(query, state)
            except (WireError, dns.exception.DNSException, ValueError) as exc:
                return Reply.unanswered(
                    SERVFAIL, self.name, f"invalid name after rewrite: {state.name} ({exc})"
                )
        else:
            rewritten = query
        if stop or not isinstance(rewritten, RewrittenQuery):
            rewritten = RewrittenQuery.of(rewritten, stop)
        inner = request.with_query(rewritten)
        reply = await next(inner)
        memo_until = 0.0 if state.per_client else reply.memo_until
        if not changed and not responses:
            return Reply(reply.wire, reply.rcode, reply.plugin, memo_until, reply.error)
        wire = reply.wire
        if wire is None:
            if not any(isinstance(r, RcodeResponse) for r in responses):
                return reply  # the server writes the rcode with the client's question
            wire = error_reply(query, query.data, reply.rcode)
        for rule in responses:
            if isinstance(rule, CnameTarget):
                followed = await _follow_cname(rule, wire, inner, next)
                if followed is not None:
                    wire, memo_until = followed[0], min(memo_until, followed[1])
        fixed = _fix_reply(query, wire, responses, request.udp)
        if fixed is None:
            return Reply.unanswered(SERVFAIL, self.name, "unreadable reply after rewrite")
        return Reply(fixed[0], fixed[1], reply.plugin or self.name, memo_until, reply.error)


def _name_as_sent(query: Query) -> str:
    try:
        return dns.name.from_wire(query.qname, 0)[0].to_text()
    except dns.exception.DNSException:
        return query.name


def _server_address(label: str) -> tuple[str, int]:
    """("127.0.0.1", 53) from ``dns://127.0.0.1:53``; ("", 53) from ``dns://:53``."""
    rest = label.split("://", 1)[-1]
    host, _, port = rest.rpartition(":")
    return host.strip("[]"), int(port) if port.isdigit() else 0


def _query_options(query: Query) -> list[dns.edns.Option]:
    if not query.edns:
        return []
    try:
        return list(dns.message.from_wire(query.data).options)
    except dns.exception.DNSException:
        return []


def _rebuild(query: Query, state: State) -> Query:
    """The query bytes the rest of the chain sees: new question, EDNS0 options as the rules left them."""
    message = dns.message.from_wire(query.data)
    message.question = [
        dns.rrset.RRset(
            dns.name.from_text(state.name),
            dns.rdataclass.RdataClass.make(state.qclass),
            dns.rdatatype.RdataType.make(state.qtype),
        )
    ]
    if state.options is not None:
        if message.opt is None:
            message.use_edns(0, 0, 4096, options=state.options)  # CoreDNS: SetEdns0(4096, false)
        elif message.opt is not None:
            message.use_edns(
                message.edns, message.ednsflags, message.payload, options=state.options
            )
    return parse_query(message.to_wire())


async def _follow_cname(
    rule: CnameTarget, wire: bytes, request: Request, next: Handler
) -> tuple[bytes, float] | None:
    """The reply with a CNAME target rewritten and the new target's records, as CoreDNS's
    cname rule does: the CNAMEs up to the rewritten one are kept, the records after it are
    replaced by what the rest of the chain answers for the new target (same type, TC copied).
    None when nothing matched or the lookup got no reply: the reply stays as it was."""
    try:
        message = dns.message.from_wire(wire, ignore_trailing=True)
    except dns.exception.DNSException:
        return None
    memo_until = FOREVER
    changed = False
    for rrset in list(message.answer):
        if rrset.rdtype != dns.rdatatype.CNAME:
            continue
        current = rrset[0].target.to_text()
        source, target = rule.targets(current)
        if current != source:
            continue
        found = await _lookup(request, target, next)
        if found is None:
            continue
        upstream, until = found
        memo_until = min(memo_until, until)
        kept: list[dns.rrset.RRset] = []
        for cname in message.answer:
            if cname.rdtype != dns.rdatatype.CNAME:
                continue
            if cname[0].target.to_text() == source:
                renamed = cname[0].replace(target=dns.name.from_text(target))
                kept.append(dns.rrset.from_rdata(cname.name, cname.ttl, renamed))
                break
            kept.append(cname)
        message.answer = kept + list(upstream.answer)
        message.flags = (message.flags & ~dns.flags.TC) | (upstream.flags & dns.flags.TC)
        changed = True
    if not changed:
        return None
    return message.to_wire(max_size=65535), memo_until


async def _lookup(
    request: Request, name: str, next: Handler
) -> tuple[dns.message.Message, float] | None:
    """``name`` with the query's type and EDNS, asked of the rest of the chain (CoreDNS asks
    its upstream, the server itself)."""
    try:
        message = dns.message.from_wire(request.query.data)
        question = message.question[0]
        message.question = [
            dns.rrset.RRset(dns.name.from_text(name), question.rdclass, question.rdtype)
        ]
        query = parse_query(message.to_wire())
    except (WireError, dns.exception.DNSException, ValueError):
        return None
    sub = request.with_query(query)
    reply = await next(sub)
    if reply.wire is None:
        return None
    try:
        return dns.message.from_wire(reply.wire, ignore_trailing=True), reply.memo_until
    except dns.exception.DNSException:
        return None


def _fix_reply(
    query: Query, wire: bytes, responses: list[ResponseRule], udp: bool
) -> tuple[bytes, int] | None:
    """The reply with the client's question, response rules applied (last rule first)."""
    try:
        message = dns.message.from_wire(wire, ignore_trailing=True)
        asked = dns.message.from_wire(query.data, ignore_trailing=True)
    except dns.exception.DNSException:
        return None
    message.id = query.id
    message.question = asked.question
    for rule in reversed(responses):
        rule.apply(message)
    if not query.edns and message.opt is not None:
        message.use_edns(False)  # an OPT only for clients that sent one (RFC 6891 7)
    rcode = message.rcode()
    wire = message.to_wire(max_size=65535)
    if udp and len(wire) > query.max_udp_payload():
        return shrink_to_fit(query, wire), rcode
    return wire, rcode
