"""Edge cases a real kube-apiserver accepts, served over the wire as CoreDNS serves them.

Every object here passes the test API server's validation (kube-apiserver's rules,
``tests/support/apiserver/validation.py``), reaches clusterdns through the live API
source (list + watch over HTTP on loopback), and is asked with dnspython.  Each case
names the rule it follows: the Kubernetes DNS spec (kubernetes/dns
docs/specification.md, "spec 2.x"), CoreDNS's plugin/kubernetes (kubernetes.go
``findServices``, object/endpoint.go, plugin/backend_lookup.go for SRV weights) or
kube-apiserver's validation (pkg/apis/core/validation, pkg/apis/discovery/validation).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from typing import Any

import dns.message
import dns.query
import dns.rcode
import pytest

from tests.plugins.kubernetes.test_kubernetes_api import corefile, kubeconfig, wait_for
from tests.support.apiserver import ApiServer
from tests.support.serverutil import RunningServer, answers, running

NOERROR, NXDOMAIN = dns.rcode.NOERROR, dns.rcode.NXDOMAIN
TOKEN = "edge-token"
NS = "edge"
ZONE = "cluster.local."
LONG = "x" * 63  # the longest port name: a DNS-1123 label (validateServicePort)
#: the longest port name with an SRV name: "_" + name must fit in a 63-octet DNS label
LONGEST_SRV = "y" * 62


def name(*labels: str) -> str:
    return ".".join(labels) + f".{NS}.svc.{ZONE}"


def service(svc_name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": svc_name, "namespace": NS},
        "spec": spec,
    }


def slice_(
    slice_name: str,
    svc_name: str,
    endpoints: list[dict[str, Any]],
    ports: list[dict[str, Any]] | None = None,
    address_type: str = "IPv4",
) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": slice_name,
            "namespace": NS,
            "labels": {"kubernetes.io/service-name": svc_name},
        },
        "addressType": address_type,
        "endpoints": endpoints,
    }
    if ports is not None:
        obj["ports"] = ports
    return obj


def ready(ip: str, **more: Any) -> dict[str, Any]:
    return {"addresses": [ip], "conditions": {"ready": True}, **more}


GRPC_PORTS = [
    {"name": "grpc-health-check", "port": 8081, "protocol": "TCP"},
    {"name": "dns-udp-metrics-port", "port": 9153, "protocol": "UDP"},
    {"name": LONGEST_SRV, "port": 7000, "protocol": "SCTP", "appProtocol": "example.com/m3ua"},
    {"name": LONG, "port": 7001, "protocol": "TCP"},
]
BIG = [f"10.245.{i // 250}.{i % 250 + 1}" for i in range(1000)]


def edge_objects() -> list[dict[str, Any]]:
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}},
        service("grpc", {"clusterIP": "10.96.20.1", "ports": GRPC_PORTS}),
        slice_("grpc-a", "grpc", [ready("10.244.20.1", hostname="grpc-0")], GRPC_PORTS),
        service(
            "many",
            {
                "clusterIP": "10.96.20.2",
                "ports": [{"name": f"p{i}", "port": 1000 + i} for i in range(100)],
            },
        ),
        service("big", {"clusterIP": "None"}),
        slice_("big-a", "big", [ready(ip) for ip in BIG], [{"name": "http", "port": 80}]),
        slice_(
            "big-b",
            "big",
            [ready("10.246.0.1"), ready("10.246.0.2")],
            [{"name": "http", "port": 80}],
        ),
        service(
            "dual",
            {
                "clusterIP": "10.96.20.4",
                "clusterIPs": ["10.96.20.4", "fd00:10:96::4"],
                "ipFamilies": ["IPv4", "IPv6"],
                "ipFamilyPolicy": "RequireDualStack",
                "ports": [{"name": "http", "port": 80}],
            },
        ),
        service("hs", {"clusterIP": "None", "clusterIPs": ["None"]}),
        slice_(
            "hs-a",
            "hs",
            [
                ready("10.244.21.1", hostname="hs-0"),
                {
                    "addresses": ["10.244.21.2"],
                    "hostname": "hs-1",
                    "conditions": {"ready": False, "serving": True, "terminating": True},
                },
                {"addresses": ["10.244.21.3"], "hostname": "hs-2", "conditions": {}},
            ],
        ),
        service("pnr", {"clusterIP": "None", "publishNotReadyAddresses": True}),
        slice_("pnr-a", "pnr", [{"addresses": ["10.244.23.1"], "conditions": {"ready": False}}]),
        service("v6", {"clusterIP": "None", "ipFamilies": ["IPv6"]}),
        slice_("v6-a", "v6", [ready("fd00:10:244::7", hostname="v6-0")], address_type="IPv6"),
        service("ext-dot", {"type": "ExternalName", "externalName": "db.example.org."}),
        service("ext", {"type": "ExternalName", "externalName": "db.example.org"}),
        service(
            "np",
            {
                "type": "NodePort",
                "clusterIP": "10.96.20.8",
                "ports": [{"name": "http", "port": 80, "nodePort": 30080}],
            },
        ),
        service(
            "lb",
            {
                "type": "LoadBalancer",
                "clusterIP": "10.96.20.9",
                "allocateLoadBalancerNodePorts": True,
                "ports": [{"name": "http", "port": 80}],
            },
        ),
    ]


@pytest.fixture(scope="module")
def api() -> Iterator[ApiServer]:
    server = ApiServer(tokens={TOKEN: "clusterdns"}, bookmark_interval=0.5)
    server.load(edge_objects())
    server.start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="module")
def srv(api: ApiServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    config = kubeconfig(tmp_path_factory.mktemp("edge") / "kubeconfig", api.url, token=TOKEN)
    with running(corefile(f"kubeconfig {config} ctx")) as server:
        wait_for(lambda: _rdata(server.udp(name("np"))) == ["10.96.20.8"], "the first sync")
        yield server


def _rdata(message: dns.message.Message) -> list[str]:
    return sorted(line.split(maxsplit=4)[4] for line in answers(message))


def _reverse(ip: str) -> str:
    return ipaddress.ip_address(ip).reverse_pointer + "."


# (id and rule, query name, type, rcode, sorted rdata)
CASES: list[tuple[str, str, str, int, list[str]]] = [
    (
        "SRV of a 17-character port name (DNS-1123 label, spec 2.3.2)",
        "_grpc-health-check._tcp." + name("grpc"),
        "SRV",
        NOERROR,
        [f"0 100 8081 {name('grpc')}"],
    ),
    (
        "SRV of a 20-character UDP port name",
        "_dns-udp-metrics-port._udp." + name("grpc"),
        "SRV",
        NOERROR,
        [f"0 100 9153 {name('grpc')}"],
    ),
    (
        "SRV of a 62-character SCTP port name (the longest that fits a DNS label with its _)",
        f"_{LONGEST_SRV}._sctp." + name("grpc"),
        "SRV",
        NOERROR,
        [f"0 100 7000 {name('grpc')}"],
    ),
    (
        "A at a port name answers the cluster IP (findServices)",
        "_grpc-health-check._tcp." + name("grpc"),
        "A",
        NOERROR,
        ["10.96.20.1"],
    ),
    (
        "SRV at the service name: every port, the 63-character one too, weight floor(100/4)",
        name("grpc"),
        "SRV",
        NOERROR,
        sorted(f"0 25 {p} {name('grpc')}" for p in (7000, 7001, 8081, 9153)),
    ),
    (
        "a port name under the wrong protocol does not exist (spec 2.3.2)",
        "_grpc-health-check._udp." + name("grpc"),
        "SRV",
        NXDOMAIN,
        [],
    ),
    (
        "endpoint hostname under a ClusterIP service (findServices)",
        name("grpc-0", "grpc"),
        "A",
        NOERROR,
        ["10.244.20.1"],
    ),
    (
        "PTR of an endpoint with a hostname (spec 2.4.3)",
        _reverse("10.244.20.1"),
        "PTR",
        NOERROR,
        [name("grpc-0", "grpc")],
    ),
    (
        "one port of a 100-port service",
        "_p99._tcp." + name("many"),
        "SRV",
        NOERROR,
        [f"0 100 1099 {name('many')}"],
    ),
    (
        "an endpoint of the second slice of a service (slices merge, spec 2.4.1)",
        name("10-246-0-2", "big"),
        "A",
        NOERROR,
        ["10.246.0.2"],
    ),
    (
        "the last endpoint of a 1000-endpoint slice",
        name("10-245-3-250", "big"),
        "A",
        NOERROR,
        ["10.245.3.250"],
    ),
    (
        "PTR of an endpoint of a headless service without hostname (spec 2.4.3)",
        _reverse("10.246.0.1"),
        "PTR",
        NOERROR,
        [name("10-246-0-1", "big")],
    ),
    ("dual-stack: A", name("dual"), "A", NOERROR, ["10.96.20.4"]),
    ("dual-stack: AAAA (spec 2.3.1)", name("dual"), "AAAA", NOERROR, ["fd00:10:96::4"]),
    (
        "dual-stack: PTR of the IPv6 cluster IP",
        _reverse("fd00:10:96::4"),
        "PTR",
        NOERROR,
        [name("dual")],
    ),
    (
        "headless: ready and unset conditions only (object/endpoint.go endpointsliceReady)",
        name("hs"),
        "A",
        NOERROR,
        ["10.244.21.1", "10.244.21.3"],
    ),
    ("headless: hostname A (spec 2.4.1)", name("hs-0", "hs"), "A", NOERROR, ["10.244.21.1"]),
    (
        "ready=false with serving/terminating true is not served (CoreDNS reads only ready)",
        name("hs-1", "hs"),
        "A",
        NXDOMAIN,
        [],
    ),
    (
        "headless without ports: no SRV, NODATA (port sentinel -1, backend_lookup.go)",
        name("hs"),
        "SRV",
        NOERROR,
        [],
    ),
    (
        "publishNotReadyAddresses publishes a not-ready endpoint (spec 2.4.1)",
        name("pnr"),
        "A",
        NOERROR,
        ["10.244.23.1"],
    ),
    ("IPv6 slice: AAAA", name("v6"), "AAAA", NOERROR, ["fd00:10:244::7"]),
    ("IPv6 slice: hostname AAAA", name("v6-0", "v6"), "AAAA", NOERROR, ["fd00:10:244::7"]),
    ("IPv6 slice: no A (NODATA)", name("v6"), "A", NOERROR, []),
    (
        "PTR of an IPv6 endpoint",
        _reverse("fd00:10:244::7"),
        "PTR",
        NOERROR,
        [name("v6-0", "v6")],
    ),
    (
        "ExternalName with a trailing dot (spec 2.5)",
        name("ext-dot"),
        "CNAME",
        NOERROR,
        ["db.example.org."],
    ),
    ("ExternalName without one", name("ext"), "CNAME", NOERROR, ["db.example.org."]),
    ("NodePort: A", name("np"), "A", NOERROR, ["10.96.20.8"]),
    ("NodePort: SRV", "_http._tcp." + name("np"), "SRV", NOERROR, [f"0 100 80 {name('np')}"]),
    ("LoadBalancer: A", name("lb"), "A", NOERROR, ["10.96.20.9"]),
    ("LoadBalancer: SRV", "_http._tcp." + name("lb"), "SRV", NOERROR, [f"0 100 80 {name('lb')}"]),
    ("dns-version TXT (spec 2.2)", f"dns-version.{ZONE}", "TXT", NOERROR, ['"1.1.0"']),
]


@pytest.mark.parametrize(
    ("qname", "rdtype", "rcode", "rdata"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_edge_case(
    srv: RunningServer, qname: str, rdtype: str, rcode: int, rdata: list[str]
) -> None:
    reply = srv.tcp(qname, rdtype)
    assert reply.rcode() == rcode
    assert _rdata(reply) == rdata


@pytest.mark.parametrize(
    "qname",
    [
        "_GRPC-Health-Check._TCP.grpc.edge.svc.cluster.local.",
        "_gRpC-hEaLtH-cHeCk._tCp.GRPC.Edge.SVC.Cluster.Local.",
        f"_{LONGEST_SRV.upper()}._SCTP.grpc.edge.svc.cluster.local.",
    ],
)
def test_srv_at_any_letter_case_keeps_the_question_as_sent(srv: RunningServer, qname: str) -> None:
    """DNS names compare case-insensitively (RFC 4343); the question comes back as sent
    (0x20), and the answer is the lower-case name's (its zone labels spelt as the question
    spelt the zone, as CoreDNS writes them)."""
    reply = srv.udp(qname, "SRV")
    assert reply.rcode() == NOERROR
    assert reply.question[0].name.to_text() == qname
    lower = srv.udp(qname.lower(), "SRV")
    assert [r.lower() for r in _rdata(reply)] == _rdata(lower) and _rdata(lower)


def test_a_hundred_ports_and_a_thousand_endpoints_in_whole_answers(srv: RunningServer) -> None:
    """A Service with 100 ports answers 100 SRVs of weight 1; a headless Service with a
    1000-endpoint slice and a second slice answers all 1002 addresses (over TCP)."""
    many = srv.tcp(name("many"), "SRV")
    assert len(_rdata(many)) == 100
    assert all(r.startswith("0 1 ") for r in _rdata(many))
    big = srv.tcp(name("big"), "A")
    assert sorted(_rdata(big)) == sorted([*BIG, "10.246.0.1", "10.246.0.2"])


def test_a_service_that_gains_a_long_port_name_answers_it_after_the_modified_event(
    api: ApiServer, srv: RunningServer
) -> None:
    """A MODIFIED Service is re-projected whole: its new port's SRV name answers without
    a relist (issue 18: valid port names used to drop the Service until a relist)."""
    grow = service("grow", {"clusterIP": "10.96.20.20", "ports": [{"name": "http", "port": 80}]})
    api.create(grow)
    wait_for(lambda: _rdata(srv.udp(name("grow"))) == ["10.96.20.20"], "grow")
    qname = "_grpc-health-check._tcp." + name("grow")
    assert srv.udp(qname, "SRV").rcode() == NXDOMAIN
    grow["spec"]["ports"].append({"name": "grpc-health-check", "port": 8081})
    api.update(grow)
    wait_for(lambda: _rdata(srv.udp(qname, "SRV")) == [f"0 100 8081 {name('grow')}"], "SRV")
