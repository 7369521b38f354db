"""Sans-I/O: what kind of reply a scanned message is, as CoreDNS's cache classifies it.

``typify`` is CoreDNS's ``response.Typify`` (plugin/pkg/response/typify.go);
``cache_type`` adds the cache's own reclassification (plugin/cache/cache.go
``cacheResponseType``): a NOERROR whose answer section does not answer the
question but that carries an SOA is NODATA (RFC 2308 2.2).  ``cacheable``
is CoreDNS's ``key()`` decision and ``answers_question`` its CNAME-chain walk
(RFC 1034 3.6.2, RFC 2181 10.1).  The wall clock (for RRSIG validity) is an
argument.
"""

from __future__ import annotations

from enum import Enum

from clusterdns.dns.wire import (
    NOERROR,
    NOTIMP,
    NXDOMAIN,
    SERVFAIL,
    TC,
    TYPE_ANY,
    TYPE_AXFR,
    TYPE_CNAME,
    TYPE_IXFR,
)
from clusterdns.plugins.cache.ttls import Record, Scan

CLASS_ANY = 255
OPCODE_NOTIFY, OPCODE_UPDATE = 4, 5
_YEAR68 = 1 << 31  # RFC 1982 serial arithmetic on RRSIG times (RFC 4034 3.1.5)


class Type(Enum):
    NOERROR = "NOERROR"
    NXDOMAIN = "NXDOMAIN"
    SERVERERROR = "SERVERERROR"
    NODATA = "NODATA"
    DELEGATION = "DELEGATION"
    META = "META"
    UPDATE = "UPDATE"
    OTHERERROR = "OTHERERROR"


def signature_valid(inception: int, expiration: int, now: int) -> bool:
    """An RRSIG's validity period holds ``now`` (unix seconds), read with serial arithmetic."""
    start = inception + (inception - now) // _YEAR68 * _YEAR68
    end = expiration + (expiration - now) // _YEAR68 * _YEAR68
    return start <= now <= end


def typify(found: Scan, now: int) -> Type:
    """CoreDNS's response.Typify on a scanned reply; ``now`` is the wall clock in unix seconds."""
    opcode = (found.flags >> 11) & 0xF
    if opcode == OPCODE_UPDATE:
        return Type.UPDATE
    if opcode == OPCODE_NOTIFY or found.question[1] in (TYPE_AXFR, TYPE_IXFR):
        return Type.META
    if found.do and any(not signature_valid(i, e, now) for i, e in found.signatures):
        return Type.OTHERERROR  # expired signatures in a DNSSEC reply
    rcode = found.rcode
    if found.ancount and rcode == NOERROR:
        return Type.NOERROR
    if found.ancount and rcode == NXDOMAIN:
        return Type.OTHERERROR
    if found.soa_in_authority and rcode == NOERROR:
        return Type.NODATA
    if rcode == NXDOMAIN:
        return Type.NXDOMAIN
    if rcode in (SERVFAIL, NOTIMP):
        return Type.SERVERERROR
    if found.ns_in_authority and rcode == NOERROR:
        return Type.DELEGATION
    if rcode == NOERROR:
        return Type.NOERROR
    return Type.OTHERERROR


def cache_type(found: Scan, now: int) -> Type:
    kind = typify(found, now)
    if kind is Type.NOERROR and found.soa_in_authority and is_nodata(found):
        return Type.NODATA
    return kind


def cacheable(found: Scan, kind: Type) -> bool:
    """CoreDNS's ``key()``: truncated replies, errors, meta and updates are never stored."""
    if found.flags & TC:
        return False
    if kind in (Type.OTHERERROR, Type.META, Type.UPDATE):
        return False
    if kind is Type.NXDOMAIN and not found.soa_in_authority:
        return False  # RFC 2308 5: no SOA, no negative TTL
    # An SOA-less non-answer (a dangling CNAME chain) is not stored either: RFC 2308 5.
    return not (kind is Type.NOERROR and not found.soa_in_authority and is_nodata(found))


def is_nodata(found: Scan) -> bool:
    """A non-empty answer section that does not answer the question."""
    return bool(found.answers) and not answers_question(found)


def answers_question(found: Scan) -> bool:
    """A NOERROR reply holds the asked type at the end of the CNAME chain from the query name."""
    if found.rcode != NOERROR or not found.answers:
        return False
    name, qtype, qclass = found.question
    answers = found.answers
    if qtype == TYPE_ANY:
        return any(_class_ok(r, qclass) and r.owner == name for r in answers)
    if qtype == TYPE_CNAME:
        target = _cname_target(answers, name, qclass)
        return bool(target)
    seen: set[str] = set()
    while True:
        if name in seen:
            return False  # a CNAME loop
        seen.add(name)
        target = _cname_target(answers, name, qclass)
        if target is None:
            return False  # two different canonical names for one owner
        if not target:
            break
        name = target
    return any(r.rtype == qtype and _class_ok(r, qclass) and r.owner == name for r in answers)


def _class_ok(record: Record, qclass: int) -> bool:
    return qclass == CLASS_ANY or record.rclass == qclass


def _cname_target(answers: tuple[Record, ...], owner: str, qclass: int) -> str | None:
    """The one canonical name of ``owner``: "" when it has no CNAME, None when it has two."""
    target = ""
    for record in answers:
        if record.rtype != TYPE_CNAME or record.owner != owner or not _class_ok(record, qclass):
            continue
        if target and target != record.target:
            return None
        target = record.target
    return target
