"""The kube-dns ConfigMap and the Corefile text, as k8s-dns-node-cache handles them.

Cases from kubernetes/dns ``pkg/dns/config/config_test.go`` (what node-cache's config sync
accepts: ``Config.Validate``, then ``ValidateNodeLocalCacheConfig`` in ``updateCorefile``) and
``cmd/node-cache/app/configmap.go`` (the stub domain block, the upstream replacement).  Each
table names where its facts come from; the values are ours.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clusterdns.nodecache.app import load_corefile, pillars_for
from clusterdns.nodecache.kubednscm import KubeDNSConfig, parse, stub_domain_blocks
from clusterdns.nodecache.params import NodeCacheError, NodeCacheParams
from clusterdns.nodecache.template import Pillars, fill
from tests.nodecache.test_corefile import configmap_errors


def files(stub_domains: object = None, upstreams: object = None) -> dict[str, str]:
    out = {}
    if stub_domains is not None:
        out["stubDomains"] = json.dumps(stub_domains)
    if upstreams is not None:
        out["upstreamNameservers"] = json.dumps(upstreams)
    return out


# -- config_test.go TestValidate (stubDomains, upstreamNameservers) and
#    TestValidateNodeLocalCacheConfig: what node-cache takes ---------------------------------

# (stubDomains, upstreamNameservers) as written; node-cache keeps them as they are, in file order
VALID: list[tuple[dict[str, list[str]] | None, list[str] | None]] = [
    (None, None),
    ({}, None),
    ({"foo.com": ["1.2.3.4"]}, None),
    ({"foo.com": ["1.2.3.4:32564"]}, None),
    ({"foo.com": ["1.2.3.4:0"]}, None),  # a stub server's port is any 16-bit number
    ({"foo.com": ["1.2.3.4"], "bar.com": ["1.2.3.4"]}, None),
    ({"acme.local": ["2001:db8:1:1:1::1"],
      "widget.local": ["[2001:db8:2:2:2::2]:10053", "2001:db8:3:3:3::3"]}, None),
    ({"a-" + "b" * 70 + ".local": ["1.2.3.4"]}, None),  # a DNS-1123 subdomain has no label limit
    (None, []),
    (None, ["1.2.3.4"]),
    (None, ["1.2.3.4", "8.8.4.4", "8.8.8.8"]),
    (None, ["1.2.3.4:53"]),
    (None, ["[2001:db8:2:2:2::2]:10053", "2001:db8:3:3:3::3"]),
    ({"foo.com": ["1.1.1.1"]}, ["1.1.1.1", "2.2.2.2"]),
]  # fmt: skip


@pytest.mark.parametrize(("stubs", "upstreams"), VALID)
def test_valid(stubs: dict[str, list[str]] | None, upstreams: list[str] | None) -> None:
    expected = KubeDNSConfig(
        tuple((domain, tuple(servers)) for domain, servers in (stubs or {}).items()),
        tuple(upstreams or ()),
    )
    assert parse(files(stubs, upstreams)) == expected


def test_json_null_is_nothing_configured() -> None:
    assert parse({"stubDomains": "null", "upstreamNameservers": "null"}) == KubeDNSConfig()


INVALID = [
    files({"": ["1.2.3.4"]}),
    files({"$$$$": ["1.2.3.4"]}),
    files({"acme.local.": ["1.2.3.4"]}),  # a final dot is not DNS-1123
    files({"Acme.local": ["1.2.3.4"]}),
    files({"x" * 254: ["1.2.3.4"]}),
    files({"foo": ["$$$$"]}),
    files({"foo.com": ["1.2.3.4:65564"]}),
    # a host name passes Config.Validate but not ValidateNodeLocalCacheConfig (forward's check)
    files({"foo.com": ["ns.foo.com"]}),
    files({"google.local": ["google-public-dns-a.google.com"]}),
    files({"foo.com": ["fe80::1%eth0"]}),
    files({"foo.com": ["[2001:db8::1]"]}),
    files(upstreams=["1.1.1.1", "2.2.2.2", "3.3.3.3", "4.4.4.4"]),
    files(upstreams=["1.1.1.1:abc"]),
    files(upstreams=["1.1.1.1:"]),
    files(upstreams=["1.1.1.1:123456789"]),
    files(upstreams=["1.1.1.1:0"]),
    files(upstreams=["1.1.1.1", "cluster.local"]),
    files(upstreams=["[2001:db8::1]"]),
    files({"foo.com": ["1.1.1.1"]}, ["1.1.1.1", "cluster.local"]),
    files({"foo.com": ["cluster.local"]}, ["1.1.1.1", "2.2.2.2"]),
    {"stubDomains": '{"foo.com": "1.2.3.4"}'},
    {"upstreamNameservers": '"1.2.3.4"'},
    {"stubDomains": "{"},
]


@pytest.mark.parametrize("config", INVALID)
def test_invalid(config: dict[str, str]) -> None:
    with pytest.raises(NodeCacheError, match=r"^/etc/kube-dns/(stubDomains|upstreamNameservers): "):
        parse(config, "/etc/kube-dns")


# -- configmap.go stubDomainBlock: one block per stub domain, after the base -------------------

STUB_BLOCKS = [
    # (stub domain, servers, local IPs, -dns.port, block)
    ("acme.local", ("1.1.1.1",), ("169.254.20.10", "10.0.0.10"), 53,
     "\nacme.local:53 {\n    errors\n    cache 30\n    bind 169.254.20.10 10.0.0.10\n"
     "    forward . 1.1.1.1\n}\n"),
    ("widget.local", ("2.2.2.2:10053", "3.3.3.3"), ("169.254.20.10",), 1053,
     "\nwidget.local:1053 {\n    errors\n    cache 30\n    bind 169.254.20.10\n"
     "    forward . 2.2.2.2:10053 3.3.3.3\n}\n"),
    ("acme.local", ("[2001:db8:2:2:2::2]:10053",), ("fe80:169:254::1", "fd00:1:2:3::5"), 53,
     "\nacme.local:53 {\n    errors\n    cache 30\n    bind fe80:169:254::1 fd00:1:2:3::5\n"
     "    forward . [2001:db8:2:2:2::2]:10053\n}\n"),
]  # fmt: skip


@pytest.mark.parametrize(("domain", "servers", "local_ips", "port", "block"), STUB_BLOCKS)
def test_stub_domain_block(
    domain: str, servers: tuple[str, ...], local_ips: tuple[str, ...], port: int, block: str
) -> None:
    config = KubeDNSConfig(((domain, servers),))
    assert stub_domain_blocks(config, local_ips, port) == block
    # appended to the filled base as it is
    pillars = Pillars(local_ips, "10.96.0.10", kubedns=config, port=port)
    assert fill(".:53 {\n}\n", pillars) == ".:53 {\n}\n" + block


# -- configmap.go updateCorefile: __PILLAR__UPSTREAM__SERVERS__ --------------------------------
# No upstream nameservers: /etc/resolv.conf, whatever the block (TCP stays TCP).  With them:
# node-cache's own force_tcp block (upstreamTCPBlock, exactly so indented) becomes the plain
# (UDP) line; anywhere else only the servers are filled in.

TCP_BLOCK = "\n    forward . __PILLAR__UPSTREAM__SERVERS__ {\n            force_tcp\n    }\n"

UPSTREAM_CASES = [
    # (base, upstream nameservers, result)
    (".:53 {" + TCP_BLOCK + "}\n", (),
     ".:53 {\n    forward . /etc/resolv.conf {\n            force_tcp\n    }\n}\n"),
    (".:53 {\n    forward . __PILLAR__UPSTREAM__SERVERS__\n}\n", (),
     ".:53 {\n    forward . /etc/resolv.conf\n}\n"),
    (".:53 {" + TCP_BLOCK + "}\n", ("10.1.0.1", "10.1.0.2:5353"),
     ".:53 {\n    forward . 10.1.0.1 10.1.0.2:5353\n}\n"),
    (".:53 {\n    forward . __PILLAR__UPSTREAM__SERVERS__\n}\n", ("10.1.0.1",),
     ".:53 {\n    forward . 10.1.0.1\n}\n"),
    # indented otherwise (here as in a ConfigMap's 8 spaces): force_tcp is kept
    (".:53 {\n        forward . __PILLAR__UPSTREAM__SERVERS__ {\n                force_tcp\n        }\n}\n",
     ("10.1.0.1",),
     ".:53 {\n        forward . 10.1.0.1 {\n                force_tcp\n        }\n}\n"),
    # every occurrence is replaced
    ("a:53 {" + TCP_BLOCK + "}\nb:53 {" + TCP_BLOCK + "}\n", ("10.1.0.1",),
     "a:53 {\n    forward . 10.1.0.1\n}\nb:53 {\n    forward . 10.1.0.1\n}\n"),
]  # fmt: skip


@pytest.mark.parametrize(("base", "upstreams", "result"), UPSTREAM_CASES)
def test_upstream_servers(base: str, upstreams: tuple[str, ...], result: str) -> None:
    pillars = Pillars(("169.254.20.10",), "10.96.0.10", kubedns=KubeDNSConfig((), upstreams))
    assert fill(base, pillars) == result


# -- cache_app.go Init + configmap.go initDNSConfigSync: a ConfigMap that does not validate ------
# Init writes the Corefile from an empty kube-dns config first; the sync that follows fails
# ("Failed to sync kube-dns config directory") and the Corefile stays: no stub domains,
# /etc/resolv.conf upstream.

INVALID_AT_START = [
    {"stubDomains": '{"acme.local.": ["1.2.3.4"]}'},
    {"stubDomains": '{"acme.local": ["1.2.3.4"]}', "upstreamNameservers": '["dns.example"]'},
]


@pytest.mark.parametrize("config", INVALID_AT_START)
def test_an_invalid_configmap_at_start_fills_without_it(
    tmp_path: Path, config: dict[str, str]
) -> None:
    (tmp_path / "kube-dns").mkdir()
    for key, value in config.items():
        (tmp_path / "kube-dns" / key).write_text(value)
    (tmp_path / "Corefile.base").write_text(
        ".:53 {\n    forward . __PILLAR__UPSTREAM__SERVERS__\n}\n"
    )
    p = NodeCacheParams(local_ips=("169.254.20.10",), base_corefile=str(tmp_path / "Corefile.base"),
                        corefile=str(tmp_path / "Corefile"), kubedns_cm=str(tmp_path / "kube-dns"))  # fmt: skip
    errors = configmap_errors()
    text = load_corefile(p, pillars_for(p, {})).text
    assert text == ".:53 {\n    forward . /etc/resolv.conf\n}\n"
    assert configmap_errors() == errors + 1
