"""Sans-I/O: walk a reply's records once, find its TTL fields, rewrite it into cache form.

A cached reply is kept as the bytes after the question with every TTL set to
one value and the OPT record removed (it is hop-by-hop, RFC 6891 6.1.1), plus
the offsets of the TTL fields, so a hit patches four bytes per record instead
of building a message.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from clusterdns.dns.wire import (
    HEADER,
    QR,
    TYPE_CNAME,
    TYPE_NS,
    TYPE_OPT,
    TYPE_SOA,
    WireError,
    iter_records,
    name_to_text,
)

_SIG_TIMES = struct.Struct(">II")
TYPE_RRSIG = 46
_MAX_POINTERS = 64


@dataclass(frozen=True, slots=True)
class Record:
    """One answer-section record as the CNAME-chain rules need it: owner, type, class, target."""

    owner: str
    rtype: int
    rclass: int
    target: str = ""  # a CNAME's canonical name, lower-cased


@dataclass(frozen=True, slots=True)
class Scan:
    """What the cache needs to know about one reply."""

    flags: int
    ancount: int
    nscount: int
    arcount: int
    question_end: int
    ttl_offsets: tuple[int, ...]  # absolute offsets of the TTL fields of every record but OPT
    min_ttl: int | None  # lowest TTL over all records but OPT; None when there are none
    soa_in_authority: bool
    ns_in_authority: bool
    opt: tuple[int, int] | None  # (start, end) of the OPT record
    question: tuple[str, int, int]  # the reply's question: lower-cased name, type, class
    answers: tuple[Record, ...]  # the answer section
    signatures: tuple[tuple[int, int], ...]  # every RRSIG's (inception, expiration)
    do: bool  # the reply's OPT has the DO bit

    @property
    def rcode(self) -> int:
        return self.flags & 0xF

    @property
    def response(self) -> bool:
        return bool(self.flags & QR)


def scan(wire: bytes) -> Scan:
    """Walk ``wire``; raise ``WireError`` when it is not a well-formed reply with one question."""
    if len(wire) < 12:
        raise WireError("short header", None)
    _, flags, qdcount, ancount, nscount, arcount = HEADER.unpack_from(wire)
    if qdcount != 1:
        raise WireError("qdcount not 1", None)
    qname, offset = read_name(wire, 12)
    if offset + 4 > len(wire):
        raise WireError("truncated question", None)
    qtype, qclass = struct.unpack_from(">HH", wire, offset)
    question_end = offset + 4
    offsets: list[int] = []
    min_ttl: int | None = None
    soa = ns = do = False
    opt: tuple[int, int] | None = None
    answers: list[Record] = []
    signatures: list[tuple[int, int]] = []
    owners: dict[bytes, str] = {}
    authority_end = ancount + nscount
    records = iter_records(wire, question_end, authority_end + arcount)
    for index, (owner_at, rtype, rclass, ttl, ttl_at, rdata, end) in enumerate(records):
        if rtype == TYPE_OPT:
            opt = (owner_at, end)
            do = bool(ttl & 0x8000)
            continue
        if index < ancount:
            # Equal owner bytes are the same name wherever they stand (a pointer is absolute):
            # the records of an RRset share one compressed owner, read once.
            raw = wire[owner_at : ttl_at - 4]
            owner = owners.get(raw) or owners.setdefault(raw, read_name(wire, owner_at)[0])
            target = read_name(wire, rdata)[0] if rtype == TYPE_CNAME else ""
            answers.append(Record(owner, rtype, rclass, target))
        elif index < authority_end:
            soa = soa or rtype == TYPE_SOA
            ns = ns or rtype == TYPE_NS
        if rtype == TYPE_RRSIG and end - rdata >= 16:
            signatures.append(_SIG_TIMES.unpack_from(wire, rdata + 8)[::-1])
        offsets.append(ttl_at)
        min_ttl = ttl if min_ttl is None else min(min_ttl, ttl)
    return Scan(
        flags,
        ancount,
        nscount,
        arcount,
        question_end,
        tuple(offsets),
        min_ttl,
        soa,
        ns,
        opt,
        (qname, qtype, qclass),
        tuple(answers),
        tuple(signatures),
        do,
    )


def read_name(wire: bytes, offset: int) -> tuple[str, int]:
    """A possibly compressed name at ``offset``: lower-cased text and the offset after it."""
    parts = bytearray()
    end: int | None = None
    pointers = 0
    while True:
        if offset >= len(wire):
            raise WireError("truncated name", None)
        length = wire[offset]
        if length & 0xC0 == 0xC0:
            if offset + 2 > len(wire) or pointers > _MAX_POINTERS:
                raise WireError("bad compression pointer", None)
            if end is None:
                end = offset + 2
            offset = ((length & 0x3F) << 8) | wire[offset + 1]
            pointers += 1
            continue
        if length & 0xC0 or offset + 1 + length > len(wire):
            raise WireError("unknown label type or truncated label", None)
        parts += wire[offset : offset + 1 + length]
        if length == 0:
            break
        offset += 1 + length
    if len(parts) > 255:
        raise WireError("name too long", None)
    return name_to_text(bytes(parts)), end if end is not None else offset + 1


@dataclass(frozen=True, slots=True)
class Stored:
    """A reply in cache form: the sections after the question, TTLs at ``offsets`` in ``body``."""

    body: bytes
    offsets: tuple[int, ...]
    ancount: int
    nscount: int
    arcount: int


def to_stored(wire: bytes, found: Scan, ttl: int) -> Stored | None:
    """``wire`` without its OPT and with every TTL set to ``ttl``; None when OPT is not last.

    Records after a removed OPT would shift, and compression pointers into
    them would break; real servers always put OPT last, so such replies are
    simply not cached.
    """
    end = len(wire)
    arcount = found.arcount
    if found.opt is not None:
        if found.opt[1] != len(wire):
            return None
        end = found.opt[0]
        arcount -= 1
    body = bytearray(wire[found.question_end : end])
    packed = struct.pack(">I", ttl)
    offsets = tuple(at - found.question_end for at in found.ttl_offsets)
    for at in offsets:
        body[at : at + 4] = packed
    return Stored(bytes(body), offsets, found.ancount, found.nscount, arcount)


def with_ttl(stored: Stored, ttl: int) -> bytes:
    """The stored body with every TTL set to ``ttl``."""
    body = bytearray(stored.body)
    packed = struct.pack(">I", ttl)
    for at in stored.offsets:
        body[at : at + 4] = packed
    return bytes(body)
