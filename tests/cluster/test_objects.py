"""The projection of API objects to slim records: whatever kube-apiserver accepts is kept.

Each case names the kube-apiserver rule (pkg/apis/core/validation/validation.go,
pkg/apis/discovery/validation/validation.go) or CoreDNS behaviour
(plugin/kubernetes/object/*.go) it follows.  An odd field drops that field and says
so; only an object DNS cannot name raises BadObject.
"""

from __future__ import annotations

from typing import Any

import pytest

from clusterdns.cluster.model import Endpoint, EndpointPort, Pod, Service, ServicePort
from clusterdns.cluster.objects import (
    BadObject,
    DropLog,
    ServiceEndpoints,
    project,
    project_dropping,
)

LONG_NAME = "p" * 63


def svc(spec: dict[str, Any], name: str = "web", **meta: Any) -> dict[str, Any]:
    return {
        "kind": "Service",
        "metadata": {"name": name, "namespace": "shop", **meta},
        "spec": spec,
    }


def eps(endpoints: list[Any], ports: Any = None, address_type: str = "IPv4") -> dict[str, Any]:
    obj: dict[str, Any] = {
        "kind": "EndpointSlice",
        "metadata": {
            "name": "web-abc",
            "namespace": "shop",
            "labels": {"kubernetes.io/service-name": "web"},
        },
        "addressType": address_type,
        "endpoints": endpoints,
    }
    if ports is not None:
        obj["ports"] = ports
    return obj


# (id, object, what to check on the projection, the dropped fields' paths)
SERVICE_CASES: list[tuple[str, dict[str, Any], dict[str, Any], list[str]]] = [
    (
        "port names are DNS-1123 labels up to 63 (validateServicePort), not IANA's 15",
        svc(
            {
                "clusterIP": "10.96.0.5",
                "ports": [
                    {"name": "grpc-health-check", "port": 8081},
                    {"name": "dns-udp-metrics-port", "port": 9153, "protocol": "UDP"},
                    {"name": LONG_NAME, "port": 7000, "protocol": "SCTP"},
                ],
            }
        ),
        {
            "ports": (
                ServicePort("grpc-health-check", 8081, "TCP"),
                ServicePort("dns-udp-metrics-port", 9153, "UDP"),
                ServicePort(LONG_NAME, 7000, "SCTP"),
            )
        },
        [],
    ),
    (
        "100 ports, all kept",
        svc(
            {
                "clusterIP": "10.96.0.5",
                "ports": [{"name": f"p{i}", "port": 1000 + i} for i in range(100)],
            }
        ),
        {"ports": tuple(ServicePort(f"p{i}", 1000 + i) for i in range(100))},
        [],
    ),
    (
        "a name that cannot be a label loses the name, not the port",
        svc({"clusterIP": "10.96.0.5", "ports": [{"name": "web_ui", "port": 80}]}),
        {"ports": (ServicePort("", 80),)},
        ["spec.ports[0].name"],
    ),
    (
        "a port that is no port number drops that port only",
        svc(
            {
                "clusterIP": "10.96.0.5",
                "ports": [{"name": "a", "port": 0}, {"name": "b", "port": 53, "protocol": "ICMP"}]
                + [{"name": "c", "port": 443, "appProtocol": "kubernetes.io/h2c"}],
            }
        ),
        {"ports": (ServicePort("c", 443),)},
        ["spec.ports[0].port", "spec.ports[1].protocol"],
    ),
    (
        "headless: clusterIP None with clusterIPs [None], no ports (ValidateService)",
        svc({"clusterIP": "None", "clusterIPs": ["None"]}),
        {"headless": True, "cluster_ips": (), "ports": ()},
        [],
    ),
    (
        "dual-stack: clusterIPs of both families, IPv6 first",
        svc(
            {
                "clusterIP": "fd00:10:96::5",
                "clusterIPs": ["fd00:10:96::5", "10.96.0.5"],
                "ipFamilies": ["IPv6", "IPv4"],
                "ipFamilyPolicy": "PreferDualStack",
                "ports": [{"name": "http", "port": 80}],
            }
        ),
        {"cluster_ips": ("fd00:10:96::5", "10.96.0.5")},
        [],
    ),
    (
        "a cluster IP that does not parse drops that address",
        svc({"clusterIPs": ["10.96.0.5", "fd00::zz"], "ports": [{"port": 80}]}),
        {"cluster_ips": ("10.96.0.5",)},
        ["spec.clusterIPs[1]"],
    ),
    (
        "NodePort and its nodePort",
        svc(
            {
                "type": "NodePort",
                "clusterIP": "10.96.0.5",
                "ports": [{"port": 80, "nodePort": 30080}],
            }
        ),
        {"type": "NodePort", "cluster_ips": ("10.96.0.5",)},
        [],
    ),
    (
        "LoadBalancer with its status",
        svc(
            {
                "type": "LoadBalancer",
                "clusterIP": "10.96.0.5",
                "ports": [{"port": 80}],
                "allocateLoadBalancerNodePorts": True,
            }
        ),
        {"type": "LoadBalancer", "cluster_ips": ("10.96.0.5",)},
        [],
    ),
    (
        "ExternalName with a trailing dot (ValidateService trims one)",
        svc({"type": "ExternalName", "externalName": "db.example.org."}),
        {"external_name": "db.example.org"},
        [],
    ),
    (
        "ExternalName in upper case: a DNS name, compared case-insensitively",
        svc({"type": "ExternalName", "externalName": "DB.Example.ORG"}),
        {"external_name": "db.example.org"},
        [],
    ),
    (
        "ExternalName that is not a DNS name keeps the service without a CNAME",
        svc({"type": "ExternalName", "externalName": "not a name"}),
        {"external_name": ""},
        ["spec.externalName"],
    ),
    (
        "an unknown type is served as ClusterIP",
        svc({"type": "Magic", "clusterIP": "10.96.0.5", "ports": [{"port": 80}]}),
        {"type": "ClusterIP"},
        ["spec.type"],
    ),
]


@pytest.mark.parametrize(
    ("obj", "expect", "dropped"), [c[1:] for c in SERVICE_CASES], ids=[c[0] for c in SERVICE_CASES]
)
def test_service_projection(
    obj: dict[str, Any], expect: dict[str, Any], dropped: list[str]
) -> None:
    _, slim, messages = project_dropping(obj)
    assert isinstance(slim, Service)
    for member, value in expect.items():
        assert getattr(slim, member) == value, member
    assert [m.split(":")[0] for m in messages] == dropped


SLICE_CASES: list[tuple[str, dict[str, Any], list[Endpoint], list[EndpointPort], list[str]]] = [
    (
        "ports: 63-character name, nil port (CoreDNS's -1 sentinel), SCTP, appProtocol",
        eps(
            [{"addresses": ["10.244.0.1"]}],
            [
                {"name": LONG_NAME, "port": 8080, "protocol": "TCP"},
                {"name": "any", "protocol": "UDP"},
                {"name": "sig", "port": 2905, "protocol": "SCTP", "appProtocol": "x.io/sigtran"},
            ],
        ),
        [Endpoint(("10.244.0.1",))],
        [
            EndpointPort(LONG_NAME, 8080, "TCP"),
            EndpointPort("any", None, "UDP"),
            EndpointPort("sig", 2905, "SCTP"),
        ],
        [],
    ),
    (
        "conditions: only ready is read (object/endpoint.go endpointsliceReady); unset is ready",
        eps(
            [
                {"addresses": ["10.244.0.1"], "conditions": {}},
                {
                    "addresses": ["10.244.0.2"],
                    "conditions": {"ready": False, "serving": True, "terminating": True},
                },
                {
                    "addresses": ["10.244.0.3"],
                    "conditions": {"ready": True, "serving": True, "terminating": False},
                },
            ]
        ),
        [
            Endpoint(("10.244.0.1",)),
            Endpoint(("10.244.0.2",), ready=False),
            Endpoint(("10.244.0.3",)),
        ],
        [],
        [],
    ),
    (
        "hostname is a DNS-1123 label; one that is not is dropped, the endpoint kept",
        eps(
            [
                {"addresses": ["10.244.0.1"], "hostname": "web-0"},
                {"addresses": ["10.244.0.2"], "hostname": "web.1"},
            ]
        ),
        [Endpoint(("10.244.0.1",), hostname="web-0"), Endpoint(("10.244.0.2",))],
        [],
        ["endpoints[1].hostname"],
    ),
    (
        "an address that does not parse, or of the wrong family, drops that address",
        eps(
            [
                {"addresses": ["10.244.0.1", "10.244.0.300"]},
                {"addresses": ["fd00::1"]},
            ]
        ),
        [Endpoint(("10.244.0.1",))],
        [],
        ["endpoints[0].addresses[1]", "endpoints[1].addresses[0]"],
    ),
    (
        "IPv6 slice",
        eps([{"addresses": ["fd00:10:244::1"], "hostname": "h"}], address_type="IPv6"),
        [Endpoint(("fd00:10:244::1",), hostname="h")],
        [],
        [],
    ),
    (
        "a slice port above 65535 (not range-checked by the API server) drops that port",
        eps(
            [{"addresses": ["10.244.0.1"]}],
            [{"name": "big", "port": 70000}, {"name": "ok", "port": 80}],
        ),
        [Endpoint(("10.244.0.1",))],
        [EndpointPort("ok", 80)],
        ["ports[0].port"],
    ),
]


@pytest.mark.parametrize(
    ("obj", "endpoints", "ports", "dropped"),
    [c[1:] for c in SLICE_CASES],
    ids=[c[0] for c in SLICE_CASES],
)
def test_endpoint_slice_projection(
    obj: dict[str, Any], endpoints: list[Endpoint], ports: list[EndpointPort], dropped: list[str]
) -> None:
    _, slim, messages = project_dropping(obj)
    assert isinstance(slim, ServiceEndpoints)
    assert slim.service == ("shop", "web")
    (subset,) = slim.subsets
    assert list(subset.endpoints) == endpoints
    assert list(subset.ports) == ports
    assert [m.split(":")[0] for m in messages] == dropped


def test_a_thousand_endpoints_in_one_slice() -> None:
    """discovery validation: up to 1000 endpoints per slice (maxEndpoints)."""
    endpoints = [{"addresses": [f"10.244.{i // 250}.{i % 250 + 1}"]} for i in range(1000)]
    _, slim, messages = project_dropping(eps(endpoints, [{"name": "http", "port": 80}]))
    assert isinstance(slim, ServiceEndpoints) and len(slim.subsets[0].endpoints) == 1000
    assert messages == []


def test_fqdn_slice_gives_dns_nothing_and_says_so() -> None:
    """CoreDNS reads addresses only; an FQDN slice is accepted by the API server."""
    key, slim, messages = project_dropping(
        eps([{"addresses": ["db.example.org"]}], address_type="FQDN")
    )
    assert key == ("EndpointSlice", "shop", "web-abc") and slim is None
    assert [m.split(":")[0] for m in messages] == ["addressType"]


def test_pod_with_an_address_that_does_not_parse_keeps_the_rest() -> None:
    obj = {
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": "shop"},
        "status": {
            "podIP": "10.244.0.9",
            "podIPs": [{"ip": "10.244.0.9"}, {"ip": "fd00::9"}, {"ip": "bogus"}],
        },
    }
    _, slim, messages = project_dropping(obj)
    assert slim == Pod("shop", "p", ("10.244.0.9", "fd00::9"))
    assert [m.split(":")[0] for m in messages] == ["status.podIPs[2].ip"]


def test_legacy_endpoints_keep_good_addresses() -> None:
    obj = {
        "kind": "Endpoints",
        "metadata": {"name": "web", "namespace": "shop"},
        "subsets": [
            {
                "addresses": [{"ip": "10.244.0.1", "hostname": "a"}, {"ip": "nope"}],
                "notReadyAddresses": [{"ip": "10.244.0.2"}],
                "ports": [{"name": "dns-udp-metrics-port", "port": 9153, "protocol": "UDP"}],
            }
        ],
    }
    _, slim, messages = project_dropping(obj)
    assert isinstance(slim, ServiceEndpoints)
    (subset,) = slim.subsets
    assert subset.endpoints == (
        Endpoint(("10.244.0.1",), hostname="a"),
        Endpoint(("10.244.0.2",), ready=False),
    )
    assert subset.ports == (EndpointPort("dns-udp-metrics-port", 9153, "UDP"),)
    assert [m.split(":")[0] for m in messages] == ["subsets[0].addresses[1].ip"]


@pytest.mark.parametrize(
    "obj",
    [
        {"kind": "Service", "metadata": {"namespace": "shop"}},
        svc({"clusterIP": "10.96.0.5"}, name="Web"),
        svc({"clusterIP": "10.96.0.5"}, name="a.b"),
        {"kind": "Namespace", "metadata": {"name": "Shop"}},
        {"kind": "Pod", "metadata": {"name": "p", "namespace": "not_a_label"}},
    ],
    ids=["no name", "upper-case name", "dotted name", "namespace name", "namespace of pod"],
)
def test_an_object_dns_cannot_name_is_refused(obj: dict[str, Any]) -> None:
    with pytest.raises(BadObject):
        project(obj)


def test_drop_log_reports_each_message_once_per_object() -> None:
    """Logged once per (object, message), not on every relist; again once fixed and broken."""
    log = DropLog(limit=2)
    assert log.fresh("Service shop/web", ["a", "b"]) == ["a", "b"]
    assert log.fresh("Service shop/web", ["a", "b"]) == []
    assert log.fresh("Service shop/web", ["a", "c"]) == ["c"]
    assert log.fresh("Service shop/web", []) == []
    assert log.fresh("Service shop/web", ["a"]) == ["a"]
    log.fresh("x", ["m"])
    log.fresh("y", ["m"])  # over the limit: the oldest key goes
    assert log.fresh("Service shop/web", ["a"]) == ["a"]
