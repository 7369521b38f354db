"""Authoritative data as compiled answers (RFC 1034 4.3.2, RFC 2308).

A ``RecordTable`` holds records as zone-file text per owner name and answers
``lookup(name, qtype)`` with a ready ``Answer``.  Answers are compiled the
first time they are asked for and kept until a record they were built from
changes.

Validity is tracked per *base* name with a version cell (``Versions``): an
answer remembers the cell of its base and the version it was built at, and is
stale once the cell moves on.  A change bumps the cells it touches, in time
proportional to the change; nothing is searched or swept.  The server's
memo keeps the same (cell, version) pair with each reply it stores, so a
bump retires memoized replies too.  By default every name is its own base;
a subclass that computes records lazily (the kubernetes zone) can group the
names of one service under one base and bump them together.

Both caches are bounded and evict their oldest entries one at a time.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import ClassVar, Protocol

import dns.rdatatype
import dns.rrset

from clusterdns.dns.names import longest_zone
from clusterdns.dns.reply import Answer, compile_answer
from clusterdns.dns.rrwire import RowSet, SectionWriter, encode_sections
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
#: names whose compiled answers are kept (clients asking random names cannot grow it)
MAX_COMPILED = 200_000
#: base names with a validity cell
MAX_CELLS = 400_000

Rows = tuple[tuple[int, int, str], ...]
"""The records of one owner: (type code, TTL, rdata text), sorted."""

Cell = list[int]
"""A validity cell: one mutable version number shared by every answer built on a base."""


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
    #: valid while ``cell[0] == version``
    cell: Cell
    version: int
    #: the CNAME target outside our zones the answer ends at ("" when none)
    external: str = ""

    @property
    def guard(self) -> tuple[Cell, int]:
        return (self.cell, self.version)


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


def rows_of(records: Iterable[RecordLike]) -> Rows:
    return tuple(sorted({(_type_code(r.rdtype), r.ttl, r.rdata) for r in records}))


class Versions:
    """Validity cells by base name, bounded: an evicted cell is bumped on its way out."""

    __slots__ = ("_cells", "capacity")

    def __init__(self, capacity: int = MAX_CELLS) -> None:
        self._cells: OrderedDict[str, Cell] = OrderedDict()
        self.capacity = capacity

    def cell(self, base: str) -> Cell:
        cell = self._cells.get(base)
        if cell is None:
            if len(self._cells) >= self.capacity:
                _, oldest = self._cells.popitem(last=False)
                oldest[0] += 1
            cell = self._cells[base] = [0]
        return cell

    def bump(self, base: str) -> bool:
        """Retire every answer built on ``base``; False when none was ever built."""
        cell = self._cells.get(base)
        if cell is None:
            return False
        cell[0] += 1
        return True

    def bump_all(self) -> None:
        for cell in self._cells.values():
            cell[0] += 1

    def __len__(self) -> int:
        return len(self._cells)


class RecordTable:
    """Records by owner, for one or more zones, compiled to answers on demand.

    The class attributes say how a lookup reads the records; the defaults are
    RFC 1034's, a subclass can take those of the server it follows.
    """

    #: query types a CNAME answers for (and is followed for); None: every type (RFC 1034 4.3.2)
    cname_types: ClassVar[frozenset[int] | None] = None
    #: a CNAME to a name in our zones with no records of the type is left out: NODATA
    cname_needs_target: ClassVar[bool] = False
    #: ANY is answered with every record of the name; False: NODATA
    answers_any: ClassVar[bool] = True
    #: names in the zone are written in the zone as the question spells it
    zone_case: ClassVar[bool] = False

    def __init__(self, zones: Iterable[str], *, max_compiled: int = MAX_COMPILED) -> None:
        self.zones = tuple(zones)
        self._records: dict[str, Rows] = {}
        self._descendants: Counter[str] = Counter()
        self._compiled: OrderedDict[str, tuple[Cell, int, dict[int, Result]]] = OrderedDict()
        self._max_compiled = max_compiled
        self._dependents: dict[str, set[str]] = {}
        self._negative: dict[tuple[str, int], Answer] = {}
        #: cells that negative answers (which carry the SOA) were built on, by id
        self._negative_cells: dict[int, Cell] = {}
        self.versions = Versions()

    # -- where records come from (a lazy subclass overrides these) ----------

    def rows(self, owner: str) -> Rows | None:
        """The records at ``owner``; None when it has none (it may still be an empty non-terminal)."""
        return self._records.get(owner)

    def exists(self, name: str) -> bool:
        """Has records, or is an empty non-terminal above names that do (RFC 8020)."""
        return name in self._records or self._descendants[name] > 0

    def base_of(self, name: str, apex: str) -> str:
        """The name whose validity cell answers for ``name`` carry."""
        return name

    # -- changing the data -------------------------------------------------

    def replace(self, owner: str, records: Iterable[RecordLike] | None) -> None:
        """Set the records of ``owner``; retire the answers built from it.

        ``None`` removes the name; an empty list keeps it as a name that exists
        with no data (NODATA for every type, RFC 8020).
        """
        rows = None if records is None else rows_of(records)
        old = self._records.get(owner)
        if old == rows and (rows is not None or owner not in self._records):
            return
        apex = zone_of(owner, self.zones)
        if apex is None:
            raise ValueError(f"{owner} is outside the zones {', '.join(self.zones)}")
        flipped: list[str] = []
        if rows is not None and owner not in self._records:
            for name in ancestors(owner, apex):
                self._descendants[name] += 1
                if self._descendants[name] == 1:
                    flipped.append(name)
        elif rows is None and owner in self._records:
            for name in ancestors(owner, apex):
                left = self._descendants[name] - 1
                if left > 0:
                    self._descendants[name] = left
                else:
                    del self._descendants[name]
                    flipped.append(name)
        if rows is not None:
            self._records[owner] = rows
        else:
            self._records.pop(owner, None)
        self.changed(owner, apex)
        for name in flipped:  # an empty non-terminal appeared or went away
            self.changed(name, apex)

    def replace_many(self, changes: Mapping[str, Iterable[RecordLike] | None]) -> None:
        for owner, records in changes.items():
            self.replace(owner, records)

    def changed(self, name: str, apex: str) -> None:
        """Retire the answers at ``name`` and those built from it (CNAME chasers, glue)."""
        if name == apex:
            # the SOA is in every negative answer of the zone: retire those, not the rest
            self._negative = {k: v for k, v in self._negative.items() if k[0] != apex}
            for cell in self._negative_cells.values():
                cell[0] += 1
            self._negative_cells.clear()
        self._bump(self.base_of(name, apex), set())

    def _bump(self, base: str, seen: set[str]) -> None:
        seen.add(base)
        self.versions.bump(base)
        for dependent in self._dependents.pop(base, ()):
            if dependent not in seen:
                self._bump(dependent, seen)

    # -- answering ---------------------------------------------------------

    def lookup(self, name: str, qtype: int) -> Result | None:
        """The answer for ``name``/``qtype``, or None when ``name`` is outside our zones."""
        entry = self._compiled.get(name)
        if entry is not None and entry[0][0] == entry[1]:
            hit = entry[2].get(qtype)
            if hit is not None:
                return hit
        apex = zone_of(name, self.zones)
        if apex is None:
            return None
        cell = self.versions.cell(self.base_of(name, apex))
        if entry is None or entry[0] is not cell or cell[0] != entry[1]:
            entry = (cell, cell[0], {})
            if name not in self._compiled and len(self._compiled) >= self._max_compiled:
                self._compiled.popitem(last=False)
            self._compiled[name] = entry
        result = self._compile(name, qtype, apex, cell)
        entry[2][qtype] = result
        return result

    def _sets(self, owner: str, qtype: int) -> list[RowSet]:
        """The RRsets at ``owner`` of ``qtype`` (all types for ANY); an RRset takes its
        smallest TTL (RFC 2181 5.2)."""
        by_type: dict[int, tuple[int, list[str]]] = {}
        for code, ttl, text in self.rows(owner) or ():
            if qtype != TYPE_ANY and code != qtype:
                continue
            held = by_type.get(code)
            if held is None:
                by_type[code] = (ttl, [text])
            else:
                if text not in held[1]:
                    held[1].append(text)
                by_type[code] = (min(held[0], ttl), held[1])
        return [RowSet(owner, code, ttl, tuple(texts)) for code, (ttl, texts) in by_type.items()]

    def _depend(self, target: str, name: str) -> None:
        """Answers at ``name`` were built from records at ``target``."""
        apex_t, apex_n = zone_of(target, self.zones), zone_of(name, self.zones)
        if apex_t is None or apex_n is None:
            return
        base_t, base_n = self.base_of(target, apex_t), self.base_of(name, apex_n)
        if base_t != base_n:
            self._dependents.setdefault(base_t, set()).add(base_n)

    def _compile(self, name: str, qtype: int, apex: str, cell: Cell) -> Result:
        version = cell[0]
        if self.rows(name) is None:
            if self.exists(name):
                return self._negative_result(NODATA, apex, cell)
            return self._negative_result(MISSING, apex, cell)
        answer = [] if qtype == TYPE_ANY and not self.answers_any else self._sets(name, qtype)
        external = ""
        if not answer and qtype != TYPE_CNAME and self._follows_cname(qtype):
            answer, external = self._chase_cname(name, qtype)
        if not answer:
            return self._negative_result(NODATA, apex, cell)
        additional = self._additional(name, answer)
        encoded = self.encode(name, qtype, answer, additional, apex)
        return Result(FOUND, encoded, cell, version, external)

    def _follows_cname(self, qtype: int) -> bool:
        return self.cname_types is None or qtype in self.cname_types

    def _negative_result(self, status: str, apex: str, cell: Cell) -> Result:
        if len(self._negative_cells) >= MAX_CELLS:
            self.versions.bump_all()  # too many to follow one by one: retire everything once
            self._negative_cells.clear()
        self._negative_cells[id(cell)] = cell
        rcode = NXDOMAIN if status == MISSING else NOERROR
        return Result(status, self._negative_answer(apex, rcode), cell, cell[0])

    def encode(
        self,
        name: str,
        qtype: int,
        answer: list[RowSet],
        additional: list[RowSet],
        apex: str | None = None,
    ) -> Answer:
        """The compiled answer: our own wire writer, dnspython for names it would not parse."""
        if "\\" in name:
            return compile_answer(
                name, qtype, NOERROR, to_rrsets(answer), (), to_rrsets(additional)
            )
        zone = apex if self.zone_case else None
        body, (ancount, arcount), zone_at = encode_sections(name, (answer, additional), zone)
        return Answer(NOERROR, ancount, 0, arcount, body, zone_at=zone_at, zone_len=_wire_len(zone))

    def _chase_cname(self, name: str, qtype: int) -> tuple[list[RowSet], str]:
        """CNAME, then the target's records when the target is ours (RFC 1034 4.3.2 step 3a).

        Also the target outside our zones the chain ends at, if it does.
        """
        chain: list[RowSet] = []
        current = name
        for _ in range(MAX_CNAME_CHAIN):
            cname = self._sets(current, TYPE_CNAME)
            if not cname:
                break
            chain.extend(cname)
            target = cname[0].rdatas[0].lower()
            self._depend(target, name)
            if zone_of(target, self.zones) is None:
                return chain, target
            if target in (name, current):
                break
            current = target
            found = self._sets(current, qtype)
            if found:
                chain.extend(found)
                return chain, ""
        return ([] if self.cname_needs_target else chain), ""

    def _additional(self, name: str, answer: list[RowSet]) -> list[RowSet]:
        """Addresses of SRV targets and NS hosts we hold (RFC 2782, RFC 1034 4.3.2 step 6)."""
        targets: list[str] = []
        for rows in answer:
            if rows.rdtype == TYPE_SRV:
                targets.extend(text.split()[-1].lower() for text in rows.rdatas)
            elif rows.rdtype == TYPE_NS:
                targets.extend(text.lower() for text in rows.rdatas)
        additional: list[RowSet] = []
        for target in dict.fromkeys(targets):
            self._depend(target, name)
            additional.extend(self._sets(target, TYPE_A))
            additional.extend(self._sets(target, TYPE_AAAA))
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
        zone = apex if self.zone_case else None
        writer = SectionWriter(apex, zone, compress=False)
        count = sum(writer.rrset(rows) for rows in self._sets(apex, TYPE_SOA))
        answer = Answer(
            rcode,
            0,
            count,
            0,
            bytes(writer.body),
            zone_at=tuple(writer.zone_at),
            zone_len=_wire_len(zone),
        )
        self._negative[key] = answer
        return answer


def to_rrsets(sets: list[RowSet]) -> list[dns.rrset.RRset]:
    """dnspython RRsets of row sets (the uncompressed SOA of negative answers, odd names)."""
    out = []
    for rows in sets:
        rdtype = dns.rdatatype.RdataType.make(rows.rdtype)
        out.append(dns.rrset.from_text_list(rows.owner, rows.ttl, "IN", rdtype, list(rows.rdatas)))
    return out


def _wire_len(zone: str | None) -> int:
    """The length of ``zone`` on the wire, root byte included (0 for None)."""
    if zone is None:
        return 0
    return sum(len(label) + 1 for label in zone.rstrip(".").split(".") if label) + 1


_TYPE_CODES: dict[str, int] = {}


def _type_code(rdtype: str) -> int:
    code = _TYPE_CODES.get(rdtype)
    if code is None:
        code = _TYPE_CODES[rdtype] = int(dns.rdatatype.from_text(rdtype))
    return code
