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

from clusterdns.kernellab.netns import Process
from clusterdns.nodecache.template import embedded_base_corefile
from clusterdns.plugins import registry
from tests.support.netns import (
    CLUSTERDNS,
    REPO,
    NamespaceError,
    Namespaces,
    http_get,
    in_ns,
    metric,
    query,
    wait_for,
)

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
        return self.run_nodecache(
            argv, dict(os.environ, KUBE_DNS_UPSTREAM_SERVICE_HOST=CLUSTER_DNS)
        )

    def run_nodecache(
        self, argv: list[str], env: dict[str, str], log: str = "nodecache.log"
    ) -> Process:
        """Start ``argv`` in the node and wait until the pod gets an answer through it."""
        process = Process(self.node, argv, self.work / log, env)
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

    def clear_node(self) -> None:
        """Take off what a node cache left on the node (-skipteardown): interface and rules."""
        in_ns(self.node, "ip", "link", "del", "nodelocaldns", check=False)
        for table in ("raw", "filter", "nat"):
            in_ns(self.node, "iptables", "-w", "5", "-t", table, "-F")

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
    # node-cache's rules carry its comments (cache_app.go initIptables)
    skip = '-m comment --comment "NodeLocal DNS Cache: skip conntrack" -j NOTRACK'
    allow = '-m comment --comment "NodeLocal DNS Cache: allow DNS traffic" -j ACCEPT'
    assert f"-A PREROUTING -d {LOCAL_IP}/32 -p udp -m udp --dport 53 {skip}" in raw
    assert f"-A OUTPUT -s {LOCAL_IP}/32 -p tcp -m tcp --sport 53 {skip}" in raw
    assert f"-A OUTPUT -d {LOCAL_IP}/32 -p tcp -m tcp --dport 8080 {skip}" in raw
    assert len(raw_rules_for(raw, LOCAL_IP)) == 8
    accept = lab.iptables("filter")
    assert f"-A INPUT -d {LOCAL_IP}/32 -p udp -m udp --dport 53 {allow}" in accept
    assert f"-A OUTPUT -s {KUBE_DNS_IP}/32 -p tcp -m tcp --sport 53 {allow}" in accept

    rule = ["-p", "udp", "-d", LOCAL_IP, "--dport", "53", "-j", "NOTRACK",
            "-m", "comment", "--comment", "NodeLocal DNS Cache: skip conntrack"]  # fmt: skip
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
    try:
        wait_for(lambda: raw_rules_for(lab.iptables("raw"), LOCAL_IP), "rules")
        assert process.stop() == 0
        assert len(raw_rules_for(lab.iptables("raw"), LOCAL_IP)) == 8
        assert in_ns(lab.node, "ip", "link", "show", "nodelocaldns", check=False).returncode == 0
    finally:
        lab.clear_node()


SEED_COREFILE = Path(__file__).with_name("seed003.Corefile")


@pytest.fixture
def seed_node(lab: Lab) -> Iterator[Path]:
    """The node as seed 003 runs it: both addresses already on the node, kube-proxy's DNAT for
    the kube-dns ClusterIP, and a resolv.conf naming the external server.

    The seed's Corefile forwards cluster.local to 10.96.0.10, the kube-dns ClusterIP that the
    cache also binds.  Without node-cache's NOTRACK rules (-setupiptables=false) the node's own
    connections to it go through nat OUTPUT, where kube-proxy (stood in for by one DNAT rule)
    sends them to the cluster server; the pod's queries arrive through PREROUTING and stay local.
    """
    lab.clear_node()
    for address in (LOCAL_IP, KUBE_DNS_IP):
        in_ns(lab.node, "ip", "addr", "add", f"{address}/32", "dev", "lo")
    for proto in ("tcp", "udp"):
        in_ns(lab.node, "iptables", "-w", "5", "-t", "nat", "-A", "OUTPUT", "-d", f"{KUBE_DNS_IP}/32",
              "-p", proto, "--dport", "53", "-j", "DNAT", "--to-destination", f"{CLUSTER_DNS}:53")  # fmt: skip
    # replies to the node's 10.96.0.10 source address come back through the node
    in_ns(lab.cluster, "ip", "route", "add", f"{KUBE_DNS_IP}/32", "via", "10.200.2.1")
    lab.ns.resolv_conf(lab.node, f"nameserver {EXTERNAL_DNS}\n")
    conf = lab.work / "Corefile.node"
    conf.write_bytes(SEED_COREFILE.read_bytes())
    try:
        yield conf
    finally:
        in_ns(lab.cluster, "ip", "route", "del", f"{KUBE_DNS_IP}/32", check=False)
        for address in (LOCAL_IP, KUBE_DNS_IP):
            in_ns(lab.node, "ip", "addr", "del", f"{address}/32", "dev", "lo", check=False)
        lab.clear_node()


def test_the_seeds_rendered_corefile_runs_as_written_without_a_base_or_the_service_env(
    lab: Lab, seed_node: Path
) -> None:
    # node-cache (cmd/node-cache/app): a missing upstream-service env var is a warning
    # (NewCacheApp), an unreadable base file is logged and -conf runs as it is (updateCorefile).
    env = {k: v for k, v in os.environ.items() if not k.endswith("_SERVICE_HOST")}
    argv = [
        CLUSTERDNS, "nodecache", "-localip", f"{LOCAL_IP},{KUBE_DNS_IP}", "-conf", str(seed_node),
        "-basecorefile", str(lab.work / "absent" / "Corefile.base"),
        "-setupinterface=false", "-setupiptables=false", "-skipteardown",
    ]  # fmt: skip
    written = seed_node.read_bytes()
    before = lab.cluster_metrics()
    process = lab.run_nodecache(argv, env, "nodecache-seed.log")
    try:
        # its binds, on its port 53
        assert answer(lab.pod, LOCAL_IP, "web.shop.svc.cluster.local.") == ["10.96.10.10"]
        assert answer(lab.pod, KUBE_DNS_IP, "api.shop.svc.cluster.local.") == ["10.96.10.20"]
        # its forward targets: 10.96.0.10 over TCP (cluster.local and in-addr.arpa) ...
        assert answer(lab.pod, LOCAL_IP, "10.10.96.10.in-addr.arpa.", "PTR") == [
            "web.shop.svc.cluster.local."
        ]
        after = lab.cluster_metrics()
        assert metric(after, "coredns_dns_requests_total", proto="tcp") > metric(
            before, "coredns_dns_requests_total", proto="tcp"
        )
        assert metric(after, "coredns_dns_requests_total", proto="udp") == metric(
            before, "coredns_dns_requests_total", proto="udp"
        )
        # ... and the node's /etc/resolv.conf for the rest
        assert answer(lab.pod, KUBE_DNS_IP, "www.example.test.") == ["10.201.0.80"]
        # its health and prometheus addresses
        assert http_get(lab.node, f"http://{LOCAL_IP}:8080/health") == "OK"
        assert metric(lab.node_metrics(), "coredns_dns_requests_total", zone="cluster.local.") > 0
        assert seed_node.read_bytes() == written
        assert raw_rules_for(lab.iptables("raw"), LOCAL_IP) == []
    finally:
        assert process.stop() == 0
    log = process.output()
    assert "Unable to lookup IP address of Upstream service kube-dns" in log
    assert "Failed to read node-cache coreFile" in log and "running " + str(seed_node) in log
    assert "[FATAL]" not in log and "[ERROR]" not in log
