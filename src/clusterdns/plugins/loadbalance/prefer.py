"""Sans-I/O: CoreDNS's ``prefer CIDR...`` (plugin/loadbalance/prefer.go) on a reply's wire.

After the shuffle, the answer and additional sections are put in the order
CNAMEs, addresses (those in the first preferred subnet, then the second, ...,
then the rest, each group in its current order), MX, then everything else.
Records are handled one by one, so an AAAA may come before an A.
"""

from __future__ import annotations

import ipaddress

import dns.message
import dns.rdatatype
import dns.rrset

from clusterdns.plugins.loadbalance.shuffle import single_records

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_ADDRESSES = (dns.rdatatype.A, dns.rdatatype.AAAA)


def prefer(wire: bytes, subnets: tuple[Network, ...]) -> bytes | None:
    """The NOERROR reply with preferred addresses first; None when it cannot be read."""
    try:
        message = dns.message.from_wire(wire)
    except Exception:
        return None
    if message.rcode() != 0:
        return None
    message.answer = _reorder(message.answer, subnets)
    message.additional = _reorder(message.additional, subnets)
    return message.to_wire(max_size=65535)


def _reorder(section: list[dns.rrset.RRset], subnets: tuple[Network, ...]) -> list[dns.rrset.RRset]:
    records = single_records(section)
    cname = [r for r in records if r.rdtype == dns.rdatatype.CNAME]
    address = [r for r in records if r.rdtype in _ADDRESSES]
    mx = [r for r in records if r.rdtype == dns.rdatatype.MX]
    rest = [
        r for r in records if r.rdtype not in (*_ADDRESSES, dns.rdatatype.CNAME, dns.rdatatype.MX)
    ]
    seen: set[int] = set()
    matched: list[dns.rrset.RRset] = []
    for subnet in subnets:
        for index, record in enumerate(address):
            if index not in seen and ipaddress.ip_address(record[0].address) in subnet:
                matched.append(record)
                seen.add(index)
    unmatched = [r for index, r in enumerate(address) if index not in seen]
    return cname + matched + unmatched + mx + rest
