"""How the kubernetes plugin scales with cluster size: load time, resident memory, QPS.

For each size (default 1 000, 10 000 and 50 000 services, 10 endpoints each,
a Pod per endpoint) this writes a ``clusterdns synth`` cluster as JSON, starts
``clusterdns serve -conf`` on it pinned to core 0, and measures

* load time: from process start until the last service of the file answers
  (polled with dnspython on 127.0.0.1, every 0.25 s, bounded by --load-timeout);
* memory: VmRSS (and the peak, VmHWM) from /proc/PID/status once loaded;
* QPS: dnsperf pinned to core 1 on 1 000 random service names of that cluster.

Loopback only; the only processes stopped are the ones started here, by PID.
``--profile N`` adds cProfile tables of reading the N-service file into object
changes and applying them to the store and zone, in-process.  Writes benchmarks/kubernetes_scale.md
(regenerated on every run).

    .venv/bin/python benchmarks/kubernetes_scale.py [--sizes 1000,10000,50000] [--profile 10000]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import platform
import pstats
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import dns.exception
import dns.message
import dns.query
import dns.rcode

from clusterdns.cluster.synthetic import EXTERNAL_NAME_EVERY, HEADLESS_EVERY

ROOT = Path(__file__).resolve().parent.parent
CLUSTERDNS = str(ROOT / ".venv" / "bin" / "clusterdns")
QUERY_NAMES = 1000


@dataclass(frozen=True, slots=True)
class Result:
    services: int
    pods: int
    file_mb: float
    synth_s: float
    load_s: float | None  # None: did not answer within the timeout
    rss_mb: float
    hwm_mb: float
    qps: str
    latency: str
    lost: str
    rcodes: str
    load_before: str
    load_after: str


def main() -> int:
    args = parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="kscale-") as tmp:
        for size in args.sizes:
            result = measure(Path(tmp), size, args)
            results.append(result)
            print(result, flush=True)
        profile = profile_in_process(Path(tmp), args.profile, args) if args.profile else ""
    write_report(args, results, profile)
    print(Path(args.out).read_text())
    return 0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000,50000", type=_sizes)
    parser.add_argument("--namespaces", type=int, default=10)
    parser.add_argument("--endpoints", type=int, default=10, help="endpoints per service")
    parser.add_argument("--duration", type=int, default=10, help="dnsperf seconds per size")
    parser.add_argument("--load-timeout", type=float, default=300.0, help="seconds per size")
    parser.add_argument("--profile", type=int, default=0, metavar="N", help="cProfile N services")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "kubernetes_scale.md"))
    return parser.parse_args()


def _sizes(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part]


# -- the synthetic cluster (shapes as clusterdns.cluster.synthetic makes them) ---------------


def is_external(index: int) -> bool:
    return index % EXTERNAL_NAME_EVERY == EXTERNAL_NAME_EVERY - 1


def is_headless(index: int) -> bool:
    return not is_external(index) and index % HEADLESS_EVERY == HEADLESS_EVERY - 1


def service_name(index: int, namespaces: int) -> str:
    return f"svc-{index}.ns-{index % namespaces}.svc.cluster.local."


def synth(tmp: Path, size: int, args: argparse.Namespace) -> tuple[Path, float]:
    path = tmp / f"cluster-{size}.json"
    if not path.exists():
        start = time.perf_counter()
        subprocess.run(
            [CLUSTERDNS, "synth", "--namespaces", str(args.namespaces), "--services", str(size)]
            + ["--endpoints", str(args.endpoints), "--pods", "--output", str(path), "--json"],
            check=True,
            stdout=subprocess.DEVNULL,
            timeout=900,
        )
        return path, time.perf_counter() - start
    return path, 0.0


def write_queries(tmp: Path, size: int, namespaces: int) -> Path:
    """1 000 random ClusterIP or headless service names (A); ExternalName ones are left out."""
    rng = random.Random(size)
    candidates = [i for i in range(size) if not is_external(i)]
    path = tmp / f"queries-{size}"
    picks = rng.choices(candidates, k=QUERY_NAMES)
    path.write_text("".join(f"{service_name(i, namespaces)} A\n" for i in picks))
    return path


# -- the server ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def corefile(tmp: Path, manifest: Path, port: int) -> Path:
    path = tmp / "Corefile"
    path.write_text(
        f"cluster.local:{port} {{\n    bind 127.0.0.1\n    errors\n"
        f"    kubernetes cluster.local {{\n        manifests {manifest}\n    }}\n}}\n"
    )
    return path


def answers(port: int, name: str) -> bool:
    query = dns.message.make_query(name, "A")
    try:
        reply = dns.query.udp(query, "127.0.0.1", port=port, timeout=0.5)
    except (dns.exception.Timeout, OSError):
        return False
    return reply.rcode() == dns.rcode.NOERROR and bool(reply.answer)


def wait_loaded(proc: subprocess.Popen[bytes], port: int, name: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if answers(port, name):
            return True
        time.sleep(0.25)
    return False


def memory_mb(pid: int) -> tuple[float, float]:
    """VmRSS and VmHWM of a process, in MB (0 when it is gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0, 0.0
    values = dict(re.findall(r"^(VmRSS|VmHWM):\s+(\d+) kB", status, re.MULTILINE))
    return int(values.get("VmRSS", 0)) / 1024, int(values.get("VmHWM", 0)) / 1024


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)


def load_average() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def dnsperf(port: int, queries: Path, duration: int) -> dict[str, str]:
    cmd = ["taskset", "-c", "1", "dnsperf", "-s", "127.0.0.1", "-p", str(port)]
    cmd += ["-d", str(queries), "-l", str(duration), "-c", "8", "-q", "500", "-T", "1"]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60).stdout
    except subprocess.TimeoutExpired:
        return {}
    found = {
        "qps": re.search(r"Queries per second:\s+([\d.]+)", out),
        "latency": re.search(r"Average Latency \(s\):\s+([\d.]+)", out),
        "lost": re.search(r"Queries lost:\s+(\d+ \([\d.]+%\))", out),
        "rcodes": re.search(r"Response codes:\s+(.*)", out),
    }
    return {key: m.group(1) for key, m in found.items() if m}


def measure(tmp: Path, size: int, args: argparse.Namespace) -> Result:
    manifest, synth_s = synth(tmp, size, args)
    queries = write_queries(tmp, size, args.namespaces)
    last = max(i for i in range(size) if not is_external(i))
    port = free_port()
    conf = corefile(tmp, manifest, port)
    log = (tmp / f"serve-{size}.log").open("wb")
    load_before = load_average()
    start = time.perf_counter()
    proc = subprocess.Popen(
        ["taskset", "-c", "0", CLUSTERDNS, "serve", "-conf", str(conf), "-quiet"],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        loaded = wait_loaded(proc, port, service_name(last, args.namespaces), args.load_timeout)
        load_s = time.perf_counter() - start if loaded else None
        rss, hwm = memory_mb(proc.pid)
        perf = dnsperf(port, queries, args.duration) if loaded else {}
    finally:
        stop(proc)
        log.close()
    pods = sum(args.endpoints for i in range(size) if not is_external(i))
    return Result(
        services=size,
        pods=pods,
        file_mb=manifest.stat().st_size / 1e6,
        synth_s=synth_s,
        load_s=load_s,
        rss_mb=rss,
        hwm_mb=hwm,
        qps=perf.get("qps", "-"),
        latency=perf.get("latency", "-"),
        lost=perf.get("lost", "-"),
        rcodes=perf.get("rcodes", "-"),
        load_before=load_before,
        load_after=load_average(),
    )


# -- where the load time goes -------------------------------------------------------------


def profile_in_process(tmp: Path, size: int, args: argparse.Namespace) -> str:
    from clusterdns.cluster.manifests import ManifestWatcher
    from clusterdns.cluster.store import ClusterStore, Touched
    from clusterdns.plugins.kubernetes.options import KubernetesOptions
    from clusterdns.plugins.kubernetes.zone import ClusterZone

    manifest, _ = synth(tmp, size, args)
    opts = KubernetesOptions(zones=("cluster.local.", "in-addr.arpa.", "ip6.arpa."))
    sections = []
    profiler = cProfile.Profile()
    start = time.perf_counter()
    changes = profiler.runcall(ManifestWatcher(manifest).poll) or []
    sections.append(_top(f"ManifestWatcher.poll ({time.perf_counter() - start:.1f} s)", profiler))
    store = ClusterStore()
    zone = ClusterZone(store, opts, ("127.0.0.1",))

    def apply_all() -> None:
        touched = Touched()
        for key, obj in changes:
            store.apply(key, obj, touched)
        zone.apply(touched)

    profiler = cProfile.Profile()
    start = time.perf_counter()
    profiler.runcall(apply_all)
    sections.append(_top(f"store + zone apply ({time.perf_counter() - start:.1f} s)", profiler))
    return "\n".join(sections)


def _top(title: str, profiler: cProfile.Profile, rows: int = 14) -> str:
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(rows)
    text = out.getvalue()
    table = text[text.find("   ncalls") :].rstrip()
    root = str(ROOT / "src") + "/"
    return f"### {title}, by own time\n\n```\n{table.replace(root, '')}\n```\n"


# -- the report ---------------------------------------------------------------------------


def coredns_mb(pods: int, services: int) -> float:
    # CoreDNS's sizing rule for the kubernetes plugin, default settings (its deployment docs)
    return (pods + services) / 1000 + 54


def write_report(args: argparse.Namespace, results: list[Result], profile: str) -> None:
    cpu = _cpu_model()
    lines = [
        "# kubernetes plugin at scale",
        "",
        f"Run {time.strftime('%Y-%m-%dT%H:%MZ', time.gmtime())} by `benchmarks/kubernetes_scale.py`.",
        f"Clusters from `clusterdns synth --namespaces {args.namespaces} --services N "
        f"--endpoints {args.endpoints} --pods` (JSON): every 10th service headless, every 25th",
        "ExternalName, the rest ClusterIP; every non-ExternalName service has one EndpointSlice",
        f"of {args.endpoints} ready endpoints, each backed by a Running Pod. Corefile: `bind`,",
        "`errors`, `kubernetes cluster.local { manifests FILE }` (pods disabled, the default).",
        "Server pinned to core 0 (`taskset -c 0`), dnsperf to core 1 (-c 8 -q 500, "
        f"{args.duration} s) on {QUERY_NAMES} random ClusterIP/headless service names (A; a",
        f"headless answer holds {args.endpoints} A records). Load time: process start until the",
        "last service answers. Memory: /proc/PID/status after the load (VmHWM = peak).",
        "",
        "| services | pods (endpoints) | JSON MB | load time (s) | VmRSS MB | VmHWM MB "
        "| CoreDNS rule MB | QPS | avg latency (s) | lost | rcodes | load avg before / after |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        load = f"{r.load_s:.1f}" if r.load_s is not None else f"> {args.load_timeout:.0f} (gave up)"
        lines.append(
            f"| {r.services} | {r.pods} | {r.file_mb:.0f} | {load} | {r.rss_mb:.0f} | "
            f"{r.hwm_mb:.0f} | {coredns_mb(r.pods, r.services):.0f} | {r.qps} | {r.latency} | "
            f"{r.lost} | {r.rcodes} | {r.load_before} / {r.load_after} |"
        )
    lines += [
        "",
        "CoreDNS rule: MB ≈ (pods + services) / 1000 + 54, CoreDNS's memory sizing for the",
        "kubernetes plugin with default settings (coredns/deployment, kubernetes/Scaling_CoreDNS.md).",
        "The machine is shared with other test runs: the load averages show how busy it was.",
        "",
        f"Machine: {cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}.",
        "",
    ]
    if profile:
        lines += [f"## Profile (in-process, cProfile, {args.profile} services)", "", profile]
    Path(args.out).write_text("\n".join(lines))


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


if __name__ == "__main__":
    sys.exit(main())
