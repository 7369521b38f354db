"""Server keys -> zones, ports and transports, CIDR keys -> reverse zones (CoreDNS's rules)."""

from __future__ import annotations

import pytest

from clusterdns.corefile import (
    CorefileError,
    ServerAddress,
    block_addresses,
    parse,
    parse_server_key,
)


def _v6_zones(prefix: str, digits: str) -> list[str]:
    return [f"{d}.{prefix}" for d in digits]


VALID = [
    (".", [("dns", ".", 53)]),
    (".:53", [("dns", ".", 53)]),
    (".:0", [("dns", ".", 0)]),  # port 0: an ephemeral port, as CoreDNS's own tests use
    ("example.org", [("dns", "example.org.", 53)]),
    ("Example.ORG.:1053", [("dns", "example.org.", 1053)]),
    ("cluster.local:53", [("dns", "cluster.local.", 53)]),
    ("in-addr.arpa:53", [("dns", "in-addr.arpa.", 53)]),
    ("_tcp.svc.cluster.local", [("dns", "_tcp.svc.cluster.local.", 53)]),
    ("dns://example.org", [("dns", "example.org.", 53)]),
    ("tls://example.org", [("tls", "example.org.", 853)]),
    ("TLS://example.org:8853", [("tls", "example.org.", 8853)]),
    ("quic://example.org", [("quic", "example.org.", 853)]),
    ("grpc://.", [("grpc", ".", 443)]),
    ("https://example.org", [("https", "example.org.", 443)]),
    ("https3://example.org", [("https3", "example.org.", 443)]),
    # Reverse zones from CIDRs: plugin/normalize_test.go and plugin/pkg/cidr/cidr_test.go.
    ("10.0.0.0/8:53", [("dns", "10.in-addr.arpa.", 53)]),
    ("10.0.0.0/24", [("dns", "0.0.10.in-addr.arpa.", 53)]),
    ("10.0.0.0/16", [("dns", "0.10.in-addr.arpa.", 53)]),
    ("10.0.0.0/15", [("dns", "0.10.in-addr.arpa.", 53), ("dns", "1.10.in-addr.arpa.", 53)]),
    (
        "192.168.1.1/23",  # host bits are dropped, as Go's net.ParseCIDR does
        [("dns", "0.168.192.in-addr.arpa.", 53), ("dns", "1.168.192.in-addr.arpa.", 53)],
    ),
    (
        "10.129.60.0/22",
        [("dns", f"{n}.129.10.in-addr.arpa.", 53) for n in (60, 61, 62, 63)],
    ),
    ("10.0.0.0/27", [("dns", f"{n}.0.0.10.in-addr.arpa.", 53) for n in range(32)]),
    ("0.0.0.0/0", [("dns", "in-addr.arpa.", 53)]),
    ("192.0.2.7/32:1053", [("dns", "7.2.0.192.in-addr.arpa.", 1053)]),
    ("2001:db8::/32", [("dns", "8.b.d.0.1.0.0.2.ip6.arpa.", 53)]),
    (
        "2001:db8::/31",
        [("dns", "8.b.d.0.1.0.0.2.ip6.arpa.", 53), ("dns", "9.b.d.0.1.0.0.2.ip6.arpa.", 53)],
    ),
    ("2001:db8::/29", [("dns", z, 53) for z in _v6_zones("b.d.0.1.0.0.2.ip6.arpa.", "89abcdef")]),
    (
        "2001:db8::/114:5353",
        [("dns", f"{d}.{'0.' * 20}8.b.d.0.1.0.0.2.ip6.arpa.", 5353) for d in "0123"],
    ),
]


@pytest.mark.parametrize(("key", "expected"), VALID, ids=[k for k, _ in VALID])
def test_valid_key(key: str, expected: list[tuple[str, str, int]]) -> None:
    addresses = parse_server_key(key, 53)
    assert [(a.scheme, a.zone, a.port) for a in addresses] == expected
    assert all(a.key == key for a in addresses)


def test_without_default_port_only_dns_keys_stay_open() -> None:
    assert parse_server_key("example.org", None) == [
        ServerAddress("dns", "example.org.", None, "example.org")
    ]
    assert parse_server_key("tls://example.org", None)[0].port == 853
    assert parse_server_key("example.org:5300", None)[0].port == 5300


INVALID = [
    (":53", 'no zone before the port; write ".:53" for the root zone'),
    ("dns://", "no zone"),
    ("example.org:", "nothing after the last ':'"),
    ("example.org:abc", "port 'abc' is not a number"),
    ("example.org:70000", "port 70000 is out of range"),
    ("example.org::53", "zone 'example.org:' holds ':'"),
    ("2001:db8::1", "holds ':'"),
    ("udp://example.org", "unknown scheme 'udp'"),
    ("a..org", "empty label"),
    (".example.org", "empty label"),
    ("example.org{", "holds the character '{'"),
    ("bücher.de", "xn-- (punycode)"),
    ("a" * 64 + ".org", "longer than 63"),
    (".".join(["a" * 63] * 4), "longer than 255"),
    ("10.0.0.0/33", "invalid CIDR '10.0.0.0/33'"),
    ("10.0.0/8", "invalid CIDR"),
    ("10.0.0.0/8x", "invalid CIDR"),
    ("::fFFF:B:F/115", "invalid CIDR"),  # CoreDNS refuses CIDRs that start with ':'
    ("0::/0", "invalid CIDR"),  # ... or with '0' and a ':'
    ("fe80::%eth0/64", "invalid CIDR"),
]


@pytest.mark.parametrize(("key", "message"), INVALID, ids=[k[:30] for k, _ in INVALID])
def test_invalid_key(key: str, message: str) -> None:
    with pytest.raises(CorefileError) as info:
        parse_server_key(key, 53)
    assert str(info.value).startswith(f"server key {key!r}: ")
    assert message in str(info.value)


def test_block_addresses_name_the_block() -> None:
    blocks = parse("a.org 10.0.0.0/15 {\n log\n}\n\nb.org, :53 {\n}\n")
    assert [a.zone for a in block_addresses(blocks[0], 53)] == [
        "a.org.",
        "0.10.in-addr.arpa.",
        "1.10.in-addr.arpa.",
    ]
    with pytest.raises(CorefileError) as info:
        block_addresses(blocks[1], 53)
    assert str(info.value).startswith("Corefile:5: server key ':53': no zone before the port")
