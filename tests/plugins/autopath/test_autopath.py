"""autopath: the server walks a known pod's search path and answers with a CNAME.

Behaviour from CoreDNS plugin/autopath/autopath.go and cname.go (try the name as asked, then
each further search domain, the first non-NXDOMAIN answer goes back behind a CNAME from the
asked name) and plugin/kubernetes/autopath.go (`pods verified`, the pod found by the client's
source IP, search path `<ns>.svc.<zone> svc.<zone> <zone>` + the server's resolv.conf + "").
Loopback addresses stand for pod IPs: the server sees the query's source address.
"""

from __future__ import annotations

import socket
from pathlib import Path

import dns.message
import dns.rcode
import dns.rdatatype
import pytest

from clusterdns.corefile import parse as parse_corefile
from clusterdns.corefile.model import Directive
from clusterdns.errors import ConfigError
from clusterdns.plugins.autopath.options import parse as parse_options
from clusterdns.plugins.autopath.setup import static_search
from tests.support.serverutil import running
from tests.support.upstream import metric, records, started

MANIFEST = """
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Namespace
  metadata: {name: shop}
- apiVersion: v1
  kind: Service
  metadata: {name: web, namespace: shop}
  spec: {type: ClusterIP, clusterIP: 10.96.0.20, ports: [{name: http, port: 80, protocol: TCP}]}
- apiVersion: v1
  kind: Service
  metadata: {name: db, namespace: default}
  spec: {type: ClusterIP, clusterIP: 10.96.0.30, ports: [{name: sql, port: 5432, protocol: TCP}]}
- apiVersion: v1
  kind: Pod
  metadata: {name: client, namespace: shop}
  spec: {}
  status: {phase: Running, podIP: 127.0.0.5, podIPs: [{ip: 127.0.0.5}]}
- apiVersion: v1
  kind: Pod
  metadata: {name: agent, namespace: shop}
  spec: {hostNetwork: true}
  status: {phase: Running, podIP: 127.0.0.6, podIPs: [{ip: 127.0.0.6}]}
"""


def corefile(manifests: Path, upstream: str, autopath: str = "autopath @kubernetes") -> str:
    return f"""
.:0 {{
    bind 127.0.0.1
    prometheus 127.0.0.1:0
    {autopath}
    kubernetes cluster.local {{
        manifests {manifests} 1s
        pods verified
    }}
    forward . {upstream}
}}
"""


def ask(port: int, name: str, rdtype: str, source: str) -> dns.message.Message:
    """One UDP query sent from ``source`` (a loopback address standing for a pod IP)."""
    query = dns.message.make_query(name, rdtype)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(5)
        sock.bind((source, 0))
        sock.sendto(query.to_wire(), ("127.0.0.1", port))
        reply = dns.message.from_wire(sock.recv(65535))
    assert reply.id == query.id
    return reply


@pytest.fixture
def cluster(tmp_path: Path):  # type: ignore[no-untyped-def]
    manifests = tmp_path / "cluster.yaml"
    manifests.write_text(MANIFEST)
    answer = records({"google.com. A": ["192.0.2.1"], "google.com. AAAA": ["2001:db8::1"]})
    with started(answer) as upstream, running(corefile(manifests, upstream.address)) as srv:
        yield srv, upstream


def test_a_pods_external_lookup_takes_one_query_per_type(cluster) -> None:  # type: ignore[no-untyped-def]
    srv, upstream = cluster
    before = metric("coredns_autopath_success_total", server=f"dns://127.0.0.1:{srv.port}")
    # seed 002: a pod in "shop" (ndots:5) asks google.com.shop.svc.cluster.local first
    asked = "google.com.shop.svc.cluster.local."
    a = ask(srv.port, asked, "A", "127.0.0.5")
    aaaa = ask(srv.port, asked, "AAAA", "127.0.0.5")
    for reply, rdtype, address in ((a, "A", "192.0.2.1"), (aaaa, "AAAA", "2001:db8::1")):
        assert reply.rcode() == dns.rcode.NOERROR
        assert reply.question[0].name.to_text() == asked
        lines = [line for rrset in reply.answer for line in rrset.to_text().splitlines()]
        assert lines[0].split()[2:] == ["IN", "CNAME", "google.com."]
        assert lines[0].split()[0] == asked
        assert lines[1].split()[0] == "google.com." and lines[1].split()[3:] == [rdtype, address]
    # one round trip per type: the walk of 8 queries (4 names x A/AAAA) became 2
    after = metric("coredns_autopath_success_total", server=f"dns://127.0.0.1:{srv.port}")
    assert after - before == 2
    assert upstream.count() >= 2  # the server itself asked the upstream for google.com


def test_never_guess_for_unknown_clients_or_host_network_pods(cluster) -> None:  # type: ignore[no-untyped-def]
    srv, _ = cluster
    asked = "google.com.shop.svc.cluster.local."
    assert ask(srv.port, asked, "A", "127.0.0.1").rcode() == dns.rcode.NXDOMAIN  # not a pod
    assert ask(srv.port, asked, "A", "127.0.0.6").rcode() == dns.rcode.NXDOMAIN  # hostNetwork


def test_the_memo_does_not_serve_one_clients_answer_to_another(cluster) -> None:  # type: ignore[no-untyped-def]
    srv, _ = cluster
    asked = "google.com.shop.svc.cluster.local."
    for _ in range(3):  # alternate: each gets its own answer, every time
        assert ask(srv.port, asked, "A", "127.0.0.1").rcode() == dns.rcode.NXDOMAIN
        pod = ask(srv.port, asked, "A", "127.0.0.5")
        assert pod.rcode() == dns.rcode.NOERROR and pod.answer[0].rdtype == dns.rdatatype.CNAME


def test_names_that_exist_as_asked_are_answered_without_cname(cluster) -> None:  # type: ignore[no-untyped-def]
    srv, _ = cluster
    reply = ask(srv.port, "web.shop.svc.cluster.local.", "A", "127.0.0.5")
    assert [rrset.rdtype for rrset in reply.answer] == [dns.rdatatype.A]
    # db.default asked from shop: db.default.shop.svc... is NXDOMAIN, db.default.svc... answers
    other = ask(srv.port, "db.default.shop.svc.cluster.local.", "A", "127.0.0.5")
    assert other.answer[0].rdtype == dns.rdatatype.CNAME
    assert other.answer[0][0].target.to_text() == "db.default.svc.cluster.local."
    assert other.answer[1][0].address == "10.96.0.30"


def test_a_name_not_under_the_first_search_domain_is_left_alone(cluster) -> None:  # type: ignore[no-untyped-def]
    srv, _ = cluster
    reply = ask(srv.port, "google.com.svc.cluster.local.", "A", "127.0.0.5")
    assert reply.rcode() == dns.rcode.NXDOMAIN


def test_when_every_try_fails_the_first_reply_goes_back(cluster) -> None:  # type: ignore[no-untyped-def]
    srv, _ = cluster
    reply = ask(srv.port, "nothing.invalid.shop.svc.cluster.local.", "A", "127.0.0.5")
    assert reply.rcode() == dns.rcode.NXDOMAIN
    assert reply.question[0].name.to_text() == "nothing.invalid.shop.svc.cluster.local."


def parse(
    directive: Directive, block_zones: tuple[str, ...]
) -> tuple[tuple[str, ...], str, tuple[str, ...]]:
    """(zones, ``@plugin`` name or "", static search path ending with ""): options, then the file."""
    opts = parse_options(directive, block_zones)
    return opts.zones, opts.via, static_search(opts, directive)


def directive(text: str):  # type: ignore[no-untyped-def]
    return parse_corefile(f"cluster.local {{\n    {text}\n}}\n", "Corefile")[0].directives[0]


def test_parse(tmp_path: Path) -> None:
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("nameserver 10.0.0.1\nsearch a.example b.example\n")
    assert parse(directive(f"autopath {resolv}"), ("cluster.local.",)) == (
        ("cluster.local.",),
        "",
        ("a.example.", "b.example.", ""),
    )
    assert parse(directive("autopath example.org @kubernetes"), ("cluster.local.",)) == (
        ("example.org.",),
        "kubernetes",
        (),
    )
    for text, message in [
        ("autopath", "no resolv-conf specified"),
        ("autopath /nonexistent/resolv.conf", "failed to parse"),
    ]:
        with pytest.raises(ConfigError, match=message):
            parse(directive(text), ("cluster.local.",))
