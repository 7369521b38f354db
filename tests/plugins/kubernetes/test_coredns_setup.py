"""CoreDNS's kubernetes setup and record-level tables, asked of our parser and record rules.

As test_coredns_cases.py, each table is one of coredns/coredns ``plugin/kubernetes`` (named
above it) rewritten as Python data: Corefile snippets for the option parser (setup_test.go,
setup_ttl_test.go), endpoint names (kubernetes_test.go TestEndpointHostname) and the
zone's nameservers (ns_test.go TestNsAddrs, kubernetes_test.go TestServicesAuthority).
Where we refuse what CoreDNS accepts, the README says why, and the row says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
import yaml

from clusterdns.cluster.labels import LabelSelector
from clusterdns.cluster.manifests import objects_from_documents, state_from_objects
from clusterdns.cluster.model import ClusterState, Endpoint
from clusterdns.corefile.model import Directive
from clusterdns.corefile.parser import parse
from clusterdns.errors import ConfigError
from clusterdns.plugins.kubernetes.options import KubernetesOptions, parse_options
from clusterdns.plugins.kubernetes.records import apex_records, endpoint_label, ns_addresses
from clusterdns.plugins.kubernetes.setup import connection


def directive(snippet: str) -> Directive:
    """The one directive of ``snippet``, as CoreDNS's caddy.NewTestController reads it."""
    (block,) = parse(f".:53 {{\n{snippet}\n}}\n")
    (found,) = block.directives
    return found


def requirements(selector: LabelSelector | None) -> set[tuple[str, str, frozenset[str]]]:
    if selector is None:
        return set()
    return {(r.key, r.op, frozenset(r.values)) for r in selector.requirements}


@dataclass(frozen=True)
class Parse:
    """One row of setup_test.go TestKubernetesParse."""

    snippet: str
    error: str = ""
    zones: int = 1
    namespaces: int = 0
    labels: set[tuple[str, str, frozenset[str]]] | None = None
    namespace_labels: set[tuple[str, str, frozenset[str]]] | None = None
    pods: str = "disabled"
    fallthrough: tuple[str, ...] | None = None
    startup_timeout: float = 5.0


PROD_NGINX = {
    ("application", "=", frozenset({"nginx"})),
    ("environment", "in", frozenset({"production", "staging", "qa"})),
}

# setup_test.go TestKubernetesParse (the "more than one kubernetes" row is the server's
# check: test_the_plugin_is_used_once_per_block)
KUBERNETES_PARSE = [
    Parse("kubernetes coredns.local"),
    Parse("kubernetes coredns.local test.local", zones=2),
    Parse("kubernetes coredns.local {\n}"),
    Parse("kubernetes coredns.local {\n endpoint http://localhost:9090 http://localhost:9091\n}"),
    Parse("kubernetes coredns.local {\n namespaces demo\n}", namespaces=1),
    Parse("kubernetes coredns.local {\n namespaces demo test\n}", namespaces=2),
    Parse(
        "kubernetes coredns.local {\n labels environment=prod\n}",
        labels={("environment", "=", frozenset({"prod"}))},
    ),
    Parse(
        "kubernetes coredns.local {\n"
        " labels environment in (production, staging, qa),application=nginx\n}",
        labels=PROD_NGINX,
    ),
    Parse(
        "kubernetes coredns.local {\n namespace_labels istio-injection=enabled\n}",
        namespace_labels={("istio-injection", "=", frozenset({"enabled"}))},
    ),
    Parse(
        "kubernetes coredns.local {\n namespaces foo bar\n"
        " namespace_labels istio-injection=enabled\n}",
        error="namespaces and namespace_labels cannot both be set",
    ),
    Parse(
        "kubernetes coredns.local test.local {\n endpoint http://localhost:8080\n"
        " namespaces demo test\n"
        " labels environment in (production, staging, qa),application=nginx\n fallthrough\n}",
        zones=2,
        namespaces=2,
        labels=PROD_NGINX,
        fallthrough=(),
    ),
    Parse("kubernetes coredns.local {\n endpoint\n}", error="rong argument count"),
    Parse("kubernetes coredns.local {\n namespaces\n}", error="rong argument count"),
    Parse("kubernetes coredns.local {\n labels\n}", error="rong argument count"),
    Parse(
        "kubernetes coredns.local {\n labels environment in (production, qa\n}",
        error="unable to parse label selector",
    ),
    Parse("kubernetes coredns.local {\n pods disabled\n}"),
    Parse("kubernetes coredns.local {\n pods insecure\n}", pods="insecure"),
    Parse("kubernetes coredns.local {\n pods verified\n}", pods="verified"),
    Parse("kubernetes coredns.local {\n pods giant_seed\n}", error="rong value for pods"),
    Parse(
        "kubernetes coredns.local {\n fallthrough ip6.arpa inaddr.arpa foo.com\n}",
        fallthrough=("ip6.arpa.", "inaddr.arpa.", "foo.com."),
    ),
    Parse("kubernetes coredns.local {\n kubeconfig\n}", error="rong argument count"),
    Parse(
        "kubernetes coredns.local {\n kubeconfig file context extraarg\n}",
        error="rong argument count",
    ),
    Parse("kubernetes coredns.local {\n kubeconfig file\n}"),
    Parse("kubernetes coredns.local {\n kubeconfig file context\n}"),
    Parse(
        "kubernetes coredns.local {\n kubeconfig file context\n startup_timeout 1s\n}",
        startup_timeout=1.0,
    ),
]


@pytest.mark.parametrize("row", KUBERNETES_PARSE, ids=lambda row: row.snippet.replace("\n", " "))
def test_kubernetes_parse(row: Parse) -> None:
    if row.error:
        with pytest.raises(ConfigError) as err:
            parse_options(directive(row.snippet))
        assert row.error in str(err.value)
        return
    opts = parse_options(directive(row.snippet))
    assert len(opts.zones) == row.zones
    assert len(opts.namespaces) == row.namespaces
    assert requirements(opts.labels) == (row.labels or set())
    assert requirements(opts.namespace_labels) == (row.namespace_labels or set())
    assert opts.pods == row.pods
    assert opts.fallthrough == row.fallthrough
    assert opts.startup_timeout == row.startup_timeout


# setup_ttl_test.go TestKubernetesParseTTL: (snippet, ttl, or None for an error)
PARSE_TTL = [
    ("kubernetes cluster.local {\n ttl 56\n}", 56),
    ("kubernetes cluster.local", 5),
    ("kubernetes cluster.local {\n ttl -1\n}", None),
    ("kubernetes cluster.local {\n ttl 3601\n}", None),
]


@pytest.mark.parametrize(("snippet", "ttl"), PARSE_TTL)
def test_kubernetes_parse_ttl(snippet: str, ttl: int | None) -> None:
    if ttl is None:
        with pytest.raises(ConfigError, match=r"ttl must be in range \[0, 3600\]"):
            parse_options(directive(snippet))
    else:
        assert parse_options(directive(snippet)).ttl == ttl


# setup_test.go TestKubernetesParseEndpointPodNames, TestKubernetesParseNoEndpoints,
# TestKubernetesParseIgnoreEmptyService: (snippet, error, field, value)
FLAG_PARSE = [
    ("endpoint_pod_names", "", "endpoint_pod_names", True),
    ("endpoint_pod_names giant_seed", "rong argument count", "endpoint_pod_names", False),
    ("", "", "endpoint_pod_names", False),
    ("noendpoints", "", "noendpoints", True),
    ("noendpoints ixnay on the endpointsay", "rong argument count", "noendpoints", False),
    ("", "", "noendpoints", False),
    ("ignore empty_service", "", "ignore_empty_service", True),
    ("ignore ixnay on the endpointsay", "unable to parse ignore value", "", False),
    ("ignore empty_service ixnay on the endpointsay", "", "ignore_empty_service", True),
    ("", "", "ignore_empty_service", False),
]


@pytest.mark.parametrize(("option", "error", "field", "value"), FLAG_PARSE)
def test_kubernetes_parse_flags(option: str, error: str, field: str, value: bool) -> None:
    snippet = f"kubernetes coredns.local {{\n {option}\n}}"
    if error:
        with pytest.raises(ConfigError) as err:
            parse_options(directive(snippet))
        assert error in str(err.value)
    else:
        assert getattr(parse_options(directive(snippet)), field) is value


# setup_test.go TestKubernetesParseMulticluster, TestKubernetesParseAPIRateLimiting,
# TestKubernetesParseZonal.  A bare "multicluster" makes no zone multicluster (accepted, as in
# CoreDNS); the rest is refused on purpose (README "Differences from CoreDNS"): there are no
# ServiceImports or zone-scoped names here, and one list and one watch per kind need no
# client-side rate limits.
REFUSED_OR_ACCEPTED = [
    ("kubernetes coredns.local {\n multicluster\n}", ""),
    ("kubernetes coredns.local clusterset.local {\n multicluster clusterset.local\n}", "support"),
    ("kubernetes coredns.local {\n apiserver_qps 50.0\n}", "support"),
    ("kubernetes coredns.local {\n apiserver_burst 100\n}", "support"),
    ("kubernetes coredns.local {\n apiserver_max_inflight 25\n}", "support"),
    ("kubernetes coredns.local {\n zonal\n}", "support"),
]


@pytest.mark.parametrize(("snippet", "error"), REFUSED_OR_ACCEPTED)
def test_options_coredns_has_that_we_do_not(snippet: str, error: str) -> None:
    if not error:
        assert parse_options(directive(snippet)).zones == ("coredns.local.",)
        return
    with pytest.raises(ConfigError) as err:
        parse_options(directive(snippet))
    assert error in str(err.value)


def test_the_plugin_is_used_once_per_block() -> None:
    """setup_test.go "More than one Kubernetes not allowed" (plugin.ErrOnce)."""
    from clusterdns.server.server import Server

    text = ".:0 {\n kubernetes coredns.local\n kubernetes cluster.local\n}\n"
    with pytest.raises(ConfigError) as err:
        Server(text, default_port=0).plan(text)
    assert err.value.line == 3 and "kubernetes" in str(err.value)


# ---------------------------------------------------------------- kubernetes_test.go

ZONES = ("cluster.local.",)

# kubernetes_test.go TestEndpointHostname: (ip, hostname, pod name, endpoint_pod_names, label)
ENDPOINT_HOSTNAME = [
    ("10.11.12.13", "", "", False, "10-11-12-13"),
    ("10.11.12.13", "epname", "", False, "epname"),
    ("10.11.12.13", "", "hello-abcde", False, "10-11-12-13"),
    ("10.11.12.13", "epname", "hello-abcde", False, "epname"),
    ("10.11.12.13", "epname", "hello-abcde", True, "epname"),
    ("10.11.12.13", "", "hello-abcde", True, "hello-abcde"),
    (
        "2001:db8:3333:4444:5555:6666:7777:8888",
        "",
        "",
        False,
        "2001-db8-3333-4444-5555-6666-7777-8888",
    ),
    ("2001:db8:3333:4444:5555:6666::", "", "", False, "2001-db8-3333-4444-5555-6666--0"),
    # ours: object/endpoint.go drops targetRef names that cannot be a label (64+ characters)
    ("10.11.12.13", "", "p" * 64, True, "10-11-12-13"),
]


@pytest.mark.parametrize(("ip", "hostname", "pod", "mode", "expected"), ENDPOINT_HOSTNAME)
def test_endpoint_hostname(ip: str, hostname: str, pod: str, mode: bool, expected: str) -> None:
    opts = KubernetesOptions(zones=ZONES, endpoint_pod_names=mode)
    endpoint = Endpoint(addresses=(ip,), hostname=hostname, target_name=pod)
    assert endpoint_label(endpoint, ip, opts) == expected


def cluster(text: str) -> ClusterState:
    docs: list[tuple[str, Any]] = [("test.yaml", d) for d in yaml.safe_load_all(text)]
    objects, problems = objects_from_documents(docs)
    assert problems == []
    return state_from_objects(objects)


# ns_test.go APIConnTest: three services in kube-system whose slices all hold 10.244.0.20,
# the address the server is bound to (no Namespace object: nsAddrs does not look for one)
NS_CLUSTER = """
kind: List
items:
- kind: Service
  metadata: {name: dns-service, namespace: kube-system}
  spec: {clusterIP: 10.0.0.111}
- kind: Service
  metadata: {name: hdls-dns-service, namespace: kube-system}
  spec: {clusterIP: None}
- kind: Service
  metadata: {name: dns6-service, namespace: kube-system}
  spec: {clusterIP: "10::111"}
""" + "".join(
    f"""- kind: EndpointSlice
  metadata:
    name: {svc}-slice1
    namespace: kube-system
    labels: {{kubernetes.io/service-name: {svc}}}
  addressType: IPv4
  endpoints: [{{addresses: [10.244.0.20]}}]
"""
    for svc in ("dns-service", "hdls-dns-service", "dns6-service")
)


def test_ns_addrs() -> None:
    """ns_test.go TestNsAddrs: a ClusterIP service by its cluster IPs, a headless one by its
    endpoint names."""
    opts = KubernetesOptions(zones=("inter.webs.test.",))
    found = ns_addresses("inter.webs.test.", cluster(NS_CLUSTER), opts, ["10.244.0.20"])
    assert sorted(found) == sorted(
        [
            ("dns-service.kube-system.svc.inter.webs.test.", "10.0.0.111"),
            ("10-244-0-20.hdls-dns-service.kube-system.svc.inter.webs.test.", "10.244.0.20"),
            ("dns6-service.kube-system.svc.inter.webs.test.", "10::111"),
        ]
    )
    apex = apex_records("inter.webs.test.", opts, cluster(NS_CLUSTER), ["10.244.0.20"])
    assert sorted(r.rdata for r in apex["inter.webs.test."] if r.rdtype == "NS") == [
        "10-244-0-20.hdls-dns-service.kube-system.svc.inter.webs.test.",
        "dns-service.kube-system.svc.inter.webs.test.",
        "dns6-service.kube-system.svc.inter.webs.test.",
    ]


# kubernetes_test.go TestServicesAuthority: (bound addresses, records of ns.dns.<zone>)
SERVICES_AUTHORITY = [
    (["1.2.3.4"], ["A 1.2.3.4"]),
    (["1:2::3:4"], ["AAAA 1:2::3:4"]),
    (["1.2.3.4", "1:2::3:4"], ["A 1.2.3.4", "AAAA 1:2::3:4"]),
]


@pytest.mark.parametrize(("local", "expected"), SERVICES_AUTHORITY)
def test_services_authority(local: list[str], expected: list[str]) -> None:
    """With no endpoint at the bound addresses, the nameserver is ns.dns.<zone>."""
    opts = KubernetesOptions(zones=("interwebs.test.",))
    apex = apex_records("interwebs.test.", opts, ClusterState(), local)
    assert sorted(f"{r.rdtype} {r.rdata}" for r in apex["ns.dns.interwebs.test."]) == expected
    assert [r.rdata for r in apex["interwebs.test."] if r.rdtype == "NS"] == [
        "ns.dns.interwebs.test."
    ]


@pytest.mark.parametrize(
    ("snippet", "env", "proxy"),
    [
        ("kubernetes cluster.local {\n endpoint https://api.corp:6443\n}", {}, ""),
        (
            "kubernetes cluster.local {\n endpoint https://api.corp:6443\n}",
            {"HTTPS_PROXY": "proxy.corp:3128"},
            "http://proxy.corp:3128",
        ),
        (
            "kubernetes cluster.local {\n endpoint https://api.corp:6443\n}",
            {"HTTPS_PROXY": "proxy.corp:3128", "NO_PROXY": ".corp"},
            "",
        ),
        (
            "kubernetes cluster.local",
            {
                "KUBERNETES_SERVICE_HOST": "10.96.0.1",
                "KUBERNETES_SERVICE_PORT": "443",
                "HTTPS_PROXY": "http://proxy.corp:3128",
                "NO_PROXY": "10.96.0.0/12",
            },
            "",
        ),
    ],
)
def test_the_api_connection_takes_the_environment_proxy_as_client_go_does(
    snippet: str, env: dict[str, str], proxy: str
) -> None:
    """client-go (and so CoreDNS) uses ProxyFromEnvironment when the config names no proxy."""
    assert connection(parse_options(directive(snippet)), env).proxy_url == proxy
