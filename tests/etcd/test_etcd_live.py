"""etcd plugin against a real etcd: records written with etcdctl, asked over UDP and TCP.

The plugin lists the path once and follows a watch (CoreDNS reads etcd per
query, plugin/etcd/README.md "Backend load"); these tests see changes and
deletions arrive through that watch, answers kept while etcd is down, and
the watch picked up again when etcd is back.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import dns.message
import dns.rcode
import pytest

import clusterdns.plugins.etcd.handler as handler
from tests.support.etcdlab import EtcdServer
from tests.support.serverutil import RunningServer, answers, running


def corefile(etcd: EtcdServer, *options: str, zones: str = "skydns.local") -> str:
    body = "\n        ".join(options)
    return f"""
skydns.local:0 in-addr.arpa:0 {{
    bind 127.0.0.1
    etcd {zones} {{
        endpoint {etcd.endpoint}
        {body}
    }}
}}
"""


def until(check: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


def addresses(message: dns.message.Message) -> list[str]:
    return sorted(rr.to_text() for rrset in message.answer for rr in rrset)


@pytest.fixture
def seeded(etcd: EtcdServer) -> EtcdServer:
    etcd.put("/skydns/local/skydns/web/x1", '{"host":"10.0.0.1","port":8080}')
    etcd.put("/skydns/local/skydns/web/x2", '{"host":"10.0.0.2","port":8080,"ttl":60}')
    etcd.put("/skydns/local/skydns/db", '{"host":"fd00::5"}')
    etcd.put("/skydns/local/skydns/alias", '{"host":"web.skydns.local"}')
    etcd.put("/skydns/local/skydns/note", '{"text":"hello world"}')
    etcd.put("/skydns/arpa/in-addr/10/0/0/1", '{"host":"web.skydns.local."}')
    return etcd


@pytest.fixture
def server(seeded: EtcdServer) -> Iterator[RunningServer]:
    with running(corefile(seeded, zones="skydns.local 10.0.0.0/24")) as srv:
        yield srv


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_records_from_etcd(server: RunningServer, transport: str) -> None:
    ask = server.udp if transport == "udp" else server.tcp
    web = ask("web.skydns.local", "A")
    assert web.rcode() == dns.rcode.NOERROR
    # several keys under one name: every record below it; one RRset has one TTL, the
    # lowest of its records (RFC 2181 5.2), here x2's "ttl":60
    assert answers(web) == [
        "web.skydns.local. 60 IN A 10.0.0.1",
        "web.skydns.local. 60 IN A 10.0.0.2",
    ]
    assert addresses(ask("db.skydns.local", "AAAA")) == ["fd00::5"]
    alias = ask("alias.skydns.local", "A")
    assert answers(alias) == [
        "alias.skydns.local. 300 IN CNAME web.skydns.local.",
        "web.skydns.local. 60 IN A 10.0.0.1",
        "web.skydns.local. 60 IN A 10.0.0.2",
    ]
    # TTL 300 when the value has none (plugin/etcd/etcd.go defaultTTL)
    assert answers(ask("x1.web.skydns.local", "A")) == ["x1.web.skydns.local. 300 IN A 10.0.0.1"]
    assert answers(ask("note.skydns.local", "TXT")) == [
        'note.skydns.local. 300 IN TXT "hello world"'
    ]
    srv = ask("web.skydns.local", "SRV")
    assert answers(srv) == [
        "web.skydns.local. 60 IN SRV 10 50 8080 x1.web.skydns.local.",
        "web.skydns.local. 60 IN SRV 10 50 8080 x2.web.skydns.local.",
    ]
    assert sorted(rr.to_text() for rrset in srv.additional for rr in rrset) == [
        "10.0.0.1",
        "10.0.0.2",
    ]
    assert answers(ask("1.0.0.10.in-addr.arpa", "PTR")) == [
        "1.0.0.10.in-addr.arpa. 300 IN PTR web.skydns.local."
    ]


def test_nxdomain_and_nodata(server: RunningServer) -> None:
    missing = server.udp("nope.skydns.local", "A")
    assert missing.rcode() == dns.rcode.NXDOMAIN
    assert missing.authority[0].to_text().split()[3] == "SOA"
    nodata = server.udp("db.skydns.local", "A")  # exists, AAAA only
    assert nodata.rcode() == dns.rcode.NOERROR and not nodata.answer
    assert nodata.authority[0].rdtype == dns.rdatatype.SOA


def test_changes_and_deletions_follow(server: RunningServer, seeded: EtcdServer) -> None:
    assert addresses(server.udp("web.skydns.local")) == ["10.0.0.1", "10.0.0.2"]
    seeded.put("/skydns/local/skydns/web/x3", '{"host":"10.0.0.3"}')
    assert until(
        lambda: addresses(server.udp("web.skydns.local")) == ["10.0.0.1", "10.0.0.2", "10.0.0.3"]
    )
    seeded.put("/skydns/local/skydns/web/x1", '{"host":"10.0.0.9"}')
    assert until(
        lambda: addresses(server.tcp("web.skydns.local")) == ["10.0.0.2", "10.0.0.3", "10.0.0.9"]
    )
    # the CNAME that points at web follows too (its answer was built from web's records)
    assert until(lambda: "10.0.0.9" in addresses(server.udp("alias.skydns.local")))
    seeded.ctl("del", "--prefix", "/skydns/local/skydns/web/")
    assert until(lambda: server.udp("web.skydns.local").rcode() == dns.rcode.NXDOMAIN)
    fresh = server.udp("new.skydns.local")
    assert fresh.rcode() == dns.rcode.NXDOMAIN
    seeded.put("/skydns/local/skydns/new", '{"host":"10.1.1.1"}')
    assert until(lambda: addresses(server.udp("new.skydns.local")) == ["10.1.1.1"])


def test_bad_values_are_skipped_with_a_warning(
    server: RunningServer, seeded: EtcdServer, caplog: pytest.LogCaptureFixture
) -> None:
    seeded.put("/skydns/local/skydns/bad/json", "{not json")
    seeded.put("/skydns/local/skydns/bad/ip", '{"host":"10.0.0.300"}')
    seeded.put("/skydns/local/skydns/bad/good", '{"host":"10.0.0.7"}')
    assert until(lambda: addresses(server.udp("bad.skydns.local")) == ["10.0.0.7"])
    warned = " ".join(r.getMessage() for r in caplog.records if r.levelname == "WARNING")
    assert "/skydns/local/skydns/bad/json" in warned
    assert "/skydns/local/skydns/bad/ip" in warned
    assert "/skydns/local/skydns/bad/good" not in warned


def test_answers_kept_while_etcd_is_down_and_followed_when_back(
    server: RunningServer, seeded: EtcdServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Once the plugin has logged that etcd is gone, the last records are still served."""
    assert addresses(server.udp("web.skydns.local")) == ["10.0.0.1", "10.0.0.2"]
    seeded.stop()
    assert until(lambda: "serving the last records while retrying" in caplog.text, 30)
    plugin = next(p for b in server.server.blocks for p in b.plugins if p.name == "etcd")
    assert plugin.source is not None and plugin.source.connected is False
    assert addresses(server.udp("web.skydns.local")) == ["10.0.0.1", "10.0.0.2"]
    assert addresses(server.tcp("db.skydns.local", "AAAA")) == ["fd00::5"]
    seeded.start()
    seeded.put("/skydns/local/skydns/web/x1", '{"host":"10.0.0.11"}')
    seeded.delete("/skydns/local/skydns/db")
    # the watch is resumed after a fresh list: the change and the deletion both arrive
    assert until(lambda: addresses(server.udp("web.skydns.local")) == ["10.0.0.11", "10.0.0.2"], 30)
    assert until(lambda: server.udp("db.skydns.local", "AAAA").rcode() == dns.rcode.NXDOMAIN, 30)


def test_servfail_until_listed_then_ready(
    etcd: EtcdServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    etcd.put("/skydns/local/skydns/a", '{"host":"10.0.0.1"}')
    etcd.stop()
    monkeypatch.setattr(handler, "STARTUP_WAIT", 0.2)
    srv = RunningServer(corefile(etcd)).start()
    try:
        plugin = next(p for b in srv.server.blocks for p in b.plugins if p.name == "etcd")
        assert plugin.ready() is False
        assert srv.udp("a.skydns.local").rcode() == dns.rcode.SERVFAIL
        etcd.start()
        assert until(lambda: addresses(srv.udp("a.skydns.local")) == ["10.0.0.1"], 30)
        assert plugin.ready() is True
    finally:
        srv.stop()


def test_wildcard_queries(server: RunningServer, seeded: EtcdServer) -> None:
    seeded.put("/skydns/local/skydns/prod/east/api", '{"host":"10.2.0.1","port":80}')
    seeded.put("/skydns/local/skydns/prod/west/api", '{"host":"10.2.0.2","port":80}')
    seeded.put("/skydns/local/skydns/prod/west/db", '{"host":"10.2.0.3","port":5432}')
    assert until(lambda: server.udp("api.*.prod.skydns.local").rcode() == dns.rcode.NOERROR)
    # msg/path.go PathWithWildcard: "*" and "any" match any label at their place
    assert addresses(server.udp("api.*.prod.skydns.local")) == ["10.2.0.1", "10.2.0.2"]
    assert addresses(server.udp("api.any.prod.skydns.local")) == ["10.2.0.1", "10.2.0.2"]
    assert addresses(server.udp("*.west.prod.skydns.local")) == ["10.2.0.2", "10.2.0.3"]
    seeded.delete("/skydns/local/skydns/prod/east/api")
    assert until(lambda: addresses(server.udp("api.*.prod.skydns.local")) == ["10.2.0.2"])
    assert server.udp("api.*.nothere.skydns.local").rcode() == dns.rcode.NXDOMAIN


def test_credentials(etcd: EtcdServer, monkeypatch: pytest.MonkeyPatch) -> None:
    # etcd's auth: a root user, auth on; the plugin authenticates and sends the token
    etcd.ctl("user", "add", "root:s3cret")
    etcd.ctl("auth", "enable")
    etcd.ctl("--user=root:s3cret", "put", "/skydns/local/skydns/locked", '{"host":"10.4.4.4"}')
    with running(corefile(etcd, "credentials root s3cret")) as srv:
        assert addresses(srv.udp("locked.skydns.local")) == ["10.4.4.4"]
    monkeypatch.setattr(handler, "STARTUP_WAIT", 0.5)
    with running(corefile(etcd, "credentials root wrong")) as srv:
        assert srv.udp("locked.skydns.local").rcode() == dns.rcode.SERVFAIL  # never listed
