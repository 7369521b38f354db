"""``doctor node``'s checks: facts read from the node in, one Finding each out.  No I/O.

The kernel history of the DNS conntrack race (the fixes are in net/netfilter/
nf_conntrack_core.c and nf_nat_core.c):

* 4.19, "netfilter: nf_conntrack: resolve clash for matching conntracks": two packets of
  one UDP flow racing to insert the same entry no longer drop the second when both
  entries are equal (same DNAT endpoint);
* 5.0, "netfilter: nf_nat: skip nat clash resolution for same-origin entries": the second
  no longer gets a new source port from NAT and is then dropped;
  both described by their author at https://lambda.lt/blog/2018/racy_conntrack.html,
  which also names the case left open: the two packets DNATed to different endpoints;
* 5.6, "netfilter: conntrack: allow insertion of clashing entries" (Florian Westphal):
  that last case too, for UDP, by keeping the clashing entry with a short timeout; the
  resolved clashes are counted as ``clashres`` in /proc/net/stat/nf_conntrack.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from clusterdns.doctor.findings import Finding, Severity
from clusterdns.kernellab.conntrack import ConntrackStat, diff
from clusterdns.kernellab.ruleset import Ruleset
from clusterdns.resolver.resolvconf import parse

RACE_FIX_URL = "https://lambda.lt/blog/2018/racy_conntrack.html"
LINK_LOCAL = re.compile(r"\b169\.254\.\d+\.\d+\b")


def kernel_version(release: str) -> tuple[int, int] | None:
    match = re.match(r"(\d+)\.(\d+)", release.strip())
    return (int(match[1]), int(match[2])) if match else None


def check_kernel(release: str | None) -> Finding:
    check = "kernel-race-fixes"
    if release is None:
        return Finding(check, Severity.INFO, "kernel version not readable",
                       "proc/sys/kernel/osrelease missing")  # fmt: skip
    version = kernel_version(release)
    evidence = f"proc/sys/kernel/osrelease: {release.strip()}"
    why = ("glibc and musl send A and AAAA at once from one socket; behind a Service's DNAT the "
           "two packets race to insert one conntrack entry")  # fmt: skip
    if version is None:
        return Finding(check, Severity.INFO, "kernel version not understood", evidence)
    if version < (4, 19):
        return Finding(check, Severity.ERROR,
                       "kernel without any conntrack clash fix: parallel A/AAAA lookups lose a packet and stall 5 s",
                       f"{evidence}; {why}",
                       f"upgrade to 5.6 or later ({RACE_FIX_URL}); until then a node cache with NOTRACK "
                       "or options single-request-reopen / use-vc")  # fmt: skip
    if version < (5, 6):
        return Finding(check, Severity.WARN,
                       "kernel resolves same-endpoint clashes only: A and AAAA DNATed to different DNS pods still drop one",
                       f"{evidence}; has the 4.19/5.0 fixes, not 5.6's insertion of clashing entries; {why}",
                       f"upgrade to 5.6 or later ({RACE_FIX_URL}), or run NodeLocal DNSCache (NOTRACK, TCP upstream)")  # fmt: skip
    return Finding(check, Severity.OK,
                   "kernel has the conntrack clash fixes for UDP (4.19, 5.0, 5.6)",
                   f"{evidence}; clashes should show as clashres, not insert_failed")  # fmt: skip


@dataclass(frozen=True, slots=True)
class TableFacts:
    count: int | None
    maximum: int | None
    udp_timeout: int | None
    udp_timeout_stream: int | None


def check_table(t: TableFacts) -> Finding:
    check = "conntrack-table"
    timeouts = f"nf_conntrack_udp_timeout {t.udp_timeout}, _stream {t.udp_timeout_stream}"
    if t.count is None or t.maximum is None or t.maximum == 0:
        return Finding(check, Severity.INFO, "conntrack table size not readable",
                       f"proc/sys/net/netfilter/nf_conntrack_count/_max missing; {timeouts}")  # fmt: skip
    used = t.count / t.maximum
    evidence = (
        f"nf_conntrack_count {t.count} of nf_conntrack_max {t.maximum} ({used:.0%}); {timeouts}"
    )
    if used >= 0.9:
        return Finding(check, Severity.ERROR,
                       "conntrack table nearly full: new flows (each DNS query's) are dropped",
                       evidence + "; every UDP query from a new port is a new entry, kept udp_timeout seconds",
                       "raise net.netfilter.nf_conntrack_max; lower nf_conntrack_udp_timeout; a node cache "
                       "with NOTRACK keeps DNS out of the table")  # fmt: skip
    if t.udp_timeout is not None and t.udp_timeout > 60:
        return Finding(check, Severity.WARN, "UDP conntrack entries kept long: DNS fills the table",
                       evidence, "net.netfilter.nf_conntrack_udp_timeout=30 (the kernel default)")  # fmt: skip
    return Finding(check, Severity.OK, "conntrack table has room", evidence)


def check_counters(first: ConntrackStat, second: ConntrackStat, seconds: float) -> Finding:
    """Rising insert_failed/drop now versus counts left from the past (since boot)."""
    check = "conntrack-counters"
    if not second.cpus:
        return Finding(check, Severity.INFO, "conntrack statistics not readable",
                       "proc/net/stat/nf_conntrack missing (no netfilter, or not on the node)")  # fmt: skip
    deltas = {d.name: d for d in diff(first, second, ("insert_failed", "drop", "clashres"))}
    totals = second.totals()
    parts = []
    for name in ("insert_failed", "drop", "clashres", "early_drop"):
        if name in deltas:
            per_cpu = "/".join(str(v) for v in deltas[name].per_cpu)
            parts.append(
                f"{name} {totals[name]} (+{deltas[name].delta} in {seconds:g} s, per CPU {per_cpu})"
            )
    evidence = "; ".join(parts)
    rising = [n for n in ("insert_failed", "drop") if n in deltas and deltas[n].delta > 0]
    if rising:
        return Finding(check, Severity.ERROR,
                       f"conntrack is dropping packets now: {', '.join(rising)} rising",
                       evidence + "; a dropped DNS query waits out the resolver's timeout (5 s)",
                       "NodeLocal DNSCache (NOTRACK, TCP upstream) or options single-request-reopen / use-vc; "
                       "a kernel with the clash fixes (5.6+); a bigger nf_conntrack_max if the table is full")  # fmt: skip
    old = [n for n in ("insert_failed", "drop") if totals.get(n)]
    if old:
        return Finding(check, Severity.WARN,
                       f"{', '.join(old)} counted in the past, not rising during the sample",
                       evidence, "sample again while the timeouts happen: clusterdns doctor node --interval 30")  # fmt: skip
    clashes = deltas.get("clashres")
    if clashes is not None and clashes.delta:
        return Finding(
            check, Severity.OK, "clashes resolved by the kernel, nothing dropped", evidence
        )
    return Finding(check, Severity.OK, "no conntrack insert failures or drops", evidence)


def check_kube_proxy(rules: Ruleset, source: str) -> Finding:
    check = "kube-proxy"
    if not rules.found:
        return Finding(check, Severity.INFO, "no kube-proxy rules found",
                       f"read {source}: no KUBE-* chains, no table ip kube-proxy (IPVS/eBPF proxies such as "
                       "Cilium leave none)")  # fmt: skip
    services = "; ".join(
        f"{s.vip} -> " + ", ".join(e.address + (f" p={e.probability:g}" if e.probability else "") for e in s.endpoints)
        for s in rules.services
    ) or "no Service on port 53/udp"  # fmt: skip
    masq = ("no MASQUERADE rule" if rules.random_fully is None else
            "MASQUERADE --random-fully" if rules.random_fully else "MASQUERADE without --random-fully")  # fmt: skip
    evidence = f"mode {rules.mode} (from {source}); DNS: {services}; {masq}"
    if rules.mode == "iptables" and rules.random_fully is False:
        return Finding(check, Severity.INFO,
                       "kube-proxy iptables mode, SNAT without --random-fully",
                       evidence + "; masqueraded flows may clash on the source port too",
                       "kube-proxy uses --random-fully when iptables supports it (1.6.2+): update iptables "
                       "in the kube-proxy image")  # fmt: skip
    return Finding(
        check, Severity.OK, f"kube-proxy {rules.mode} mode: DNS Service rules read", evidence
    )


def check_ipvs(conn_reuse_mode: str | None, mode: str, release: str | None) -> Finding:
    check = "ipvs-conn-reuse"
    if conn_reuse_mode is None:
        state = "IPVS not in use" if mode != "ipvs" else "IPVS rules but no proc/sys/net/ipv4/vs"
        return Finding(check, Severity.OK if mode != "ipvs" else Severity.INFO, state,
                       "proc/sys/net/ipv4/vs/conn_reuse_mode missing")  # fmt: skip
    value = conn_reuse_mode.strip()
    evidence = f"net.ipv4.vs.conn_reuse_mode = {value}; kernel {release or '?'}"
    version = kernel_version(release or "")
    if value == "1" and version is not None and version < (5, 9):
        return Finding(check, Severity.WARN,
                       "IPVS conn_reuse_mode=1 on a kernel before 5.9: a reused source port waits 1 s",
                       evidence, "upgrade the kernel to 5.9+ (kubernetes/kubernetes#81775) or set conn_reuse_mode=0 "
                       "(then stale connections keep going to removed endpoints)")  # fmt: skip
    if value == "0":
        return Finding(check, Severity.INFO, "IPVS conn_reuse_mode=0: reused ports stick to old endpoints",
                       evidence, "leave at 1 on 5.9+ kernels")  # fmt: skip
    return Finding(check, Severity.OK, "IPVS conn_reuse_mode fine for this kernel", evidence)


@dataclass(frozen=True, slots=True)
class NodeCacheFacts:
    addresses: tuple[str, ...]  # link-local addresses the NOTRACK rules name
    notrack: tuple[str, ...]
    health: str | None  # "ok", an error, or None when not probed


def node_cache_facts(rules: Ruleset, health: str | None) -> NodeCacheFacts:
    addresses = sorted({a for r in rules.notrack for a in LINK_LOCAL.findall(r)})
    return NodeCacheFacts(tuple(addresses), rules.notrack, health)


def check_node_cache(cache: NodeCacheFacts) -> Finding:
    check = "node-cache"
    if not cache.notrack:
        return Finding(check, Severity.WARN,
                       "no NodeLocal DNSCache: every pod's DNS goes through the Service's DNAT and conntrack",
                       "no NOTRACK rule for port 53 in the raw table",
                       "deploy NodeLocal DNSCache (clusterdns nodecache): NOTRACK, TCP upstream, no race")  # fmt: skip
    evidence = f"NOTRACK rules: {len(cache.notrack)}; addresses {', '.join(cache.addresses) or '?'}; health {cache.health or 'not probed'}"
    if cache.health not in (None, "ok"):
        return Finding(check, Severity.ERROR, "node cache rules present but its health check fails", evidence,
                       "check the node-local-dns pod on this node; pods pointing at it get no answers")  # fmt: skip
    return Finding(
        check, Severity.OK, "NodeLocal DNSCache present (NOTRACK rules in raw)", evidence
    )


def check_pod_resolv(confs: Sequence[tuple[str, str]], cache: NodeCacheFacts) -> Finding:
    check = "pod-resolv-conf"
    if not confs:
        return Finding(check, Severity.INFO, "no pod resolv.conf readable on this node",
                       "looked under the container runtimes' sandbox directories")  # fmt: skip
    not_cached, racy = [], []
    for path, text in confs:
        conf = parse(text)
        if cache.addresses and not set(conf.nameservers) & set(cache.addresses):
            not_cached.append(path)
        names = {name for name, _ in conf.options}
        if (
            not names & {"single-request-reopen", "single-request", "use-vc"}
            and not cache.addresses
        ):
            racy.append(path)
    evidence = f"{len(confs)} read; {len(not_cached)} not on the node cache; {len(racy)} without single-request(-reopen)/use-vc"
    if not_cached:
        return Finding(check, Severity.WARN, "pods bypass the node cache (nameserver is not its address)",
                       evidence + f"; e.g. {not_cached[0]}",
                       "kubelet --cluster-dns=<node cache address>, or the node cache also on the kube-dns VIP")  # fmt: skip
    if racy:
        return Finding(check, Severity.INFO, "pods send A and AAAA in parallel through the DNAT",
                       evidence + f"; e.g. {racy[0]}",
                       "dnsConfig options single-request-reopen (glibc) or a node cache")  # fmt: skip
    return Finding(check, Severity.OK, "pods' resolv.conf avoid the race", evidence)
