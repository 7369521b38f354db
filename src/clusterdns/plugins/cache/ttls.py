"""Sans-I/O: walk a reply's records once, find its TTL fields, rewrite it into cache form.

A cached reply is kept as the bytes after the question with every TTL set to
one value and the OPT record removed (it is hop-by-hop, RFC 6891 6.1.1), plus
the offsets of the TTL fields, so a hit patches four bytes per record instead
of building a message.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from clusterdns.dns.wire import TYPE_NS, TYPE_OPT, TYPE_SOA, WireError, skip_name

_HEADER = struct.Struct(">HHHHHH")
_RR_FIXED = struct.Struct(">HHIH")


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

    @property
    def rcode(self) -> int:
        return self.flags & 0xF


def scan(wire: bytes) -> Scan:
    """Walk ``wire``; raise ``WireError`` when it is not a well-formed reply with one question."""
    if len(wire) < 12:
        raise WireError("short header", None)
    _, flags, qdcount, ancount, nscount, arcount = _HEADER.unpack_from(wire)
    if qdcount != 1:
        raise WireError("qdcount not 1", None)
    offset = skip_name(wire, 12) + 4
    if offset > len(wire):
        raise WireError("truncated question", None)
    question_end = offset
    offsets: list[int] = []
    min_ttl: int | None = None
    soa = ns = False
    opt: tuple[int, int] | None = None
    for index in range(ancount + nscount + arcount):
        start = offset
        offset = skip_name(wire, offset)
        if offset + 10 > len(wire):
            raise WireError("truncated record", None)
        rtype, _, ttl, rdlength = _RR_FIXED.unpack_from(wire, offset)
        ttl_at = offset + 4
        offset += 10 + rdlength
        if offset > len(wire):
            raise WireError("truncated rdata", None)
        if rtype == TYPE_OPT:
            opt = (start, offset)
            continue
        if ancount <= index < ancount + nscount:
            soa = soa or rtype == TYPE_SOA
            ns = ns or rtype == TYPE_NS
        offsets.append(ttl_at)
        min_ttl = ttl if min_ttl is None else min(min_ttl, ttl)
    return Scan(
        flags, ancount, nscount, arcount, question_end, tuple(offsets), min_ttl, soa, ns, opt
    )


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
