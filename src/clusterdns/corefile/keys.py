"""Server block keys -> the zones (and port, transport) they name.

CoreDNS (``core/dnsserver/register.go``, ``plugin/normalize.go``,
``plugin/pkg/cidr``) reads a key as ``[SCHEME://]ZONE[:PORT]``:

- the scheme is one of dns (the default), tls, quic, grpc, https, https3;
- the port is what follows the *last* colon when that is a number; without
  one a dns:// key takes the server's default port (53, ``-dns.port``) and
  the others their transport's port (853 for tls and quic, 443 otherwise);
- a ZONE that is an IP network in CIDR notation names reverse zones: the
  network is split into subnets on the next label boundary (8 bits for IPv4,
  4 bits, one nibble, for IPv6) and each subnet gives one zone, so
  ``10.0.0.0/15`` is ``0.10.in-addr.arpa.`` and ``1.10.in-addr.arpa.``;
- zones are made absolute and lower-cased.

This is stricter than CoreDNS where CoreDNS accepts nonsense without a word: a
zone may hold only letters, digits, ``-``, ``_`` and ``*`` between its dots,
so ``example.org::53`` or ``example.org:1053{`` are errors, not strange zones.
"""

from __future__ import annotations

from clusterdns.corefile.model import CorefileError, ServerAddress, ServerBlock
from clusterdns.dns.names import reverse_zones as cidr_reverse_zones

# The port a key without one gets, per scheme; dns:// takes the caller's default.
TRANSPORT_PORTS: dict[str, int] = {
    "tls": 853,
    "quic": 853,
    "grpc": 443,
    "https": 443,
    "https3": 443,
}
SCHEMES = ("dns", *TRANSPORT_PORTS)

_ZONE_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-_*")


def parse_server_key(key: str, default_port: int | None) -> list[ServerAddress]:
    """The zones ``key`` names (several for a CIDR off a label boundary).

    ``default_port`` is the port of a dns:// key that names none (None: leave
    it None and let the caller decide).  Raises CorefileError naming the key.
    """
    scheme, rest = _split_scheme(key)
    host, port = _split_port(key, rest)
    if port is None:
        port = TRANSPORT_PORTS.get(scheme, default_port)
    zones = reverse_zones(key, host) if "/" in host else [_normalize_zone(key, host)]
    return [ServerAddress(scheme, zone, port, key) for zone in zones]


def block_addresses(block: ServerBlock, default_port: int | None) -> list[ServerAddress]:
    """The addresses of all keys of ``block``; an error names the block's file and line."""
    try:
        return [address for key in block.keys for address in parse_server_key(key, default_port)]
    except CorefileError as exc:
        raise CorefileError(exc.reason, file=block.file, line=block.line) from None


def _fail(key: str, what: str) -> CorefileError:
    return CorefileError(f"server key {key!r}: {what}")


def _split_scheme(key: str) -> tuple[str, str]:
    scheme, sep, rest = key.partition("://")
    if not sep:
        return "dns", key
    if scheme.lower() not in SCHEMES:
        known = ", ".join(f"{s}://" for s in SCHEMES)
        raise _fail(key, f"unknown scheme {scheme!r}: use one of {known}")
    return scheme.lower(), rest


def _split_port(key: str, rest: str) -> tuple[str, int | None]:
    """Split ``zone:port`` at the last colon, leaving an IPv6 CIDR's colons alone."""
    colon = rest.rfind(":")
    if colon == -1:
        host, port = rest, None
    else:
        tail = rest[colon + 1 :]
        if not tail:
            raise _fail(key, "nothing after the last ':'; write ZONE:PORT, e.g. example.org:53")
        if tail.isascii() and tail.isdigit():
            host, port = rest[:colon], int(tail)
            if port > 65535:
                raise _fail(key, f"port {tail} is out of range (0-65535)")
        elif "/" in rest:
            host, port = rest, None  # 2001:db8::/32 - the colons are the address's
        else:
            raise _fail(key, f"port {tail!r} is not a number")
    if not host:
        raise _fail(key, 'no zone before the port; write ".:53" for the root zone')
    return host, port


def _normalize_zone(key: str, host: str) -> str:
    zone = host.lower()
    if zone == ".":
        return zone
    if zone.endswith("."):
        zone = zone[:-1]
    labels = zone.split(".")
    for label in labels:
        if not label:
            raise _fail(key, f"zone {host!r} has an empty label (a leading or doubled dot)")
        if len(label) > 63:
            raise _fail(key, f"label {label[:20]}... of zone {host!r} is longer than 63 octets")
        bad = next((ch for ch in label if ch not in _ZONE_CHARS), None)
        if bad == ":":
            raise _fail(
                key,
                f"zone {host!r} holds ':'; write ZONE:PORT with one colon, "
                "or a CIDR such as 2001:db8::/32 for a reverse zone",
            )
        if bad is not None and not bad.isascii():
            raise _fail(key, f"zone {host!r} is not ASCII; write its xn-- (punycode) form")
        if bad is not None:
            raise _fail(key, f"zone {host!r} holds the character {bad!r}")
    # Wire length: one length octet per label plus the root octet (RFC 1035 section 3.1).
    if sum(len(label) + 1 for label in labels) + 1 > 255:
        raise _fail(key, f"zone {host!r} is longer than 255 octets")
    return zone + "."


def reverse_zones(key: str, cidr: str) -> list[str]:
    """The in-addr.arpa/ip6.arpa zones of ``cidr``, split on label boundaries as CoreDNS does."""
    address, _, prefix = cidr.partition("/")
    # CoreDNS refuses CIDRs starting with ':' or with '0' and holding a ':' (plugin/normalize.go).
    if not prefix.isascii() or not prefix.isdigit() or "%" in address or cidr[0] == ":":
        raise _fail(key, f"invalid CIDR {cidr!r}; write a network such as 10.0.0.0/8")
    if cidr[0] == "0" and ":" in cidr:
        raise _fail(key, f"invalid CIDR {cidr!r}; write a network such as 10.0.0.0/8")
    try:
        return cidr_reverse_zones(cidr)
    except ValueError:
        raise _fail(key, f"invalid CIDR {cidr!r}; write a network such as 10.0.0.0/8") from None
