"""Gather the evidence (probe.py) and run every check (checks.py): one Report."""

from __future__ import annotations

from dataclasses import dataclass, field

from clusterdns.corefile import load as load_corefile
from clusterdns.doctor import checks
from clusterdns.doctor.checks import BenchRun, Probe
from clusterdns.doctor.findings import Finding, Severity, worst
from clusterdns.doctor.probe import (
    Target,
    bench,
    cluster_replicas,
    detect_libc,
    nameserver_targets,
    parse_hostport,
    read_conntrack,
    read_text,
    resolve,
)
from clusterdns.resolver.resolvconf import Libc, effective, parse


@dataclass(frozen=True, slots=True)
class DoctorOptions:
    resolv_conf: str = "/etc/resolv.conf"
    server: str | None = None
    replicas: tuple[str, ...] = ()
    cluster: str | None = None
    names: tuple[str, ...] = ()  # extra test names (besides kubernetes.default.svc.<domain>)
    domain: str | None = None
    timeout: float = 2.0
    bench_seconds: float = 2.0
    proc_root: str = "/proc"
    root: str = "/"
    libc: str | None = None  # force glibc/musl instead of detecting
    corefile: str | None = None
    host_resolv_conf: str | None = None
    probe_remote: bool = False
    metrics: str | None = None  # a clusterdns /metrics URL: the search-walk waste


@dataclass(frozen=True, slots=True)
class Report:
    resolv_conf: str
    libc: str
    domain: str
    findings: tuple[Finding, ...]
    probes: tuple[Probe, ...] = ()
    bench: tuple[BenchRun, ...] = field(default=())

    @property
    def worst(self) -> Severity:
        return worst(self.findings)


def _libc(options: DoctorOptions) -> tuple[Libc, str]:
    if options.libc:
        return Libc(options.libc), "--libc"
    found, source = detect_libc(options.root)
    return (found, source) if found else (Libc.GLIBC, source + "; assuming glibc")


def _targets(options: DoctorOptions, nameservers: tuple[str, ...]) -> list[Target]:
    targets = nameserver_targets(nameservers, options.server)
    for text in options.replicas:
        host, port = parse_hostport(text)
        targets.append(Target(f"replica {text}", host, port))
    if options.cluster:
        targets.extend(cluster_replicas(options.cluster))
    unique: dict[tuple[str, str, int], Target] = {}
    for target in targets:
        unique.setdefault((target.label, target.host, target.port), target)
    return list(unique.values())


def diagnose(options: DoctorOptions) -> Report:
    """Run every check; sends packets only to loopback targets unless probe_remote."""
    conf = parse(read_text(options.resolv_conf))
    libc, libc_source = _libc(options)
    eff = effective(conf, libc)
    domain = options.domain or checks.cluster_domain(conf)
    findings = [
        checks.check_policy(conf, domain),
        checks.check_amplification(eff),
        checks.check_send_options(eff, libc_source),
    ]
    names = (f"kubernetes.default.svc.{domain}.", *options.names)
    probes = [
        resolve(target, name, options.timeout, options.probe_remote)
        for target in _targets(options, eff.nameservers)
        for name in names
    ]
    findings.extend(checks.check_probe(p) for p in probes)
    runs: list[BenchRun] = []
    bench_target = next((p for p in probes if p.probed), None)
    if bench_target is not None and options.bench_seconds > 0:
        host, port = parse_hostport(bench_target.server)
        target = Target(bench_target.target, host, port)
        runs = bench(target, names[0], options.bench_seconds, options.timeout)
    findings.append(checks.check_bench(runs, eff, options.timeout))
    conntrack = read_conntrack(options.proc_root)
    findings.append(checks.check_conntrack_race(conntrack))
    findings.append(checks.check_conntrack_table(conntrack))
    findings.extend(checks.point_to_doctor_node(findings))
    if options.corefile:
        node = parse(read_text(options.host_resolv_conf)) if options.host_resolv_conf else None
        findings.extend(checks.check_corefile(load_corefile(options.corefile), node))
    if options.metrics:
        from clusterdns.doctor.searchwaste import check_search_waste, fetch

        findings.extend(check_search_waste(fetch(options.metrics), options.metrics))
    return Report(
        resolv_conf=options.resolv_conf,
        libc=f"{libc.value} ({libc_source})",
        domain=domain,
        findings=tuple(findings),
        probes=tuple(probes),
        bench=tuple(runs),
    )
