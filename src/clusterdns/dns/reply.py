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
    HEADER,
    NOTIMP,
    OPCODE_MASK,
    QR,
    RD,
    RR,
    TC,
    TYPE_OPT,
    Query,
    WireError,
    Z,
    iter_records,
)

# The size an OPT record advertises when there is no query to echo (CoreDNS echoes
# the query's own size; see reply_opt): the DNS Flag Day 2020 size.
SERVER_UDP_SIZE = 1232

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


def opt_record(
    do: bool = False,
    extended_rcode: int = 0,
    udp_size: int = SERVER_UDP_SIZE,
    options: bytes = b"",
) -> bytes:
    """An OPT pseudo-record (RFC 6891 6.1.2): root owner, version 0, DO as given."""
    return (
        _OPT_FIXED.pack(
            0, TYPE_OPT, udp_size, extended_rcode >> 4, 0, 0x8000 if do else 0, len(options)
        )
        + options
    )


def reply_opt(query: Query) -> bytes:
    """The OPT a reply to ``query`` carries: none without EDNS, else the query's own echoed.

    CoreDNS (request.SizeAndDo) reuses the query's OPT: its UDP size and DO bit,
    version 0, the other flags cleared, and only the options it knows (NSID,
    EXPIRE, COOKIE, TCP-KEEPALIVE, PADDING) kept.
    """
    if not query.edns:
        return b""
    return opt_record(query.do, 0, query.udp_size, query.opt_options)


def reply_flags(query: Query, answer_flags: int) -> int:
    """QR set, the opcode, RD and CD copied from the query (RFC 1035 4.1.1, RFC 4035 3.2.2)."""
    return QR | (query.flags & (OPCODE_MASK | RD | CD)) | answer_flags


def render(query: Query, answer: Answer, udp: bool) -> bytes:
    """The full reply to ``query`` from a compiled answer; truncated if it does not fit UDP.

    Over UDP the reply must fit the client's size (512 without EDNS, RFC 6891
    6.2.5).  As CoreDNS does (miekg/dns ``Msg.Truncate``), a reply that does
    not fit keeps as many whole records as fit, answer section first, then
    authority, then additional, with TC set; the OPT record always stays.
    """
    opt = reply_opt(query)
    header = HEADER.pack(
        query.id,
        reply_flags(query, answer.flags),
        1,
        answer.ancount,
        answer.nscount,
        answer.arcount + bool(opt),
    )
    question = query.data[12 : query.question_end]
    body = _zone_as_asked(query, answer)
    wire = header + question + body + opt
    if udp and len(wire) > query.max_udp_payload():
        return _fit(query, answer, body, opt)
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


def _fit(query: Query, answer: Answer, body: bytes, opt: bytes) -> bytes:
    counts = (answer.ancount, answer.nscount, answer.arcount)
    return fit_udp(query, reply_flags(query, answer.flags), counts, body, opt)


def fit_udp(
    query: Query, flags: int, counts: tuple[int, int, int], body: bytes, opt: bytes
) -> bytes:
    """The leading records of ``body`` that fit the client's UDP size, with TC set.

    As miekg/dns ``Msg.Truncate`` (CoreDNS's scrub): answer, then authority,
    then additional, up to the first record that does not fit; the OPT stays.
    ``flags`` are the reply's header flags.  Cutting the body after a whole
    record keeps every compression pointer valid: a pointer only ever refers
    to bytes before it.
    """
    question = query.data[12 : query.question_end]
    room = query.max_udp_payload() - 12 - len(question) - len(opt)
    kept = [0, 0, 0]
    end = 0
    for section, count in enumerate(counts):
        while kept[section] < count:
            after = _record_end(body, end)
            if after > room:
                break
            end = after
            kept[section] += 1
        if kept[section] < count:
            break  # the first record that does not fit ends the reply
    header = HEADER.pack(query.id, flags | TC, 1, kept[0], kept[1], kept[2] + bool(opt))
    return header + question + body[:end] + opt


def shrink_to_fit(query: Query, wire: bytes) -> bytes:
    """A whole reply to ``query`` (its question as the query's) cut to the client's UDP size.

    The reply's own OPT, when it is the last record, is replaced by the one
    ``reply_opt`` echoes; a reply whose records cannot be walked, or with an OPT
    elsewhere, becomes the bare truncated reply.
    """
    flags = int.from_bytes(wire[2:4], "big")
    ancount, nscount, arcount = struct.unpack_from(">HHH", wire, 6)
    body = wire[query.question_end :]
    records = _walk_records(body, 0, ancount + nscount + arcount)
    opt = None if records is None else _last_opt(records)
    if records is None or opt is _MISPLACED:
        return truncated(query, flags & ~(QR | OPCODE_MASK | RD | CD | TC))
    if opt is not None:
        body, arcount = body[: opt[0]], arcount - 1
    return fit_udp(query, flags, (ancount, nscount, arcount), body, reply_opt(query))


def mirror_opt(query: Query, wire: bytes) -> bytes:
    """Another server's reply with its OPT made to reflect ``query`` (CoreDNS's SizeAndDo).

    For a query with EDNS: the reply's OPT, when it is the last record, gets the
    query's UDP size, version 0, its flags cleared but DO kept, and DO set when
    the query had it; a reply without one gets ``reply_opt``.  A reply to a query
    without EDNS, or one that cannot be walked or has its OPT elsewhere, is
    returned as it is.
    """
    if not query.edns:
        return wire
    ancount, nscount, arcount = struct.unpack_from(">HHH", wire, 6)
    records = _walk_records(wire, query.question_end, ancount + nscount + arcount)
    opt = None if records is None else _last_opt(records)
    if records is None or opt is _MISPLACED:
        return wire
    if opt is None:
        header = wire[:10] + struct.pack(">H", arcount + 1)
        return header + wire[12:] + reply_opt(query)
    _, _, _, ttl, ttl_at, _, _ = opt
    flags = ttl & 0x8000
    if query.do:
        flags |= 0x8000
    # CLASS (the UDP size) and TTL (extended rcode, version, flags): RFC 6891 6.1.3
    patched = struct.pack(">HBBH", query.udp_size, 0, 0, flags)
    return wire[: ttl_at - 2] + patched + wire[ttl_at + 4 :]


def _walk_records(buf: bytes, offset: int, count: int) -> list[RR] | None:
    """The ``count`` records from ``offset``; None when they overrun ``buf``."""
    try:
        return list(iter_records(buf, offset, count))
    except WireError:
        return None


_MISPLACED: RR = (-1, TYPE_OPT, 0, 0, -1, -1, -1)


def _last_opt(records: list[RR]) -> RR | None:
    """The OPT record when it is the last record; None without one; _MISPLACED when an
    OPT stands elsewhere (RFC 6891 6.1.1 allows one, in the additional section)."""
    opts = [record for record in records if record[1] == TYPE_OPT]
    if not opts:
        return None
    if opts == [records[-1]]:
        return opts[0]
    return _MISPLACED


def _record_end(body: bytes, offset: int) -> int:
    """Where the record at ``offset`` of a compiled body ends (a pointer is two bytes anywhere).

    A body we compiled ourselves is well formed; past its end counts as not fitting.
    """
    try:
        return next(iter_records(body, offset, 1))[-1]
    except WireError:
        return 1 << 32


def truncated(query: Query, answer_flags: int) -> bytes:
    """Header with TC, the question and the OPT: the client retries over TCP (RFC 7766 5)."""
    opt = reply_opt(query)
    header = HEADER.pack(query.id, reply_flags(query, answer_flags) | TC, 1, 0, 0, bool(opt))
    return header + query.data[12 : query.question_end] + opt


def error_reply(query: Query | None, data: bytes, rcode: int) -> bytes:
    """A reply carrying only ``rcode``: with the question when it was read, else header only.

    Extended rcodes (BADVERS) go into the OPT record (RFC 6891 6.1.3); the
    header keeps the low four bits.  As CoreDNS's edns.Version builds it, the
    BADVERS reply's OPT is a fresh one: version 0, no DO, UDP size 0.
    """
    if query is None or not query.question_end > 12:
        return reject_reply(data, rcode)
    opt = opt_record(False, BADVERS, 0) if rcode == BADVERS else reply_opt(query)
    header = HEADER.pack(query.id, reply_flags(query, rcode & 0xF), 1, 0, 0, bool(opt))
    return header + query.data[12 : query.question_end] + opt


def reject_reply(data: bytes, rcode: int, question: bytes = b"") -> bytes:
    """The reply to a query refused before it was served (miekg/dns's server, for CoreDNS).

    The query's header flags come back with QR set and AA and Z cleared; the
    opcode is kept for NOTIMP and set to QUERY for FORMERR; no records and no
    OPT, and the question only when it could be read.
    """
    qid, flags = struct.unpack_from(">HH", data)
    flags = (flags | QR) & ~(AA | Z | 0xF)
    if rcode != NOTIMP:
        flags &= ~OPCODE_MASK
    return HEADER.pack(qid, flags | (rcode & 0xF), 1 if question else 0, 0, 0, 0) + question


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
