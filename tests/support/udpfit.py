"""Replies bigger than the client's UDP size: an upstream with sixty A records, and clients.

CoreDNS writes every reply through its scrub writer (request.Request.Scrub, which
calls miekg/dns Msg.Truncate): answer, then authority, then additional records are
kept up to the first one that does not fit, TC is set, and the OPT record mirrors the
query's (request.SizeAndDo).  Sixty A records of one name take 16 bytes each
(compressed owner), so 30 fit in 512 bytes after a header and a 17-byte question,
as Msg.Truncate counts them.
"""

from __future__ import annotations

import dns.flags
import dns.message
import dns.query
import dns.rrset

COUNT = 60


def sixty(query: dns.message.Message, transport: str) -> dns.message.Message:
    """Every A question gets 60 records."""
    reply = dns.message.make_response(query)
    reply.request_payload = 0  # over TCP: never cut to the query's UDP size
    reply.answer.append(
        dns.rrset.from_text_list(
            query.question[0].name, 60, "IN", "A", [f"10.0.0.{i}" for i in range(COUNT)]
        )
    )
    return reply


def ask(port: int, name: str, edns: int | None = None, tcp: bool = False) -> dns.message.Message:
    if edns is None:
        query = dns.message.make_query(name, "A")
    else:
        query = dns.message.make_query(name, "A", use_edns=0, payload=edns)
    if tcp:
        return dns.query.tcp(query, "127.0.0.1", port=port, timeout=3)
    return dns.query.udp(query, "127.0.0.1", port=port, timeout=3)


def tcp_forward(address: str) -> str:
    """forward over TCP, as the node cache does: the upstream's whole reply comes back."""
    return f"forward . {address} {{\n        force_tcp\n    }}"


def corefile(*lines: str) -> str:
    body = "\n".join(f"    {line}" for line in lines)
    return f".:0 {{\n    bind 127.0.0.1\n{body}\n}}\n"


def assert_cut_to_512(reply: dns.message.Message) -> None:
    assert reply.flags & dns.flags.TC
    assert len(reply.answer) == 1 and len(reply.answer[0]) == 30
    assert len(reply.to_wire()) <= 512
