"""-kubednscm: the kube-dns ConfigMap's stubDomains and upstreamNameservers, as node-cache reads them.

kubernetes/dns cmd/node-cache/app/configmap.go: each stub domain becomes a server
block (errors, cache 30, bind the local IPs, forward . SERVERS); upstreamNameservers
fill __PILLAR__UPSTREAM__SERVERS__ over UDP (else /etc/resolv.conf); the directory
is read again on the sync period and an invalid config keeps the running Corefile.
The stub and upstream servers here are clusterdns instances on 127.0.0.1.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from clusterdns.corefile.parser import parse as parse_corefile
from clusterdns.nodecache.app import NodeCache, load_corefile, pillars_for
from clusterdns.nodecache.kubednscm import KubeDNSConfig, kubedns_dir, parse
from clusterdns.nodecache.params import NodeCacheError
from clusterdns.nodecache.template import Pillars, fill
from tests.nodecache.test_corefile import Running, configmap_errors, params
from tests.support.serverutil import RunningServer, running

SEED_BASE = (Path(__file__).parents[2] / "src/clusterdns/nodecache/Corefile.base").read_text()

BASE = """\
cluster.local:0 {
    bind __PILLAR__LOCAL__DNS__
    forward . __PILLAR__CLUSTER__DNS__
}
.:0 {
    bind __PILLAR__LOCAL__DNS__
    forward . __PILLAR__UPSTREAM__SERVERS__ {
            force_tcp
    }
}
"""


def authoritative(zone: str, name: str, address: str) -> str:
    return f"{zone}:0 {{\n    bind 127.0.0.1\n    hosts {{\n        {address} {name}\n    }}\n}}\n"


@pytest.fixture
def stubs() -> Iterator[list[RunningServer]]:
    with (
        running(authoritative("stub.test", "www.stub.test", "10.53.0.1")) as one,
        running(authoritative("stub.test", "www.stub.test", "10.53.0.2")) as two,
        running(authoritative(".", "www.example.org", "10.99.0.1")) as upstream,
    ):
        yield [one, two, upstream]


def write_cm(
    directory: Path,
    stub_domains: dict[str, list[str]] | None = None,
    upstreams: list[str] | None = None,
) -> None:
    directory.mkdir(exist_ok=True)
    for key, value in (("stubDomains", stub_domains), ("upstreamNameservers", upstreams)):
        path = directory / key
        if value is None:
            path.unlink(missing_ok=True)
        else:
            path.write_text(json.dumps(value))


def address(server: RunningServer) -> str:
    return f"{server.host}:{server.port}"


def test_stub_domain_queries_reach_the_stub_server_and_follow_changes(
    tmp_path: Path, stubs: list[RunningServer]
) -> None:
    one, two, upstream = stubs
    cm = tmp_path / "kube-dns"
    write_cm(cm, {"stub.test": [address(one)]}, [address(upstream)])
    (tmp_path / "Corefile.base").write_text(BASE)
    cache = NodeCache(params(tmp_path, kubedns_cm=str(cm)), {})
    cache.check()
    written = (tmp_path / "Corefile").read_text()
    assert (
        f"stub.test:0 {{\n    errors\n    cache 30\n    bind 127.0.0.1\n    forward . {address(one)}\n}}"
        in written
    )
    # upstreamNameservers replace the force_tcp block with plain forward (UDP), as node-cache
    assert f"    forward . {address(upstream)}\n" in written and "force_tcp" not in written
    run = Running(cache)
    try:
        assert run.a("www.stub.test.") == ["10.53.0.1"]
        assert run.a("www.example.org.") == ["10.99.0.1"]
        # the ConfigMap changes: picked up on the next sync, with the base unchanged
        write_cm(cm, {"stub.test": [address(two)]}, [address(upstream)])
        assert run.call(cache.sync_corefile()) is True
        assert run.a("www.stub.test.") == ["10.53.0.2"]
        assert run.call(cache.sync_corefile()) is False  # nothing changed since
        # an invalid ConfigMap is an error and the running Corefile stays
        errors = configmap_errors()
        (cm / "stubDomains").write_text('{"Not_A_Domain": ["127.0.0.1"]}')
        assert run.call(cache.sync_corefile()) is False
        assert configmap_errors() == errors + 1
        assert run.a("www.stub.test.") == ["10.53.0.2"]
        # stub domains removed: the block goes, the name is asked upstream
        write_cm(cm, None, [address(upstream)])
        assert run.call(cache.sync_corefile()) is True
        assert "stub.test" not in (tmp_path / "Corefile").read_text()
    finally:
        run.stop()


def test_without_the_configmap_upstream_is_resolv_conf(tmp_path: Path) -> None:
    (tmp_path / "Corefile.base").write_text(BASE)
    p = params(tmp_path, kubedns_cm=str(tmp_path / "absent"))
    text = load_corefile(p, pillars_for(p, {})).text
    assert "forward . /etc/resolv.conf {\n            force_tcp" in text


def test_default_directory_only_when_it_exists(tmp_path: Path) -> None:
    assert kubedns_dir(str(tmp_path)) == str(tmp_path)
    # node-cache: no flag -> /etc/kube-dns when it exists, else no kube-dns sync
    assert kubedns_dir(None) == ("/etc/kube-dns" if Path("/etc/kube-dns").exists() else None)


def test_the_seed_template_with_stub_domains_parses() -> None:
    config = parse(
        {
            "stubDomains": '{"acme.local": ["1.2.3.4", "1.2.3.5:5353"]}',
            "upstreamNameservers": '["8.8.8.8"]',
        }
    )
    text = fill(SEED_BASE, Pillars(("169.254.20.10", "10.96.0.10"), "10.96.0.11", kubedns=config))
    blocks = parse_corefile(text)
    assert [b.keys for b in blocks][-1] == ("acme.local:53",)
    forward = [d.args for b in blocks for d in b.directives if d.name == "forward"]
    assert forward[-2] == (".", "8.8.8.8")  # the '.' block, now UDP to the upstreams
    assert forward[-1] == (".", "1.2.3.4", "1.2.3.5:5353")
    binds = [d.args for d in blocks[-1].directives if d.name == "bind"]
    assert binds == [("169.254.20.10", "10.96.0.10")]


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({}, KubeDNSConfig()),
        ({"stubDomains": "", "upstreamNameservers": ""}, KubeDNSConfig()),
        ({"stubDomains": '{"a.b": ["10.0.0.1"], "c.d": ["[fd00::1]:53"]}'}, KubeDNSConfig((("a.b", ("10.0.0.1",)), ("c.d", ("[fd00::1]:53",))))),
        ({"upstreamNameservers": '["10.0.0.1", "10.0.0.2:5353"]'}, KubeDNSConfig((), ("10.0.0.1", "10.0.0.2:5353"))),
    ],
)  # fmt: skip
def test_parse(files: dict[str, str], expected: KubeDNSConfig) -> None:
    assert parse(files) == expected


@pytest.mark.parametrize(
    ("files", "error"),
    [
        ({"stubDomains": "{"}, "stubDomains: not JSON"),
        ({"stubDomains": '["a.b"]'}, "expected a JSON object"),
        ({"stubDomains": '{"UPPER.case": ["10.0.0.1"]}'}, "invalid domain name"),
        ({"stubDomains": '{"a.b": ["10.0.0.300"]}'}, "invalid nameserver"),
        ({"stubDomains": '{"a.b": []}'}, "expected a list of nameservers"),
        ({"upstreamNameservers": '["1.1.1.1", "1.1.1.2", "1.1.1.3", "1.1.1.4"]'}, "more than three"),
        ({"upstreamNameservers": '["10.0.0.1:99999"]'}, "invalid nameserver"),
    ],
)  # fmt: skip
def test_parse_errors_name_the_file(files: dict[str, str], error: str) -> None:
    with pytest.raises(NodeCacheError, match=error) as info:
        parse(files, "/etc/kube-dns")
    assert str(info.value).startswith("/etc/kube-dns/")


def test_flag_reaches_the_params(tmp_path: Any) -> None:
    from clusterdns.cli import build_parser
    from clusterdns.cli.nodecache import params_from

    args = build_parser().parse_args(
        ["nodecache", "-localip", "169.254.20.10", "-kubednscm", str(tmp_path)]
    )
    assert params_from(args).kubedns_cm == str(tmp_path)
    args = build_parser().parse_args(["nodecache", "-localip", "169.254.20.10"])
    assert params_from(args).kubedns_cm is None
