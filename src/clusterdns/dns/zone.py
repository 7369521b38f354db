"""Authoritative data as a table of compiled answers (RFC 1034 4.3.2, RFC 2308).

A ``RecordTable`` holds records as zone-file text per owner name and answers
``lookup(name, qtype)`` with a ready ``Answer``.  Answers are compiled the
first time they are asked for and kept until a record they were built from
changes, so a change to one service touches only its own names and the
answers that pointed at them (a CNAME chased into it, an SRV whose targets'
addresses went into the additional section).
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

import dns.rdatatype
import dns.rrset

from clusterdns.dns.names import longest_zone
from clusterdns.dns.reply import Answer, compile_answer
from clusterdns.dns.wire import (
    NOERROR,
    NXDOMAIN,
    TYPE_A,
    TYPE_AAAA,
    TYPE_ANY,
    TYPE_CNAME,
    TYPE_NS,
    TYPE_SOA,
    TYPE_SRV,
)

FOUND, NODATA, MISSING = "found", "nodata", "nxdomain"
MAX_CNAME_CHAIN = 8
MAX_COMPILED = 200_000  # bounds memory when clients ask random types of existing names


class RecordLike(Protocol):
    @property
    def rdtype(self) -> str: ...
    @property
    def ttl(self) -> int: ...
    @property
    def rdata(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Record:
    """One record: type (``A``, ``SRV``...), TTL and rdata in zone-file text."""

    rdtype: str
    ttl: int
    rdata: str


@dataclass(frozen=True, slots=True)
class Result:
    status: str  # FOUND, NODATA or MISSING (NXDOMAIN)
    answer: Answer


def zone_of(name: str, zones: Iterable[str]) -> str | None:
    """The longest of ``zones`` that ``name`` is in or at, or None."""
    return longest_zone(name, zones)


def ancestors(name: str, apex: str) -> list[str]:
    """The names strictly between ``name`` and ``apex``, plus the apex itself."""
    out = []
    while name != apex:
        name = name.split(".", 1)[1] or "."
        out.append(name)
        if name == ".":
            break
    return out


class RecordTable:
    """Records by owner, for one or more zones, compiled to answers on demand."""

    def __init__(self, zones: Iterable[str]) -> None:
        self.zones = tuple(zones)
        self._records: dict[str, tuple[tuple[int, int, str], ...]] = {}
        self._descendants: Counter[str] = Counter()
        self._compiled: dict[str, dict[int, Result]] = {}
        self._dependents: dict[str, set[str]] = {}
        self._negative: dict[tuple[str, int], Answer] = {}
        self.generation = 0

    # -- changing the data -------------------------------------------------

    def replace(self, owner: str, records: Iterable[RecordLike] | None) -> None:
        """Set the records of ``owner``; forget the answers built from it.

        ``None`` removes the name; an empty list keeps it as a name that exists
        with no data (NODATA for every type, RFC 8020).
        """
        rows = (
            None
            if records is None
            else tuple(sorted({(_type_code(r.rdtype), r.ttl, r.rdata) for r in records}))
        )
        old = self._records.get(owner)
        if old == rows and (rows is not None or owner not in self._records):
            return
        apex = zone_of(owner, self.zones)
        if apex is None:
            raise ValueError(f"{owner} is outside the zones {', '.join(self.zones)}")
        if old is None and rows is not None and owner not in self._records:
            self._descendants.update(ancestors(owner, apex))
        elif owner in self._records and rows is None:
            for name in ancestors(owner, apex):
                left = self._descendants[name] - 1
                if left > 0:
                    self._descendants[name] = left
                else:
                    del self._descendants[name]
        if rows is not None:
            self._records[owner] = rows
        else:
            self._records.pop(owner, None)
        if owner == apex:
            self._negative = {k: v for k, v in self._negative.items() if k[0] != apex}
        self._forget(owner)
        self.generation += 1

    def replace_many(self, changes: Mapping[str, Iterable[RecordLike] | None]) -> None:
        for owner, records in changes.items():
            self.replace(owner, records)

    def owners(self) -> list[str]:
        return list(self._records)

    def records(self, owner: str) -> tuple[tuple[int, int, str], ...] | None:
        return self._records.get(owner)

    def _forget(self, owner: str) -> None:
        self._compiled.pop(owner, None)
        for dependent in self._dependents.pop(owner, ()):
            self._compiled.pop(dependent, None)

    # -- answering ---------------------------------------------------------

    def exists(self, name: str) -> bool:
        """Has records, or is an empty non-terminal above names that do (RFC 8020)."""
        return name in self._records or self._descendants[name] > 0

    def lookup(self, name: str, qtype: int) -> Result | None:
        """The answer for ``name``/``qtype``, or None when ``name`` is outside our zones."""
        per_name = self._compiled.get(name)
        if per_name is not None:
            hit = per_name.get(qtype)
            if hit is not None:
                return hit
        apex = zone_of(name, self.zones)
        if apex is None:
            return None
        result = self._compile(name, qtype, apex)
        if result.status != MISSING:
            if sum(len(v) for v in self._compiled.values()) > MAX_COMPILED:
                self._compiled.clear()
            self._compiled.setdefault(name, {})[qtype] = result
        return result

    def _rrsets(self, owner: str, qtype: int) -> list[dns.rrset.RRset]:
        rows = [row for row in self._records.get(owner, ()) if qtype in (TYPE_ANY, row[0])]
        by_type: dict[int, dns.rrset.RRset] = {}
        for code, ttl, text in rows:
            rrset = by_type.get(code)
            if rrset is None:
                rrset = by_type[code] = dns.rrset.from_text(
                    owner, ttl, "IN", dns.rdatatype.RdataType.make(code), text
                )
            else:
                rrset.add(
                    dns.rrset.from_text(owner, ttl, "IN", dns.rdatatype.RdataType.make(code), text)[
                        0
                    ]
                )
                rrset.update_ttl(min(rrset.ttl, ttl))
        return list(by_type.values())

    def _depend(self, target: str, name: str) -> None:
        self._dependents.setdefault(target, set()).add(name)

    def _compile(self, name: str, qtype: int, apex: str) -> Result:
        if name not in self._records:
            if self._descendants[name] > 0:
                return Result(NODATA, self._negative_answer(apex, NOERROR))
            return Result(MISSING, self._negative_answer(apex, NXDOMAIN))
        answer = self._rrsets(name, qtype)
        if not answer and qtype != TYPE_CNAME:
            answer = self._chase_cname(name, qtype)
        if not answer:
            return Result(NODATA, self._negative_answer(apex, NOERROR))
        additional = self._additional(name, answer)
        return Result(FOUND, compile_answer(name, qtype, NOERROR, answer, (), additional))

    def _chase_cname(self, name: str, qtype: int) -> list[dns.rrset.RRset]:
        """CNAME, then the target's records when the target is ours (RFC 1034 4.3.2 step 3a)."""
        chain: list[dns.rrset.RRset] = []
        current = name
        for _ in range(MAX_CNAME_CHAIN):
            cname = self._rrsets(current, TYPE_CNAME)
            if not cname:
                break
            chain.extend(cname)
            target = cname[0][0].target.to_text().lower()
            self._depend(target, name)
            if zone_of(target, self.zones) is None or target in (name, current):
                break
            current = target
            found = self._rrsets(current, qtype)
            if found:
                chain.extend(found)
                break
        return chain

    def _additional(self, name: str, answer: list[dns.rrset.RRset]) -> list[dns.rrset.RRset]:
        """Addresses of SRV targets and NS hosts we hold (RFC 2782, RFC 1034 4.3.2 step 6)."""
        targets: list[str] = []
        for rrset in answer:
            if rrset.rdtype == TYPE_SRV or rrset.rdtype == TYPE_NS:
                targets.extend(rd.target.to_text().lower() for rd in rrset)
        additional: list[dns.rrset.RRset] = []
        for target in dict.fromkeys(targets):
            self._depend(target, name)
            additional.extend(self._rrsets(target, TYPE_A))
            additional.extend(self._rrsets(target, TYPE_AAAA))
        return additional

    def negative(self, name: str, rcode: int) -> Answer | None:
        """The NXDOMAIN or NODATA answer for a name in one of our zones (None outside them)."""
        apex = zone_of(name, self.zones)
        return None if apex is None else self._negative_answer(apex, rcode)

    def _negative_answer(self, apex: str, rcode: int) -> Answer:
        """SOA in the authority section (RFC 2308 3), written without compression.

        Uncompressed, the same bytes follow any question, so one answer per
        zone serves every name in it.
        """
        key = (apex, rcode)
        cached = self._negative.get(key)
        if cached is not None:
            return cached
        soa = self._rrsets(apex, TYPE_SOA)
        body = io.BytesIO()
        for rrset in soa:
            rrset.to_wire(body)
        answer = Answer(rcode, 0, len(soa), 0, body.getvalue())
        self._negative[key] = answer
        return answer


_TYPE_CODES: dict[str, int] = {}


def _type_code(rdtype: str) -> int:
    code = _TYPE_CODES.get(rdtype)
    if code is None:
        code = _TYPE_CODES[rdtype] = int(dns.rdatatype.from_text(rdtype))
    return code
