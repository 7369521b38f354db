"""Server keys -> zones, ports and transports, as CoreDNS reads them.

Facts from coredns/coredns: plugin/normalize_test.go (TestHostNormalizeExact,
TestZoneNormalize, TestNameNormalize), plugin/pkg/cidr/cidr_test.go (TestSplit,
TestReverse) and core/dnsserver/register_test.go (TestInspectServerBlocks).
"""

from __future__ import annotations

import pytest

from clusterdns.corefile import CorefileError, parse, parse_server_key
from clusterdns.corefile.keys import block_addresses


def zones(key: str) -> list[str]:
    return [address.zone for address in parse_server_key(key, 53)]


DB8 = "8.b.d.0.1.0.0.2.ip6.arpa."
V6 = "0." * 20 + DB8  # 2001:db8::/112

# plugin/normalize_test.go TestHostNormalizeExact: key -> its zones, in order.
NORMALIZE_EXACT = [
    (".:53", ["."]),
    ("example.org:53", ["example.org."]),
    ("example.org.:53", ["example.org."]),
    ("10.0.0.0/8:53", ["10.in-addr.arpa."]),
    ("10.0.0.0/15", ["0.10.in-addr.arpa.", "1.10.in-addr.arpa."]),
    ("2001:db8::/29", [f"{d}.b.d.0.1.0.0.2.ip6.arpa." for d in "89abcdef"]),
    ("2001:db8::/30", [f"{d}.b.d.0.1.0.0.2.ip6.arpa." for d in "89ab"]),
    ("2001:db8::/115", [f"{d}.{V6}" for d in "01"]),
    ("2001:db8::/114", [f"{d}.{V6}" for d in "0123"]),
    ("2001:db8::/113", [f"{d}.{V6}" for d in "01234567"]),
    ("2001:db8::/112", [V6]),
    ("2001:db8::/108", ["0." * 19 + DB8]),
    ("dns://example.org", ["example.org."]),
]


@pytest.mark.parametrize(("key", "expected"), NORMALIZE_EXACT)
def test_normalize_exact(key: str, expected: list[str]) -> None:
    assert zones(key) == expected


def test_10_9_3_0_slash_18_starts_with_the_first_three_of_its_64_zones() -> None:
    # normalize_test.go checks the first three; a /18 spans 64 /24 zones.
    got = zones("10.9.3.0/18")
    assert got[:3] == ["0.9.10.in-addr.arpa.", "1.9.10.in-addr.arpa.", "2.9.10.in-addr.arpa."]
    assert len(got) == 64 and got[-1] == "63.9.10.in-addr.arpa."


def test_cidr_off_an_octet_boundary_expands_to_many_zones() -> None:
    # corefile.5: "This also works on a non octet boundary: 10.0.0.0/27".
    assert zones("10.0.0.0/27") == [f"{i}.0.0.10.in-addr.arpa." for i in range(32)]
    assert zones("10.0.0.0/24") == ["0.0.10.in-addr.arpa."]


def test_cidr_starting_with_a_colon_is_refused() -> None:
    # normalize_test.go: "::fFFF:B:F/115" gives no zone (SplitHostPort errs).
    with pytest.raises(CorefileError, match="invalid CIDR"):
        zones("::fFFF:B:F/115")


# plugin/pkg/cidr/cidr_test.go: network -> reverse zones of its label-boundary subnets.
CIDR_REVERSE = [
    ("10.0.0.0/15", ["0.10.in-addr.arpa.", "1.10.in-addr.arpa."]),
    ("10.0.0.0/16", ["0.10.in-addr.arpa."]),
    ("192.168.1.1/23", ["0.168.192.in-addr.arpa.", "1.168.192.in-addr.arpa."]),
    ("10.129.60.0/22", [f"{i}.129.10.in-addr.arpa." for i in range(60, 64)]),
    ("2001:db8::/31", ["8.b.d.0.1.0.0.2.ip6.arpa.", "9.b.d.0.1.0.0.2.ip6.arpa."]),
]


@pytest.mark.parametrize(("cidr", "expected"), CIDR_REVERSE)
def test_cidr_reverse(cidr: str, expected: list[str]) -> None:
    assert zones(cidr) == expected


@pytest.mark.parametrize("name", ["example.org", "Example.ORG.", "example.org."])
def test_zone_normalize(name: str) -> None:
    # normalize_test.go TestZoneNormalize / TestNameNormalize: lower case, fully qualified.
    assert zones(name) == ["example.org."]


# core/dnsserver/register_test.go TestInspectServerBlocks: key -> (transport, zone, port).
INSPECT = [
    ("example.org", ("dns", "example.org.", 53)),
    ("EXAMPLE.ORG", ("dns", "example.org.", 53)),
    ("example.org:1053", ("dns", "example.org.", 1053)),
    ("tls://example.org", ("tls", "example.org.", 853)),
    ("quic://example.org", ("quic", "example.org.", 853)),
    ("grpc://example.org", ("grpc", "example.org.", 443)),
    ("https://example.org.", ("https", "example.org.", 443)),
    ("https3://example.org", ("https3", "example.org.", 443)),
    ("example.org.", ("dns", "example.org.", 53)),
]


@pytest.mark.parametrize(("key", "expected"), INSPECT)
def test_inspect_server_blocks(key: str, expected: tuple[str, str, int]) -> None:
    [address] = parse_server_key(key, 53)
    assert (address.scheme, address.zone, address.port) == expected


def test_multiple_keys_keep_their_own_ports() -> None:
    # register_test.go "multiple keys": example.org and example.com:1053 are two
    # configs, on 53 and 1053.
    [block] = parse("example.org example.com:1053 {\n  whoami\n}\n")
    got = [(a.zone, a.port) for a in block_addresses(block, 53)]
    assert got == [("example.org.", 53), ("example.com.", 1053)]


def test_default_port_is_the_servers() -> None:
    # register.go: a dns:// key without a port takes dnsserver.Port (-dns.port).
    assert parse_server_key("example.org", 1053)[0].port == 1053
    assert parse_server_key("tls://example.org", 1053)[0].port == 853


def test_a_bad_key_names_the_block_line() -> None:
    [block] = parse("\n\nexample.org:99999 {\n  whoami\n}\n")
    with pytest.raises(CorefileError) as info:
        block_addresses(block, 53)
    assert str(info.value).startswith("Corefile:3: ")
