"""Build the lab node, run every setting, take it all down.

Topology (all namespaces of this run, none touches the machine's own)::

    pod (10.244.0.2) --veth-- node (router; kube-proxy rules; node cache 169.254.20.10)
                               |--veth-- dns1 (10.244.2.2: clusterdns serve)
                               |--veth-- dns2 (10.244.3.2: clusterdns serve)

The Service VIP 10.96.0.10 exists only in the node's nat rules, as on a real node.  The
conntrack counters read are the node namespace's own (conntrack state is per namespace).
"""

from __future__ import annotations

import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import dns.message
import dns.query

from clusterdns.kernellab.conntrack import (
    RACE_COUNTERS,
    ConntrackStat,
    diff,
    parse_conntrack_s,
    parse_proc_stat,
)
from clusterdns.kernellab.kubeproxy import ProxyMode, Service, iptables_restore, nft_ruleset
from clusterdns.kernellab.lookups import LookupConfig, LookupResult, Resolver, lookup
from clusterdns.kernellab.netns import LabError, Namespaces, Process, in_namespace
from clusterdns.kernellab.report import LabReport, Missing, SettingResult, kernel_verdict, summarize
from clusterdns.kernellab.ruleset import Ruleset, parse_iptables_save, parse_nft_ruleset

VIP = "10.96.0.10"
CLUSTER_CIDR = "10.244.0.0/16"
SERVICE_CIDR = "10.96.0.0/12"
POD_IP, POD_GW = "10.244.0.2", "10.244.0.1"
NODE_CACHE_IP = "169.254.20.10"
NODE_CACHE_HEALTH_PORT = 8080
NAME = "web.default.svc.cluster.local."
BACKEND_COREFILE = """\
.:53 {
    bind %(ip)s
    hosts {
        10.0.0.10 web.default.svc.cluster.local
        fd00::10 web.default.svc.cluster.local
        fallthrough
    }
}
"""
Progress = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class LabOptions:
    rounds: int = 200
    timeout: float = 5.0
    replicas: int = 2
    proxies: tuple[ProxyMode, ...] = tuple(ProxyMode)
    resolvers: tuple[Resolver, ...] = tuple(Resolver)
    keep_going_seconds: float = 120.0  # bound per setting: stop its rounds after this long


@dataclass(slots=True)
class Node:
    """The namespaces and servers of one lab; ``close`` takes them down."""

    namespaces: Namespaces
    workdir: Path
    pod: str = ""
    node: str = ""
    backends: list[str] = field(default_factory=list)
    processes: list[Process] = field(default_factory=list)

    @property
    def service(self) -> Service:
        return Service(VIP, 53, tuple(self.backends), CLUSTER_CIDR)

    def close(self) -> None:
        for process in reversed(self.processes):
            process.stop()
        self.processes.clear()
        self.namespaces.close()
        shutil.rmtree(self.workdir, ignore_errors=True)


def missing_requirements() -> list[str]:
    """What this machine lacks to build the lab; empty when it can."""
    lacks = []
    if os.geteuid() != 0:
        lacks.append("root (network namespaces and netfilter rules need CAP_NET_ADMIN)")
    for tool in ("ip", "iptables-restore", "iptables-save"):
        if shutil.which(tool) is None:
            lacks.append(f"{tool} (Debian: iproute2, iptables)")
    if not Path("/proc/net/stat/nf_conntrack").exists() and shutil.which("conntrack") is None:
        lacks.append("nf_conntrack (no /proc/net/stat/nf_conntrack and no conntrack -S)")
    return lacks


def clusterdns_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "clusterdns", *args]


@contextmanager
def built_node(replicas: int, progress: Progress = lambda _: None) -> Iterator[Node]:
    """The lab node, up and answering; taken down on leaving, also on an exception or Ctrl-C."""
    node = Node(Namespaces(), Path(tempfile.mkdtemp(prefix="clusterdns-kernellab-")))
    try:
        _build(node, replicas, progress)
        yield node
    finally:
        node.close()


def _build(node: Node, replicas: int, progress: Progress) -> None:
    ns = node.namespaces
    node.node = ns.add("node")
    node.pod = ns.add("pod")
    ns.exec(node.node, "sysctl", "-qw", "net.ipv4.ip_forward=1")
    ns.veth(node.pod, "eth0", node.node, "pod0")
    _addr(ns, node.pod, "eth0", f"{POD_IP}/24")
    _addr(ns, node.node, "pod0", f"{POD_GW}/24")
    ns.exec(node.pod, "ip", "route", "add", "default", "via", POD_GW)
    for index in range(replicas):
        backend = ns.add(f"dns{index + 1}")
        address, gateway = f"10.244.{index + 2}.2", f"10.244.{index + 2}.1"
        ns.veth(backend, "eth0", node.node, f"dns{index + 1}")
        _addr(ns, backend, "eth0", f"{address}/24")
        _addr(ns, node.node, f"dns{index + 1}", f"{gateway}/24")
        ns.exec(backend, "ip", "route", "add", "default", "via", gateway)
        corefile = node.workdir / f"Corefile.dns{index + 1}"
        corefile.write_text(BACKEND_COREFILE % {"ip": address})
        argv = clusterdns_argv("serve", "-conf", str(corefile), "-quiet")
        node.processes.append(Process(backend, argv, node.workdir / f"dns{index + 1}.log"))
        node.backends.append(address)
    # Connections the node itself makes to the VIP (the node cache's TCP upstream) need a
    # route before OUTPUT's DNAT picks the endpoint; a real node has its default route.
    ns.exec(node.node, "ip", "route", "add", SERVICE_CIDR, "dev", "dns1")
    progress(f"lab: namespaces {', '.join(ns.names)}; waiting for {replicas} clusterdns replicas")
    for address, process in zip(node.backends, node.processes, strict=True):
        wait_answering(node.node, address, process)


def _addr(ns: Namespaces, name: str, ifname: str, cidr: str) -> None:
    ns.exec(name, "ip", "addr", "add", cidr, "dev", ifname)


def ask(ns: str, server: str, name: str = NAME, timeout: float = 1.0) -> dns.message.Message:
    """One A query from inside ``ns`` (a socket made there)."""

    def query() -> dns.message.Message:
        return dns.query.udp(dns.message.make_query(name, "A"), server, timeout=timeout)

    return in_namespace(ns, query)


def wait_answering(ns: str, server: str, process: Process | None, deadline_s: float = 20.0) -> None:
    deadline = time.monotonic() + deadline_s
    last: object = None
    while time.monotonic() < deadline:
        if process is not None and process.popen.poll() is not None:
            raise LabError(f"clusterdns on {server} exited: {process.output()[-500:]}")
        try:
            if ask(ns, server, timeout=0.5).answer:
                return
        except (OSError, dns.exception.DNSException) as exc:
            last = exc
        time.sleep(0.1)
    raise LabError(f"no answer from {server} within {deadline_s:g}s (last: {last!r})")


# --- counters -----------------------------------------------------------------------


def read_counters(ns: str) -> tuple[ConntrackStat, str]:
    """The node namespace's per-CPU conntrack counters: /proc, else ``conntrack -S``."""

    def read_proc() -> str | None:
        path = Path("/proc/thread-self/net/stat/nf_conntrack")  # this thread's namespace
        return path.read_text() if path.exists() else None

    text = in_namespace(ns, read_proc)
    if text is not None:
        return parse_proc_stat(text), "/proc/net/stat/nf_conntrack"
    out = Namespaces.exec(Namespaces(), ns, "conntrack", "-S")
    return parse_conntrack_s(out), "conntrack -S"


# --- rules ----------------------------------------------------------------------------


def flush_rules(node: Node) -> None:
    node.namespaces.exec(node.node, "nft", "flush", "ruleset", check=False)
    for table in ("nat", "raw", "filter"):
        node.namespaces.exec(node.node, "iptables", "-t", table, "-F", check=False)
        node.namespaces.exec(node.node, "iptables", "-t", table, "-X", check=False)


def install_rules(node: Node, proxy: ProxyMode) -> Ruleset:
    """Load kube-proxy's rules for ``proxy`` in the node namespace and read them back."""
    flush_rules(node)
    ns = node.namespaces
    if proxy is ProxyMode.NFTABLES:
        ns.exec(node.node, "nft", "-f", "-", stdin=nft_ruleset(node.service))
        ruleset = parse_nft_ruleset(ns.exec(node.node, "nft", "list", "ruleset"))
    else:
        mode = ProxyMode.IPTABLES if proxy is ProxyMode.NODECACHE else proxy
        ns.exec(node.node, "iptables-restore", stdin=iptables_restore(node.service, mode))
        ruleset = parse_iptables_save(ns.exec(node.node, "iptables-save"))
    _check_installed(ruleset, node, proxy)
    return ruleset


def _check_installed(ruleset: Ruleset, node: Node, proxy: ProxyMode) -> None:
    wanted = {f"{b}:53" for b in node.backends}
    services = [s for s in ruleset.services if s.vip == f"{VIP}:53"]
    got = {e.address for s in services for e in s.endpoints}
    if not services or got != wanted:
        raise LabError(
            f"{proxy}: rules read back do not DNAT {VIP}:53 to {sorted(wanted)}: {ruleset}"
        )
    if proxy is ProxyMode.IPTABLES_RANDOM_FULLY and ruleset.random_fully is not True:
        raise LabError(f"{proxy}: MASQUERADE --random-fully not found in iptables-save")


def describe(ruleset: Ruleset) -> str:
    parts = []
    for service in ruleset.services:
        eps = ", ".join(
            f"{e.address}" + (f" p={e.probability:g}" if e.probability is not None else "")
            for e in service.endpoints
        )
        parts.append(f"{service.vip} -> {service.chain} -> [{eps}]")
    if ruleset.random_fully is not None:
        parts.append(
            "masquerade " + ("fully random" if ruleset.random_fully else "not random-fully")
        )
    if ruleset.notrack:
        parts.append(f"{len(ruleset.notrack)} NOTRACK rules for port 53")
    return f"{ruleset.mode}: " + "; ".join(parts)


def ipvs_missing() -> str | None:
    if shutil.which("ipvsadm") is None:
        return "ipvsadm is not installed (Debian: ipvsadm)"
    if not Path("/proc/net/ip_vs").exists() and not Path("/proc/sys/net/ipv4/vs").exists():
        return (
            f"kernel {platform.release()} has no IPVS (no /proc/net/ip_vs: CONFIG_IP_VS "
            "not built, or the ip_vs module not loaded)"
        )
    return "IPVS mode is not built into the lab yet"


# --- the node cache -------------------------------------------------------------------


def start_node_cache(node: Node) -> Ruleset:
    """clusterdns nodecache in the node namespace: 169.254.20.10 with node-cache's NOTRACK rules."""
    argv = clusterdns_argv(
        "nodecache", "-localip", NODE_CACHE_IP, "--embedded-base",
        "-conf", str(node.workdir / "Corefile.nodecache"),
        "-clusterdns", VIP, "-upstream-servers", node.backends[0],
        "-domain", "cluster.local", "-health-port", str(NODE_CACHE_HEALTH_PORT),
        "-kubednscm", str(node.workdir),
    )  # fmt: skip
    process = Process(node.node, argv, node.workdir / "nodecache.log")
    node.processes.append(process)
    wait_answering(node.pod, NODE_CACHE_IP, process)
    # node-cache adds its rules once it is up, so they may come just after the first answers
    # (with -workers, the workers answer while the supervisor is still adding them)
    deadline = time.monotonic() + 15
    ruleset = parse_iptables_save(node.namespaces.exec(node.node, "iptables-save"))
    while not ruleset.notrack and time.monotonic() < deadline:
        time.sleep(0.1)
        ruleset = parse_iptables_save(node.namespaces.exec(node.node, "iptables-save"))
    if not ruleset.notrack:
        raise LabError(f"node cache running but no NOTRACK rules in raw: {process.output()[-500:]}")
    return ruleset


def stop_node_cache(node: Node) -> None:
    for process in [p for p in node.processes if "nodecache" in p.log.name]:
        process.stop()
        node.processes.remove(process)


# --- running --------------------------------------------------------------------------


def run_setting(
    node: Node, proxy: ProxyMode, resolver: Resolver, options: LabOptions, server: str, rules: str
) -> SettingResult:
    config = LookupConfig(
        server=server,
        name=NAME,
        timeout=options.timeout,
        cpus=tuple(sorted(os.sched_getaffinity(0)))[:2],
    )

    def rounds() -> list[LookupResult]:
        stop_at = time.monotonic() + options.keep_going_seconds
        results = []
        for _ in range(options.rounds):
            results.append(lookup(config, resolver))
            if time.monotonic() > stop_at:
                break
        return results

    before, _ = read_counters(node.node)
    results = in_namespace(node.pod, rounds)
    after, _ = read_counters(node.node)
    return summarize(
        proxy.value,
        resolver.value,
        results,
        options.timeout,
        diff(before, after, RACE_COUNTERS),
        rules,
    )


def run_lab(options: LabOptions, progress: Progress = lambda _: None) -> LabReport:
    settings: list[SettingResult] = []
    missing: list[Missing] = []
    with built_node(options.replicas, progress) as node:
        _, source = read_counters(node.node)
        for proxy in options.proxies:
            if proxy is ProxyMode.IPVS:
                missing.append(Missing(proxy.value, ipvs_missing() or ""))
                continue
            ruleset = install_rules(node, proxy)
            server = VIP
            if proxy is ProxyMode.NODECACHE:
                ruleset = start_node_cache(node)
                server = NODE_CACHE_IP
            rules = describe(ruleset)
            try:
                for resolver in options.resolvers:
                    result = run_setting(node, proxy, resolver, options, server, rules)
                    progress(
                        f"lab: {proxy.value:22} {resolver.value:22} lookups {result.lookups} "
                        f"stalls {result.stalls} clashres +{result.delta('clashres')} "
                        f"insert_failed +{result.delta('insert_failed')}"
                    )
                    settings.append(result)
            finally:
                if proxy is ProxyMode.NODECACHE:
                    stop_node_cache(node)
    return LabReport(
        kernel=platform.release(),
        cpus=len(os.sched_getaffinity(0)),
        rounds=options.rounds,
        timeout=options.timeout,
        counter_source=source,
        settings=tuple(settings),
        missing=tuple(missing),
        verdict=kernel_verdict(platform.release(), len(os.sched_getaffinity(0)), settings),
    )
