"""An authoritative zone read from an RFC 1035 master file, and lookups in it (RFC 1034 4.3.2).

``ZoneData.from_text`` reads the file with dnspython's zone parser; ``lookup`` answers one
question from it without I/O: the answer, authority and additional records, the rcode and
whether the reply is authoritative.  What it implements:

* NXDOMAIN and NODATA carry the zone's SOA in the authority section (RFC 2308 2.1, 2.2); a name
  that exists only because a longer name does (an empty non-terminal) is NODATA (RFC 8020);
* wildcards (RFC 4592): ``*.<closest encloser>`` synthesizes records owned by the query name,
  and only at the closest encloser, so an empty non-terminal between blocks a shallower wildcard;
* CNAMEs are followed inside the zone, at most 8 links, and the last link decides the rcode
  (RFC 6604); a target outside the zone, or one already in the chain, ends the answer there;
* DNAMEs (RFC 6672): below a DNAME's owner the answer is the DNAME, a CNAME synthesized from the
  query name to the substituted name, and that name's answer (CoreDNS's dname.go);
* delegations (RFC 1034 4.3.2 step 3b): below a zone cut the reply is a referral, the cut's NS
  records in the authority section with their in-zone addresses as glue, without AA;
* positive answers carry the apex NS records in the authority section and, for MX, SRV, SVCB and
  HTTPS, the in-zone addresses of their targets in the additional section, as CoreDNS does.

DNSSEC records (beyond serving them as data) and zone transfers are not implemented.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

import dns.exception
import dns.name
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import dns.zone

from clusterdns.dns.wire import NOERROR, NXDOMAIN

MAX_CNAME_LINKS = 8
A, NS, CNAME, SOA, MX, SRV, AAAA = 1, 2, 5, 6, 15, 33, 28
SVCB, HTTPS, DS, DNAME = 64, 65, 43, 39
SERVFAIL, YXDOMAIN = 2, 6
WILDCARD = b"*"


class ZoneError(ValueError):
    """The file is not a zone we can serve: the message names the file and line."""


@dataclass(frozen=True, slots=True)
class Result:
    rcode: int
    answer: tuple[dns.rrset.RRset, ...] = ()
    authority: tuple[dns.rrset.RRset, ...] = ()
    additional: tuple[dns.rrset.RRset, ...] = ()
    aa: bool = True
    #: the name is not there (NXDOMAIN, or an empty non-terminal): ``fallthrough`` applies
    missing: bool = False


@dataclass
class ZoneData:
    origin: dns.name.Name
    serial: int
    rrsets: dict[dns.name.Name, dict[int, dns.rrset.RRset]]
    #: every owner name and every name between an owner and the origin (empty non-terminals)
    existing: set[dns.name.Name] = field(default_factory=set)

    @classmethod
    def from_text(cls, text: str, origin: str, filename: str) -> ZoneData:
        try:
            zone = _read(text, origin, filename)
        except dns.exception.SyntaxError as exc:
            raise ZoneError(_placed(str(exc), text, origin, filename)) from exc
        except dns.exception.DNSException as exc:
            raise ZoneError(f"{filename}: {exc}") from exc
        except OSError as exc:  # an $INCLUDE that cannot be read
            raise ZoneError(f"{filename}: {exc.filename}: {exc.strerror}") from exc
        apex = zone.origin
        assert apex is not None
        rrsets: dict[dns.name.Name, dict[int, dns.rrset.RRset]] = {}
        for name, rdataset in zone.iterate_rdatasets():
            owner = name if name.is_absolute() else name.derelativize(apex)
            rrset = dns.rrset.from_rdata_list(owner, rdataset.ttl, list(rdataset))
            rrsets.setdefault(owner, {})[int(rdataset.rdtype)] = rrset
        soa = rrsets.get(apex, {}).get(SOA)
        if soa is None:
            raise ZoneError(f"{filename}: no SOA record at the origin {apex}")
        existing: set[dns.name.Name] = set()
        for owner in rrsets:
            name = owner
            while name not in existing and name != apex:
                existing.add(name)
                name = name.parent()
        existing.add(apex)
        return cls(apex, int(soa[0].serial), rrsets, existing)

    # -- lookups -------------------------------------------------------------------------

    def lookup(self, qname: dns.name.Name, qtype: int) -> Result:
        return self._lookup(qname, qtype, (qname,))

    def _lookup(self, qname: dns.name.Name, qtype: int, chain: tuple[dns.name.Name, ...]) -> Result:
        apex = self.origin
        if qname == apex and qtype in (SOA, NS):
            found = self._type(apex, qtype)
            if qtype == SOA:
                return Result(NOERROR, found, self._type(apex, NS))
            return Result(NOERROR, found, (), self._glue(found))
        dname = self._dname(qname)
        if dname is not None:
            return self._substitute(qname, qtype, dname, chain)
        cut = self._cut(qname, qtype)
        if cut is not None:
            ns = self._type(cut, NS)
            return Result(NOERROR, (), ns, self._glue(ns), aa=False)
        node = self.rrsets.get(qname)
        if node is not None:
            return self._answer(qname, node, qtype, chain)
        if qname in self.existing:
            return Result(NOERROR, (), self._type(apex, SOA), missing=True)  # RFC 8020 ENT
        source = self._wildcard(qname)
        if source is not None:
            node = {t: _renamed(rrset, qname) for t, rrset in self.rrsets[source].items()}
            return self._answer(qname, node, qtype, chain)
        return Result(NXDOMAIN, (), self._type(apex, SOA), missing=True)

    def _answer(
        self,
        qname: dns.name.Name,
        node: dict[int, dns.rrset.RRset],
        qtype: int,
        chain: tuple[dns.name.Name, ...],
    ) -> Result:
        apex = self.origin
        cname = node.get(CNAME)
        if cname is not None and qtype != CNAME:
            target = cname[0].target
            if len(chain) > MAX_CNAME_LINKS or target in chain or not target.is_subdomain(apex):
                # outside the zone, a loop, or too long: the client follows it from here
                return Result(NOERROR, (cname,), self._type(apex, NS))
            return self._chase((cname,), target, qtype, chain)
        # CoreDNS keeps no ANY set: ANY finds no records, NODATA (its *any* plugin answers ANY)
        found = tuple(node[t] for t in (qtype,) if t in node)
        if not found:
            return Result(NOERROR, (), self._type(apex, SOA))
        return Result(NOERROR, found, self._type(apex, NS), self._targets(found))

    def _chase(
        self,
        head: tuple[dns.rrset.RRset, ...],
        target: dns.name.Name,
        qtype: int,
        chain: tuple[dns.name.Name, ...],
    ) -> Result:
        """``head`` (a CNAME, or a DNAME and its CNAME) then the answer for ``target``.

        As CoreDNS's externalLookup: a target that is a name of the zone without the asked
        type ends the answer with the apex NS, NOERROR (not NODATA); the rest is the
        target's own lookup, whose rcode is the reply's (RFC 6604).
        """
        rest = self._lookup(target, qtype, (*chain, target))
        authority = rest.authority
        if rest.rcode == NOERROR and not rest.answer and rest.aa and target in self.rrsets:
            authority = self._type(self.origin, NS)
        return Result(
            rest.rcode,
            (*head, *rest.answer),
            authority,
            rest.additional,
            aa=True,  # an authoritative alias keeps AA even before a referral
        )

    def _dname(self, qname: dns.name.Name) -> dns.rrset.RRset | None:
        """The DNAME of the highest name above ``qname`` (from the apex down) that has one,
        unless a zone cut comes first (CoreDNS lookup.go walks the labels from the right)."""
        apex = self.origin
        if not qname.is_subdomain(apex):
            return None
        for length in range(len(apex), len(qname)):
            name = qname.split(length)[1]
            node = self.rrsets.get(name)
            if node is None:
                continue
            if DNAME in node:
                return node[DNAME]
            if NS in node and name != apex:
                return None
        return None

    def _substitute(
        self,
        qname: dns.name.Name,
        qtype: int,
        dname: dns.rrset.RRset,
        chain: tuple[dns.name.Name, ...],
    ) -> Result:
        """RFC 6672 2.2: the DNAME, a CNAME from ``qname`` to the substituted name, and
        (unless CNAME was asked) the answer for that name (CoreDNS dname.go)."""
        try:
            target = qname.relativize(dname.name).concatenate(dname[0].target)
        except dns.name.NameTooLong:
            return Result(YXDOMAIN, (dname,), self._type(self.origin, NS))
        if target == qname:
            return Result(SERVFAIL)  # a substitution that does not change the name can only loop
        cname = dns.rrset.from_text(qname, dname.ttl, "IN", "CNAME", target.to_text())
        if qtype == CNAME:
            return Result(NOERROR, (dname, cname), self._type(self.origin, NS))
        if len(chain) > MAX_CNAME_LINKS or target in chain:
            return Result(NOERROR, (dname, cname), self._type(self.origin, NS))
        return self._chase((dname, cname), target, qtype, chain)

    def _cut(self, qname: dns.name.Name, qtype: int) -> dns.name.Name | None:
        """The highest zone cut at or above ``qname`` below the apex (a DS at the cut is the parent's)."""
        apex = self.origin
        if not qname.is_subdomain(apex) or qname == apex:
            return None
        depth = len(apex)
        for length in range(depth + 1, len(qname) + 1):
            name = qname.split(length)[1]
            node = self.rrsets.get(name)
            if node is not None and NS in node and not (name == qname and qtype == DS):
                return name
        return None

    def _wildcard(self, qname: dns.name.Name) -> dns.name.Name | None:
        """RFC 4592 3.3.1: the source of synthesis ``*.<closest encloser>``, when it has records."""
        encloser = qname.parent()
        while encloser not in self.existing:
            if encloser == self.origin or len(encloser) <= 1:
                return None
            encloser = encloser.parent()
        source = dns.name.Name((WILDCARD, *encloser.labels))
        return source if source in self.rrsets else None

    def _type(self, name: dns.name.Name, rdtype: int) -> tuple[dns.rrset.RRset, ...]:
        rrset = self.rrsets.get(name, {}).get(rdtype)
        return (rrset,) if rrset is not None else ()

    def _addresses(self, names: Iterable[dns.name.Name]) -> tuple[dns.rrset.RRset, ...]:
        out: list[dns.rrset.RRset] = []
        seen: set[dns.name.Name] = set()
        for name in names:
            if name in seen or not name.is_subdomain(self.origin):
                continue
            seen.add(name)
            node = self.rrsets.get(name, {})
            out.extend(node[t] for t in (A, AAAA) if t in node)
        return tuple(out)

    def _glue(self, ns: Iterable[dns.rrset.RRset]) -> tuple[dns.rrset.RRset, ...]:
        return self._addresses(rdata.target for rrset in ns for rdata in rrset)

    def _targets(self, found: Iterable[dns.rrset.RRset]) -> tuple[dns.rrset.RRset, ...]:
        names = []
        for rrset in found:
            for rdata in rrset:
                if rrset.rdtype == MX:
                    names.append(rdata.exchange)
                elif rrset.rdtype in (SRV, SVCB, HTTPS):
                    names.append(rdata.target)
        return self._addresses(names)


def _read(text: str, origin: str, filename: str) -> dns.zone.Zone:
    return dns.zone.from_text(
        text,
        origin=origin,
        relativize=False,
        filename=filename,
        allow_include=True,
        check_origin=False,
    )


_PLACE = re.compile(r"^(?P<file>.*):(?P<line>\d+): (?P<what>.*)$", re.DOTALL)


def _placed(message: str, text: str, origin: str, filename: str) -> str:
    """dnspython's ``file:line: what``, with the line of the record at fault.

    dnspython checks some rdata (an A record's address) after it has read the end of the
    line, and then names the next line.  When the text up to the line before the named one
    fails in the same way, the fault is on that earlier line.
    """
    match = _PLACE.match(message)
    if match is None or match.group("file") != filename:
        return message
    line = int(match.group("line"))
    prefix = "".join(text.splitlines(keepends=True)[: line - 1])
    if line > 1:
        try:
            _read(prefix, origin, filename)
        except dns.exception.SyntaxError as again:
            other = _PLACE.match(str(again))
            if other is not None and other.group("what") == match.group("what"):
                return f"{filename}:{line - 1}: {match.group('what')}"
        except dns.exception.DNSException:
            pass
    return message


def _renamed(rrset: dns.rrset.RRset, owner: dns.name.Name) -> dns.rrset.RRset:
    return dns.rrset.from_rdata_list(owner, rrset.ttl, list(rrset))
