"""etcd's Corefile syntax against CoreDNS's own cases (plugin/etcd/setup_test.go).

Parse-level only: the directive goes through the Corefile parser and the plugin's parse step,
which accepts or refuses it with the file and line.  Lookups against a live etcd are covered
by test_etcd_live.py and the SkyDNS record rules by test_etcd_zone.py.
"""

from __future__ import annotations

import pytest

from clusterdns.corefile import parse as parse_corefile
from clusterdns.errors import ConfigError
from clusterdns.plugins.etcd.options import parse


def options(text: str):  # type: ignore[no-untyped-def]
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
    ("etcd skydns.local {\n endpoint localhost:300\n}", "/skydns", ["localhost:300"], None, None),
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
    assert len(parsed.endpoints) == len(endpoints)
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


# setup_test.go TestParseTTL: lease TTLs, plain numbers are seconds
@pytest.mark.parametrize(
    "value", ["30", "300", "30s", "90s", "5m", "1m", "1h", "2h", "2h30m", "1h30m45s", "0", "0s"]
)
def test_lease_ttl_accepts(value: str) -> None:
    options(f"etcd {{\n min-lease-ttl {value}\n max-lease-ttl {value}\n}}")


@pytest.mark.parametrize("value", ["-30s", "abc", "1y"])
def test_lease_ttl_refuses(value: str) -> None:
    with pytest.raises(ConfigError, match="Corefile:3"):
        options(f"etcd {{\n min-lease-ttl {value}\n}}")
