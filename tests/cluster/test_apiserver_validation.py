"""The test API server accepts and refuses what kube-apiserver does, for the fields DNS reads.

Rules: pkg/apis/core/validation/validation.go (ValidateService, validateServicePort,
ValidateServiceClusterIPsRelatedFields, ValidateObjectMeta, pod status podIPs) and
pkg/apis/discovery/validation/validation.go (ValidateEndpointSlice).  A refusal is
422 with a Status of reason Invalid whose details.causes name each field.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.cluster.test_apiserver import Client
from tests.support.apiserver import ApiError, ApiServer


def svc(spec: dict[str, Any], name: str = "web") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "default"},
        "spec": spec,
    }


def eps(
    endpoints: list[Any], ports: list[Any] | None = None, address_type: str = "IPv4"
) -> dict[str, Any]:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": "web-abc", "namespace": "default"},
        "addressType": address_type,
        "endpoints": endpoints,
        "ports": ports or [],
    }


def pod(status: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "status": status}


P80 = [{"port": 80}]

ACCEPTED = [
    (
        "63-character port name",
        svc({"clusterIP": "10.96.0.1", "ports": [{"name": "p" * 63, "port": 80}]}),
    ),
    (
        "port names beyond IANA's 15",
        svc(
            {
                "clusterIP": "10.96.0.1",
                "ports": [
                    {"name": "grpc-health-check", "port": 8081},
                    {"name": "dns-udp-metrics-port", "port": 9153, "protocol": "UDP"},
                ],
            }
        ),
    ),
    ("one unnamed port", svc({"clusterIP": "10.96.0.1", "ports": P80})),
    ("headless without ports", svc({"clusterIP": "None"})),
    ("no clusterIP (the server allocates)", svc({"ports": P80})),
    (
        "dual-stack",
        svc(
            {
                "clusterIPs": ["fd00::1", "10.96.0.1"],
                "ipFamilies": ["IPv6", "IPv4"],
                "ipFamilyPolicy": "PreferDualStack",
                "ports": P80,
            }
        ),
    ),
    (
        "ExternalName with a trailing dot",
        svc({"type": "ExternalName", "externalName": "a.example."}),
    ),
    ("SCTP", svc({"clusterIP": "10.96.0.1", "ports": [{"port": 80, "protocol": "SCTP"}]})),
    (
        "same port number, two protocols",
        svc(
            {
                "clusterIP": "10.96.0.1",
                "ports": [{"name": "d", "port": 53}, {"name": "u", "port": 53, "protocol": "UDP"}],
            }
        ),
    ),
    (
        "slice: 1000 endpoints, nil port, hostname, FQDN-free",
        eps(
            [{"addresses": [f"10.244.{i // 250}.{i % 250 + 1}"]} for i in range(1000)],
            [{"name": "any", "protocol": "UDP"}],
        ),
    ),
    ("slice: FQDN", eps([{"addresses": ["db.example.org"]}], address_type="FQDN")),
    (
        "slice: conditions",
        eps([{"addresses": ["10.0.0.1"], "conditions": {"ready": False, "serving": True}}]),
    ),
    (
        "pod: dual-stack podIPs",
        pod({"podIP": "10.244.0.1", "podIPs": [{"ip": "10.244.0.1"}, {"ip": "fd00::1"}]}),
    ),
]

REFUSED = [
    (
        "upper-case port name",
        svc({"clusterIP": "10.96.0.1", "ports": [{"name": "Web", "port": 80}]}),
        "spec.ports[0].name",
    ),
    (
        "64-character port name",
        svc({"clusterIP": "10.96.0.1", "ports": [{"name": "p" * 64, "port": 80}]}),
        "spec.ports[0].name",
    ),
    (
        "two ports, one unnamed",
        svc({"clusterIP": "10.96.0.1", "ports": [{"name": "a", "port": 80}, {"port": 81}]}),
        "spec.ports[1].name",
    ),
    (
        "duplicate port names",
        svc(
            {
                "clusterIP": "10.96.0.1",
                "ports": [{"name": "a", "port": 80}, {"name": "a", "port": 81}],
            }
        ),
        "spec.ports[1].name",
    ),
    ("port 0", svc({"clusterIP": "10.96.0.1", "ports": [{"port": 0}]}), "spec.ports[0].port"),
    (
        "ICMP",
        svc({"clusterIP": "10.96.0.1", "ports": [{"port": 80, "protocol": "ICMP"}]}),
        "spec.ports[0].protocol",
    ),
    ("no ports", svc({"clusterIP": "10.96.0.1"}), "spec.ports"),
    (
        "service name starting with a digit (DNS-1035)",
        svc({"ports": P80}, name="1web"),
        "metadata.name",
    ),
    ("bad cluster IP", svc({"clusterIP": "10.96.0.300", "ports": P80}), "spec.clusterIPs[0]"),
    (
        "clusterIP and clusterIPs disagree",
        svc({"clusterIP": "10.96.0.1", "clusterIPs": ["10.96.0.2"], "ports": P80}),
        "spec.clusterIPs",
    ),
    (
        "two IPv4 cluster IPs",
        svc({"clusterIPs": ["10.96.0.1", "10.96.0.2"], "ports": P80}),
        "spec.clusterIPs",
    ),
    (
        "None with a second IP",
        svc({"clusterIPs": ["None", "10.96.0.2"], "ports": P80}),
        "spec.clusterIPs",
    ),
    (
        "family mismatch",
        svc({"clusterIPs": ["10.96.0.1"], "ipFamilies": ["IPv6"], "ports": P80}),
        "spec.clusterIPs[0]",
    ),
    (
        "headless NodePort",
        svc({"type": "NodePort", "clusterIP": "None", "ports": P80}),
        "spec.clusterIPs[0]",
    ),
    (
        "ExternalName upper case",
        svc({"type": "ExternalName", "externalName": "A.example"}),
        "spec.externalName",
    ),
    (
        "ExternalName with clusterIP",
        svc({"type": "ExternalName", "externalName": "a.example", "clusterIP": "10.96.0.1"}),
        "spec.clusterIPs",
    ),
    ("slice: no addressType", {**eps([]), "addressType": ""}, "addressType"),
    ("slice: 1001 endpoints", eps([{"addresses": ["10.0.0.1"]}] * 1001), "endpoints"),
    ("slice: IPv6 in IPv4", eps([{"addresses": ["fd00::1"]}]), "endpoints[0].addresses[0]"),
    ("slice: loopback", eps([{"addresses": ["127.0.0.1"]}]), "endpoints[0].addresses[0]"),
    (
        "slice: hostname",
        eps([{"addresses": ["10.0.0.1"], "hostname": "a.b"}]),
        "endpoints[0].hostname",
    ),
    ("slice: no addresses", eps([{"addresses": []}]), "endpoints[0].addresses"),
    ("slice: port name", eps([], [{"name": "A_b", "port": 80}]), "ports[0].name"),
    (
        "slice: duplicate port names",
        eps([], [{"name": "a", "port": 80}, {"name": "a", "port": 81}]),
        "ports[1].name",
    ),
    (
        "namespace name",
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "Shop"}},
        "metadata.name",
    ),
    (
        "pod: two IPv4 podIPs",
        pod({"podIPs": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}]}),
        "status.podIPs",
    ),
    ("pod: bad podIP", pod({"podIP": "10.0.0.x"}), "status.podIPs[0].ip"),
]


@pytest.fixture
def server() -> Iterator[ApiServer]:
    api = ApiServer()
    api.start()
    try:
        yield api
    finally:
        api.close()


@pytest.mark.parametrize("obj", [c[1] for c in ACCEPTED], ids=[c[0] for c in ACCEPTED])
def test_accepted_as_kube_apiserver_accepts(server: ApiServer, obj: dict[str, Any]) -> None:
    server.create(obj)


@pytest.mark.parametrize(("obj", "field"), [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED])
def test_refused_as_kube_apiserver_refuses(
    server: ApiServer, obj: dict[str, Any], field: str
) -> None:
    with pytest.raises(ApiError) as refused:
        server.create(obj)
    assert refused.value.code == 422 and refused.value.reason == "Invalid"
    assert field in [c["field"] for c in refused.value.details["causes"]]  # type: ignore[index]


def test_refusal_is_a_status_like_the_real_one(server: ApiServer) -> None:
    """errors.NewInvalid: 422, reason Invalid, message '<Kind> "<name>" is invalid: ...',
    details name, group, kind and causes (reason, message, field)."""
    client = Client(server.url)
    bad = eps([{"addresses": ["10.0.0.1"], "hostname": "Web"}])
    status, _, body = client.request(
        "POST", "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices", body=bad
    )
    assert status == 422
    reply = json.loads(body)
    assert reply["kind"] == "Status" and reply["status"] == "Failure" and reply["code"] == 422
    assert reply["reason"] == "Invalid"
    assert reply["message"].startswith(
        'EndpointSlice "web-abc" is invalid: endpoints[0].hostname: '
    )
    assert reply["details"]["name"] == "web-abc"
    assert reply["details"]["group"] == "discovery.k8s.io"
    assert reply["details"]["kind"] == "EndpointSlice"
    (cause,) = reply["details"]["causes"]
    assert cause["reason"] == "FieldValueInvalid" and cause["field"] == "endpoints[0].hostname"
    assert cause["message"].startswith('Invalid value: "Web": a lowercase RFC 1123 label')
