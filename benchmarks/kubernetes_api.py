"""The kubernetes plugin on a live (test) API server: start-up, memory, change -> answer, QPS.

For each size (default 1 000, 10 000 and 50 000 services, 10 endpoints each) this
starts the test API server (``python -m tests.support.apiserver``, a synthetic
cluster from ``clusterdns.cluster.synthetic``) pinned to core 1, then
``clusterdns serve`` on a kubeadm-like Corefile with ``kubeconfig`` pinned to
core 0, and measures:

* ready: process start until ``/ready`` answers 200 (every kind listed once);
* memory: VmRSS after sync and VmHWM (the peak), next to CoreDNS's sizing rule
  MB = (pods + services) / 1000 + 54 (coredns/deployment, Scaling_CoreDNS.md);
* change -> answer: 200 times, a Service's clusterIP is changed with an HTTP PUT
  and the new address is polled for over UDP (dnspython, tight loop), while
  dnsperf sends 10 000 QPS of background queries (core 1);
* QPS: dnsperf (core 1) on 1 000 service names, quiet, and again while 50
  Service changes a second stream in (ratio);
* at the largest size, a query file naming every service once: dnsperf's first
  pass (every name compiled on first ask) against the second (memoized), and
  its QPS against the 1 000-service figure;
* stalls: the slowest query dnsperf saw (its ``max`` latency) at ``--stall-qps``
  (20 000) over a bounded window, quiet, during a forced relist (the API
  server restarts and answers the resumed watches 410 Gone: SIGUSR1 to
  ``tests.support.apiserver``), and during a reload (SIGUSR1 to clusterdns,
  whose kubernetes block, unchanged, takes the running state and lists into it again).

The first list is the watch-cache list a real API server serves for
``resourceVersion=0``: every object in one response (the test server, like the
real one's watch cache, ignores ``limit`` for it).

The Corefile has no ``cache`` (which would hide changes for up to its TTL) so the
plugin's own propagation is measured.  Loopback only; only processes started
here are stopped, by PID.  Writes benchmarks/kubernetes_api.md.

    .venv/bin/python benchmarks/kubernetes_api.py [--sizes 1000,10000,50000]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dns.message
import dns.query

ROOT = Path(__file__).resolve().parent.parent
PYTHON = str(ROOT / ".venv" / "bin" / "python")
CLUSTERDNS = str(ROOT / ".venv" / "bin" / "clusterdns")
TOKEN = "bench-token"
NAMESPACES = 10
ENDPOINTS = 10
HEADLESS_EVERY, EXTERNAL_EVERY = 10, 25


@dataclass
class Result:
    services: int
    ready_s: float = 0.0
    rss_mb: float = 0.0
    hwm_mb: float = 0.0
    change_ms: list[float] = field(default_factory=list)
    qps_quiet: float = 0.0
    qps_churn: float = 0.0
    churn_done: int = 0
    first_pass_s: float = 0.0
    second_pass_s: float = 0.0
    qps_all_names: float = 0.0
    #: the slowest query (ms) at --stall-qps: quiet, during a forced relist, during a reload
    stall_quiet_ms: float = 0.0
    stall_relist_ms: float = 0.0
    stall_reload_ms: float = 0.0
    rss_after_mb: float = 0.0


def main() -> int:
    args = parse_args()
    results = []
    holds: dict[int, dict[str, tuple[float, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="k8sapi-bench-") as tmp:
        for size in args.sizes:
            print(f"== {size} services", flush=True)
            if not args.holds_only:
                results.append(measure(Path(tmp), size, size == max(args.sizes), args))
            if size >= 10_000:
                holds[size] = loop_holds(Path(tmp), size)
                print(holds[size], flush=True)
    if results:
        write_report(args, results)
    write_holds(args, holds)
    return 0


def write_holds(args: argparse.Namespace, holds: dict[int, dict[str, tuple[float, float]]]) -> None:
    lines = [
        "",
        "## The longest the query loop was held",
        "",
        "In process, on core 0 (the API server on core 1): a task that wakes every 0.5 ms",
        "reads its thread's CPU clock; the CPU time between two of its turns is work that",
        "held the loop (CPU time, so a busy machine's scheduling does not count; wall in",
        f"brackets). Run {time.strftime('%Y-%m-%dT%H:%MZ', time.gmtime())}, load average "
        f"{os.getloadavg()[0]:.1f} at the end.",
        "",
        "| services | event | longest hold, CPU ms (wall ms) |",
        "|---|---|---|",
    ]
    for size, events in holds.items():
        for event, (cpu, wall) in events.items():
            lines.append(f"| {size} | {event} | {cpu:.1f} ({wall:.1f}) |")
    out = Path(args.out)
    report = out.read_text() if out.exists() else ""
    head, _, _ = report.partition("\n## The longest the query loop was held")
    out.write_text(head.rstrip("\n") + "\n" + "\n".join(lines) + "\n")
    print("\n".join(lines))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000,10000,50000")
    parser.add_argument("--changes", type=int, default=200)
    parser.add_argument("--seconds", type=int, default=10, help="each dnsperf run")
    parser.add_argument("--stall-qps", type=int, default=20_000, help="load during relist/reload")
    parser.add_argument(
        "--holds-only", action="store_true", help="only the in-process loop-hold measurement"
    )
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "kubernetes_api.md"))
    args = parser.parse_args()
    args.sizes = [int(s) for s in args.sizes.split(",")]
    return args


def cluster_ip_services(size: int) -> list[int]:
    return [
        i
        for i in range(size)
        if i % HEADLESS_EVERY != HEADLESS_EVERY - 1 and i % EXTERNAL_EVERY != EXTERNAL_EVERY - 1
    ]


def name_of(i: int) -> str:
    return f"svc-{i}.ns-{i % NAMESPACES}.svc.cluster.local."


def free_port() -> int:
    """A port free for both TCP and UDP on 127.0.0.1."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind(("127.0.0.1", 0))
            port = int(tcp.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port


def start_api(size: int) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        # nice 19: dnsperf shares core 1, and an API server serializing a 50 000-service
        # list must not delay dnsperf's reading of answers (its latencies would grow)
        ["nice", "-n", "19", "taskset", "-c", "1", PYTHON, "-m", "tests.support.apiserver"]
        + ["--synthetic-services", str(size), "--endpoints-per-service", str(ENDPOINTS)]
        + ["--namespaces", str(NAMESPACES), "--token", TOKEN, "--bookmark-interval", "30"],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,  # the test API server is tests.support.apiserver, a package of the checkout
    )
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    if not url.startswith("http"):
        stop(proc)
        raise RuntimeError(f"the API server did not start: {url!r}")
    return proc, url


def start_dns(tmp: Path, url: str) -> tuple[subprocess.Popen[bytes], int, int, float]:
    kubeconfig = tmp / "kubeconfig"
    kubeconfig.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": url}}],
                "users": [{"name": "u", "user": {"token": TOKEN}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
    )
    port, ready = free_port(), free_port()
    corefile = tmp / "Corefile"
    corefile.write_text(
        f""".:{port} {{
    bind 127.0.0.1
    errors
    ready 127.0.0.1:{ready}
    kubernetes cluster.local in-addr.arpa ip6.arpa {{
        kubeconfig {kubeconfig}
        startup_timeout 300s
    }}
}}
"""
    )
    began = time.monotonic()
    proc = subprocess.Popen(["taskset", "-c", "0", CLUSTERDNS, "serve", "-conf", str(corefile)])
    return proc, port, ready, began


def wait_ready(ready_port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", ready_port, timeout=1)
            conn.request("GET", "/ready")
            if conn.getresponse().status == 200:
                return True
        except OSError:
            pass
        time.sleep(0.02)
    return False


def memory_mb(pid: int) -> tuple[float, float]:
    status = Path(f"/proc/{pid}/status").read_text()
    rss = int(re.search(r"VmRSS:\s+(\d+)", status)[1])  # type: ignore[index]
    hwm = int(re.search(r"VmHWM:\s+(\d+)", status)[1])  # type: ignore[index]
    return rss / 1024, hwm / 1024


def stop(proc: subprocess.Popen) -> None:  # type: ignore[type-arg]
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class ApiClient:
    """PUTs Services on the test API server (one connection, reused)."""

    def __init__(self, url: str) -> None:
        host, port = url.split("://", 1)[1].rsplit(":", 1)
        self.conn = http.client.HTTPConnection(host, int(port), timeout=10)

    def set_cluster_ip(self, i: int, ip: str) -> None:
        namespace, name = f"ns-{i % NAMESPACES}", f"svc-{i}"
        body = json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": name, "namespace": namespace},
                "spec": {
                    "clusterIP": ip,
                    "ports": [
                        {"name": "http", "port": 80, "protocol": "TCP"},
                        {"name": "grpc", "port": 9000, "protocol": "TCP"},
                    ],
                },
            }
        )
        path = f"/api/v1/namespaces/{namespace}/services/{name}"
        headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
        self.conn.request("PUT", path, body, headers)
        response = self.conn.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"PUT {path}: {response.status}")


def change_latencies(url: str, port: int, size: int, count: int) -> list[float]:
    client = ApiClient(url)
    picks = random.Random(7).sample(cluster_ip_services(size), min(count, size // 2))
    latencies = []
    for n, i in enumerate(picks):
        new_ip = f"10.100.{n // 250}.{n % 250 + 1}"
        query = dns.message.make_query(name_of(i), "A")
        client.set_cluster_ip(i, new_ip)
        began = time.perf_counter()
        while time.perf_counter() - began < 5:
            reply = dns.query.udp(query, "127.0.0.1", port=port, timeout=1)
            if any(rr.to_text() == new_ip for rrset in reply.answer for rr in rrset):
                latencies.append((time.perf_counter() - began) * 1000)
                break
    return latencies


def write_queries(tmp: Path, names: list[str]) -> Path:
    path = tmp / f"queries-{len(names)}.txt"
    path.write_text("".join(f"{name} A\n" for name in names))
    return path


def dnsperf(port: int, queries: Path, *extra: str) -> dict[str, float]:
    out = subprocess.run(
        ["taskset", "-c", "1", "dnsperf", "-s", "127.0.0.1", "-p", str(port), "-d", str(queries)]
        + ["-c", "8", "-q", "500", *extra],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    qps = float(re.search(r"Queries per second:\s+([\d.]+)", out)[1])  # type: ignore[index]
    run = float(re.search(r"Run time \(s\):\s+([\d.]+)", out)[1])  # type: ignore[index]
    worst = re.search(r"Average Latency \(s\):.*max ([\d.]+)", out)
    return {"qps": qps, "run_s": run, "max_ms": float(worst[1]) * 1000 if worst else 0.0}


def slowest_query_during(
    port: int, queries: Path, qps: int, seconds: float, event: Callable[[], None] | None
) -> float:
    """The slowest answer (ms) in ``seconds`` of ``qps`` load; ``event`` fires 1 s in."""
    load = subprocess.Popen(
        ["taskset", "-c", "1", "dnsperf", "-s", "127.0.0.1", "-p", str(port), "-d", str(queries)]
        + ["-c", "4", "-q", "500", "-Q", str(qps), "-l", str(int(seconds))],
        stdout=subprocess.PIPE,
        text=True,
    )
    time.sleep(1)
    if event is not None:
        event()
    out, _ = load.communicate(timeout=seconds + 60)
    worst = re.search(r"Average Latency \(s\):.*max ([\d.]+)", out)
    return float(worst[1]) * 1000 if worst else float("nan")


def churn(url: str, size: int, per_second: int, stop_at: float, done: list[int]) -> None:
    client = ApiClient(url)
    picks = cluster_ip_services(size)[-1000:]
    n = 0
    while time.monotonic() < stop_at:
        began = time.monotonic()
        for _ in range(per_second // 10):
            i = picks[n % len(picks)]
            client.set_cluster_ip(i, f"10.101.{(n // 250) % 250}.{n % 250 + 1}")
            n += 1
        time.sleep(max(0.0, 0.1 - (time.monotonic() - began)))
    done.append(n)


def measure(tmp: Path, size: int, largest: bool, args: argparse.Namespace) -> Result:
    result = Result(size)
    api, url = start_api(size)
    try:
        proc, port, ready_port, began = start_dns(tmp, url)
        try:
            if not wait_ready(ready_port, 600):
                raise RuntimeError("clusterdns did not become ready")
            result.ready_s = time.monotonic() - began
            time.sleep(1)
            result.rss_mb, result.hwm_mb = memory_mb(proc.pid)
            print(f"ready {result.ready_s:.1f}s rss {result.rss_mb:.0f} MB", flush=True)
            ips = cluster_ip_services(size)
            sample = random.Random(1).sample(ips, min(1000, len(ips)))
            queries = write_queries(tmp, [name_of(i) for i in sample])
            dnsperf(port, queries, "-l", "3")  # warm: every name compiled once
            result.qps_quiet = dnsperf(port, queries, "-l", str(args.seconds))["qps"]
            background = subprocess.Popen(
                ["taskset", "-c", "1", "dnsperf", "-s", "127.0.0.1", "-p", str(port)]
                + ["-d", str(queries), "-l", "600", "-Q", "10000", "-c", "4"],
                stdout=subprocess.DEVNULL,
            )
            try:
                result.change_ms = change_latencies(url, port, size, args.changes)
            finally:
                stop(background)
            done: list[int] = []
            stop_at = time.monotonic() + args.seconds + 1
            churner = threading.Thread(target=churn, args=(url, size, 50, stop_at, done))
            churner.start()
            result.qps_churn = dnsperf(port, queries, "-l", str(args.seconds))["qps"]
            churner.join()
            result.churn_done = done[0] if done else 0
            if largest:
                every = write_queries(tmp, [name_of(i) for i in range(size)])
                first = dnsperf(port, every, "-n", "1")
                second = dnsperf(port, every, "-n", "1")
                result.first_pass_s, result.second_pass_s = first["run_s"], second["run_s"]
                result.qps_all_names = dnsperf(port, every, "-l", str(args.seconds))["qps"]
            window = max(15.0, 2 * result.ready_s + 5)
            result.stall_quiet_ms = slowest_query_during(
                port, queries, args.stall_qps, window, None
            )
            result.stall_relist_ms = slowest_query_during(
                port, queries, args.stall_qps, window, lambda: os.kill(api.pid, signal.SIGUSR1)
            )
            result.stall_reload_ms = slowest_query_during(
                port, queries, args.stall_qps, window, lambda: os.kill(proc.pid, signal.SIGUSR1)
            )
            result.rss_after_mb = memory_mb(proc.pid)[0]
            print(
                f"slowest query: quiet {result.stall_quiet_ms:.1f} ms, relist "
                f"{result.stall_relist_ms:.1f} ms, reload {result.stall_reload_ms:.1f} ms",
                flush=True,
            )
        finally:
            stop(proc)
    finally:
        stop(api)
    return result


class HoldMeter:
    """How long the event loop goes without a turn, in CPU time of its thread.

    A task wakes every 0.5 ms and reads the thread's CPU clock: the CPU time
    spent between two of its turns is work that held the loop.  CPU time, not
    wall time, so a busy machine that deschedules the process does not count.
    """

    def __init__(self) -> None:
        self.worst_cpu = 0.0
        self.worst_wall = 0.0
        self._stop = False

    async def run(self) -> None:
        import asyncio

        cpu, wall = time.thread_time(), time.perf_counter()
        while not self._stop:
            await asyncio.sleep(0.0005)
            now_cpu, now_wall = time.thread_time(), time.perf_counter()
            self.worst_cpu = max(self.worst_cpu, now_cpu - cpu)
            self.worst_wall = max(self.worst_wall, now_wall - wall - 0.0005)
            cpu, wall = now_cpu, now_wall

    def take(self) -> tuple[float, float]:
        """The worst (CPU ms, wall ms) since the last take."""
        worst = (self.worst_cpu * 1000, self.worst_wall * 1000)
        self.worst_cpu = self.worst_wall = 0.0
        return worst


def loop_holds(tmp: Path, size: int) -> dict[str, tuple[float, float]]:
    """In process (core 0), the longest the loop was held: first sync, forced relist, reload,
    and a one-service change in a manifest file of the same cluster."""
    import asyncio

    import uvloop

    from clusterdns.cluster import synthetic
    from clusterdns.server.server import Server

    os.sched_setaffinity(0, {0})
    holds: dict[str, tuple[float, float]] = {}
    api, url = start_api(size)
    try:
        kubeconfig = tmp / "kubeconfig-holds"
        kubeconfig.write_text(
            json.dumps(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [{"name": "c", "cluster": {"server": url}}],
                    "users": [{"name": "u", "user": {"token": TOKEN}}],
                    "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                    "current-context": "x",
                }
            )
        )
        text = (
            ".:0 {\n bind 127.0.0.1\n kubernetes cluster.local {\n"
            f"  kubeconfig {kubeconfig}\n  startup_timeout 600s\n }}\n}}\n"
        )

        async def api_run() -> None:
            server = Server(text, "Corefile", default_port=0)
            meter = HoldMeter()
            ticker = asyncio.ensure_future(meter.run())
            await asyncio.sleep(0.01)
            began = time.monotonic()
            await server.start()
            took = time.monotonic() - began
            holds["first sync (resourceVersion=0, one response)"] = meter.take()
            os.kill(api.pid, signal.SIGUSR1)
            await asyncio.sleep(2 * took + 5)  # the relist runs as long as the first sync
            holds["forced relist (410 on the resumed watches)"] = meter.take()
            await server.reload(text)
            holds["reload (the unchanged block lists into the running state)"] = meter.take()
            await server.stop()
            meter._stop = True
            await ticker

        uvloop.install()
        asyncio.run(api_run())
    finally:
        stop(api)
    manifest = tmp / "cluster.json"
    objects = synthetic.generate(NAMESPACES, size, ENDPOINTS, False)
    synthetic.write(objects, manifest)
    text = (
        ".:0 {\n bind 127.0.0.1\n kubernetes cluster.local {\n"
        f"  manifests {manifest} 500ms\n  startup_timeout 600s\n }}\n}}\n"
    )

    async def manifest_run() -> None:
        meter = HoldMeter()
        ticker = asyncio.ensure_future(meter.run())
        server = Server(text, "Corefile", default_port=0)
        await server.start()
        service = next(o for o in objects if o["kind"] == "Service" and o["spec"].get("clusterIP"))
        service["spec"]["clusterIP"] = service["spec"]["clusterIPs"][0] = "10.111.0.1"
        changed = tmp / "cluster-next.json"
        synthetic.write(objects, changed)  # before the meter's window: encoding holds the GIL
        plugin: Any = next(p for p in server.blocks[0].plugins if p.name == "kubernetes")
        key = (service["metadata"]["namespace"], service["metadata"]["name"])
        await asyncio.sleep(0.01)  # the meter's turn after the write above
        meter.take()
        began = time.monotonic()
        # off the loop: unlinking the old file frees its pages in the kernel, ~1 ms per 10 MB
        # of this thread's time, which the meter would count as a hold of the server's
        await asyncio.to_thread(os.replace, changed, manifest)
        while plugin.store.services[key].cluster_ips != ("10.111.0.1",):
            await asyncio.sleep(0.05)
        holds[f"manifest change (answered {time.monotonic() - began:.1f} s after the write)"] = (
            meter.take()
        )
        await server.stop()
        meter._stop = True
        await ticker

    asyncio.run(manifest_run())
    os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))
    return holds


def coredns_rule_mb(services: int) -> float:
    pods = services * ENDPOINTS
    return (pods + services) / 1000 + 54


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def write_report(args: argparse.Namespace, results: list[Result]) -> None:
    lines = [
        "# kubernetes plugin on a live API server",
        "",
        f"Run {time.strftime('%Y-%m-%dT%H:%MZ', time.gmtime())} by `benchmarks/kubernetes_api.py`"
        f" on {_cpu()} ({os.cpu_count()} cores), Python {platform.python_version()}.",
        "clusterdns pinned to core 0; the test API server, dnsperf and the change driver",
        f"to core 1. {ENDPOINTS} endpoints per service (every 10th service headless, every",
        "25th ExternalName). No `cache` in the Corefile: the plugin's own propagation.",
        "",
        "| services | ready (s) | VmRSS MB | VmHWM MB | CoreDNS rule MB | change->answer median ms"
        " | p99 ms | changes seen | QPS quiet | QPS under 50 changes/s | ratio |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        median = statistics.median(r.change_ms) if r.change_ms else float("nan")
        p99 = percentile(r.change_ms, 99) if r.change_ms else float("nan")
        ratio = r.qps_churn / r.qps_quiet if r.qps_quiet else float("nan")
        lines.append(
            f"| {r.services} | {r.ready_s:.1f} | {r.rss_mb:.0f} | {r.hwm_mb:.0f} | "
            f"{coredns_rule_mb(r.services):.0f} | {median:.2f} | {p99:.2f} | "
            f"{len(r.change_ms)}/{min(args.changes, r.services // 2)} | {r.qps_quiet:.0f} | "
            f"{r.qps_churn:.0f} | {ratio:.2f} |"
        )
    big = results[-1]
    small = results[0]
    if big.first_pass_s:
        lines += [
            "",
            f"At {big.services} services, one query per service name (dnsperf -n 1):",
            f"first pass {big.first_pass_s:.2f} s, second pass {big.second_pass_s:.2f} s "
            f"(ratio {big.first_pass_s / big.second_pass_s:.2f}); QPS over all names "
            f"{big.qps_all_names:.0f} against {small.qps_quiet:.0f} at {small.services} services "
            f"(ratio {big.qps_all_names / small.qps_quiet:.2f}).",
        ]
    lines += [
        "",
        f"Slowest query under {args.stall_qps} QPS of dnsperf (its max latency over the window;"
        " the window is twice the start-up time plus 5 s, at least 15 s):",
        "",
        "| services | quiet ms | forced relist ms | reload ms | VmRSS after MB |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r.services} | {r.stall_quiet_ms:.1f} | {r.stall_relist_ms:.1f} | "
            f"{r.stall_reload_ms:.1f} | {r.rss_after_mb:.0f} |"
        )
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def _cpu() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.machine()


if __name__ == "__main__":
    sys.exit(main())
