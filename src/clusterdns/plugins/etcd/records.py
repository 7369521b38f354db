"""SkyDNS services -> DNS records for one owner name, as CoreDNS's ``plugin/backend_lookup.go``.

Pure functions: the services found for a name (the whole subtree below its
key, or the key itself) in, records as zone-file text out.  Each rule names the
function of backend_lookup.go it follows.

* ``A``/``AAAA``: a service whose host is an address (``A``, ``AAAA``).
* ``CNAME``: a service whose host is a name and that has no text; a host at or
  below the owner is a loop and is dropped (``A``: "x CNAME x is a direct loop").
  In a reverse zone such a host is a ``PTR`` instead (``PTR``).
* ``SRV``: every service with a host, port from ``port``; the target is the host
  when it is a name, else the name of the service's own key (``SRV``); weights
  are shared out per priority as ``SRV`` does; port -1 means no SRV.
* ``TXT``: a service with text and no address (``TXT``), split in 255-byte strings.
* ``MX``: a service with ``"mail": true``, preference from ``priority`` (``MX``).

The apex also has the SOA (``SOA``: TTL 30, ``ns.dns.<zone>``,
``hostmaster.<zone>``, refresh 7200, retry 1800, expire 86400, minimum 30) and
NS records for the addresses under ``ns.dns.<zone>`` (``NS``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from clusterdns.dns.zone import Record
from clusterdns.plugins.etcd.msg import Service, name_of, split255, target_strip

#: CoreDNS xfr.go ``MinTTL``: the SOA minimum, and the SOA's own TTL (min(MinTTL, 300))
SOA_MINIMUM = 30
SOA_TIMERS = (7200, 1800, 86400)


def in_or_at(name: str, zone: str) -> bool:
    return zone == "." or name == zone or name.endswith("." + zone)


def is_reverse(name: str) -> bool:
    return name.endswith(("in-addr.arpa.", "ip6.arpa."))


def srv_weights(services: Sequence[Service]) -> dict[int, int]:
    """Sum of the weights per priority, an unset weight counting 100 (``SRV``'s first loop)."""
    totals: dict[int, int] = {}
    for service in services:
        totals[service.priority] = totals.get(service.priority, 0) + (service.weight or 100)
    return totals


def srv_weight(service: Service, totals: dict[int, int]) -> int:
    """``floor(100 / total * weight)``, an unset weight counting 100, at least 1 (``SRV``)."""
    share = 100.0 / totals[service.priority] * (service.weight or 100)
    return max(1, math.floor(share))


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _fqdn(name: str) -> str:
    return name.lower() if name.endswith(".") else name.lower() + "."


def service_records(owner: str, services: Iterable[Service], prefix: str) -> list[Record]:
    """The records at ``owner`` from the services found for it (the rules in this module's doc)."""
    services = [s for s in services if s.host or s.text]  # etcd.go shouldInclude
    reverse = is_reverse(owner)
    records: list[Record] = []
    seen: set[tuple[str, str]] = set()

    def add(rdtype: str, ttl: int, rdata: str) -> None:
        if (rdtype, rdata) not in seen:
            seen.add((rdtype, rdata))
            records.append(Record(rdtype, ttl, rdata))

    with_host = [s for s in services if s.host]
    totals = srv_weights(with_host)
    for service in services:
        kind = service.kind
        if kind == "TXT":
            add("TXT", service.ttl, " ".join(_quote(part) for part in split255(service.text)))
            if reverse and service.host:
                add("PTR", service.ttl, _fqdn(service.host))
            continue
        if kind in ("A", "AAAA"):
            add(kind, service.ttl, str(service.address))
            target = name_of(service.key, prefix) or owner
        else:
            target = _fqdn(service.host)
            if reverse:
                add("PTR", service.ttl, target)
            elif not in_or_at(target, owner):
                add("CNAME", service.ttl, target)
        if service.targetstrip:
            target = target_strip(target, service.targetstrip)
        if service.port != -1:
            weight = srv_weight(service, totals)
            add("SRV", service.ttl, f"{service.priority} {weight} {service.port} {target}")
        if service.mail:
            add("MX", service.ttl, f"{service.priority} {target}")
    return records


def soa_record(zone: str, serial: int) -> Record:
    """The zone's SOA as CoreDNS's ``SOA`` makes it for the etcd plugin."""
    refresh, retry, expire = SOA_TIMERS
    rdata = (
        f"ns.dns.{zone} hostmaster.{zone} {serial & 0xFFFFFFFF} "
        f"{refresh} {retry} {expire} {SOA_MINIMUM}"
    )
    return Record("SOA", min(SOA_MINIMUM, 300), rdata)


def ns_records(zone: str, nameservers: Iterable[Service], prefix: str) -> list[Record]:
    """NS at the apex: one per address under ``ns.dns.<zone>``, named after its key (``NS``).

    CoreDNS answers SERVFAIL when one of them is a name; such entries are left out here.
    """
    records: dict[str, Record] = {}
    for service in nameservers:
        if service.address is None:
            continue
        target = name_of(service.key, prefix)
        if target is None:
            continue
        if service.targetstrip:
            target = target_strip(target, service.targetstrip)
        records.setdefault(target, Record("NS", service.ttl, target))
    return list(records.values())


def apex_records(
    zone: str,
    serial: int,
    everything: Sequence[Service],
    apex_entries: Sequence[Service],
    nameservers: Sequence[Service],
    prefix: str,
) -> list[Record]:
    """The apex: SOA, NS, addresses from ``apex.dns.<zone>`` (else from the whole zone), the rest.

    backend_lookup.go ``checkForApex``: A and AAAA at the zone name come from the
    entries under ``apex.dns.<zone>``, or from the whole zone when there are none;
    SRV, TXT and MX at the zone name come from the whole zone.
    """
    records = [soa_record(zone, serial), *ns_records(zone, nameservers, prefix)]
    address_source = apex_entries or everything
    for record in service_records(zone, address_source, prefix):
        if record.rdtype in ("A", "AAAA", "CNAME", "PTR"):
            records.append(record)
    for record in service_records(zone, everything, prefix):
        if record.rdtype in ("SRV", "TXT", "MX"):
            records.append(record)
    return records
