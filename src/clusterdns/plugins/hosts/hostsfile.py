"""The hosts-file format (hosts(5)) turned into records: A, AAAA and PTR."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

from clusterdns.dns.names import absolute
from clusterdns.dns.zone import Record, zone_of


@dataclass(frozen=True, slots=True)
class Entry:
    address: str
    names: tuple[str, ...]


def parse_hosts(text: str) -> list[Entry]:
    """Entries of a hosts file; lines that are not ``IP NAME...`` are skipped, as libc does."""
    entries = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].split()
        if len(line) < 2:
            continue
        entry = make_entry(line[0], line[1:])
        if entry is not None:
            entries.append(entry)
    return entries


def make_entry(address: str, names: Iterable[str]) -> Entry | None:
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:10.0.0.2 is an IPv4 address, as Go's ParseIP reads it
    return Entry(str(ip), tuple(absolute(n) for n in names))


def records(
    entries: Iterable[Entry], zones: tuple[str, ...], ttl: int, reverse: bool
) -> dict[str, list[Record]]:
    """Owner -> records: A/AAAA for names in ``zones``, PTR for every address unless not ``reverse``."""
    table: dict[str, list[Record]] = {}
    for entry in entries:
        ip = ipaddress.ip_address(entry.address)
        rtype = "AAAA" if ip.version == 6 else "A"
        for name in entry.names:
            if zone_of(name, zones) is None:
                continue
            rows = table.setdefault(name, [])
            if not any(r.rdtype == rtype and r.rdata == entry.address for r in rows):
                rows.append(Record(rtype, ttl, entry.address))
            if reverse:
                owner = ip.reverse_pointer + "."
                ptrs = table.setdefault(owner, [])
                if not any(r.rdata == name for r in ptrs):
                    ptrs.append(Record("PTR", ttl, name))
    return table
