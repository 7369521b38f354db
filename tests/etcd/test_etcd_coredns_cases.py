"""etcd's Corefile syntax against CoreDNS's own cases (plugin/etcd/setup_test.go).

Parse-level only: the directive goes through the Corefile parser and the plugin's parse step,
which accepts or refuses it with the file and line.  Lookups against a live etcd are covered
by test_etcd_live.py and the SkyDNS record rules by test_etcd_zone.py.
"""

from __future__ import annotations

import pytest

from clusterdns.corefile import parse as parse_corefile
from clusterdns.errors import ConfigError
from clusterdns.plugins.etcd.options import EtcdOptions, parse


def options(text: str) -> EtcdOptions:
    directive = parse_corefile(f".:53 {{\n{text}\n}}\n", "Corefile")[0].directives[0]
    return parse(directive, (".",))


# setup_test.go TestSetupEtcd, positive: (input, path, endpoints, username, password)
ACCEPTED = [
    ("etcd", "/skydns", ["http://localhost:2379"], None, None),
    (
        "etcd {\n endpoint http://localhost:2379 http://localhost:3379 http://localhost:4379\n}",
        "/skydns",
        ["http://localhost:2379", "http://localhost:3379", "http://localhost:4379"],
        None,
        None,
    ),
    # CoreDNS hands "localhost:300" to the etcd client, which dials it as plain http
    (
        "etcd skydns.local {\n endpoint localhost:300\n}",
        "/skydns",
        ["http://localhost:300"],
        None,
        None,
    ),
    (
        "etcd {\n endpoint http://localhost:2379\n credentials username password\n}",
        "/skydns",
        ["http://localhost:2379"],
        "username",
        "password",
    ),
    (
        "etcd {\n endpoint http://localhost:2379\n min-lease-ttl 60\n}",
        "/skydns",
        ["http://localhost:2379"],
        None,
        None,
    ),
    (
        "etcd {\n endpoint http://localhost:2379\n max-lease-ttl 1h\n}",
        "/skydns",
        ["http://localhost:2379"],
        None,
        None,
    ),
    (
        "etcd {\n endpoint http://localhost:2379\n min-lease-ttl 120\n max-lease-ttl 7200\n}",
        "/skydns",
        ["http://localhost:2379"],
        None,
        None,
    ),
]


@pytest.mark.parametrize(("text", "path", "endpoints", "username", "password"), ACCEPTED)
def test_accepts(
    text: str, path: str, endpoints: list[str], username: str | None, password: str | None
) -> None:
    parsed = options(text)
    assert parsed.path == path
    assert [str(endpoint) for endpoint in parsed.endpoints] == endpoints
    assert (parsed.username, parsed.password) == (username, password)


# setup_test.go TestSetupEtcd, negative: (input, part of the error, line)
REFUSED = [
    ("etcd {\n endpoints localhost:300\n}", "unknown property 'endpoints'", 3),
    (
        "etcd {\n endpoint http://localhost:2379\n credentials username\n}",
        "credentials requires 2 arguments",
        4,
    ),
    ("etcd {\n endpoint http://localhost:2379\n credentials\n}", "Wrong argument count", 4),
]


@pytest.mark.parametrize(("text", "message", "line"), REFUSED)
def test_refuses(text: str, message: str, line: int) -> None:
    with pytest.raises(ConfigError, match=message) as error:
        options(text)
    assert f"Corefile:{line}" in str(error.value)


# setup_test.go TestParseTTL: lease TTLs are Go durations or plain seconds, kept in seconds
@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("30", 30),
        ("300", 300),
        ("30s", 30),
        ("90s", 90),
        ("5m", 300),
        ("1m", 60),
        ("1h", 3600),
        ("2h", 7200),
        ("2h30m", 9000),
        ("1h30m45s", 5445),
        ("0", 0),
        ("0s", 0),
    ],
)
def test_lease_ttl_accepts(value: str, seconds: int) -> None:
    parsed = options(f"etcd {{\n min-lease-ttl {value}\n max-lease-ttl {value}\n}}")
    assert (parsed.min_lease_ttl, parsed.max_lease_ttl) == (seconds, seconds)


def test_lease_ttl_defaults_and_each_option_sets_its_own() -> None:
    """CoreDNS plugin/etcd: 30 s and 24 h unless set; each option sets one bound."""
    assert (options("etcd").min_lease_ttl, options("etcd").max_lease_ttl) == (30, 86400)
    assert options("etcd {\n min-lease-ttl 60\n}").max_lease_ttl == 86400
    assert options("etcd {\n max-lease-ttl 1h\n}").min_lease_ttl == 30


@pytest.mark.parametrize("value", ["-30s", "abc", "1y"])
def test_lease_ttl_refuses(value: str) -> None:
    with pytest.raises(ConfigError, match="Corefile:3"):
        options(f"etcd {{\n min-lease-ttl {value}\n}}")
