"""Read the node (sources.py), sample the counters over an interval, run every check."""

from __future__ import annotations

import re
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from clusterdns.doctor.findings import Finding, Severity, worst
from clusterdns.doctor.node import checks
from clusterdns.doctor.node.sources import Sources
from clusterdns.doctor.node.trace import TraceResult, run_trace
from clusterdns.kernellab.conntrack import ConntrackStat, parse_proc_stat
from clusterdns.kernellab.ruleset import Ruleset, merge, parse_iptables_save, parse_nft_ruleset


@dataclass(frozen=True, slots=True)
class NodeOptions:
    sources: Sources = Sources()
    interval: float = 2.0  # seconds between the two counter samples
    trace: float = 0.0  # seconds of BPF tracing; 0: none
    probe_health: bool = True
    extra_resolv_confs: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class NodeReport:
    kernel: str
    findings: tuple[Finding, ...]
    trace: TraceResult | None = None

    @property
    def worst(self) -> Severity:
        return worst(self.findings)

    def to_json(self) -> dict[str, object]:
        return {
            "kernel": self.kernel,
            "worst": self.worst.label,
            "findings": [f.to_json() for f in self.findings],
            "trace": self.trace.to_json() if self.trace else None,
        }


def _int(text: str | None) -> int | None:
    try:
        return int(text.strip()) if text is not None else None
    except ValueError:
        return None


def read_rules(sources: Sources) -> tuple[Ruleset, str]:
    saved, where = sources.command("iptables-save")
    nft, nft_where = sources.command("nft-list-ruleset")
    first = parse_iptables_save(saved) if saved else Ruleset("none")
    second = parse_nft_ruleset(nft) if nft else Ruleset("none")
    # iptables-nft rules also show in `nft list ruleset`: take notrack rules from nft only
    # when iptables-save had none, so one rule is not counted twice.
    if first.notrack:
        second = Ruleset(second.mode, second.services, second.masquerade, second.random_fully)
    return merge(first, second), f"{where}; {nft_where}"


def sample(sources: Sources) -> ConntrackStat:
    return parse_proc_stat(sources.read("net/stat/nf_conntrack") or "")


def probe_health(address: str, port: str, timeout: float = 1.0) -> str:
    try:
        with urllib.request.urlopen(f"http://{address}:{port}/health", timeout=timeout) as reply:
            return "ok" if reply.status == 200 else f"HTTP {reply.status}"
    except OSError as exc:
        return f"GET http://{address}:{port}/health: {exc}"


_HEALTH_RULE = re.compile(r"-d (169\.254\.\d+\.\d+)/32 -p tcp -m tcp --dport (\d+)\b.*NOTRACK")


def _health_port(sources: Sources) -> str | None:
    """node-cache's NOTRACK rule for its liveness probe names the health port."""
    saved, _ = sources.command("iptables-save")
    for _address, port in _HEALTH_RULE.findall(saved or ""):
        if port != "53":
            return str(port)
    return None


def diagnose_node(options: NodeOptions, sleep: Callable[[float], None] = time.sleep) -> NodeReport:
    src = options.sources
    release = src.read("sys/kernel/osrelease")
    first = sample(src)
    trace = run_trace(options.trace) if options.trace > 0 else None
    if trace is None:
        sleep(options.interval)
    second = sample(src)
    rules, where = read_rules(src)
    health = None
    cache = checks.node_cache_facts(rules, None)
    port = _health_port(src)
    if options.probe_health and cache.addresses and port:
        health = probe_health(cache.addresses[0], port)
        cache = checks.node_cache_facts(rules, health)
    confs = src.pod_resolv_confs() + [(p, Path(p).read_text()) for p in options.extra_resolv_confs]
    table = checks.TableFacts(
        count=_int(src.read("sys/net/netfilter/nf_conntrack_count")),
        maximum=_int(src.read("sys/net/netfilter/nf_conntrack_max")),
        udp_timeout=_int(src.read("sys/net/netfilter/nf_conntrack_udp_timeout")),
        udp_timeout_stream=_int(src.read("sys/net/netfilter/nf_conntrack_udp_timeout_stream")),
    )
    interval = options.trace if trace is not None else options.interval
    findings = [
        checks.check_kernel(release),
        checks.check_table(table),
        checks.check_counters(first, second, interval),
        checks.check_kube_proxy(rules, where),
        checks.check_ipvs(src.read("sys/net/ipv4/vs/conn_reuse_mode"), rules.mode, release),
        checks.check_node_cache(cache),
        checks.check_pod_resolv(confs, cache),
    ]
    if trace is not None:
        findings.append(check_trace(trace))
    return NodeReport((release or "?").strip(), tuple(findings), trace)


def check_trace(trace: TraceResult) -> Finding:
    missing = "; ".join(trace.missing)
    if trace.tool is None:
        return Finding("trace", Severity.INFO, "tracing not possible here; the counters above stand",
                       f"missing: {missing}")  # fmt: skip
    drops = ", ".join(f"{reason} {count}" for reason, count in trace.drops) or "none"
    evidence = f"{trace.tool} for {trace.seconds:g} s: DNS packets dropped by reason: {drops}"
    if trace.clash_resolved is not None:
        evidence += (
            f"; clashes resolved {trace.clash_resolved}, confirm drops {trace.confirm_dropped}"
        )
    if missing:
        evidence += f"; not traced: {missing}"
    if trace.drops or trace.confirm_dropped:
        return Finding("trace", Severity.WARN, "DNS packets dropped while tracing", evidence,
                       "the drop reason names the place: NF_DROP is netfilter (conntrack, rules), "
                       "NO_SOCKET a server not listening, QUEUE/BACKLOG overload")  # fmt: skip
    return Finding("trace", Severity.OK, "no DNS packet dropped while tracing", evidence)
