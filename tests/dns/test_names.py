"""The shared name, zone, address, duration and fallthrough helpers, at their one home."""

from __future__ import annotations

import pytest

from clusterdns.dns.names import (
    absolute,
    in_zones,
    is_subdomain,
    longest_zone,
    reverse_zones,
    split_host_port,
    split_ip_port,
)
from clusterdns.plugins.args import go_duration
from clusterdns.plugins.fall import NEVER, Fall


@pytest.mark.parametrize(
    ("name", "zone", "inside"),
    [
        ("a.example.org.", "example.org.", True),
        ("example.org.", "example.org.", True),
        ("badexample.org.", "example.org.", False),
        ("anything.", ".", True),
        (".", ".", True),
        ("org.", "example.org.", False),
    ],
)
def test_is_subdomain(name: str, zone: str, inside: bool) -> None:
    """CoreDNS plugin.Zones.Matches / dns.IsSubDomain: label boundaries, "." holds all."""
    assert is_subdomain(name, zone) is inside


def test_zone_helpers() -> None:
    assert absolute("Example.ORG") == "example.org." and absolute(".") == "."
    assert in_zones("a.b.", ("c.", "b.")) and not in_zones("a.b.", ())
    assert longest_zone("a.b.c.", (".", "c.", "b.c.")) == "b.c."


@pytest.mark.parametrize(
    ("cidr", "zones"),
    [
        ("10.0.0.0/8", ["10.in-addr.arpa."]),
        ("10.0.0.0/15", ["0.10.in-addr.arpa.", "1.10.in-addr.arpa."]),
        ("192.168.1.0/24", ["1.168.192.in-addr.arpa."]),
        ("2001:db8::/32", ["8.b.d.0.1.0.0.2.ip6.arpa."]),
    ],
)
def test_reverse_zones(cidr: str, zones: list[str]) -> None:
    """CoreDNS plugin/pkg/cidr: split on octet / nibble boundaries."""
    assert reverse_zones(cidr) == zones


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1", ("127.0.0.1", 53)),
        ("127.0.0.1:5353", ("127.0.0.1", 5353)),
        (":8080", ("", 8080)),
        ("[::1]:53", ("::1", 53)),
        ("[::1]", ("::1", 53)),
        ("::1", ("::1", 53)),
        ("localhost:9153", ("localhost", 9153)),
    ],
)
def test_split_host_port(text: str, expected: tuple[str, int]) -> None:
    assert split_host_port(text, 53) == expected


@pytest.mark.parametrize("text", ["1.2.3.4:x", "[::1", "[::1]x", "1.2.3.4:70000"])
def test_split_host_port_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        split_host_port(text, 53)


def test_split_ip_port_wants_an_ip_and_a_port() -> None:
    assert split_ip_port("[::1]:5300", 53) == ("::1", 5300)
    for text in ("localhost:53", "127.0.0.1:0"):
        with pytest.raises(ValueError):
            split_ip_port(text, 53)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("0", 0.0), ("5s", 5.0), (".5s", 0.5), ("1.s", 1.0), ("1m30s", 90.0), ("250ms", 0.25),
     ("1h", 3600.0), ("2us", 2e-6), ("2\u00b5s", 2e-6), ("-1s", -1.0)],
)  # fmt: skip
def test_go_duration(text: str, seconds: float) -> None:
    """Go time.ParseDuration's grammar, which every CoreDNS duration option uses."""
    assert go_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "5", ".s", "s", "1d", "1.5.5s", "5 s"])
def test_go_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        go_duration(text)


def test_fall() -> None:
    """CoreDNS pkg/fall: zero value never; no zones means "."; "." is every name."""
    assert not NEVER.through("a.example.")
    assert Fall.from_args(()).through("a.example.")
    assert Fall.from_args((".",)) == Fall.from_args(())
    only = Fall.from_args(("In-Addr.Arpa",))
    assert only.through("1.0.0.10.in-addr.arpa.") and not only.through("a.example.")
