"""Placing server blocks on addresses: ports per key, duplicate and overlapping zones.

Facts from coredns/coredns core/dnsserver/address_test.go
(TestOverlapAddressChecker), core/dnsserver/address.go (zoneAddr.String,
registerAndCheck), core/dnsserver/register.go (validateZonesAndListeningAddresses
messages) and register_test.go (TestInspectServerBlocks "multiple keys").
Planning sets plugins up but binds no socket.
"""

from __future__ import annotations

import pytest

from clusterdns.errors import ConfigError
from clusterdns.server.server import Server


def plan(text: str):
    return Server(text, default_port=53).plan(text)


def block(key: str, bind: str = "") -> str:
    return f"{key} {{\n" + (f"    bind {bind}\n" if bind else "") + "    whoami\n}\n"


# TestOverlapAddressChecker: a sequence of (key, bind) and the error it ends in.
OVERLAP = [
    ([(".:53", "")] * 2, "cannot serve dns://.:53 - it is already defined"),
    (
        [(".:53", ""), (".:54", ""), (".:53", "127.0.0.1")],
        "cannot serve dns://.:53 on 127.0.0.1 - zone overlap listener capacity with dns://.:53",
    ),
    (
        [(".:53", "127.0.0.1"), (".:54", ""), (".:53", "127.0.0.1")],
        "cannot serve dns://.:53 on 127.0.0.1 - it is already defined",
    ),
    (
        [
            (".:53", "127.0.0.1"),
            (".:54", ""),
            (".:53", "128.0.0.1"),
            (".:53", "129.0.0.1"),
            (".:53", ""),
        ],
        "cannot serve dns://.:53 - zone overlap listener capacity with dns://.:53 on 129.0.0.1",
    ),
    (
        [(".:53", "127.0.0.1"), ("com.:53", "127.0.0.1"), ("com.:53", "")],
        "cannot serve dns://com.:53 - zone overlap listener capacity with dns://com.:53 on 127.0.0.1",
    ),
]


@pytest.mark.parametrize(("sequence", "message"), OVERLAP)
def test_overlap(sequence: list[tuple[str, str]], message: str) -> None:
    text = "".join(block(key, bind) for key, bind in sequence)
    with pytest.raises(ConfigError) as info:
        plan(text)
    assert message in str(info.value)
    # The error names the line of the block that could not be placed: the last one.
    last_line = 1 + sum(block(key, bind).count("\n") for key, bind in sequence[:-1])
    assert str(info.value).startswith(f"Corefile:{last_line}: ")


ACCEPTED = [
    [(".:53", ""), (".:54", "")],
    [(".:53", "127.0.0.1"), (".:54", "")],
    [(".:53", "127.0.0.1"), (".:53", "::1")],
    [(".:53", ""), ("com.:53", "")],
    [(".:53", "127.0.0.1 ::1"), ("com.:53", "127.0.0.1 ::1")],
]


@pytest.mark.parametrize("sequence", ACCEPTED)
def test_no_overlap(sequence: list[tuple[str, str]]) -> None:
    plan("".join(block(key, bind) for key, bind in sequence))


@pytest.mark.parametrize(
    "keys",
    ["example.org example.org", "example.org EXAMPLE.ORG.", "10.0.0.0/24 0.0.10.in-addr.arpa"],
)
def test_the_same_zone_twice_in_one_block(keys: str) -> None:
    # Each key is its own config: two of one zone and port collide (register.go).
    with pytest.raises(ConfigError, match="it is already defined"):
        plan(block(keys))


def test_keys_of_one_block_keep_their_own_ports() -> None:
    # register_test.go "multiple keys": two configs, on 53 and 1053, sharing the plugins.
    [planned] = plan(block("example.org example.com:1053 10.0.0.0/23:5353"))
    assert planned.addresses == (
        ("example.org.", 53),
        ("example.com.", 1053),
        ("0.0.10.in-addr.arpa.", 5353),
        ("1.0.10.in-addr.arpa.", 5353),
    )
    assert planned.port == 53  # what the plugins see: the first key's config


def test_the_same_zone_on_two_ports_is_fine() -> None:
    [first, second] = plan(block("example.org:53") + block("example.org:1053"))
    assert first.addresses == (("example.org.", 53),)
    assert second.addresses == (("example.org.", 1053),)


@pytest.mark.parametrize("key", ["tls://example.org", "grpc://.", "https://.:8443", "quic://."])
def test_transports_other_than_dns_are_refused_by_name(key: str) -> None:
    # CoreDNS serves these with the tls plugin's certificates; clusterdns serves plain
    # DNS only, so it refuses the key instead of answering without encryption.
    with pytest.raises(ConfigError) as info:
        plan("\n" + block(key))
    assert "Corefile:2:" in str(info.value) and "is not served by clusterdns" in str(info.value)
