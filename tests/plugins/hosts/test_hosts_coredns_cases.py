"""hosts against CoreDNS's test tables (plugin/hosts/setup_test.go, hosts_test.go; CoreDNS 1.14.7)."""

from __future__ import annotations

from pathlib import Path

import dns.rcode
import pytest

from clusterdns.errors import ConfigError
from clusterdns.plugins.fall import NEVER
from clusterdns.plugins.hosts.handler import Hosts
from clusterdns.plugins.hosts.options import HostsConfig
from clusterdns.server.server import Server
from tests.support.serverutil import answers, running


def plan_hosts(body: str) -> HostsConfig:
    text = f"example.net:0 {{\n{body}\n}}\n"
    for block in Server(text, "Corefile", default_port=0).plan(text):
        for plugin in block.plugins:
            if isinstance(plugin, Hosts):
                return plugin.config
    raise LookupError("no hosts plugin")


# setup_test.go TestHostsParse: (input, accepted, path, zones, falls through for everything)
PARSE = [
    ("hosts\n", True, "/etc/hosts", ("example.net.",), False),
    ("hosts /tmp", True, "/tmp", ("example.net.",), False),
    ("hosts /etc/hosts miek.nl.", True, "/etc/hosts", ("miek.nl.",), False),
    ("hosts /etc/hosts miek.nl. pun.gent.", True, "/etc/hosts", ("miek.nl.", "pun.gent."), False),
    ("hosts {\nfallthrough\n}", True, "/etc/hosts", ("example.net.",), True),
    ("hosts /tmp {\nfallthrough\n}", True, "/tmp", ("example.net.",), True),
    ("hosts /etc/hosts miek.nl. {\nfallthrough\n}", True, "/etc/hosts", ("miek.nl.",), True),
    ("hosts /etc/hosts miek.nl 10.0.0.9/8 {\nfallthrough\n}", True, "/etc/hosts", ("miek.nl.", "10.in-addr.arpa."), True),
    ("hosts /etc/hosts {\nfallthrough\n}\nhosts /etc/hosts {\nfallthrough\n}", False, "", (), False),
]  # fmt: skip


@pytest.mark.parametrize(("body", "accepted", "path", "zones", "falls"), PARSE)
def test_parse(body: str, accepted: bool, path: str, zones: tuple[str, ...], falls: bool) -> None:
    if not accepted:
        with pytest.raises(ConfigError) as caught:
            plan_hosts(body)
        assert str(caught.value).startswith("plugin/hosts: Corefile:")
        return
    config = plan_hosts(body)
    assert (config.path, config.zones) == (path, zones)
    assert (config.fall != NEVER) is falls


# setup_test.go TestHostsInlineParse: (input, accepted, inline address -> names, falls through)
INLINE = [
    ("hosts highly_unlikely_to_exist_hosts_file example.org {\n10.0.0.1 example.org\nfallthrough\n}", True, True),
    ("hosts highly_unlikely_to_exist_hosts_file example.org {\n10.0.0.1 example.org\n}", True, False),
    ("hosts highly_unlikely_to_exist_hosts_file example.org {\nfallthrough\n10.0.0.1 example.org\n}", False, True),
]  # fmt: skip


@pytest.mark.parametrize(("body", "accepted", "falls"), INLINE)
def test_inline(body: str, accepted: bool, falls: bool) -> None:
    if not accepted:
        with pytest.raises(ConfigError):
            plan_hosts(body)
        return
    config = plan_hosts(body)
    assert (config.fall != NEVER) is falls
    assert [(e.address, e.names) for e in config.inline] == [("10.0.0.1", ("example.org.",))]


@pytest.mark.parametrize(
    ("lines", "accepted"),
    [
        ("fallthrough\nfallthrough_unsupported", True),
        ("fallthrough_unsupported\nfallthrough example.org", True),
        ("fallthrough_unsupported", False),
        ("fallthrough\nfallthrough_unsupported example.org", False),
        ("ttl 0", False),
        ("ttl 65536", False),
        ("ttl 300", True),
        ("reload -1s", False),
        ("reload 0", True),
    ],
)
def test_options(lines: str, accepted: bool) -> None:
    """setup_test.go TestHostsParseFallthroughUnsupported and setup.go's ttl/reload checks."""
    body = f"hosts {{\n{lines}\n}}"
    if accepted:
        plan_hosts(body)
    else:
        with pytest.raises(ConfigError):
            plan_hosts(body)


HOSTS_EXAMPLE = """
127.0.0.1 localhost localhost.domain
::1 localhost localhost.domain
10.0.0.1 example.org
::FFFF:10.0.0.2 example.com
10.0.0.3 fallthrough-example.org
1.2.3.4 aa.example.com
reload 5s
timeout 3600
"""

# hosts_test.go hostsTestCases: (qname, qtype, answers in zone-file text)
LOOKUPS = [
    ("example.org.", "A", ["example.org. 3600 IN A 10.0.0.1"]),
    ("example.com.", "A", ["example.com. 3600 IN A 10.0.0.2"]),
    ("localhost.", "AAAA", ["localhost. 3600 IN AAAA ::1"]),
    ("1.0.0.10.in-addr.arpa.", "PTR", ["1.0.0.10.in-addr.arpa. 3600 IN PTR example.org."]),
    ("2.0.0.10.in-addr.arpa.", "PTR", ["2.0.0.10.in-addr.arpa. 3600 IN PTR example.com."]),
    (
        "1.0.0.127.in-addr.arpa.",
        "PTR",
        ["1.0.0.127.in-addr.arpa. 3600 IN PTR localhost.", "1.0.0.127.in-addr.arpa. 3600 IN PTR localhost.domain."],
    ),
    ("example.org.", "AAAA", []),
    ("example.org.", "MX", []),
    ("fallthrough-example.org.", "AAAA", []),
    ("aa.example.com.", "A", ["aa.example.com. 3600 IN A 1.2.3.4"]),
]  # fmt: skip


@pytest.mark.parametrize(("qname", "qtype", "expected"), LOOKUPS)
def test_lookup(tmp_path: Path, qname: str, qtype: str, expected: list[str]) -> None:
    hosts = tmp_path / "hosts"
    hosts.write_text(HOSTS_EXAMPLE)
    text = f".:0 {{\n    bind 127.0.0.1\n    hosts {hosts}\n}}\n"
    with running(text) as srv:
        reply = srv.udp(qname, qtype)
        assert reply.rcode() == dns.rcode.NOERROR
        assert answers(reply) == sorted(expected)
