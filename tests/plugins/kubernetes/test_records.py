"""The record rules on the sample cluster: (spec section or CoreDNS behaviour, name, type) -> answer."""

from __future__ import annotations

import dataclasses

import pytest

from clusterdns.cluster.labels import parse_selector
from clusterdns.cluster.model import ClusterState
from clusterdns.dns.zone import ancestors, zone_of
from clusterdns.plugins.kubernetes.options import KubernetesOptions
from clusterdns.plugins.kubernetes.records import (
    RecordSet,
    apex_records,
    build_records,
    ns_addresses,
    pod_record,
    reverse_records,
    service_records,
    srv_weight,
)

ZONES = ("cluster.local.", "in-addr.arpa.", "ip6.arpa.")
OPTS = KubernetesOptions(zones=ZONES)
NX = "NXDOMAIN"


def existing_names(records: RecordSet, zones: tuple[str, ...]) -> set[str]:
    """Every name that exists: the owners, and their ancestors down to their zone's apex."""
    names = set(records)
    for owner in records:
        apex = zone_of(owner, zones)
        if apex is not None:
            names.update(ancestors(owner, apex))
    return names


def answer(records: RecordSet, name: str, rdtype: str, zones: tuple[str, ...] = ZONES) -> object:
    """NXDOMAIN, or the sorted rdata of ``rdtype`` at ``name`` ([] is NODATA)."""
    if name not in existing_names(records, zones):
        return NX
    return sorted(r.rdata for r in records.get(name, []) if r.rdtype == rdtype)


CASES = [
    # spec 2.2
    ("spec 2.2 dns-version TXT", "dns-version.cluster.local.", "TXT", ['"1.1.0"']),
    # spec 2.3.1
    (
        "spec 2.3.1 A record for ClusterIP",
        "kubernetes.default.svc.cluster.local.",
        "A",
        ["10.96.0.1"],
    ),
    (
        "spec 2.3.1 A record for kube-dns",
        "kube-dns.kube-system.svc.cluster.local.",
        "A",
        ["10.96.0.10"],
    ),
    (
        "spec 2.3.1 NodePort service has its cluster IP",
        "grafana.monitoring.svc.cluster.local.",
        "A",
        ["10.96.20.31"],
    ),
    ("spec 2.3.1 dual-stack A", "api.shop.svc.cluster.local.", "A", ["10.96.10.20"]),
    ("spec 2.3.1 dual-stack AAAA", "api.shop.svc.cluster.local.", "AAAA", ["fd00:10:96::14"]),
    (
        "spec 2.3.1 IPv4-only service has no AAAA (NODATA)",
        "web.shop.svc.cluster.local.",
        "AAAA",
        [],
    ),
    # spec 2.3.2
    (
        "spec 2.3.2 SRV for named port",
        "_https._tcp.kubernetes.default.svc.cluster.local.",
        "SRV",
        ["0 100 443 kubernetes.default.svc.cluster.local."],
    ),
    (
        "spec 2.3.2 SRV for UDP port",
        "_dns._udp.kube-dns.kube-system.svc.cluster.local.",
        "SRV",
        ["0 100 53 kube-dns.kube-system.svc.cluster.local."],
    ),
    (
        "spec 2.3.2 port/protocol mismatch is NXDOMAIN",
        "_dns._tcp.kube-dns.kube-system.svc.cluster.local.",
        "SRV",
        NX,
    ),
    (
        "spec 2.3.2 unnamed port has no SRV name",
        "_._tcp.grafana.monitoring.svc.cluster.local.",
        "SRV",
        NX,
    ),
    (
        "CoreDNS bare-name SRV: every port, weight 100/entries",
        "web.shop.svc.cluster.local.",
        "SRV",
        ["0 50 443 web.shop.svc.cluster.local.", "0 50 80 web.shop.svc.cluster.local."],
    ),
    (
        "CoreDNS bare-name SRV: dns and dns-tcp share port 53, one record, 3 entries",
        "kube-dns.kube-system.svc.cluster.local.",
        "SRV",
        [
            "0 33 53 kube-dns.kube-system.svc.cluster.local.",
            "0 33 9153 kube-dns.kube-system.svc.cluster.local.",
        ],
    ),
    (
        "CoreDNS dual-stack SRV: one record, weight 50 (two cluster IPs)",
        "_http._tcp.api.shop.svc.cluster.local.",
        "SRV",
        ["0 50 8080 api.shop.svc.cluster.local."],
    ),
    (
        "CoreDNS bare-name SRV includes unnamed ports",
        "grafana.monitoring.svc.cluster.local.",
        "SRV",
        ["0 100 3000 grafana.monitoring.svc.cluster.local."],
    ),
    ("spec 2.3.2 _tcp empty non-terminal exists", "_tcp.web.shop.svc.cluster.local.", "SRV", []),
    # spec 2.3.3
    (
        "spec 2.3.3 PTR for IPv4 ClusterIP",
        "1.0.96.10.in-addr.arpa.",
        "PTR",
        ["kubernetes.default.svc.cluster.local."],
    ),
    (
        "spec 2.3.3 PTR for IPv6 ClusterIP",
        "4.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.6.9.0.0.0.1.0.0.0.0.d.f.ip6.arpa.",
        "PTR",
        ["api.shop.svc.cluster.local."],
    ),
    ("reverse.go: unknown IP is NXDOMAIN", "99.99.96.10.in-addr.arpa.", "PTR", NX),
    # spec 2.4.1
    (
        "spec 2.4.1 headless A: every ready endpoint",
        "db.shop.svc.cluster.local.",
        "A",
        ["10.244.1.30", "10.244.2.31"],
    ),
    ("spec 2.4.1 headless hostname A", "db-0.db.shop.svc.cluster.local.", "A", ["10.244.1.30"]),
    (
        "spec 2.4.1 headless without hostnames: dashed-IP names",
        "10-244-2-41.cache.shop.svc.cluster.local.",
        "A",
        ["10.244.2.41"],
    ),
    (
        "spec 2.4.1 no hostname: the hostname form does not exist",
        "cache-0.cache.shop.svc.cluster.local.",
        "A",
        NX,
    ),
    (
        "spec 2.4.1 publishNotReadyAddresses publishes the not-ready endpoint",
        "queue.shop.svc.cluster.local.",
        "A",
        ["10.244.1.50", "10.244.2.51"],
    ),
    (
        "spec 2.4.1 publishNotReadyAddresses: not-ready hostname resolves",
        "queue-1.queue.shop.svc.cluster.local.",
        "A",
        ["10.244.2.51"],
    ),
    (
        "CoreDNS endpoint names of a ClusterIP service",
        "10-244-1-10.web.shop.svc.cluster.local.",
        "A",
        ["10.244.1.10"],
    ),
    ("spec 2.1 not-ready endpoint is left out", "10-244-1-12.web.shop.svc.cluster.local.", "A", NX),
    (
        "CoreDNS IPv6 endpoint dashed name",
        "fd00-10-244-1--14.api.shop.svc.cluster.local.",
        "AAAA",
        ["fd00:10:244:1::14"],
    ),
    # spec 2.4.2
    (
        "spec 2.4.2 headless SRV targets each endpoint",
        "_postgres._tcp.db.shop.svc.cluster.local.",
        "SRV",
        ["0 50 5432 db-0.db.shop.svc.cluster.local.", "0 50 5432 db-1.db.shop.svc.cluster.local."],
    ),
    (
        "spec 2.4.2 headless SRV with dashed-IP targets",
        "_redis._tcp.cache.shop.svc.cluster.local.",
        "SRV",
        [
            "0 50 6379 10-244-1-40.cache.shop.svc.cluster.local.",
            "0 50 6379 10-244-2-41.cache.shop.svc.cluster.local.",
        ],
    ),
    (
        "CoreDNS endpoint-name SRV: the slice's ports",
        "10-244-0-2.kube-dns.kube-system.svc.cluster.local.",
        "SRV",
        [
            "0 33 53 10-244-0-2.kube-dns.kube-system.svc.cluster.local.",
            "0 33 9153 10-244-0-2.kube-dns.kube-system.svc.cluster.local.",
        ],
    ),
    # spec 2.4.3
    (
        "spec 2.4.3 PTR for an endpoint with hostname",
        "30.1.244.10.in-addr.arpa.",
        "PTR",
        ["db-0.db.shop.svc.cluster.local."],
    ),
    (
        "reverse.go: endpoint without hostname points to its dashed name",
        "10.1.244.10.in-addr.arpa.",
        "PTR",
        ["10-244-1-10.web.shop.svc.cluster.local."],
    ),
    ("reverse.go: not-ready endpoint has no PTR", "12.1.244.10.in-addr.arpa.", "PTR", NX),
    (
        "spec 2.4.3 PTR for an IPv6 endpoint",
        "4.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1.0.0.0.4.4.2.0.0.1.0.0.0.0.d.f.ip6.arpa.",
        "PTR",
        ["fd00-10-244-1--14.api.shop.svc.cluster.local."],
    ),
    # spec 2.5
    (
        "spec 2.5 ExternalName CNAME",
        "payments.shop.svc.cluster.local.",
        "CNAME",
        ["payments.example.com."],
    ),
    (
        "spec 2.5 ExternalName inside the zone",
        "storefront.shop.svc.cluster.local.",
        "CNAME",
        ["web.shop.svc.cluster.local."],
    ),
    (
        "CoreDNS ExternalName has no port names",
        "_http._tcp.payments.shop.svc.cluster.local.",
        "SRV",
        NX,
    ),
    # names that exist without records
    ("parse.go svc.<zone> is NODATA", "svc.cluster.local.", "A", []),
    ("parse.go pod.<zone> is NODATA", "pod.cluster.local.", "A", []),
    ("parse.go existing namespace is NODATA", "monitoring.svc.cluster.local.", "A", []),
    ("parse.go missing namespace is NXDOMAIN", "nope.svc.cluster.local.", "A", NX),
    ("parse.go pods disabled: <ns>.pod.<zone> is NXDOMAIN", "shop.pod.cluster.local.", "A", NX),
    ("parse.go other first label is NXDOMAIN", "foo.cluster.local.", "A", NX),
    ("findServices missing service is NXDOMAIN", "nope.shop.svc.cluster.local.", "A", NX),
    (
        "spec 2.3.1 service with no ready endpoints still has its cluster IP",
        "legacy.shop.svc.cluster.local.",
        "A",
        ["10.96.10.40"],
    ),
]


@pytest.fixture(scope="module")
def records(sample_state: ClusterState) -> RecordSet:
    return build_records(sample_state, OPTS)


@pytest.mark.parametrize(
    ("name", "rdtype", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_sample_cluster(records: RecordSet, name: str, rdtype: str, expected: object) -> None:
    assert answer(records, name, rdtype) == expected


def test_ttls(records: RecordSet) -> None:
    assert {r.ttl for r in records["web.shop.svc.cluster.local."]} == {5}
    assert records["dns-version.cluster.local."][0].ttl == 28800  # hard-coded in CoreDNS


def test_owner_names_are_absolute_lower_case(records: RecordSet) -> None:
    assert all(owner.endswith(".") and owner == owner.lower() for owner in records)


OPTION_CASES = [
    (
        "ignore empty_service: ClusterIP without ready endpoints is NXDOMAIN",
        {"ignore_empty_service": True},
        "legacy.shop.svc.cluster.local.",
        "A",
        NX,
    ),
    (
        "ignore empty_service: its port names go too",
        {"ignore_empty_service": True},
        "_http._tcp.legacy.shop.svc.cluster.local.",
        "SRV",
        NX,
    ),
    (
        "ignore empty_service keeps services with endpoints",
        {"ignore_empty_service": True},
        "web.shop.svc.cluster.local.",
        "A",
        ["10.96.10.10"],
    ),
    (
        "noendpoints: headless is NXDOMAIN",
        {"noendpoints": True},
        "db.shop.svc.cluster.local.",
        "A",
        NX,
    ),
    (
        "noendpoints: endpoint names are NXDOMAIN",
        {"noendpoints": True},
        "10-244-1-10.web.shop.svc.cluster.local.",
        "A",
        NX,
    ),
    (
        "noendpoints: ClusterIP stays",
        {"noendpoints": True},
        "web.shop.svc.cluster.local.",
        "A",
        ["10.96.10.10"],
    ),
    ("noendpoints: no endpoint PTR", {"noendpoints": True}, "30.1.244.10.in-addr.arpa.", "PTR", NX),
    (
        "namespaces: listed namespace served",
        {"namespaces": frozenset({"shop"})},
        "web.shop.svc.cluster.local.",
        "A",
        ["10.96.10.10"],
    ),
    (
        "namespaces: other namespace NXDOMAIN",
        {"namespaces": frozenset({"shop"})},
        "kubernetes.default.svc.cluster.local.",
        "A",
        NX,
    ),
    (
        "namespaces: other namespace has no <ns>.svc",
        {"namespaces": frozenset({"shop"})},
        "default.svc.cluster.local.",
        "A",
        NX,
    ),
    (
        "namespaces: PTR of another namespace's IP is gone",
        {"namespaces": frozenset({"shop"})},
        "1.0.96.10.in-addr.arpa.",
        "PTR",
        NX,
    ),
    (
        "namespace_labels: matching namespace",
        {"namespace_labels": parse_selector("team=observability")},
        "prometheus.monitoring.svc.cluster.local.",
        "A",
        ["10.96.20.30"],
    ),
    (
        "namespace_labels: other namespace NXDOMAIN",
        {"namespace_labels": parse_selector("team=observability")},
        "web.shop.svc.cluster.local.",
        "A",
        NX,
    ),
    (
        "labels: selected service",
        {"labels": parse_selector("app in (web, db)")},
        "web.shop.svc.cluster.local.",
        "A",
        ["10.96.10.10"],
    ),
    (
        "labels: unselected service NXDOMAIN",
        {"labels": parse_selector("app in (web, db)")},
        "api.shop.svc.cluster.local.",
        "A",
        NX,
    ),
    (
        "endpoint_pod_names: pod name replaces dashed IP",
        {"endpoint_pod_names": True},
        "web-6b7f9c8d4-2m9xk.web.shop.svc.cluster.local.",
        "A",
        ["10.244.1.10"],
    ),
    (
        "endpoint_pod_names: hostname still wins",
        {"endpoint_pod_names": True},
        "db-1.db.shop.svc.cluster.local.",
        "A",
        ["10.244.2.31"],
    ),
    (
        "endpoint_pod_names: PTR uses the pod name",
        {"endpoint_pod_names": True},
        "40.1.244.10.in-addr.arpa.",
        "PTR",
        ["cache-7d9f8b6c5-h6r2v.cache.shop.svc.cluster.local."],
    ),
    (
        "pods insecure: <ns>.pod.<zone> is NODATA",
        {"pods": "insecure"},
        "shop.pod.cluster.local.",
        "A",
        [],
    ),
    ("ttl option", {"ttl": 30}, "kubernetes.default.svc.cluster.local.", "A", ["10.96.0.1"]),
]


@pytest.mark.parametrize(
    ("changes", "name", "rdtype", "expected"),
    [c[1:] for c in OPTION_CASES],
    ids=[c[0] for c in OPTION_CASES],
)
def test_options(
    sample_state: ClusterState, changes: dict[str, object], name: str, rdtype: str, expected: object
) -> None:
    opts = dataclasses.replace(OPTS, **changes)  # type: ignore[arg-type]
    assert answer(build_records(sample_state, opts), name, rdtype) == expected


def test_second_forward_zone_gets_every_name_and_ptr_uses_the_first(
    sample_state: ClusterState,
) -> None:
    opts = KubernetesOptions(zones=("cluster.local.", "example.internal.", "in-addr.arpa."))
    records = build_records(sample_state, opts)
    zones = opts.zones
    assert answer(records, "web.shop.svc.example.internal.", "A", zones) == ["10.96.10.10"]
    assert answer(records, "_http._tcp.web.shop.svc.example.internal.", "SRV", zones) == [
        "0 100 80 web.shop.svc.example.internal."
    ]
    assert answer(records, "10.10.96.10.in-addr.arpa.", "PTR", zones) == [
        "web.shop.svc.cluster.local."
    ]


def test_reverse_zone_limits_ptrs(sample_state: ClusterState) -> None:
    opts = KubernetesOptions(zones=("cluster.local.", "96.10.in-addr.arpa."))
    records = build_records(sample_state, opts)
    assert "1.0.96.10.in-addr.arpa." in records
    assert "30.1.244.10.in-addr.arpa." not in records  # pod network is outside the zone
    assert not any(o.endswith("ip6.arpa.") for o in records)


POD_CASES = [
    ("pods disabled: NXDOMAIN", "disabled", "10-244-1-10.shop.pod.cluster.local.", None),
    ("pods insecure: any IPv4", "insecure", "1-2-3-4.shop.pod.cluster.local.", [("A", "1.2.3.4")]),
    (
        "pods insecure: IPv6 dashed form",
        "insecure",
        "fd00-10-244-1--14.shop.pod.cluster.local.",
        [("AAAA", "fd00:10:244:1::14")],
    ),
    ("pods insecure: not an IP", "insecure", "web.shop.pod.cluster.local.", None),
    (
        "pods insecure: namespace must exist (namespaceExposed)",
        "insecure",
        "1-2-3-4.nope.pod.cluster.local.",
        None,
    ),
    (
        "pods verified: pod with that IP in that namespace",
        "verified",
        "10-244-1-10.shop.pod.cluster.local.",
        [("A", "10.244.1.10")],
    ),
    (
        "pods verified: pod in another namespace",
        "verified",
        "10-244-1-10.default.pod.cluster.local.",
        None,
    ),
    ("pods verified: no such pod", "verified", "10-244-9-9.shop.pod.cluster.local.", None),
    (
        "pods verified: finished pod is not indexed",
        "verified",
        "10-244-2-70.shop.pod.cluster.local.",
        None,
    ),
    (
        "pods verified: hostNetwork pod is indexed",
        "verified",
        "172-18-0-2.kube-system.pod.cluster.local.",
        [("A", "172.18.0.2")],
    ),
    (
        "pods verified: only status.podIP is indexed",
        "verified",
        "fd00-10-244-1--14.shop.pod.cluster.local.",
        None,
    ),
    (
        "pod names are case-insensitive",
        "verified",
        "10-244-1-10.SHOP.pod.cluster.local.",
        [("A", "10.244.1.10")],
    ),
    ("deeper names are not pod names", "insecure", "x.1-2-3-4.shop.pod.cluster.local.", None),
]


@pytest.mark.parametrize(
    ("mode", "name", "expected"), [c[1:] for c in POD_CASES], ids=[c[0] for c in POD_CASES]
)
def test_pod_record(
    sample_state: ClusterState, mode: str, name: str, expected: list[tuple[str, str]] | None
) -> None:
    result = pod_record(name, sample_state, dataclasses.replace(OPTS, pods=mode))
    assert (None if result is None else [(r.rdtype, r.rdata) for r in result]) == expected


def test_apex_soa_and_ns_fallback_to_local_address(sample_state: ClusterState) -> None:
    apex = apex_records("cluster.local.", OPTS, sample_state, ["127.0.0.1"], serial=1499347823)
    soa, *ns = apex["cluster.local."]
    assert (soa.rdtype, soa.ttl, soa.rdata) == (
        "SOA",
        5,
        "ns.dns.cluster.local. hostmaster.cluster.local. 1499347823 7200 1800 86400 5",
    )
    assert [(r.rdtype, r.rdata) for r in ns] == [("NS", "ns.dns.cluster.local.")]
    assert [(r.rdtype, r.rdata) for r in apex["ns.dns.cluster.local."]] == [("A", "127.0.0.1")]


def test_apex_ns_is_the_service_our_address_is_an_endpoint_of(sample_state: ClusterState) -> None:
    apex = apex_records("cluster.local.", OPTS, sample_state, ["10.244.0.2"], serial=1)
    assert [r.rdata for r in apex["cluster.local."] if r.rdtype == "NS"] == [
        "kube-dns.kube-system.svc.cluster.local."
    ]
    assert [r.rdata for r in apex["ns.dns.cluster.local."]] == ["10.96.0.10"]
    assert ns_addresses("cluster.local.", sample_state, OPTS, ["10.244.0.2"]) == [
        ("kube-dns.kube-system.svc.cluster.local.", "10.96.0.10")
    ]


def test_soa_ttl_is_capped_at_300_and_minimum_is_ttl() -> None:
    opts = KubernetesOptions(zones=("cluster.local.",), ttl=3600)
    soa = apex_records("cluster.local.", opts)["cluster.local."][0]
    assert soa.ttl == 300 and soa.rdata.endswith(" 3600")


@pytest.mark.parametrize(
    ("entries", "weight"), [(1, 100), (2, 50), (3, 33), (6, 16), (101, 1), (100000, 1)]
)
def test_srv_weight_matches_coredns_float_floor(entries: int, weight: int) -> None:
    assert srv_weight(entries) == weight
    assert srv_weight(entries) == max(1, int((100.0 / (100 * entries)) * 100))


def test_service_records_are_the_slice_of_build_records(
    sample_state: ClusterState, records: RecordSet
) -> None:
    part = service_records(sample_state, "shop", "db", OPTS, "cluster.local.")
    assert part
    assert all(o.endswith("db.shop.svc.cluster.local.") for o in part)
    assert {o: records[o] for o in part} == part
    assert service_records(sample_state, "shop", "nope", OPTS, "cluster.local.") == {}


def test_reverse_records_for_some_ips(sample_state: ClusterState, records: RecordSet) -> None:
    ips = set(sample_state.service("shop", "web").cluster_ips)  # type: ignore[union-attr]
    for subset in sample_state.endpoints_of("shop", "web"):
        ips.update(ip for endpoint in subset.endpoints for ip in endpoint.addresses)
    assert ips == {"10.96.10.10", "10.244.1.10", "10.244.2.11", "10.244.1.12"}
    part = reverse_records(sample_state, OPTS, ips)
    assert set(part) == {
        "10.10.96.10.in-addr.arpa.",
        "10.1.244.10.in-addr.arpa.",
        "11.2.244.10.in-addr.arpa.",
    }
    assert all(records[o] == part[o] for o in part)


def test_cluster_ip_wins_over_endpoint_for_ptr() -> None:
    from clusterdns.cluster.manifests import state_from_documents

    docs = [
        {
            "kind": "Service",
            "metadata": {"name": "a", "namespace": "x"},
            "spec": {"clusterIP": "10.0.0.5", "ports": [{"port": 80}]},
        },
        {
            "kind": "Service",
            "metadata": {"name": "b", "namespace": "x"},
            "spec": {"clusterIP": "None"},
        },
        {
            "kind": "EndpointSlice",
            "addressType": "IPv4",
            "metadata": {
                "name": "b-1",
                "namespace": "x",
                "labels": {"kubernetes.io/service-name": "b"},
            },
            "endpoints": [
                {"addresses": ["10.0.0.5"]},
                {"addresses": ["10.0.0.6"], "hostname": "h"},
            ],
        },
    ]
    state, problems = state_from_documents(("f", d) for d in docs)
    assert problems == []
    opts = KubernetesOptions(zones=("cluster.local.", "10.in-addr.arpa."))
    records = build_records(state, opts)
    assert [r.rdata for r in records["5.0.0.10.in-addr.arpa."]] == ["a.x.svc.cluster.local."]
    assert [r.rdata for r in records["6.0.0.10.in-addr.arpa."]] == ["h.b.x.svc.cluster.local."]
    # a service without ports: its A stays, its bare-name SRV is empty (CoreDNS sentinel port -1)
    assert answer(records, "a.x.svc.cluster.local.", "A", opts.zones) == ["10.0.0.5"]
    assert answer(records, "b.x.svc.cluster.local.", "SRV", opts.zones) == []
    assert answer(records, "b.x.svc.cluster.local.", "A", opts.zones) == ["10.0.0.5", "10.0.0.6"]
