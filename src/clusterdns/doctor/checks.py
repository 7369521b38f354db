"""The doctor's checks: pure functions from evidence values to Findings (no I/O here).

Facts they encode (sources: the seeds 002 and 003; man 5 resolv.conf; the kubelet's
ClusterFirst resolv.conf; CoreDNS's cache, loop, ready, health and errors READMEs):

- ClusterFirst writes ``search <ns>.svc.<domain> svc.<domain> <domain> [host search...]``
  and ``options ndots:5``; Default copies the node's resolv.conf; None is dnsConfig alone.
- A name with fewer dots than ndots walks the whole search list first: with A and AAAA
  that is 2 x (len(search) + 1) queries for an external name, all but two wasted.
- glibc and musl send A and AAAA back to back from one UDP socket; two packets of a new
  flow racing through conntrack lose one (``insert_failed``), and the lookup waits a whole
  try: glibc ``timeout`` (5 s), musl ``timeout / attempts`` (2.5 s).  single-request-reopen
  or single-request (glibc) and use-vc (TCP) avoid it; musl honours none of them.
- ``forward . /etc/resolv.conf`` on a node whose resolv.conf names a local stub
  (127.0.0.53, systemd-resolved) forwards to itself or the stub: a loop.
- CoreDNS's cache keeps a reply for its TTL clamped to [min TTL (5 s), cap]: a kubernetes
  ``ttl`` below the cache's floor is served stale that long.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from clusterdns.corefile.keys import block_addresses
from clusterdns.corefile.model import Directive, ServerBlock
from clusterdns.dns.names import absolute, is_ip, is_subdomain, split_ip_port
from clusterdns.doctor.findings import Finding, Severity
from clusterdns.errors import ClusterDNSError
from clusterdns.resolver.resolvconf import Effective, Libc, ResolvConf

REOPEN_SNIPPET = "spec.dnsConfig.options: [{name: single-request-reopen}]"
NDOTS_SNIPPET = 'spec.dnsConfig.options: [{name: ndots, value: "2"}]'


def is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def cluster_domain(conf: ResolvConf, default: str = "cluster.local") -> str:
    """The cluster domain a ClusterFirst search list names (``svc.<domain>``), else ``default``."""
    for domain in conf.search:
        if domain.startswith("svc."):
            return domain[4:]
    return default


# --- resolv.conf ------------------------------------------------------------------------


def check_policy(conf: ResolvConf, domain: str) -> Finding:
    """Name the dnsPolicy this resolv.conf looks like."""
    if not conf.nameservers:
        return Finding(
            check="dns-policy",
            severity=Severity.ERROR,
            title="resolv.conf has no nameserver line",
            evidence="every lookup falls back to 127.0.0.1:53",
            fix="give the pod dnsPolicy ClusterFirst, or dnsConfig.nameservers with dnsPolicy None",
        )
    search = conf.search
    ndots = conf.option("ndots")
    evidence = f"search {' '.join(search) or '(none)'}; ndots {ndots or '1 (default)'}"
    cluster = (f"svc.{domain}", domain)
    if len(search) >= 3 and search[0].endswith(f".svc.{domain}") and search[1:3] == cluster:
        namespace = search[0][: -len(f".svc.{domain}")]
        title = f"ClusterFirst-like: namespace {namespace}, cluster domain {domain}"
        return Finding("dns-policy", Severity.INFO, title, evidence)
    if any(is_subdomain(absolute(s), absolute(domain)) for s in search):
        return Finding(
            "dns-policy",
            Severity.INFO,
            "None/custom: a search list with the cluster domain",
            evidence,
        )
    return Finding(
        check="dns-policy",
        severity=Severity.INFO,
        title=f"Default-like (the node's resolver): no {domain} search, short service names fail",
        evidence=evidence,
        fix="use ClusterFirst for pods that talk to services, or name services in full "
        f"(web.shop.svc.{domain}.)",
    )


def queries_per_lookup(eff: Effective, dots: int = 2) -> int:
    """Queries one lookup of an external name with ``dots`` dots sends (every search name NXDOMAIN)."""
    types = 1 if eff.no_aaaa else 2
    walked = len(eff.search) if dots < eff.ndots else 0
    return types * (walked + 1)


def check_amplification(eff: Effective) -> Finding:
    """Warn when ndots and the search list multiply every external lookup (api.example.com)."""
    sent = queries_per_lookup(eff)
    useful = 1 if eff.no_aaaa else 2
    evidence = (
        f"ndots:{eff.ndots}, {len(eff.search)} search domains: api.example.com (2 dots) "
        f"costs {sent} queries, {sent - useful} of them NXDOMAIN"
    )
    if sent < 3 * useful:
        return Finding(
            "search-amplification", Severity.OK, "search/ndots amplification is low", evidence
        )
    return Finding(
        check="search-amplification",
        severity=Severity.WARN,
        title=f"every external name walks {len(eff.search)} search domains first ({sent}x queries)",
        evidence=evidence,
        fix="write external names as FQDNs with a trailing dot (api.example.com.); set "
        f"{NDOTS_SNIPPET}; enable autopath in CoreDNS; a node cache absorbs the NXDOMAINs",
    )


def check_send_options(eff: Effective, libc_source: str) -> Finding:
    """How A and AAAA leave this client, and whether the options say what the libc honours."""
    if eff.libc is Libc.MUSL:
        ignored = [
            o for o in eff.ignored if o in ("single-request-reopen", "single-request", "use-vc")
        ]
        evidence = f"libc: musl ({libc_source})" + (
            f"; options musl ignores: {' '.join(ignored)}" if ignored else ""
        )
        return Finding(
            check="send-options",
            severity=Severity.WARN if ignored else Severity.INFO,
            title="musl sends A and AAAA in parallel from one socket and has no option to change it",
            evidence=evidence,
            fix="run a node-local DNS cache (it talks TCP upstream), or build on a glibc image; "
            "cut the query count with FQDNs and a lower ndots",
        )
    evidence = f"libc: glibc ({libc_source})"
    if eff.use_vc or eff.single_request or eff.single_request_reopen:
        chosen = (
            "use-vc"
            if eff.use_vc
            else ("single-request" if eff.single_request else "single-request-reopen")
        )
        return Finding(
            "send-options", Severity.OK, f"options {chosen}: no shared-socket race", evidence
        )
    return Finding(
        check="send-options",
        severity=Severity.INFO,
        title="glibc sends A and AAAA in parallel from one socket (exposed to the conntrack race)",
        evidence=evidence,
        fix=f"add {REOPEN_SNIPPET} (or options single-request-reopen in resolv.conf)",
    )


# --- probes -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Probe:
    """One question asked of one server: what came back (rcode text or None = no reply)."""

    target: str  # "nameserver 127.0.0.1" or "replica 127.0.0.1:5353"
    server: str  # HOST:PORT the packets went to, "" when not probed
    name: str
    rcode: str | None
    answers: tuple[str, ...] = ()
    error: str | None = None
    probed: bool = True


def check_probe(probe: Probe) -> Finding:
    check = "resolve"
    where = f"{probe.target} ({probe.server})" if probe.server else probe.target
    if not probe.probed:
        return Finding(
            check,
            Severity.INFO,
            f"{where}: not probed (--probe-remote to allow)",
            f"{probe.error or 'not on loopback'}",
        )
    if probe.rcode == "NOERROR" and probe.answers:
        return Finding(check, Severity.OK, f"{where}: {probe.name} -> {' '.join(probe.answers)}")
    result = probe.error or probe.rcode or "no reply"
    if probe.rcode == "NOERROR":
        result = "NOERROR with no address"
    fix = (
        "the server does not answer: check the pod/Service, its port and network policy; "
        "run more replicas"
        if probe.rcode is None
        else "the server answers but not for this name: check the cluster domain and the "
        "kubernetes plugin's zones"
    )
    return Finding(
        check=check,
        severity=Severity.ERROR,
        title=f"{where}: {probe.name} failed: {result}",
        evidence="",
        fix=fix,
    )


# --- bench ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BenchRun:
    """One short load run of glibc-like lookups in one send mode."""

    mode: str  # "parallel", "reopen", "tcp"
    lookups: int
    timeouts: int  # lookups with no answer at all
    try_timeouts: int  # tries that waited a whole timeout
    stalled: int  # lookups that took at least one timeout
    max_ms: float = 0.0


def stall_seconds(eff: Effective) -> float:
    """How long one lost packet stalls a lookup: glibc a whole timeout, musl a resend interval."""
    if eff.libc is Libc.MUSL:
        return eff.timeout / eff.attempts
    return float(eff.timeout)


def _loss_rate(run: BenchRun) -> float:
    return (run.try_timeouts + run.timeouts) / run.lookups if run.lookups else 0.0


def check_bench(runs: Sequence[BenchRun], eff: Effective, timeout: float) -> Finding:
    """Name the conntrack race when only the shared-socket mode loses tries."""
    check = "timeouts"
    by_mode = {run.mode: run for run in runs}
    if not runs:
        return Finding(check, Severity.INFO, "no bench run (no server to test)")
    evidence = "; ".join(
        f"{r.mode}: {r.lookups} lookups, {r.try_timeouts} tries timed out ({timeout:g} s each), "
        f"{r.timeouts} failed"
        for r in runs
    )
    stall = stall_seconds(eff)
    lossy = [r for r in runs if r.try_timeouts or r.timeouts]
    if not lossy:
        return Finding(check, Severity.OK, "no timeouts in the bench", evidence)
    parallel = by_mode.get("parallel")
    others = [r for r in runs if r.mode != "parallel"]
    if (
        parallel is not None
        and parallel.try_timeouts
        and others
        and all(_loss_rate(r) * 4 <= _loss_rate(parallel) for r in others)
    ):
        fixes = [
            f"glibc: {REOPEN_SNIPPET} (or single-request, or use-vc for TCP)",
            "musl (Alpine): no resolv.conf option helps; use a node-local DNS cache or a glibc image",
            "a node-local DNS cache (TCP upstream, no DNAT) removes the race for every libc",
            "fewer queries race less: FQDNs with a trailing dot, ndots:2",
            "a kernel with the conntrack clash fixes (5.0+) resolves most of the clashes",
        ]
        return Finding(
            check=check,
            severity=Severity.ERROR,
            title="conntrack insert race: parallel A/AAAA from one socket lose packets; "
            f"apps stall {stall:g} s ({eff.libc.value} timeout:{eff.timeout} attempts:{eff.attempts})",
            evidence=evidence + "; few or none with reopen/TCP",
            fix="; ".join(fixes),
        )
    return Finding(
        check=check,
        severity=Severity.ERROR,
        title=f"the server loses queries in every mode: apps stall {stall:g} s per lost packet",
        evidence=evidence,
        fix="the DNS pods are overloaded or the path drops packets: run more replicas (one per "
        "8 nodes, under one CPU each), check CPU limits, add a node-local DNS cache",
    )


# --- conntrack --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Conntrack:
    """What /proc says about the conntrack table; None where the file was unreadable."""

    insert_failed: int | None = None
    drop: int | None = None
    count: int | None = None
    maximum: int | None = None


def parse_conntrack_stat(text: str) -> dict[str, int]:
    """Sum the per-CPU rows of /proc/net/stat/nf_conntrack (a header line, hex values)."""
    lines = [line.split() for line in text.splitlines() if line.strip()]
    if not lines:
        return {}
    header, rows = lines[0], lines[1:]
    totals = dict.fromkeys(header, 0)
    for row in rows:
        for column, value in zip(header, row, strict=False):
            try:
                totals[column] += int(value, 16)
            except ValueError:
                continue
    return totals


def check_conntrack_race(ct: Conntrack) -> Finding:
    check = "conntrack-insert"
    if ct.insert_failed is None:
        return Finding(
            check,
            Severity.INFO,
            "conntrack statistics not readable here",
            "/proc/net/stat/nf_conntrack is missing (not on a node, or no netfilter)",
        )
    evidence = f"insert_failed {ct.insert_failed}, drop {ct.drop or 0} (summed over CPUs)"
    if ct.insert_failed == 0:
        return Finding(check, Severity.OK, "no conntrack insert failures", evidence)
    return Finding(
        check=check,
        severity=Severity.WARN,
        title="conntrack insert failures: packets of new UDP flows were dropped",
        evidence=evidence,
        fix=f"the A/AAAA race: {REOPEN_SNIPPET} for glibc, a node-local DNS cache for musl; "
        "watch the counter grow while the bench runs",
    )


def check_conntrack_table(ct: Conntrack) -> Finding:
    check = "conntrack-table"
    if ct.count is None or not ct.maximum:
        return Finding(
            check,
            Severity.INFO,
            "conntrack table size not readable here",
            "/proc/sys/net/netfilter/nf_conntrack_count/_max missing",
        )
    used = ct.count / ct.maximum
    evidence = f"nf_conntrack_count {ct.count} of nf_conntrack_max {ct.maximum} ({used:.0%})"
    if used < 0.75:
        return Finding(check, Severity.OK, "conntrack table has room", evidence)
    return Finding(
        check=check,
        severity=Severity.ERROR if used >= 0.95 else Severity.WARN,
        title="conntrack table nearly full: new flows (every DNS query's) get dropped",
        evidence=evidence,
        fix="raise net.netfilter.nf_conntrack_max, shorten nf_conntrack_udp_timeout, use long-lived "
        "connections; a node-local DNS cache (NOTRACK) keeps DNS out of the table",
    )


# --- libc -------------------------------------------------------------------------------


def libc_from_paths(paths: Sequence[str]) -> Libc | None:
    """musl when its dynamic loader (ld-musl-*.so.1) is there, else glibc when libc.so.6 is."""
    names = [p.rsplit("/", 1)[-1] for p in paths]
    if any(n.startswith("ld-musl-") and n.endswith(".so.1") for n in names):
        return Libc.MUSL
    if "libc.so.6" in names:
        return Libc.GLIBC
    return None


# --- Corefile ---------------------------------------------------------------------------


def _zones(block: ServerBlock) -> tuple[str, ...]:
    try:
        return tuple(a.zone for a in block_addresses(block, 53))
    except ClusterDNSError:
        return ()


def _where(item: ServerBlock | Directive) -> str:
    return f"{item.file}:{item.line}"


def check_forward_loop(blocks: Sequence[ServerBlock], host: ResolvConf | None) -> list[Finding]:
    """``forward . /etc/resolv.conf`` with a host resolv.conf that names a local stub."""
    check = "corefile-forward-loop"
    out: list[Finding] = []
    for block in blocks:
        for d in block.directives:
            if d.name != "forward" or "/etc/resolv.conf" not in d.args[1:]:
                continue
            if host is None:
                out.append(
                    Finding(
                        check=check,
                        severity=Severity.INFO,
                        title=f"{_where(d)}: forward to /etc/resolv.conf",
                        evidence="the node's resolv.conf was not given (--host-resolv-conf)",
                        fix="make sure the node's resolv.conf names a real upstream, not 127.0.0.x",
                    )
                )
                continue
            local = [ns for ns in host.nameservers if is_loopback(ns)]
            if local:
                out.append(
                    Finding(
                        check=check,
                        severity=Severity.ERROR,
                        title=f"{_where(d)}: forward . /etc/resolv.conf loops to a local stub",
                        evidence=f"the host resolv.conf names {', '.join(local)} (systemd-resolved or "
                        "the DNS pod itself): queries come back to this server",
                        fix="point the kubelet and CoreDNS at the real upstream "
                        "(--resolv-conf=/run/systemd/resolve/resolv.conf) or forward to explicit "
                        "upstream addresses; keep the loop plugin on",
                    )
                )
            else:
                out.append(
                    Finding(
                        check,
                        Severity.OK,
                        f"{_where(d)}: forward upstreams are remote",
                        f"host nameservers: {', '.join(host.nameservers)}",
                    )
                )
    return out


def _listen(block: ServerBlock) -> tuple[int, tuple[str, ...]]:
    """The block's port and the IPs its ``bind`` names (empty: every address)."""
    try:
        ports = [a.port for a in block_addresses(block, 53) if a.port]
    except ClusterDNSError:
        ports = []
    ips: list[str] = []
    for d in block.directives:
        if d.name == "bind":
            words = list(d.args)
            if "except" in words:
                words = words[: words.index("except")]
            ips += [w for w in words if is_ip(w)]
    return (ports[0] if ports else 53), tuple(ips)


def _forward_targets(d: Directive) -> list[tuple[str, str, int]]:
    """(as written, IP, port) of each plain-DNS upstream of a ``forward`` line."""
    out = []
    for to in d.args[1:]:
        bare = to.removeprefix("dns://")
        if "://" in bare:
            continue  # tls:// goes to port 853 with TLS: never this server's plain port
        try:
            ip, port = split_ip_port(bare, 53)
        except ValueError:
            continue  # a resolv.conf path: check_forward_loop looks at those
        out.append((to, ip, port))
    return out


def check_forward_to_self(blocks: Sequence[ServerBlock]) -> list[Finding]:
    """``forward`` to an address and port this same Corefile listens on: every query loops.

    Seed 003's node-local-dns Corefile is the classic case: __PILLAR__CLUSTER__DNS__
    filled with the kube-dns service IP, which the cache also binds (iptables mode), so
    the cache forwards to itself instead of to CoreDNS.
    """
    check = "corefile-forward-self"
    listening = [(_listen(b), b) for b in blocks]
    out: list[Finding] = []
    targets = 0
    for block in blocks:
        for d in block.directives:
            if d.name != "forward":
                continue
            for to, ip, port in _forward_targets(d):
                targets += 1
                for (bport, ips), other in listening:
                    mine = ip in ips if ips else ipaddress.ip_address(ip).is_loopback
                    if port == bport and mine:
                        out.append(
                            Finding(
                                check=check,
                                severity=Severity.ERROR,
                                title=f"{_where(d)}: forward to {to} sends queries back to this server",
                                evidence=f"the block at {_where(other)} listens on {ip}:{port}"
                                + (" (bind)" if ips else " (every address)"),
                                fix="forward to the real upstream: for node-local-dns, the kube-dns-upstream "
                                "service's ClusterIP (leave __PILLAR__CLUSTER__DNS__ to node-cache), "
                                "and bind the kube-dns IP only in iptables mode",
                            )
                        )
                        break
    if targets and not out:
        out.append(
            Finding(
                check,
                Severity.OK,
                "forward upstreams are not this server",
                f"{targets} upstream address(es) checked against the bound addresses",
            )
        )
    return out


def check_cache_ttl(blocks: Sequence[ServerBlock]) -> list[Finding]:
    """A cache over the kubernetes zone whose floor exceeds the kubernetes ttl serves stale data."""
    from clusterdns.plugins.cache.options import parse as parse_cache
    from clusterdns.plugins.kubernetes.options import parse_options

    check = "corefile-cache-ttl"
    out: list[Finding] = []
    for block in blocks:
        zones = _zones(block)
        kube = next((d for d in block.directives if d.name == "kubernetes"), None)
        cache = next((d for d in block.directives if d.name == "cache"), None)
        if kube is None or cache is None:
            continue
        try:
            options = parse_options(kube, zones)
            config = parse_cache(cache, zones)
        except ClusterDNSError as exc:
            out.append(Finding(check, Severity.ERROR, f"{_where(block)}: {exc}"))
            continue
        held = min(max(options.ttl, config.success_min_ttl), config.success_ttl)
        evidence = (
            f"kubernetes ttl {options.ttl} s ({_where(kube)}); cache keeps answers "
            f"{held} s (floor {config.success_min_ttl}, cap {config.success_ttl}; {_where(cache)})"
        )
        if held > options.ttl:
            out.append(
                Finding(
                    check=check,
                    severity=Severity.WARN,
                    title=f"{_where(cache)}: cache holds cluster answers {held} s, over the kubernetes ttl "
                    f"{options.ttl} s: endpoint changes are served stale",
                    evidence=evidence,
                    fix=f"lower the cache floor for the cluster zone (success 9984 {config.success_ttl} "
                    f"{options.ttl}), or raise the kubernetes ttl to what you accept",
                )
            )
        else:
            out.append(
                Finding(check, Severity.OK, "cache does not outlive the kubernetes ttl", evidence)
            )
    return out


_WANTED = {
    "ready": (
        Severity.WARN,
        "without ready, the readiness probe passes before the "
        "kubernetes plugin has synced: new replicas answer NXDOMAIN",
    ),
    "loop": (Severity.WARN, "without loop, a forwarding loop burns CPU and memory until OOM"),
    "errors": (Severity.INFO, "without errors, failed upstream queries leave no log"),
    "health": (Severity.INFO, "without health, the liveness probe has nothing to ask"),
}


def check_plugins_present(blocks: Sequence[ServerBlock]) -> list[Finding]:
    """ready, loop, errors, health: in at least one block (ready/health listen once per process)."""
    present = {d.name for b in blocks for d in b.directives}
    forwards = "forward" in present
    out: list[Finding] = []
    for name, (severity, why) in _WANTED.items():
        check = f"corefile-{name}"
        if name in present:
            out.append(Finding(check, Severity.OK, f"{name} is configured"))
        elif name == "loop" and not forwards:
            out.append(Finding(check, Severity.OK, "loop not needed: nothing is forwarded"))
        else:
            out.append(
                Finding(
                    check=check,
                    severity=severity,
                    title=f"the Corefile has no {name}",
                    evidence=why,
                    fix=f"add '{name}' to the server block of the cluster zone",
                )
            )
    return out


def check_corefile(blocks: Sequence[ServerBlock], host: ResolvConf | None) -> list[Finding]:
    return [
        *check_forward_loop(blocks, host),
        *check_forward_to_self(blocks),
        *check_cache_ttl(blocks),
        *check_plugins_present(blocks),
    ]


def point_to_doctor_node(findings: Sequence[Finding]) -> list[Finding]:
    """The pod's symptoms of the conntrack race (stalls of a whole timeout, lost first
    tries, insert failures) send the reader to the node, where the cause lives."""
    racy = [f.check for f in findings if f.check in ("timeouts", "conntrack-insert")
            and f.severity >= Severity.WARN]  # fmt: skip
    if not racy:
        return []
    return [Finding("node", Severity.INFO,
                    "these stalls look like the conntrack race: check the pod's node",
                    f"from: {', '.join(racy)}",
                    "run `clusterdns doctor node` on that node (deploy/doctor-node/job.yaml as a Job): "
                    "kernel fixes, conntrack counters, kube-proxy rules, node cache")]  # fmt: skip
