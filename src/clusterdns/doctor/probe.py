"""The thin I/O half of the doctor: read files, ask servers, run the short bench.

Network rule: a target that is not on loopback is never sent a packet unless the
caller allows it (``--probe-remote``); it becomes a "not probed" Probe instead.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import dns.rcode

from clusterdns.bench.engine import run_plan
from clusterdns.bench.plan import LoadPlan, StubPlan
from clusterdns.dns.names import split_host_port
from clusterdns.doctor.checks import BenchRun, Conntrack, Probe, is_loopback, libc_from_paths
from clusterdns.errors import ClusterDNSError
from clusterdns.resolver.client import Client, Question, Transmission
from clusterdns.resolver.resolvconf import Libc
from clusterdns.resolver.transport import Mode


@dataclass(frozen=True, slots=True)
class Target:
    """A server to ask: a resolv.conf nameserver or a DNS replica."""

    label: str  # "nameserver 10.96.0.10" / "replica 10.244.1.10:53"
    host: str
    port: int

    @property
    def address(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def read_text(path: str | Path) -> str:
    try:
        return Path(path).read_text()
    except OSError as exc:
        raise ClusterDNSError(f"cannot read {path}: {exc.strerror or exc}") from exc


def _read_optional(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def _int_or_none(text: str | None) -> int | None:
    try:
        return int(text.strip()) if text is not None else None
    except ValueError:
        return None


def read_conntrack(proc_root: str) -> Conntrack:
    """/proc/net/stat/nf_conntrack and /proc/sys/net/netfilter/nf_conntrack_{count,max}."""
    from clusterdns.doctor.checks import parse_conntrack_stat

    root = Path(proc_root)
    stat = _read_optional(root / "net" / "stat" / "nf_conntrack")
    totals = parse_conntrack_stat(stat) if stat is not None else {}
    netfilter = root / "sys" / "net" / "netfilter"
    return Conntrack(
        insert_failed=totals.get("insert_failed") if stat is not None else None,
        drop=totals.get("drop"),
        count=_int_or_none(_read_optional(netfilter / "nf_conntrack_count")),
        maximum=_int_or_none(_read_optional(netfilter / "nf_conntrack_max")),
    )


_LIBC_GLOBS = (
    "lib/ld-musl-*.so.1",
    "usr/lib/ld-musl-*.so.1",
    "lib/libc.so.6",
    "lib64/libc.so.6",
    "usr/lib/libc.so.6",
    "usr/lib64/libc.so.6",
    "lib/*-linux-gnu*/libc.so.6",
    "usr/lib/*-linux-gnu*/libc.so.6",
)


def detect_libc(root: str) -> tuple[Libc | None, str]:
    """Which libc the image under ``root`` has, and the file that says so."""
    found = [p for pattern in _LIBC_GLOBS for p in sorted(glob.glob(os.path.join(root, pattern)))]
    libc = libc_from_paths(found)
    if libc is None:
        return None, f"no ld-musl-*.so.1 or libc.so.6 under {root}"
    wanted = "ld-musl-" if libc is Libc.MUSL else "libc.so.6"
    source = next(p for p in found if wanted in p)
    return libc, source


def not_probed(target: Target, name: str) -> Probe:
    return Probe(target.label, target.address, name, None, error="not on loopback", probed=False)


def resolve(target: Target, name: str, timeout: float, allow_remote: bool) -> Probe:
    """Ask ``target`` for the A record of ``name`` (one question: no A/AAAA race in the probe)."""
    if not (allow_remote or is_loopback(target.host)):
        return not_probed(target, name)
    client = Client((target.host, target.port))
    transmission = Transmission((Question(name, "A"),), target.label, timeout, Mode.PARALLEL)
    exchanges = [e for e in client(transmission) if e.qtype == "A"]
    last = exchanges[-1]
    rcode = None if last.rcode is None else dns.rcode.to_text(dns.rcode.Rcode(last.rcode))
    return Probe(
        target=target.label,
        server=target.address,
        name=name,
        rcode=rcode,
        answers=last.answers,
        error=last.error,
    )


BENCH_MODES = ("parallel", "reopen", "tcp")


def bench(
    target: Target, name: str, seconds: float, timeout: float, concurrency: int = 4
) -> list[BenchRun]:
    """glibc-like lookups of ``name`` for ``seconds`` split over the three send modes."""
    runs = []
    share = max(seconds / len(BENCH_MODES), 0.05)
    for mode in BENCH_MODES:
        plan = LoadPlan(
            server=(target.host, target.port),
            concurrency=concurrency,
            duration=share,
            # Bounded by count too: a diagnosis needs tens of lookups, not a load test.
            count=10 * concurrency,
            timeout=timeout,
            limit_ms=timeout * 1000 * 0.9,
            tcp=mode == "tcp",
            stub=StubPlan(names=(name,), attempts=2, reopen=mode == "reopen"),
        )
        stats = run_plan(plan)
        runs.append(
            BenchRun(
                mode=mode,
                lookups=stats.completed + stats.timeouts,
                timeouts=stats.timeouts,
                try_timeouts=stats.try_timeouts,
                stalled=stats.over_limit,
                max_ms=stats.latency.maximum / 1e6 if stats.latency.total else 0.0,
            )
        )
    return runs


def parse_hostport(text: str, default_port: int = 53) -> tuple[str, int]:
    """``HOST:PORT``, ``[V6]:PORT`` or ``HOST``; a bad value names itself."""
    try:
        return split_host_port(text, default_port)
    except ValueError:
        raise ClusterDNSError(f"{text!r}: expected HOST:PORT") from None


def cluster_replicas(manifest: str, port: int = 53) -> list[Target]:
    """The ready endpoints of kube-system/kube-dns in a cluster manifest."""
    from clusterdns.cluster.manifests import load_manifests

    state, problems = load_manifests(manifest)
    if problems and not state.services:
        raise ClusterDNSError(f"{manifest}: {problems[0]}")
    targets: list[Target] = []
    for subset in state.endpoints_of("kube-system", "kube-dns"):
        dns_port = next((p.port for p in subset.ports if p.name == "dns" and p.port), port)
        for endpoint in subset.endpoints:
            if endpoint.ready:
                targets.extend(
                    Target(f"replica {address}", address, dns_port)
                    for address in endpoint.addresses
                )
    return targets


def nameserver_targets(nameservers: Sequence[str], server: str | None) -> list[Target]:
    """One target per nameserver line; with --server every line is answered by that server."""
    if server:
        host, port = parse_hostport(server)
        return [Target(f"nameserver {ns}", host, port) for ns in nameservers] or [
            Target("server", host, port)
        ]
    return [Target(f"nameserver {ns}", ns, 53) for ns in nameservers]
