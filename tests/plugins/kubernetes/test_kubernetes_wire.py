"""The kubernetes plugin over the wire, on the sample cluster: one case per spec rule.

Each case names the rule it checks: a section of the Kubernetes DNS-Based
Service Discovery specification (kubernetes/dns docs/specification.md, schema
1.1.0) or a CoreDNS kubernetes-plugin behaviour.  Answers are zone-file lines.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import dns.flags
import dns.rcode
import pytest

from clusterdns.cluster import sample_cluster_path
from tests.support.serverutil import answers, running

NOERROR, NXDOMAIN = dns.rcode.NOERROR, dns.rcode.NXDOMAIN


def corefile(manifests: str | Path, interval: str = "1s") -> str:
    return f"""
cluster.local:0 in-addr.arpa:0 ip6.arpa:0 {{
    bind 127.0.0.1
    errors
    kubernetes cluster.local in-addr.arpa ip6.arpa {{
        manifests {manifests} {interval}
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 30
    }}
}}
"""


@pytest.fixture(scope="module")
def srv():
    with running(corefile(sample_cluster_path())) as server:
        yield server


CASES = [
    # (rule, name, type, rcode, answers)
    (
        "spec 2.3.1 A record of a ClusterIP service",
        "web.shop.svc.cluster.local.",
        "A",
        NOERROR,
        ["web.shop.svc.cluster.local. 30 IN A 10.96.10.10"],
    ),
    (
        "spec 2.3.1 AAAA of a dual-stack service (clusterIPs)",
        "api.shop.svc.cluster.local.",
        "AAAA",
        NOERROR,
        ["api.shop.svc.cluster.local. 30 IN AAAA fd00:10:96::14"],
    ),
    (
        "spec 2.3.1 no AAAA for a single-stack IPv4 service is NODATA",
        "web.shop.svc.cluster.local.",
        "AAAA",
        NOERROR,
        [],
    ),
    (
        "spec 2.3.2 named port SRV of a ClusterIP service",
        "_http._tcp.web.shop.svc.cluster.local.",
        "SRV",
        NOERROR,
        ["_http._tcp.web.shop.svc.cluster.local. 30 IN SRV 0 100 80 web.shop.svc.cluster.local."],
    ),
    (
        "spec 2.4.1 headless service answers the ready endpoint addresses",
        "db.shop.svc.cluster.local.",
        "A",
        NOERROR,
        [
            "db.shop.svc.cluster.local. 30 IN A 10.244.1.30",
            "db.shop.svc.cluster.local. 30 IN A 10.244.2.31",
        ],
    ),
    (
        "spec 2.4.1 endpoint hostname under a headless service",
        "db-0.db.shop.svc.cluster.local.",
        "A",
        NOERROR,
        ["db-0.db.shop.svc.cluster.local. 30 IN A 10.244.1.30"],
    ),
    (
        "spec 2.4.2 headless SRV points at each endpoint, CoreDNS weight 100/targets",
        "db.shop.svc.cluster.local.",
        "SRV",
        NOERROR,
        [
            "db.shop.svc.cluster.local. 30 IN SRV 0 50 5432 db-0.db.shop.svc.cluster.local.",
            "db.shop.svc.cluster.local. 30 IN SRV 0 50 5432 db-1.db.shop.svc.cluster.local.",
        ],
    ),
    (
        "spec 2.4.1 publishNotReadyAddresses keeps not-ready endpoints",
        "queue.shop.svc.cluster.local.",
        "A",
        NOERROR,
        [
            "queue.shop.svc.cluster.local. 30 IN A 10.244.1.50",
            "queue.shop.svc.cluster.local. 30 IN A 10.244.2.51",
        ],
    ),
    (
        "spec 2.5 ExternalName is a CNAME",
        "payments.shop.svc.cluster.local.",
        "A",
        NOERROR,
        ["payments.shop.svc.cluster.local. 30 IN CNAME payments.example.com."],
    ),
    (
        "RFC 1034 4.3.2 CNAME into the zone is chased in the same answer",
        "storefront.shop.svc.cluster.local.",
        "A",
        NOERROR,
        [
            "storefront.shop.svc.cluster.local. 30 IN CNAME web.shop.svc.cluster.local.",
            "web.shop.svc.cluster.local. 30 IN A 10.96.10.10",
        ],
    ),
    (
        "spec 2.2 dns-version TXT (CoreDNS TTL 28800)",
        "dns-version.cluster.local.",
        "TXT",
        NOERROR,
        ['dns-version.cluster.local. 28800 IN TXT "1.1.0"'],
    ),
    (
        "RFC 2308: dns-version asked for A is NODATA (CoreDNS says NXDOMAIN)",
        "dns-version.cluster.local.",
        "A",
        NOERROR,
        [],
    ),
    (
        "RFC 2308: the apex asked for TXT is NODATA (CoreDNS says NXDOMAIN)",
        "cluster.local.",
        "TXT",
        NOERROR,
        [],
    ),
    (
        "RFC 8020: <ns>.svc.<zone> is an empty non-terminal, NODATA",
        "shop.svc.cluster.local.",
        "A",
        NOERROR,
        [],
    ),
    (
        "RFC 8020: svc.<zone> is an empty non-terminal, NODATA",
        "svc.cluster.local.",
        "A",
        NOERROR,
        [],
    ),
    (
        "CoreDNS: a service that does not exist is NXDOMAIN",
        "nope.shop.svc.cluster.local.",
        "A",
        NXDOMAIN,
        [],
    ),
    (
        "CoreDNS: a namespace that does not exist is NXDOMAIN",
        "web.nope.svc.cluster.local.",
        "A",
        NXDOMAIN,
        [],
    ),
    (
        "spec 2.6 pod A record, pods insecure",
        "10-244-1-30.shop.pod.cluster.local.",
        "A",
        NOERROR,
        ["10-244-1-30.shop.pod.cluster.local. 30 IN A 10.244.1.30"],
    ),
    (
        "CoreDNS pods insecure: the namespace must exist",
        "10-244-1-30.nope.pod.cluster.local.",
        "A",
        NXDOMAIN,
        [],
    ),
    (
        "spec 2.3.3 PTR of a ClusterIP",
        "10.0.96.10.in-addr.arpa.",
        "PTR",
        NOERROR,
        ["10.0.96.10.in-addr.arpa. 30 IN PTR kube-dns.kube-system.svc.cluster.local."],
    ),
    (
        "spec 2.4.3 PTR of a headless endpoint with a hostname",
        "30.1.244.10.in-addr.arpa.",
        "PTR",
        NOERROR,
        ["30.1.244.10.in-addr.arpa. 30 IN PTR db-0.db.shop.svc.cluster.local."],
    ),
]


@pytest.mark.parametrize("rule, name, rdtype, rcode, expected", CASES, ids=[c[0] for c in CASES])
def test_spec_rule(srv, rule, name, rdtype, rcode, expected):
    reply = srv.udp(name, rdtype)
    assert reply.rcode() == rcode
    assert answers(reply) == sorted(expected)
    assert reply.flags & dns.flags.AA


@pytest.mark.parametrize(
    "name, rdtype",
    [
        ("nope.shop.svc.cluster.local.", "A"),
        ("web.shop.svc.cluster.local.", "AAAA"),
        ("shop.svc.cluster.local.", "A"),
    ],
)
def test_rfc2308_soa_in_authority_of_nxdomain_and_nodata(srv, name, rdtype):
    reply = srv.udp(name, rdtype)
    assert [rrset.rdtype for rrset in reply.authority] == [dns.rdatatype.SOA]
    soa = reply.authority[0]
    assert soa.name.to_text() == "cluster.local."
    assert soa[0].mname.to_text() == "ns.dns.cluster.local." and soa[0].minimum == 30


def test_srv_targets_addresses_go_in_the_additional_section(srv):
    reply = srv.udp("db.shop.svc.cluster.local.", "SRV")
    extra = sorted(rr for rrset in reply.additional for rr in rrset.to_text().splitlines())
    assert extra == [
        "db-0.db.shop.svc.cluster.local. 30 IN A 10.244.1.30",
        "db-1.db.shop.svc.cluster.local. 30 IN A 10.244.2.31",
    ]


def test_matching_ignores_case_and_the_question_comes_back_as_sent(srv):
    reply = srv.udp("WeB.ShOp.SvC.ClUsTeR.LoCaL.", "A")
    assert reply.question[0].name.to_text() == "WeB.ShOp.SvC.ClUsTeR.LoCaL."
    assert [rd.to_text() for rd in reply.answer[0]] == ["10.96.10.10"]


def test_reverse_names_not_in_the_cluster_fall_through(srv):
    """fallthrough in-addr.arpa: with nothing after kubernetes the server answers SERVFAIL."""
    assert srv.udp("1.2.3.4.in-addr.arpa.", "PTR").rcode() == dns.rcode.SERVFAIL


def test_apex_soa_and_ns(srv):
    assert srv.udp("cluster.local.", "NS").answer[0][0].to_text() == "ns.dns.cluster.local."
    assert (
        srv.udp("cluster.local.", "SOA").answer[0][0].rname.to_text() == "hostmaster.cluster.local."
    )


def wait_for(predicate, what: str, seconds: float = 20):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"gave up waiting for {what}")


def replace_file(path: Path, text: str) -> None:
    """Write as ConfigMap mounts and editors do: a new file renamed over the old one.

    A plain truncate-and-write can be read half-way (empty), and an empty file
    is a valid manifest with no objects.
    """
    temporary = path.with_suffix(".tmp~")
    temporary.write_text(text)
    os.replace(temporary, path)


def test_manifest_changes_are_served_and_a_broken_file_keeps_the_last_state(tmp_path: Path):
    manifests = tmp_path / "cluster"
    manifests.mkdir()
    main = manifests / "cluster.yaml"
    shutil.copy(sample_cluster_path(), main)
    with running(corefile(manifests, "100ms")) as server:
        assert answers(server.udp("web.shop.svc.cluster.local.")) == [
            "web.shop.svc.cluster.local. 30 IN A 10.96.10.10"
        ]
        replace_file(main, main.read_text().replace("10.96.10.10", "10.96.10.99"))
        wait_for(
            lambda: (
                answers(server.udp("web.shop.svc.cluster.local."))
                == ["web.shop.svc.cluster.local. 30 IN A 10.96.10.99"]
            ),
            "the changed ClusterIP",
        )
        replace_file(main, "items: [this is: not yaml")
        extra = manifests / "extra.yaml"
        replace_file(
            extra,
            "apiVersion: v1\nkind: Service\nmetadata: {name: late, namespace: shop}\n"
            "spec: {clusterIP: 10.96.10.77, ports: [{port: 80}]}\n",
        )
        wait_for(lambda: server.udp("late.shop.svc.cluster.local.").answer, "the new service")
        assert answers(server.udp("web.shop.svc.cluster.local.")) == [
            "web.shop.svc.cluster.local. 30 IN A 10.96.10.99"
        ]


def test_servfail_until_the_cluster_state_is_loaded(tmp_path: Path):
    """CoreDNS answers SERVFAIL until synced; NXDOMAIN would be cached for names that exist."""
    missing = tmp_path / "not-yet"
    with running(corefile(missing, "100ms")) as server:
        assert server.udp("web.shop.svc.cluster.local.").rcode() == dns.rcode.SERVFAIL
        missing.mkdir()
        shutil.copy(sample_cluster_path(), missing / "cluster.yaml")
        wait_for(lambda: server.udp("web.shop.svc.cluster.local.").answer, "the first state")
