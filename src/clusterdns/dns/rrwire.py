"""Record sets in zone-file text -> wire sections, without building dnspython objects.

Compiling an answer is on the path of the first query for every name, so at
50 000 services it must cost microseconds, not the tens of microseconds that
dnspython's object model takes.  The common types of cluster DNS (A, AAAA,
CNAME, PTR, NS, SRV) are encoded here; any other type goes through
dnspython's rdata parser, written uncompressed (always legal).

Names are compressed (RFC 1035 4.1.4) against a question at offset 12 and
against the names already written, except where a type forbids it: SRV
targets are never compressed (RFC 2782), nor are names inside rdata we hand
to dnspython.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import dns.rdata
import dns.rdataclass
import dns.rdatatype

TYPE_A, TYPE_NS, TYPE_CNAME, TYPE_PTR, TYPE_AAAA, TYPE_SRV = 1, 2, 5, 12, 28, 33
_RR_FIXED = struct.Struct(">HHIH")
_SRV_FIXED = struct.Struct(">HHH")
_MAX_POINTER = 0x3FFF


@dataclass(frozen=True, slots=True)
class RowSet:
    """One RRset: owner (absolute, lower-case), type code, TTL, and each record's rdata text."""

    owner: str
    rdtype: int
    ttl: int
    rdatas: tuple[str, ...]


class SectionWriter:
    """Writes records after a question for ``qname``, compressing names as it goes."""

    __slots__ = ("body", "_offsets", "_base")

    def __init__(self, qname: str) -> None:
        self.body = bytearray()
        self._offsets: dict[str, int] = {}
        labels = _labels(qname)
        self._base = 12 + sum(len(label) + 1 for label in labels) + 1 + 4
        offset = 12
        for i, label in enumerate(labels):
            self._offsets[".".join(labels[i:])] = offset
            offset += len(label) + 1

    def name(self, text: str, compress: bool = True) -> None:
        labels = _labels(text)
        body = self.body
        for i, label in enumerate(labels):
            suffix = ".".join(labels[i:])
            if compress:
                at = self._offsets.get(suffix)
                if at is not None:
                    body += struct.pack(">H", 0xC000 | at)
                    return
            here = self._base + len(body)
            if here <= _MAX_POINTER and suffix not in self._offsets:
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
            self.body += b"\0" * _RR_FIXED.size
            self._rdata(rows.rdtype, text)
            length = len(self.body) - start - _RR_FIXED.size
            _RR_FIXED.pack_into(self.body, start, rows.rdtype, 1, rows.ttl, length)
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
        else:
            rdata = dns.rdata.from_text(
                dns.rdataclass.IN, dns.rdatatype.RdataType.make(rdtype), text
            )
            self.body += rdata.to_digestable()


def encode_sections(qname: str, sections: Sequence[Iterable[RowSet]]) -> tuple[bytes, list[int]]:
    """The wire bytes of ``sections`` after a question for ``qname``, and each section's count."""
    writer = SectionWriter(qname)
    counts = [sum(writer.rrset(rows) for rows in section) for section in sections]
    return bytes(writer.body), counts


def _labels(name: str) -> list[str]:
    text = name.rstrip(".")
    return text.split(".") if text else []
