"""Sans-I/O: CoreDNS's round_robin shuffle of a reply's records, on wire bytes.

CoreDNS shuffles each section of a NOERROR reply: a section of only A (or
only AAAA) records is shuffled as a whole; otherwise CNAMEs come first, then
the other records in their order, then the shuffled addresses, then the
shuffled MX records.  The common case (addresses whose owner names are
compression pointers, so nothing can point into them) swaps record bytes in
place; anything else goes through dnspython.
"""

from __future__ import annotations

import random
import struct

import dns.message
import dns.rrset

from clusterdns.dns.wire import (
    HEADER,
    NOERROR,
    RR,
    TYPE_A,
    TYPE_AAAA,
    TYPE_AXFR,
    TYPE_CNAME,
    TYPE_IXFR,
    TYPE_OPT,
    WireError,
    iter_records,
    skip_name,
)

TYPE_MX = 15

Record = RR  # as iter_records gives it: [0] the owner's offset, [1] type, [6] end
_TYPE, _END = 1, 6


def _pointer_owner(record: Record) -> bool:
    """The owner is a lone compression pointer: two bytes (no other name is that short)."""
    return record[4] - record[0] == 6  # the TTL stands 4 bytes into the fixed fields


def shuffle(wire: bytes, rng: random.Random) -> bytes | None:
    """The reply with its records shuffled; None when there is nothing to reorder."""
    try:
        return _shuffle(wire, rng)
    except (WireError, IndexError, struct.error):
        return None


def _shuffle(wire: bytes, rng: random.Random) -> bytes | None:
    _, flags, qdcount, ancount, nscount, arcount = HEADER.unpack_from(wire)
    if flags & 0xF != NOERROR or qdcount != 1:
        return None
    offset = skip_name(wire, 12)
    qtype = struct.unpack_from(">H", wire, offset)[0]
    if qtype in (TYPE_AXFR, TYPE_IXFR):
        return None
    offset += 4
    records = list(iter_records(wire, offset, ancount + nscount + arcount))
    authority_end = ancount + nscount
    sections = [records[:ancount], records[ancount:authority_end], records[authority_end:]]
    if not any(_needs_shuffle(records) for records in sections):
        return None
    if all(_fast(records) for records in sections):
        return _fast_shuffle(wire, sections, rng)
    return _slow_shuffle(wire, rng)


def _addresses(records: list[Record]) -> list[Record]:
    return [r for r in records if r[_TYPE] in (TYPE_A, TYPE_AAAA, TYPE_MX)]


def _rank(rtype: int) -> int:
    """CoreDNS's order of a reordered section: CNAMEs, the rest, addresses, MX."""
    if rtype == TYPE_CNAME:
        return 0
    if rtype in (TYPE_A, TYPE_AAAA):
        return 2
    return 3 if rtype == TYPE_MX else 1


def _needs_shuffle(records: list[Record]) -> bool:
    moving = [r for r in records if r[_TYPE] in (TYPE_A, TYPE_AAAA)]
    mx = [r for r in records if r[_TYPE] == TYPE_MX]
    if len(moving) > 1 or len(mx) > 1:
        return True
    ranks = [_rank(r[_TYPE]) for r in records if r[_TYPE] != TYPE_OPT]
    return ranks != sorted(ranks)  # CoreDNS reorders a mixed section even with nothing to shuffle


def _fast(records: list[Record]) -> bool:
    """Only same-type addresses with pointer owners (plus a trailing OPT), or nothing to move."""
    body = [r for r in records if r[_TYPE] != TYPE_OPT]
    if records and records[-1][_TYPE] != TYPE_OPT and len(body) != len(records):
        return False  # an OPT that is not last
    if not _needs_shuffle(body):
        return True
    kinds = {r[_TYPE] for r in body}
    return len(kinds) == 1 and kinds <= {TYPE_A, TYPE_AAAA} and all(_pointer_owner(r) for r in body)


def _fast_shuffle(wire: bytes, sections: list[list[Record]], rng: random.Random) -> bytes:
    out = bytearray(wire)
    for records in sections:
        body = [r for r in records if r[_TYPE] != TYPE_OPT]
        if not _needs_shuffle(body):
            continue
        chunks = [wire[r[0] : r[_END]] for r in body]
        rng.shuffle(chunks)
        position = body[0][0]
        for chunk in chunks:  # same-type addresses: every chunk has the same length
            out[position : position + len(chunk)] = chunk
            position += len(chunk)
    return bytes(out)


def _slow_shuffle(wire: bytes, rng: random.Random) -> bytes | None:
    try:
        message = dns.message.from_wire(wire)
    except Exception:
        return None
    message.answer = _reorder(message.answer, rng)
    message.authority = _reorder(message.authority, rng)
    message.additional = _reorder(message.additional, rng)
    return message.to_wire(max_size=65535)


def _reorder(section: list[dns.rrset.RRset], rng: random.Random) -> list[dns.rrset.RRset]:
    """CoreDNS's roundRobin, record by record: addresses and MX shuffle across owners and types."""
    records = single_records(section)
    cname = [r for r in records if r.rdtype == TYPE_CNAME]
    rest = [r for r in records if r.rdtype not in (TYPE_CNAME, TYPE_A, TYPE_AAAA, TYPE_MX)]
    addresses = [r for r in records if r.rdtype in (TYPE_A, TYPE_AAAA)]
    mx = [r for r in records if r.rdtype == TYPE_MX]
    rng.shuffle(addresses)
    rng.shuffle(mx)
    return cname + rest + addresses + mx


def single_records(rrsets: list[dns.rrset.RRset]) -> list[dns.rrset.RRset]:
    """Every record as its own RRset, in wire order (so records of one RRset can move apart)."""
    out = []
    for rrset in rrsets:
        for rdata in rrset:
            one = dns.rrset.RRset(rrset.name, rrset.rdclass, rrset.rdtype)
            one.add(rdata, rrset.ttl)
            out.append(one)
    return out
