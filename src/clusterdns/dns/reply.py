"""Building replies as wire bytes.

An ``Answer`` is the part of a reply after the question (answer, authority and
additional records) compiled once, with names compressed against a question
that starts at offset 12.  Because a client's question differs from the
compiled one only in letter case (0x20), its own question bytes can be put in
front and every compression pointer still lands on the same label.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable

import dns.message
import dns.name
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from clusterdns.dns.wire import (
    AA,
    BADVERS,
    CD,
    OPCODE_MASK,
    QR,
    RD,
    TC,
    TYPE_OPT,
    Query,
)

# What we advertise in our OPT record: the DNS Flag Day 2020 size, which
# avoids IP fragmentation on every common path.
SERVER_UDP_SIZE = 1232

_HEADER = struct.Struct(">HHHHHH")
_OPT_FIXED = struct.Struct(">BHHBBHH")


class Answer:
    """Compiled sections after the question, plus the header bits they need.

    ``zone_at``: where in ``body`` the labels of the question's zone (``zone_len``
    bytes on the wire, root byte included) are written out in lower case;
    ``render`` puts the zone there as the question spells it.
    """

    __slots__ = ("flags", "ancount", "nscount", "arcount", "body", "rcode", "zone_at", "zone_len")

    def __init__(
        self,
        rcode: int,
        ancount: int,
        nscount: int,
        arcount: int,
        body: bytes,
        aa: bool = True,
        *,
        zone_at: tuple[int, ...] = (),
        zone_len: int = 0,
    ) -> None:
        self.rcode = rcode
        self.flags = (AA if aa else 0) | (rcode & 0xF)
        self.ancount = ancount
        self.nscount = nscount
        self.arcount = arcount
        self.body = body
        self.zone_at = zone_at
        self.zone_len = zone_len


def opt_record(do: bool = False, extended_rcode: int = 0) -> bytes:
    """Our OPT pseudo-record (RFC 6891 6.1.2): root owner, our payload size, DO echoed."""
    return _OPT_FIXED.pack(
        0, TYPE_OPT, SERVER_UDP_SIZE, extended_rcode >> 4, 0, 0x8000 if do else 0, 0
    )


def reply_flags(query: Query, answer_flags: int) -> int:
    """QR set, the opcode, RD and CD copied from the query (RFC 1035 4.1.1, RFC 4035 3.2.2)."""
    return QR | (query.flags & (OPCODE_MASK | RD | CD)) | answer_flags


def render(query: Query, answer: Answer, udp: bool) -> bytes:
    """The full reply to ``query`` from a compiled answer; truncated if it does not fit UDP."""
    edns = query.edns
    header = _HEADER.pack(
        query.id,
        reply_flags(query, answer.flags),
        1,
        answer.ancount,
        answer.nscount,
        answer.arcount + edns,
    )
    question = query.data[12 : query.question_end]
    opt = opt_record(query.do) if edns else b""
    wire = header + question + _zone_as_asked(query, answer) + opt
    if udp and len(wire) > query.max_udp_payload():
        return truncated(query, answer.flags)
    return wire


def _zone_as_asked(query: Query, answer: Answer) -> bytes:
    """The body with the zone's labels spelt as in the question (0x20 case, RFC 4343)."""
    body = answer.body
    if not answer.zone_at:
        return body
    end = query.question_end - 4
    asked = query.data[end - answer.zone_len : end]
    first = answer.zone_at[0]
    written = body[first : first + answer.zone_len]
    if written == asked or written != asked.lower():
        return body  # as asked already, or (a bug) a question in another zone
    patched = bytearray(body)
    for at in answer.zone_at:
        patched[at : at + answer.zone_len] = asked
    return bytes(patched)


def truncated(query: Query, answer_flags: int) -> bytes:
    """Header with TC, the question and the OPT: the client retries over TCP (RFC 7766 5)."""
    header = _HEADER.pack(
        query.id, reply_flags(query, answer_flags) | TC, 1, 0, 0, 1 if query.edns else 0
    )
    opt = opt_record(query.do) if query.edns else b""
    return header + query.data[12 : query.question_end] + opt


def error_reply(query: Query | None, data: bytes, rcode: int) -> bytes:
    """A reply carrying only ``rcode``: with the question when it was read, else header only.

    Extended rcodes (BADVERS) go into the OPT record (RFC 6891 6.1.3); the
    header keeps the low four bits.
    """
    if query is None or not query.question_end > 12:
        qid, flags = struct.unpack_from(">HH", data)
        header = _HEADER.pack(
            qid, QR | (flags & (OPCODE_MASK | RD | CD)) | (rcode & 0xF), 0, 0, 0, 0
        )
        return header
    edns = query.edns or rcode == BADVERS
    header = _HEADER.pack(query.id, reply_flags(query, rcode & 0xF), 1, 0, 0, 1 if edns else 0)
    opt = opt_record(query.do, rcode if rcode > 0xF else 0) if edns else b""
    return header + query.data[12 : query.question_end] + opt


def patch_reply(wire: bytes, query: Query) -> bytes:
    """Put the query's ID and its question bytes (case as sent) into a stored reply."""
    qlen = query.question_end - 12
    return query.data[:2] + wire[2:12] + query.data[12 : query.question_end] + wire[12 + qlen :]


def compile_answer(
    name: str,
    qtype: int,
    rcode: int,
    answer: Iterable[dns.rrset.RRset] = (),
    authority: Iterable[dns.rrset.RRset] = (),
    additional: Iterable[dns.rrset.RRset] = (),
    aa: bool = True,
) -> Answer:
    """Render sections with dnspython, compressed against a question ``name``/``qtype`` at offset 12."""
    message = dns.message.Message(id=0)
    owner = dns.name.from_text(name)
    message.question.append(
        dns.rrset.RRset(owner, dns.rdataclass.IN, dns.rdatatype.RdataType.make(qtype))
    )
    message.answer.extend(answer)
    message.authority.extend(authority)
    message.additional.extend(additional)
    wire = message.to_wire(max_size=65535)
    question_end = 12 + len(owner.to_wire() or b"") + 4
    return Answer(
        rcode,
        len(_records(message.answer)),
        len(_records(message.authority)),
        len(_records(message.additional)),
        wire[question_end:],
        aa,
    )


def _records(section: list[dns.rrset.RRset]) -> list[object]:
    return [rdata for rrset in section for rdata in rrset]
