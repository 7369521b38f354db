"""autopath against CoreDNS's own cases, on a real server over loopback.

Each table cites the CoreDNS file it takes its facts from (coredns/coredns, plugin/autopath/
and plugin/kubernetes/autopath.go).  The tables are written from those facts; the queries go
over UDP/TCP to a server booted from a Corefile, answers come from a local fake upstream
(through *forward*) and from *kubernetes* manifests.  Loopback addresses stand for pod IPs.
"""

from __future__ import annotations

import socket
from pathlib import Path

import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype
import pytest

from clusterdns.corefile import parse as parse_corefile
from clusterdns.corefile.model import Directive
from clusterdns.errors import ConfigError
from clusterdns.plugins.autopath.handler import _first_in_search_path
from clusterdns.plugins.autopath.options import parse as parse_options
from clusterdns.plugins.autopath.setup import static_search
from clusterdns.plugins.kubernetes.autopath import search_path
from tests.support.serverutil import running
from tests.support.upstream import metric, records, started


def ask(
    port: int, name: str, rdtype: str = "A", source: str = "127.0.0.1", tcp: bool = False
) -> dns.message.Message:
    """One query sent from ``source`` (a loopback address standing for a pod IP)."""
    query = dns.message.make_query(name, rdtype)
    if tcp:
        return dns.query.tcp(query, "127.0.0.1", port=port, timeout=5, source=source)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(5)
        sock.bind((source, 0))
        sock.sendto(query.to_wire(), ("127.0.0.1", port))
        reply = dns.message.from_wire(sock.recv(65535))
    assert reply.id == query.id
    return reply


def lines(message: dns.message.Message) -> list[str]:
    """The answer section in order (the CNAME must come first), one zone-file line per record."""
    return [line for rrset in message.answer for line in rrset.to_text().splitlines()]


# -- static search path: plugin/autopath/autopath_test.go (TestAutoPath, TestAutoPathNoAnswer)
#
# search path example.org. example.com. com. "" ; zone "." ; the rest of the chain answers
# b.com. and a.example.com. with an A record (TTL 3600), every other name with NXDOMAIN.

UPSTREAM = {"b.com. A": ["127.0.0.53"], "a.example.com. A": ["127.0.0.53"]}

STATIC_CASES = [
    # (qname, rcode, answer lines in order)
    # search path expansion: CNAME from the asked name to the found one, TTL of the found record
    (
        "b.example.org.",
        "NOERROR",
        ["b.example.org. 3600 IN CNAME b.com.", "b.com. 3600 IN A 127.0.0.53"],
    ),
    # not under the first search element: no expansion, answered as asked
    ("a.example.com.", "NOERROR", ["a.example.com. 3600 IN A 127.0.0.53"]),
    # every element NXDOMAIN: the first reply goes back as it is
    ("c.example.org.", "NXDOMAIN", []),
    # the last element "" is the bare name: b.com.example.org. -> b.com.example.com. ->
    # b.com.com. -> b.com.
    (
        "b.com.example.org.",
        "NOERROR",
        ["b.com.example.org. 3600 IN CNAME b.com.", "b.com. 3600 IN A 127.0.0.53"],
    ),
]


@pytest.fixture(scope="module")
def static_server(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    resolv = tmp_path_factory.mktemp("autopath") / "resolv.conf"
    resolv.write_text("nameserver 127.0.0.1\nsearch example.org example.com com\n")
    with started(records(UPSTREAM, ttl=3600)) as upstream:
        corefile = f"""
.:0 {{
    bind 127.0.0.1
    autopath {resolv}
    forward . {upstream.address}
}}
"""
        with running(corefile) as srv:
            yield srv, upstream


@pytest.mark.parametrize(("qname", "rcode", "answer"), STATIC_CASES)
def test_static_search_path(static_server, qname: str, rcode: str, answer: list[str]) -> None:  # type: ignore[no-untyped-def]
    srv, _ = static_server
    reply = ask(srv.port, qname)
    assert dns.rcode.to_text(reply.rcode()) == rcode
    assert reply.question[0].name == dns.name.from_text(qname)  # the reply's question is unchanged
    assert lines(reply) == answer


def test_static_walk_asks_each_element_in_order(static_server) -> None:  # type: ignore[no-untyped-def]
    srv, upstream = static_server
    start = len(upstream.seen)
    ask(srv.port, "zz.example.org.")
    asked = [name for _, name, _ in upstream.seen[start:]]
    assert asked == ["zz.example.org.", "zz.example.com.", "zz.com.", "zz."]


def test_static_question_case_is_kept(static_server) -> None:  # type: ignore[no-untyped-def]
    # cname.go puts the original question name back; autopath.go builds the tries from QName()
    srv, _ = static_server
    reply = ask(srv.port, "B.Example.ORG.")
    assert reply.question[0].name.to_text() == "B.Example.ORG."
    assert reply.answer[0].name.to_text() == "B.Example.ORG."
    assert reply.answer[0][0].target.to_text() == "B.com."


# -- firstInSearchPath: plugin/autopath/autopath_test.go (TestInSearchPath)

IN_SEARCH_PATH = [
    ("google.com.", False),
    ("default.svc.cluster.local.", True),
    ("a.default.svc.cluster.local.", True),
    ("a.b.svc.cluster.local.", False),
]


@pytest.mark.parametrize(("qname", "expected"), IN_SEARCH_PATH)
def test_first_in_search_path(qname: str, expected: bool) -> None:
    assert _first_in_search_path(qname, "default.svc.cluster.local.") is expected


# -- setup: plugin/autopath/setup_test.go (TestSetupAutoPath) and setup.go


def parse(
    directive: Directive, block_zones: tuple[str, ...]
) -> tuple[tuple[str, ...], str, tuple[str, ...]]:
    """(zones, ``@plugin`` name or "", static search path ending with ""): options, then the file."""
    opts = parse_options(directive, block_zones)
    return opts.zones, opts.via, static_search(opts, directive)


def directive(text: str):  # type: ignore[no-untyped-def]
    return parse_corefile(f".:53 {{\n    {text}\n}}\n", "Corefile")[0].directives[0]


@pytest.fixture
def resolv_conf(tmp_path: Path) -> Path:
    path = tmp_path / "resolv.conf"
    path.write_text("nameserver 1.2.3.4\ndomain foo.com\nsearch bar.com baz.com\noptions ndots:5\n")
    return path


def test_setup_accepts(resolv_conf: Path) -> None:
    # (input, zones, plugin, search)
    table = [
        ("autopath @kubernetes", (".",), "kubernetes", ()),
        ("autopath example.org @kubernetes", ("example.org.",), "kubernetes", ()),
        ("autopath 10.0.0.0/8 @kubernetes", ("10.in-addr.arpa.",), "kubernetes", ()),
        (f"autopath {resolv_conf}", (".",), "", ("bar.com.", "baz.com.", "")),
        # the plugin behind @ is looked up when the server starts, not when parsing
        ("autopath @erratic", (".",), "erratic", ()),
    ]
    for text, zones, via, search in table:
        assert parse(directive(text), (".",)) == (zones, via, search), text


def test_setup_domain_line_gives_its_first_word(tmp_path: Path) -> None:
    # miekg/dns ClientConfigFromReader: the last of search/domain wins; domain keeps one word
    path = tmp_path / "resolv.conf"
    path.write_text("search a.example b.example\ndomain Foo.COM other.com\n")
    assert parse(directive(f"autopath {path}"), (".",))[2] == ("foo.com.", "")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("autopath kubernetes", 'failed to parse "kubernetes": open kubernetes:'),
        ("autopath", "no resolv-conf"),
        ('autopath ""', "failed to parse"),
    ],
)
def test_setup_refuses(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as error:
        parse(directive(text), (".",))
    assert "Corefile:2" in str(error.value)


def test_at_plugin_that_is_not_an_autopather_fails_at_start() -> None:
    # setup.go OnStartup: a plugin of that name in the block that does not implement AutoPather
    corefile = ".:0 {\n    bind 127.0.0.1\n    autopath @whoami\n    whoami\n}\n"
    with (
        pytest.raises(ConfigError, match="whoami does not implement the AutoPather interface") as e,
        running(corefile),
    ):
        pass
    assert "Corefile:3" in str(e.value)


def test_at_plugin_missing_from_the_block_means_no_autopath() -> None:
    # setup.go OnStartup: Handler(mw) == nil -> nothing is set, queries pass untouched
    with started(records({"b.com. A": ["127.0.0.53"]})) as upstream:
        corefile = f".:0 {{\n    bind 127.0.0.1\n    autopath @kubernetes\n    forward . {upstream.address}\n}}\n"
        with running(corefile) as srv:
            assert ask(srv.port, "b.com.").rcode() == dns.rcode.NOERROR
            assert ask(srv.port, "b.com.svc.cluster.local.").rcode() == dns.rcode.NXDOMAIN


# -- autopath @kubernetes: plugin/kubernetes/autopath.go (AutoPath, podWithIP)

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
  metadata: {name: other, namespace: default}
  spec: {}
  status: {phase: Running, podIP: 127.0.0.7, podIPs: [{ip: 127.0.0.7}]}
"""

EXTERNAL = {
    "google.com. A": ["192.0.2.1"],
    "google.com. AAAA": ["2001:db8::1"],
}


def kubernetes_corefile(manifests: Path, upstream: str, pods: str = "verified") -> str:
    return f"""
.:0 {{
    bind 127.0.0.1
    autopath @kubernetes
    kubernetes cluster.local {{
        manifests {manifests} 1s
        pods {pods}
    }}
    forward . {upstream}
}}
"""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    manifests = tmp_path_factory.mktemp("cluster") / "cluster.yaml"
    manifests.write_text(MANIFEST)
    with (
        started(records(EXTERNAL)) as upstream,
        running(kubernetes_corefile(manifests, upstream.address)) as srv,
    ):
        yield srv, upstream


KUBERNETES_CASES = [
    # (source pod, qname, qtype, rcode, answer lines in order)
    # <ns>.svc.<zone> -> ... -> "" : the bare name through forward, behind a CNAME
    (
        "127.0.0.5",
        "google.com.shop.svc.cluster.local.",
        "A",
        "NOERROR",
        [
            "google.com.shop.svc.cluster.local. 300 IN CNAME google.com.",
            "google.com. 300 IN A 192.0.2.1",
        ],
    ),
    (
        "127.0.0.5",
        "google.com.shop.svc.cluster.local.",
        "AAAA",
        "NOERROR",
        [
            "google.com.shop.svc.cluster.local. 300 IN CNAME google.com.",
            "google.com. 300 IN AAAA 2001:db8::1",
        ],
    ),
    # svc.<zone>: another namespace's service by <svc>.<ns>
    (
        "127.0.0.5",
        "db.default.shop.svc.cluster.local.",
        "A",
        "NOERROR",
        [
            "db.default.shop.svc.cluster.local. 5 IN CNAME db.default.svc.cluster.local.",
            "db.default.svc.cluster.local. 5 IN A 10.96.0.30",
        ],
    ),
    # the same name from a pod in "default": its first element is default.svc.cluster.local.
    (
        "127.0.0.7",
        "web.shop.default.svc.cluster.local.",
        "A",
        "NOERROR",
        [
            "web.shop.default.svc.cluster.local. 5 IN CNAME web.shop.svc.cluster.local.",
            "web.shop.svc.cluster.local. 5 IN A 10.96.0.20",
        ],
    ),
    # the name as asked exists: answered as it is, no CNAME
    (
        "127.0.0.5",
        "web.shop.svc.cluster.local.",
        "A",
        "NOERROR",
        ["web.shop.svc.cluster.local. 5 IN A 10.96.0.20"],
    ),
    # every element NXDOMAIN: the first reply, for the name as asked
    ("127.0.0.5", "nothing.shop.svc.cluster.local.", "A", "NXDOMAIN", []),
    # not under the client's first element: left alone
    ("127.0.0.5", "google.com.svc.cluster.local.", "A", "NXDOMAIN", []),
    # not a known pod: no search path, no autopath
    ("127.0.0.1", "google.com.shop.svc.cluster.local.", "A", "NXDOMAIN", []),
]


@pytest.mark.parametrize(("source", "qname", "qtype", "rcode", "answer"), KUBERNETES_CASES)
def test_kubernetes_search_path(
    cluster, source: str, qname: str, qtype: str, rcode: str, answer: list[str]
) -> None:  # type: ignore[no-untyped-def]
    srv, _ = cluster
    for tcp in (False, True):
        reply = ask(srv.port, qname, qtype, source, tcp=tcp)
        assert dns.rcode.to_text(reply.rcode()) == rcode
        assert reply.question[0].name == dns.name.from_text(qname)
        assert lines(reply) == answer
        assert reply.flags & dns.flags.QR


def test_kubernetes_first_element_itself_is_servfail(cluster) -> None:  # type: ignore[no-untyped-def]
    # autopath.go: dnsutil.TrimZone(qname, searchpath[0]) fails when they are equal
    srv, _ = cluster
    assert ask(srv.port, "shop.svc.cluster.local.", "A", "127.0.0.5").rcode() == dns.rcode.SERVFAIL
    # from a client that is not a pod, the same name is answered by kubernetes
    assert ask(srv.port, "shop.svc.cluster.local.", "A", "127.0.0.1").rcode() == dns.rcode.NOERROR


def test_kubernetes_success_metric(cluster) -> None:  # type: ignore[no-untyped-def]
    # autopath.go counts every reply it returns from the walk that is not NXDOMAIN
    srv, _ = cluster
    label = f"dns://127.0.0.1:{srv.port}"
    table = [
        ("127.0.0.5", "google.com.shop.svc.cluster.local.", 1),  # found through the walk
        ("127.0.0.5", "db.default.shop.svc.cluster.local.", 1),
        ("127.0.0.5", "web.shop.svc.cluster.local.", 1),  # the name as asked (NODATA: no IPv6)
        ("127.0.0.5", "missing.shop.svc.cluster.local.", 0),  # every element NXDOMAIN
        ("127.0.0.1", "google.com.shop.svc.cluster.local.", 0),  # not a pod
        ("127.0.0.5", "google.com.", 0),  # not under the first element
    ]
    for source, qname, delta in table:
        before = metric("coredns_autopath_success_total", server=label)
        ask(srv.port, qname, "AAAA", source)
        assert metric("coredns_autopath_success_total", server=label) - before == delta, qname


def test_kubernetes_search_path_order(cluster, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # autopath.go: <ns>.svc.<zone>, svc.<zone>, <zone>, the host's resolv.conf search, ""
    srv, _ = cluster
    kubernetes = next(p for b in srv.server.blocks for p in b.plugins if p.name == "kubernetes")
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("nameserver 10.0.0.1\nsearch Corp.Example lab.example\n")
    assert search_path(kubernetes, "127.0.0.5", "x.cluster.local.", str(resolv)) == [
        "shop.svc.cluster.local.",
        "svc.cluster.local.",
        "cluster.local.",
        "corp.example.",
        "lab.example.",
        "",
    ]
    # not in the plugin's zones, not a pod: nil
    assert search_path(kubernetes, "127.0.0.5", "x.example.", str(resolv)) is None
    assert search_path(kubernetes, "127.0.0.9", "x.cluster.local.", str(resolv)) is None


def test_kubernetes_without_pods_verified_does_nothing(tmp_path: Path) -> None:
    # autopath.go: without the pod cache (pods verified) there is no search path
    manifests = tmp_path / "cluster.yaml"
    manifests.write_text(MANIFEST)
    with (
        started(records(EXTERNAL)) as upstream,
        running(kubernetes_corefile(manifests, upstream.address, "insecure")) as srv,
    ):
        reply = ask(srv.port, "google.com.shop.svc.cluster.local.", "A", "127.0.0.5")
        assert reply.rcode() == dns.rcode.NXDOMAIN and not reply.answer


def test_autopath_zones_limit_the_plugin(tmp_path: Path) -> None:
    # autopath.go: a name outside autopath's ZONES goes down the chain untouched
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("search example.org com\n")
    with started(records(UPSTREAM, ttl=3600)) as upstream:
        corefile = f".:0 {{\n    bind 127.0.0.1\n    autopath example.net {resolv}\n    forward . {upstream.address}\n}}\n"
        with running(corefile) as srv:
            assert ask(srv.port, "b.example.org.").rcode() == dns.rcode.NXDOMAIN


def test_an_error_from_the_chain_ends_the_walk(tmp_path: Path) -> None:
    # autopath.go: NextOrFailure returns an error (forward: no upstream answered) -> returned
    manifests = tmp_path / "cluster.yaml"
    manifests.write_text(MANIFEST)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        dead = f"127.0.0.1:{probe.getsockname()[1]}"
    with running(kubernetes_corefile(manifests, dead)) as srv:
        reply = ask(srv.port, "google.com.shop.svc.cluster.local.", "A", "127.0.0.5")
        assert reply.rcode() == dns.rcode.SERVFAIL
        # a walk that ends inside the cluster zone never reaches forward
        found = ask(srv.port, "db.default.shop.svc.cluster.local.", "A", "127.0.0.5")
        assert found.answer[1][0].address == "10.96.0.30"
