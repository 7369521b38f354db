"""Record sets in zone-file text -> wire sections, without building dnspython objects.

Compiling an answer is on the path of the first query for every name, so at
50 000 services it must cost microseconds, not the tens of microseconds that
dnspython's object model takes.  The common types of cluster DNS (A, AAAA,
CNAME, PTR, NS, SRV) are encoded here; any other type goes through
dnspython's rdata parser, written uncompressed (always legal).

Names are compressed (RFC 1035 4.1.4) against a question at offset 12 and
against the names already written, except where a type forbids it: SRV
targets are never compressed (RFC 2782, RFC 3597 4), nor are names inside
rdata we hand to dnspython.

Given the zone the answer is in, the writer compresses against the question
only at the whole name and at the zone, and notes where it wrote the zone's
labels out: the zone of every name then reads as the question wrote it once
``reply.render`` copies the question's zone over those places (CoreDNS writes
``svc1.testns.svc.cLuStEr.LoCaL.`` for a question in ``cLuStEr.LoCaL.``).
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import dns.rdata
import dns.rdataclass
import dns.rdatatype

from clusterdns.dns.wire import RR_FIXED

TYPE_A, TYPE_NS, TYPE_CNAME, TYPE_SOA, TYPE_PTR, TYPE_AAAA, TYPE_SRV = 1, 2, 5, 6, 12, 28, 33
_SRV_FIXED = struct.Struct(">HHH")
_SOA_FIXED = struct.Struct(">IIIII")
_MAX_POINTER = 0x3FFF


@dataclass(frozen=True, slots=True)
class RowSet:
    """One RRset: owner (absolute, lower-case), type code, TTL, and each record's rdata text."""

    owner: str
    rdtype: int
    ttl: int
    rdatas: tuple[str, ...]


class SectionWriter:
    """Writes records after a question for ``qname``, compressing names as it goes.

    ``zone``: the zone of the answer; compression against the question is then
    limited to ``qname`` itself and the zone, and ``zone_at`` lists where in
    the body the zone's labels were written out.  ``compress=False`` writes
    every name in full, so the body can follow any question.
    """

    __slots__ = ("body", "zone_at", "_offsets", "_base", "_zone", "_compress")

    def __init__(self, qname: str, zone: str | None = None, compress: bool = True) -> None:
        self.body = bytearray()
        self.zone_at: list[int] = []
        self._offsets: dict[str, int] = {}
        self._compress = compress
        self._zone = ".".join(_labels(zone)) if zone is not None else None
        labels = _labels(qname)
        self._base = 12 + sum(len(label) + 1 for label in labels) + 1 + 4
        offset = 12
        for i, label in enumerate(labels):
            suffix = ".".join(labels[i:])
            if compress and (self._zone is None or i == 0 or suffix == self._zone):
                self._offsets[suffix] = offset
            offset += len(label) + 1

    def name(self, text: str, compress: bool = True) -> None:
        labels = _labels(text)
        body = self.body
        compress = compress and self._compress
        for i, label in enumerate(labels):
            suffix = ".".join(labels[i:])
            if compress:
                at = self._offsets.get(suffix)
                if at is not None:
                    body += struct.pack(">H", 0xC000 | at)
                    return
            if suffix == self._zone:
                self.zone_at.append(len(body))
            here = self._base + len(body)
            if self._compress and here <= _MAX_POINTER and suffix not in self._offsets:
                self._offsets[suffix] = here
            encoded = label.encode("ascii")
            body.append(len(encoded))
            body += encoded
        body.append(0)

    def rrset(self, rows: RowSet) -> int:
        """Write every record of ``rows``; the number written."""
        for text in rows.rdatas:
            self.name(rows.owner)
            start = len(self.body)
            self.body += b"\0" * RR_FIXED.size
            self._rdata(rows.rdtype, text)
            length = len(self.body) - start - RR_FIXED.size
            RR_FIXED.pack_into(self.body, start, rows.rdtype, 1, rows.ttl, length)
        return len(rows.rdatas)

    def _rdata(self, rdtype: int, text: str) -> None:
        if rdtype == TYPE_A:
            self.body += socket.inet_aton(text)
        elif rdtype == TYPE_AAAA:
            self.body += socket.inet_pton(socket.AF_INET6, text)
        elif rdtype in (TYPE_CNAME, TYPE_PTR, TYPE_NS):
            self.name(text)
        elif rdtype == TYPE_SRV:
            priority, weight, port, target = text.split()
            self.body += _SRV_FIXED.pack(int(priority), int(weight), int(port))
            self.name(target, compress=False)
        elif rdtype == TYPE_SOA:
            mname, rname, *timers = text.split()
            self.name(mname)
            self.name(rname)
            self.body += _SOA_FIXED.pack(*(int(t) for t in timers))
        else:
            rdata = dns.rdata.from_text(
                dns.rdataclass.IN, dns.rdatatype.RdataType.make(rdtype), text
            )
            self.body += rdata.to_digestable()


def encode_sections(
    qname: str,
    sections: Sequence[Iterable[RowSet]],
    zone: str | None = None,
    compress: bool = True,
) -> tuple[bytes, list[int], tuple[int, ...]]:
    """The wire bytes of ``sections`` after a question for ``qname``, each section's count,
    and where the zone's labels were written out (``SectionWriter``)."""
    writer = SectionWriter(qname, zone, compress)
    counts = [sum(writer.rrset(rows) for rows in section) for section in sections]
    return bytes(writer.body), counts, tuple(writer.zone_at)


def _labels(name: str) -> list[str]:
    text = name.rstrip(".")
    return text.split(".") if text else []
