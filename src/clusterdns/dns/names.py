"""Names, zones and addresses as written in configuration: the one home of these helpers.

Pure functions on text: no I/O, nothing of ours imported, so the Corefile
parser, the plugins, the server and the tools all share them.

* ``absolute``: ``Example.ORG`` -> ``example.org.`` (lower case, trailing dot).
* ``is_subdomain``: CoreDNS's ``dns.IsSubDomain`` as ``plugin.Zones.Matches`` uses it:
  a name is in a zone when it equals it or ends with ``.`` + zone; the root
  zone ``.`` holds every name.
* ``origins``: a zone argument of a directive, a CIDR standing for its reverse zones.
* ``reverse_zones``: a CIDR -> the in-addr.arpa / ip6.arpa zones it spans, split
  on label boundaries as CoreDNS's ``plugin/pkg/cidr`` does.
* ``split_host_port``: ``HOST``, ``HOST:PORT``, ``[V6]:PORT``, ``V6`` -> (host, port),
  as Go's ``net.SplitHostPort`` with a default port.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

ROOT = "."
REVERSE_APEXES = ("in-addr.arpa.", "ip6.arpa.")


def absolute(name: str) -> str:
    """Lower-case ``name`` with its trailing dot (``.`` stays ``.``)."""
    name = name.lower()
    return name if name.endswith(".") else name + "."


def normalize_zone(zone: str) -> str:
    """A zone as a directive may write it (``dns://Example.org``) -> ``example.org.``."""
    if "://" in zone:
        zone = zone.split("://", 1)[1]
    return absolute(zone)


def is_subdomain(name: str, zone: str) -> bool:
    """Whether absolute, lower-case ``name`` is ``zone`` or below it; ``.`` holds every name."""
    return zone == ROOT or name == zone or name.endswith("." + zone)


def in_zones(name: str, zones: Iterable[str]) -> bool:
    """Whether ``name`` is in any of ``zones``."""
    return any(is_subdomain(name, zone) for zone in zones)


def longest_zone(name: str, zones: Iterable[str]) -> str | None:
    """The longest of ``zones`` that holds ``name`` (CoreDNS ``plugin.Zones.Matches``), or None."""
    best: str | None = None
    for zone in zones:
        if is_subdomain(name, zone) and (best is None or len(zone) > len(best)):
            best = zone
    return best


def is_reverse_zone(zone: str) -> bool:
    return zone.endswith(REVERSE_APEXES)


def origins(arg: str) -> list[str]:
    """A zone argument as CoreDNS's ``OriginsFromArgsOrServerBlock`` reads it: a CIDR
    stands for its reverse zones, anything else is a zone name."""
    if "/" in arg:
        try:
            return reverse_zones(arg)
        except ValueError:
            pass
    return [absolute(arg)]


def reverse_zones(cidr: str) -> list[str]:
    """The reverse zones of ``cidr``, split on label boundaries; ValueError when not a CIDR.

    ``10.0.0.0/8`` -> ``10.in-addr.arpa.``; ``10.0.0.0/17`` -> the 128 /24 zones
    it spans (an octet for IPv4, a nibble for IPv6 is one label).
    """
    network = ipaddress.ip_network(cidr, strict=False)
    step = 8 if network.version == 4 else 4
    prefixlen = -(-network.prefixlen // step) * step  # round up to the label boundary
    skip = (network.max_prefixlen - prefixlen) // step
    subnets = [network] if prefixlen == network.prefixlen else network.subnets(new_prefix=prefixlen)
    return [
        ".".join(subnet.network_address.reverse_pointer.split(".")[skip:]) + "."
        for subnet in subnets
    ]


def split_host_port(text: str, default_port: int) -> tuple[str, int]:
    """``HOST``, ``HOST:PORT``, ``:PORT``, ``[V6]:PORT``, ``[V6]`` or a bare IPv6 -> (host, port).

    The host is returned as written (empty means every address); ValueError
    says what is wrong with a port that is not a number in 0-65535.
    """
    host, port = text, str(default_port)
    if text.startswith("["):
        host, close, tail = text[1:].partition("]")
        if not close or (tail and not tail.startswith(":")):
            raise ValueError(f"{text!r}: expected [IPv6]:PORT")
        if tail:
            port = tail[1:]
    elif text.count(":") == 1:
        host, _, port = text.partition(":")
    if not port.isascii() or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"{text!r}: port must be a number from 0 to 65535")
    return host, int(port)


def is_ip(text: str) -> bool:
    """An IPv4 or IPv6 address in text form."""
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def split_ip_port(text: str, default_port: int) -> tuple[str, int]:
    """``split_host_port`` whose host must be an IP address and port 1-65535; ValueError otherwise."""
    host, port = split_host_port(text, default_port)
    if not is_ip(host):
        raise ValueError(f"{text!r}: expected an IP address as HOST:PORT")
    if port == 0:
        raise ValueError(f"{text!r}: port must be 1-65535")
    return host, port
