"""The node cache end to end, in network namespaces this test creates.

    pod  10.200.1.2 --veth-- 10.200.1.1  node   (nodecache: 169.254.20.10, 10.96.0.10 on `nodelocaldns`)
                                10.200.2.1 --veth-- 10.200.2.2  cluster (cluster DNS: kubernetes or hosts)
                                                    10.200.2.3          (authoritative example.test)

The pod asks 169.254.20.10; the node cache answers from its cache or asks the
cluster server over TCP (force_tcp) and the example.test server for the rest.
Every address lives inside the namespaces; nothing leaves them.  The servers
are subprocesses under `ip netns exec`, stopped by PID; the namespaces are
deleted in teardown.  Needs root: without it these tests fail and say so.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dns.rcode
import pytest
from netns import (
    CLUSTERDNS,
    REPO,
    NamespaceError,
    Namespaces,
    Process,
    http_get,
    in_ns,
    metric,
    query,
    wait_for,
)

from clusterdns.nodecache.template import embedded_base_corefile
from clusterdns.plugins import registry

LOCAL_IP = "169.254.20.10"
KUBE_DNS_IP = "10.96.0.10"  # the kube-dns ClusterIP, bound on the node as in iptables mode
CLUSTER_DNS = "10.200.2.2"  # the kube-dns-upstream Service's address: the cluster server
EXTERNAL_DNS = "10.200.2.3"
SAMPLE = REPO / "src" / "clusterdns" / "cluster" / "sample" / "cluster.yaml"
SYNC_INTERVAL = "1"

NAMES = {  # in the sample cluster (and in the hosts stand-in)
    "kubernetes.default.svc.cluster.local.": "10.96.0.1",
    "web.shop.svc.cluster.local.": "10.96.10.10",
    "api.shop.svc.cluster.local.": "10.96.10.20",
}


def cluster_corefile() -> str:
    """The cluster server: the kubernetes plugin over the sample cluster when built, else hosts."""
    if registry.setup_function("kubernetes") is not None:
        data = f"    kubernetes cluster.local in-addr.arpa ip6.arpa {{\n        manifests {SAMPLE}\n        ttl 1\n    }}\n"
    else:
        lines = "\n".join(f"        {ip} {name.rstrip('.')}" for name, ip in NAMES.items())
        data = f"    hosts {{\n{lines}\n        ttl 1\n        no_reverse\n    }}\n"
    return f".:53 {{\n    bind {CLUSTER_DNS}\n    errors\n    prometheus 127.0.0.1:9153\n{data}}}\n"


EXTERNAL_COREFILE = f"""example.test:53 {{
    bind {EXTERNAL_DNS}
    errors
    hosts {{
        10.201.0.80 www.example.test
        ttl 60
    }}
}}
"""


def base_corefile() -> str:
    """The embedded nodelocaldns template, plus serve_stale and a 1 s minimum TTL in the
    cluster.local cache so the stale path is reached in seconds, not after the default 5 s floor."""
    text = embedded_base_corefile()
    assert "success 9984 30\n" in text
    return text.replace("success 9984 30\n", "success 9984 30 1\n            serve_stale\n", 1)


@dataclass
class Lab:
    ns: Namespaces
    pod: str
    node: str
    cluster: str
    work: Path
    cluster_server: Process
    external_server: Process

    def start_cluster_server(self) -> Process:
        self.cluster_server = Process(
            self.cluster, [CLUSTERDNS, "serve", "-conf", str(self.work / "cluster.Corefile"), "-quiet"],
            self.work / "cluster.log",
        )  # fmt: skip
        wait_for(
            lambda: answer(self.cluster, CLUSTER_DNS, "web.shop.svc.cluster.local."),
            "cluster server",
        )
        return self.cluster_server

    def start_nodecache(self, *extra: str) -> Process:
        argv = [
            CLUSTERDNS, "nodecache", "-localip", f"{LOCAL_IP},{KUBE_DNS_IP}",
            "-upstreamsvc", "kube-dns-upstream", "-upstream-servers", EXTERNAL_DNS,
            "-basecorefile", str(self.work / "Corefile.base"), "-conf", str(self.work / "Corefile"),
            "-syncinterval", SYNC_INTERVAL, *extra,
        ]  # fmt: skip
        env = dict(os.environ, KUBE_DNS_UPSTREAM_SERVICE_HOST=CLUSTER_DNS)
        process = Process(self.node, argv, self.work / "nodecache.log", env)
        try:
            wait_for(
                lambda: answer(self.pod, LOCAL_IP, "kubernetes.default.svc.cluster.local."),
                "nodecache",
            )
        except AssertionError:
            process.stop()
            raise AssertionError(
                f"nodecache did not answer; its log:\n{process.output()}"
            ) from None
        return process

    def iptables(self, table: str) -> str:
        return in_ns(self.node, "iptables", "-w", "5", "-t", table, "-S").stdout

    def node_metrics(self) -> str:
        return http_get(self.node, "http://127.0.0.1:9253/metrics")

    def cluster_metrics(self) -> str:
        return http_get(self.cluster, "http://127.0.0.1:9153/metrics")


def answer(ns: str, server: str, name: str, rdtype: str = "A") -> list[str]:
    reply = query(ns, server, name, rdtype)
    assert reply.rcode() == dns.rcode.NOERROR, dns.rcode.to_text(reply.rcode())
    return sorted(rr.to_text() for rrset in reply.answer for rr in rrset)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    ns = Namespaces()
    processes: list[Process] = []
    try:
        try:
            pod, node, cluster = ns.add("pod"), ns.add("node"), ns.add("cluster")
        except (NamespaceError, FileNotFoundError) as exc:
            pytest.fail(
                f"cannot create network namespaces ({exc}); the node cache tests need root "
                "(CAP_SYS_ADMIN, CAP_NET_ADMIN) and iproute2 - run them as root, as CI does",
                pytrace=False,
            )
        ns.wire(pod, "eth0", "10.200.1.2/24", node, "vpod", "10.200.1.1/24")
        ns.wire(node, "vcluster", "10.200.2.1/24", cluster, "eth0", "10.200.2.2/24")
        in_ns(cluster, "ip", "addr", "add", "10.200.2.3/24", "dev", "eth0")
        in_ns(pod, "ip", "route", "add", "default", "via", "10.200.1.1")
        work = tmp_path_factory.mktemp("nodecache")
        (work / "cluster.Corefile").write_text(cluster_corefile())
        (work / "external.Corefile").write_text(EXTERNAL_COREFILE)
        (work / "Corefile.base").write_text(base_corefile())
        external = Process(
            cluster,
            [CLUSTERDNS, "serve", "-conf", str(work / "external.Corefile"), "-quiet"],
            work / "external.log",
        )
        processes.append(external)
        lab = Lab(ns, pod, node, cluster, work, external, external)
        processes.append(lab.start_cluster_server())
        wait_for(lambda: answer(cluster, EXTERNAL_DNS, "www.example.test."), "external server")
        yield lab
        processes.append(lab.cluster_server)
    finally:
        for process in processes:
            process.stop()
        ns.close()


@pytest.fixture
def nodecache(lab: Lab) -> Iterator[Process]:
    process = lab.start_nodecache()
    try:
        yield process
    finally:
        process.stop()


def test_pod_gets_answers_through_the_node_cache_and_hits_show_in_metrics(
    lab: Lab, nodecache: Process
) -> None:
    for name, ip in NAMES.items():
        assert answer(lab.pod, LOCAL_IP, name) == [ip]
        assert answer(lab.pod, LOCAL_IP, name) == [ip]  # the second time from the cache
    assert answer(lab.pod, KUBE_DNS_IP, "web.shop.svc.cluster.local.") == ["10.96.10.10"]
    assert answer(lab.pod, LOCAL_IP, "www.example.test.") == ["10.201.0.80"]
    assert (
        query(lab.pod, LOCAL_IP, "web.shop.svc.cluster.local.", tcp=True).rcode()
        == dns.rcode.NOERROR
    )
    missing = query(lab.pod, LOCAL_IP, "nope.shop.svc.cluster.local.")
    assert missing.rcode() == dns.rcode.NXDOMAIN
    metrics = lab.node_metrics()
    assert metric(metrics, "coredns_cache_hits_total", zones="cluster.local.") >= len(NAMES)
    assert metric(metrics, "coredns_cache_misses_total", zones="cluster.local.") >= len(NAMES)
    assert metric(
        metrics, "coredns_dns_requests_total", zone="cluster.local.", proto="udp"
    ) >= 2 * len(NAMES)
    # node-cache's own endpoint (-metrics-listen-address 0.0.0.0:9353)
    own = http_get(lab.node, "http://127.0.0.1:9353/metrics")
    assert 'coredns_nodecache_setup_errors_total{errortype="iptables"} 0.0' in own


def test_the_node_cache_asks_the_cluster_server_over_tcp(lab: Lab, nodecache: Process) -> None:
    before = lab.cluster_metrics()
    tcp_before = metric(before, "coredns_dns_requests_total", proto="tcp")
    # our own readiness probes asked over UDP; the node cache must add none
    udp_before = metric(before, "coredns_dns_requests_total", proto="udp")
    assert answer(lab.pod, LOCAL_IP, "api.shop.svc.cluster.local.") == ["10.96.10.20"]
    assert answer(lab.pod, LOCAL_IP, "kubernetes.default.svc.cluster.local.", "AAAA") == []
    after = lab.cluster_metrics()
    assert metric(after, "coredns_dns_requests_total", proto="tcp") > tcp_before
    assert metric(after, "coredns_dns_requests_total", proto="udp") == udp_before


def raw_rules_for(text: str, ip: str) -> list[str]:
    return [line for line in text.splitlines() if f"{ip}/32" in line and "NOTRACK" in line]


def test_iptables_rules_and_interface_are_installed_and_put_back(
    lab: Lab, nodecache: Process
) -> None:
    raw = wait_for(
        lambda: len(raw_rules_for(lab.iptables("raw"), KUBE_DNS_IP)) == 8 and lab.iptables("raw"),
        "rules",
    )
    assert isinstance(raw, str)
    assert f"-A PREROUTING -d {LOCAL_IP}/32 -p udp -m udp --dport 53 -j NOTRACK" in raw
    assert f"-A OUTPUT -s {LOCAL_IP}/32 -p tcp -m tcp --sport 53 -j NOTRACK" in raw
    assert f"-A OUTPUT -d {LOCAL_IP}/32 -p tcp -m tcp --dport 8080 -j NOTRACK" in raw
    assert len(raw_rules_for(raw, LOCAL_IP)) == 8
    accept = lab.iptables("filter")
    assert f"-A INPUT -d {LOCAL_IP}/32 -p udp -m udp --dport 53 -j ACCEPT" in accept
    assert f"-A OUTPUT -s {KUBE_DNS_IP}/32 -p tcp -m tcp --sport 53 -j ACCEPT" in accept

    rule = ["-p", "udp", "-d", LOCAL_IP, "--dport", "53", "-j", "NOTRACK"]
    in_ns(lab.node, "iptables", "-w", "5", "-t", "raw", "-D", "PREROUTING", *rule)
    assert (
        in_ns(
            lab.node, "iptables", "-w", "5", "-t", "raw", "-C", "PREROUTING", *rule, check=False
        ).returncode
        == 1
    )
    wait_for(
        lambda: (
            in_ns(
                lab.node, "iptables", "-w", "5", "-t", "raw", "-C", "PREROUTING", *rule, check=False
            ).returncode
            == 0
        ),
        "the deleted rule to be put back",
    )
    in_ns(lab.node, "ip", "link", "del", "nodelocaldns")
    wait_for(lambda: LOCAL_IP in in_ns(lab.node, "ip", "-4", "addr", "show", "dev", "nodelocaldns", check=False).stdout,
             "the interface to be put back")  # fmt: skip
    assert answer(lab.pod, LOCAL_IP, "web.shop.svc.cluster.local.") == ["10.96.10.10"]


def test_stale_answers_while_the_cluster_server_restarts(lab: Lab, nodecache: Process) -> None:
    assert answer(lab.pod, LOCAL_IP, "web.shop.svc.cluster.local.") == ["10.96.10.10"]
    assert lab.cluster_server.stop() == 0
    try:
        # The record's TTL is 1 s: once it has run out only serve_stale can answer.
        stale = wait_for(
            lambda: (
                (r := query(lab.pod, LOCAL_IP, "web.shop.svc.cluster.local.")).answer
                and r.answer[0].ttl == 0
                and r
            ),
            "a stale answer (TTL 0) while the cluster server is down",
        )
        assert stale.rcode() == dns.rcode.NOERROR  # type: ignore[attr-defined]
        assert [rr.to_text() for rr in stale.answer[0]] == ["10.96.10.10"]  # type: ignore[attr-defined]
    finally:
        lab.start_cluster_server()
    wait_for(lambda: answer(lab.pod, LOCAL_IP, "api.shop.svc.cluster.local.") == ["10.96.10.20"],
             "fresh answers once the cluster server is back")  # fmt: skip


def test_exit_removes_rules_and_interface_unless_skipteardown(lab: Lab) -> None:
    process = lab.start_nodecache()
    wait_for(lambda: raw_rules_for(lab.iptables("raw"), LOCAL_IP), "rules")
    assert process.stop() == 0
    assert raw_rules_for(lab.iptables("raw"), LOCAL_IP) == []
    assert "-j ACCEPT" not in lab.iptables("filter")
    assert in_ns(lab.node, "ip", "link", "show", "nodelocaldns", check=False).returncode != 0

    process = lab.start_nodecache("-skipteardown")
    wait_for(lambda: raw_rules_for(lab.iptables("raw"), LOCAL_IP), "rules")
    assert process.stop() == 0
    assert len(raw_rules_for(lab.iptables("raw"), LOCAL_IP)) == 8
    assert in_ns(lab.node, "ip", "link", "show", "nodelocaldns", check=False).returncode == 0
