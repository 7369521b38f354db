#!/usr/bin/env python3
"""`clusterdns serve -workers N`: CPU per query, throughput and pod memory, side by side.

Writes benchmarks/workers.md.  A `clusterdns synth` cluster served from a manifest
(`kubernetes { manifests }`, errors and prometheus on, as the other benchmarks); the
ClusterIP service names are the dnsperf query file.  Every process started here is
stopped here by PID; loopback only.

- CPU per query: the server's CPU time (utime + stime from /proc/PID/stat of the
  supervisor and every worker) over the queries dnsperf saw answered, at a fixed rate
  (-Q) every configuration can carry; dnsperf pinned to core 1 as in the other runs.
- Throughput: no rate limit; 1 worker on core 0 with dnsperf on core 1, against 2
  workers on both cores with dnsperf sharing them.
- Memory: the PSS of every process of the pod (/proc/PID/smaps_rollup), after a
  warm-up that asked every name once, for N = 1, 2, 4.
- Change -> answer: on the test API server (``tests.support.apiserver``), a Service's
  clusterIP is PUT and the new address polled for, as benchmarks/kubernetes_api.py does;
  with 2 workers once per worker, the other stopped (SIGSTOP) so the one measured
  answers every poll (it catches up on SIGCONT).

Usage: .venv/bin/python benchmarks/workers.py [--services 10000] [--big 50000] [--duration 8]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CLUSTERDNS = str(ROOT / ".venv/bin/clusterdns")
TICK = os.sysconf("SC_CLK_TCK")
#: CoreDNS 1.13.2 measured side by side on this machine (issue 19): µs of CPU per query
COREDNS_US = {10_000: (43.0, 46.0), 50_000: (43.0, 46.0)}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def load() -> str:
    return (
        Path("/proc/loadavg").read_text().split(" ", 3)[:3].__str__().strip("[]").replace("'", "")
    )


@dataclass
class Cluster:
    path: Path
    queries: Path
    last: str
    names: int


def synth(work: Path, services: int) -> Cluster:
    path = work / f"cluster-{services}.json"
    subprocess.run(
        [CLUSTERDNS, "synth", "--namespaces", "10", "--services", str(services),
         "--endpoints", "3", "--output", str(path), "--json"],
        check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    names = []
    for obj in json.loads(path.read_text())["items"]:
        spec = obj.get("spec", {})
        clusterip = spec.get("type") == "ClusterIP" and spec.get("clusterIP") != "None"
        if obj["kind"] == "Service" and clusterip:
            meta = obj["metadata"]
            names.append(f"{meta['name']}.{meta['namespace']}.svc.cluster.local")
    queries = work / f"queries-{services}"
    queries.write_text("".join(f"{n} A\n" for n in names))
    return Cluster(path, queries, names[-1], len(names))


class Pod:
    """One `clusterdns serve` process tree."""

    def __init__(self, work: Path, cluster: Cluster, workers: int, cpus: str, sockets: str) -> None:
        self.port, self.metrics = free_port(), free_port()
        conf = work / f"Corefile-{self.port}"
        conf.write_text(
            f"cluster.local:{self.port} {{\n    bind 127.0.0.1\n    errors\n"
            f"    prometheus 127.0.0.1:{self.metrics}\n"
            f"    kubernetes cluster.local {{\n        manifests {cluster.path}\n    }}\n}}\n"
        )
        env = dict(os.environ, CLUSTERDNS_WORKER_SOCKETS=sockets)
        command = [CLUSTERDNS, "serve", "-quiet", "-conf", str(conf), "-workers", str(workers)]
        if cpus:
            command = ["taskset", "-c", cpus, *command]
        self.log = open(work / f"serve-{self.port}.log", "w")  # noqa: SIM115
        self.process = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT, env=env)
        self.workers = workers
        deadline = time.monotonic() + 300
        while not answers(self.port, cluster.last):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the server did not answer {cluster.last}: see {self.log.name}")
            time.sleep(0.3)
        self.settle(workers + 1 if workers > 1 else 1)

    def settle(self, count: int) -> None:
        """Until the pod has its processes and keeps them for 2 s (after a first sync that
        came late the supervisor forks its workers again: the old ones leave)."""
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            before = self.pids()
            time.sleep(2)
            if len(before) == count and self.pids() == before:
                return
        raise SystemExit(f"the pod did not settle at {count} processes")

    def pids(self) -> list[int]:
        pid = self.process.pid
        try:
            kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            kids = []
        return [pid, *map(int, kids)]

    def cpu_seconds(self) -> dict[int, float]:
        out = {}
        for pid in self.pids():
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            out[pid] = (int(fields[11]) + int(fields[12])) / TICK
        return out

    def switches(self) -> int:
        """Context switches of every process (a worker woken for nothing switches twice)."""
        total = 0
        for pid in self.pids():
            text = Path(f"/proc/{pid}/status").read_text()
            total += sum(int(n) for n in re.findall(r"ctxt_switches:\s+(\d+)", text))
        return total

    def pss_kb(self) -> int:
        total = 0
        for pid in self.pids():
            text = Path(f"/proc/{pid}/smaps_rollup").read_text()
            total += int(re.search(r"^Pss:\s+(\d+) kB", text, re.M).group(1))  # type: ignore[union-attr]
        return total

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.log.close()


def answers(port: int, name: str) -> bool:
    out = subprocess.run(
        ["dig", "@127.0.0.1", "-p", str(port), "+time=1", "+tries=1", "+short", name, "A"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    return bool(re.match(r"^\d+\.\d+\.\d+\.\d+$", out.stdout.strip()))


#: dnsperf runs as two processes from two client addresses (-c 32 -q 250 each, -Q split): 64
#: flows, as a cluster DNS sees many clients (SO_REUSEPORT spreads by a hash of the flow), and
#: two addresses for the mode that keeps each client address on one worker
SOURCES = ("127.0.0.2", "127.0.0.3")
CLIENTS = 32


def dnsperf(
    port: int, cluster: Cluster, seconds: float, cpus: str, rate: int = 0
) -> dict[str, float]:
    runs = []
    for source in SOURCES:
        command = ["dnsperf", "-s", "127.0.0.1", "-a", source, "-p", str(port),
                   "-d", str(cluster.queries), "-l", str(seconds), "-c", str(CLIENTS), "-q", "250",
                   "-T", "1"]  # fmt: skip
        if rate:
            command += ["-Q", str(rate // len(SOURCES))]
        if cpus:
            command = ["taskset", "-c", cpus, *command]
        runs.append(subprocess.Popen(command, stdout=subprocess.PIPE, text=True))
    found = {"completed": 0.0, "lost": 0.0, "qps": 0.0, "latency": 0.0}
    for run in runs:
        text = run.communicate()[0]
        for key, pattern in {
            "completed": r"Queries completed:\s+(\d+)",
            "lost": r"Queries lost:\s+(\d+)",
            "qps": r"Queries per second:\s+([\d.]+)",
            "latency": r"Average Latency \(s\):\s+([\d.]+)",
        }.items():
            match = re.search(pattern, text)
            value = float(match.group(1)) if match else 0.0
            found[key] += value / len(runs) if key == "latency" else value
    return found


def median_run(found: list[dict[str, Any]]) -> dict[str, Any]:
    """The round whose CPU per query is the median (its figures kept together)."""
    ordered = sorted(found, key=lambda r: r["us_per_query"])
    return ordered[len(ordered) // 2]


def measured(
    pod: Pod, cluster: Cluster, seconds: float, cpus: str, rate: int = 0
) -> dict[str, object]:
    before, switched = pod.cpu_seconds(), pod.switches()
    result = dnsperf(pod.port, cluster, seconds, cpus, rate)
    after, switched = pod.cpu_seconds(), pod.switches() - switched
    per_process = [after[p] - before.get(p, 0.0) for p in after]
    cpu = sum(per_process)
    completed = result["completed"] or 1
    return {
        **result,
        "cpu_s": cpu,
        "us_per_query": cpu / completed * 1e6,
        "switches_per_1000": switched / completed * 1000,
        "split": [round(c, 2) for c in per_process],
        "load": load(),
    }


def kubernetes_api() -> object:
    """benchmarks/kubernetes_api.py, for its test API server and its change -> answer loop."""
    spec = importlib.util.spec_from_file_location(
        "kubernetes_api", ROOT / "benchmarks/kubernetes_api.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["kubernetes_api"] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def change_latency(work: Path, size: int, count: int) -> dict[str, float]:
    """Median ms from a Service PUT to the new address answered: 1 worker, then each of 2."""
    api = kubernetes_api()
    proc, url = api.start_api(size)  # type: ignore[attr-defined]
    medians: dict[str, float] = {}
    try:
        for workers in (1, 2):
            kubeconfig = work / "kubeconfig"
            kubeconfig.write_text(json.dumps({
                "apiVersion": "v1", "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": url}}],
                "users": [{"name": "u", "user": {"token": api.TOKEN}}],  # type: ignore[attr-defined]
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x"}))  # fmt: skip
            port, ready = free_port(), free_port()
            conf = work / f"Corefile-api-{workers}"
            conf.write_text(
                f".:{port} {{\n    bind 127.0.0.1\n    ready 127.0.0.1:{ready}\n"
                f"    kubernetes cluster.local {{\n        kubeconfig {kubeconfig}\n"
                f"        startup_timeout 300s\n    }}\n}}\n"
            )
            cpus = "0" if workers == 1 else "0,1"
            # one shared socket: the worker left running takes every query while the other is
            # stopped (propagation does not depend on the socket mode)
            server = subprocess.Popen(
                ["taskset", "-c", cpus, CLUSTERDNS, "serve", "-quiet", "-conf", str(conf),
                 "-workers", str(workers)], stdout=subprocess.DEVNULL,
                env=dict(os.environ, CLUSTERDNS_WORKER_SOCKETS="shared"),
            )  # fmt: skip
            try:
                if not api.wait_ready(ready, 300):  # type: ignore[attr-defined]
                    raise SystemExit("the server did not get ready on the API server")
                kids = [
                    int(k)
                    for k in Path(f"/proc/{server.pid}/task/{server.pid}/children")
                    .read_text()
                    .split()
                ]
                if workers == 1:
                    found = api.change_latencies(url, port, size, count)  # type: ignore[attr-defined]
                    medians["1 worker"] = statistics.median(found)
                    continue
                for n, kid in enumerate(kids):
                    others = [k for k in kids if k != kid]
                    for other in others:
                        os.kill(other, signal.SIGSTOP)
                    try:
                        found = api.change_latencies(url, port, size, count)  # type: ignore[attr-defined]
                    finally:
                        for other in others:
                            os.kill(other, signal.SIGCONT)
                    medians[f"2 workers: worker {n}"] = statistics.median(found)
            finally:
                api.stop(server)  # type: ignore[attr-defined]
    finally:
        api.stop(proc)  # type: ignore[attr-defined]
    return medians


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--services", type=int, default=10_000)
    parser.add_argument("--big", type=int, default=0, help="also measure memory at this size")
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--rate", type=int, default=20_000)
    parser.add_argument("--out", default=str(ROOT / "benchmarks/workers.md"))
    parser.add_argument("--rounds", type=int, default=3, help="CPU runs per configuration")
    parser.add_argument("--changes", type=int, default=100, help="Service changes timed per worker")
    parser.add_argument("--skip", default="", help="comma-separated: cpu,memory,latency")
    args = parser.parse_args()
    for tool in ("dnsperf", "dig", "taskset"):
        if shutil.which(tool) is None:
            raise SystemExit(
                f"{tool} is needed (apt-get install dnsperf bind9-dnsutils util-linux)"
            )
    work = Path(tempfile.mkdtemp(prefix="workers-bench-"))
    results: dict[str, object] = {"load_start": load()}
    try:
        cluster = synth(work, args.services)
        cpu_runs = [
            ("1 worker, core 0", 1, "0", "reuseport"),
            ("2 workers (a SO_REUSEPORT socket each: the default), cores 0-1", 2, "0,1", "reuseport"),
            ("2 workers (one shared socket), cores 0-1", 2, "0,1", "shared"),
            ("2 workers (SO_REUSEPORT, a client address per worker), cores 0-1", 2, "0,1", "reuseport-client"),
        ]  # fmt: skip
        skip = set(args.skip.split(","))
        runs: dict[str, list[tuple[dict[str, Any], ...]]] = {label: [] for label, *_ in cpu_runs}
        # rounds interleave the configurations, so a burst of load from other processes on
        # this shared machine hits one round of each rather than every run of one
        for _ in range(args.rounds if "cpu" not in skip else 0):
            for label, workers, cpus, sockets in cpu_runs:
                pod = Pod(work, cluster, workers, cpus, sockets)
                try:
                    dnsperf(pod.port, cluster, 3, "1")  # warm-up: every name asked once
                    pinned = measured(pod, cluster, args.duration, "1")
                    fixed = measured(pod, cluster, args.duration, "1", args.rate)
                    unpinned = measured(pod, cluster, args.duration, "" if workers > 1 else "1")
                finally:
                    pod.stop()
                runs[label].append((pinned, fixed, unpinned))
                print(label, json.dumps([pinned, fixed, unpinned]), flush=True)
        rows = [
            (label, *(median_run([r[i] for r in found]) for i in range(3)))
            for label, found in runs.items()
            if found
        ]
        results["cpu"] = rows
        if "latency" not in skip:
            results["latency"] = change_latency(work, args.services, args.changes)
            print(results["latency"], flush=True)
        memory = []
        for services in (
            ([args.services] + ([args.big] if args.big else [])) if "memory" not in skip else []
        ):
            sized = cluster if services == args.services else synth(work, services)
            line = {}
            for workers in (1, 2, 4):
                pod = Pod(work, sized, workers, "", "reuseport")
                try:
                    time.sleep(1)
                    started = pod.pss_kb()
                    dnsperf(pod.port, sized, 3, "")  # every worker compiles what it is asked
                    line[workers] = (started, pod.pss_kb())
                finally:
                    pod.stop()
                print(services, workers, line[workers], flush=True)
            memory.append((services, line))
        results["memory"] = memory
        results["load_end"] = load()
        write(Path(args.out), args, cluster, results)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def write(out: Path, args: argparse.Namespace, cluster: Cluster, results: dict) -> None:  # type: ignore[type-arg]
    cpu_model = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")), "?")  # fmt: skip
    lines = [
        "# serve -workers: CPU per query, throughput, pod memory, change -> answer",
        "",
        f"Run {time.strftime('%Y-%m-%dT%H:%MZ', time.gmtime())} by `benchmarks/workers.py`: "
        f"`clusterdns synth` cluster of {args.services} services in 10 namespaces (3 endpoints "
        f"each), served from its manifest with `errors`, `prometheus` and `kubernetes`; the "
        f"{cluster.names} ClusterIP names are queried (A) by two dnsperf processes from "
        "127.0.0.2 and 127.0.0.3 (-c 32 -q 250 each: 64 flows, "
        f"{args.duration:g} s per run, after a 3 s warm-up that asks every name), loopback. "
        f"Load average (1/5/15 min) at the start: {results['load_start']}; at the end: "
        f"{results['load_end']} (the machine is shared with other helpers' test runs; each "
        "row has its own).",
        "",
    ]
    rows = results.get("cpu", [])
    if rows:
        lines += [
            "## CPU per query (dnsperf pinned to core 1, as the other benchmarks)",
            "",
            "Server CPU = utime + stime of the supervisor and every worker (/proc/PID/stat) "
            "over the queries dnsperf saw answered. 1 worker is pinned to core 0; 2 workers "
            f"may use both cores (one of them shared with dnsperf). Each row is the median of "
            f"{args.rounds} rounds (the configurations interleaved), by CPU per query.",
            "",
            "| server | QPS | answered | server CPU s | µs CPU / query | ratio to 1 worker (bound 1.1) | context switches / 1000 queries | CPU s per process (supervisor first) | load avg |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        base = rows[0][1]["us_per_query"]
        for label, pinned, _, _ in rows:
            lines.append(
                f"| {label} | {pinned['qps']:.0f} | {pinned['completed']:.0f} | {pinned['cpu_s']:.2f} | "
                f"{pinned['us_per_query']:.1f} | {pinned['us_per_query'] / base:.2f} | "
                f"{pinned['switches_per_1000']:.0f} | {pinned['split']} | {pinned['load']} |"
            )
        lines += [
            "",
            f"At a fixed rate well below saturation (dnsperf -Q {args.rate}, core 1) each worker "
            "wakes for fewer datagrams at a time, so the per-wakeup cost is shared by fewer "
            "queries; with one shared socket both workers also wake for each datagram:",
            "",
            "| server | answered | µs CPU / query | ratio to 1 worker | context switches / 1000 queries | CPU s per process | load avg |",
            "|---|---|---|---|---|---|---|",
        ]
        base = rows[0][2]["us_per_query"]
        for label, _, fixed, _ in rows:
            lines.append(
                f"| {label} | {fixed['completed']:.0f} | {fixed['us_per_query']:.1f} | "
                f"{fixed['us_per_query'] / base:.2f} | {fixed['switches_per_1000']:.0f} | "
                f"{fixed['split']} | {fixed['load']} |"
            )
        lines += [
            "",
            "## Throughput",
            "",
            "1 worker on core 0 with dnsperf on core 1, against 2 workers on both cores with "
            "dnsperf sharing them (not pinned). No CoreDNS build is at hand on this machine: "
            "CoreDNS 1.13.2 measured side by side here earlier (issue 19) answered 23 000 QPS "
            "on one core at 10 000 services (43–46 µs of CPU per query).",
            "",
            "| server | QPS | avg latency (s) | lost | µs CPU / query | CPU s per process | load avg |",
            "|---|---|---|---|---|---|---|",
        ]
        lines.append(
            f"| {rows[0][0]} (dnsperf on core 1) | {rows[0][1]['qps']:.0f} | {rows[0][1]['latency']:.6f} | "
            f"{rows[0][1]['lost']:.0f} | {rows[0][1]['us_per_query']:.1f} | {rows[0][1]['split']} | "
            f"{rows[0][1]['load']} |"
        )
        for label, _, _, shared in rows[1:]:
            lines.append(
                f"| {label}, dnsperf unpinned | {shared['qps']:.0f} | {shared['latency']:.6f} | "
                f"{shared['lost']:.0f} | {shared['us_per_query']:.1f} | {shared['split']} | "
                f"{shared['load']} |"
            )
    if results.get("memory"):
        lines += [
            "",
            "## Pod memory: PSS of every process (/proc/PID/smaps_rollup)",
            "",
            "Started: once the last name answers. Warm: after dnsperf asked every name (each "
            "worker compiles the answers it is asked for, and every Python object it reads "
            "gets its reference count written, which copies the page it is on).",
            "",
            "| services | state | N = 1 (MB) | N = 2 (MB) | N = 4 (MB) | N=2 / N=1 (bound 1.25) | N=4 / N=1 (bound 1.75) |",
            "|---|---|---|---|---|---|---|",
        ]
        for services, line in results["memory"]:
            for index, state in enumerate(("started", "warm")):
                one = line[1][index]
                lines.append(
                    f"| {services} | {state} | {one / 1024:.0f} | {line[2][index] / 1024:.0f} | "
                    f"{line[4][index] / 1024:.0f} | {line[2][index] / one:.2f} | "
                    f"{line[4][index] / one:.2f} |"
                )
    if results.get("latency"):
        lines += [
            "",
            "## Change -> answer (median ms, test API server, "
            f"{args.changes} Service PUTs per row, {args.services} services)",
            "",
            "| server | median ms |",
            "|---|---|",
        ]
        lines += [f"| {k} | {v:.2f} |" for k, v in results["latency"].items()]
    if rows:
        per_query = rows[1][1]["us_per_query"]
        low, high = COREDNS_US[10_000]
        lines += [
            "",
            "## Projection for 4, 8 and 16 cores",
            "",
            f"From the measured CPU per query of 2 workers ({per_query:.1f} µs, the default sockets, "
            f"saturated) and CoreDNS 1.13.2's {low:g}–{high:g} µs per query at 10 000 services "
            "(measured side by side on this machine, issue 19), both taken as linear in cores: "
            'an upper bound for both (see the README\'s "How it is built" for what limits it).',
            "",
            "| cores | clusterdns QPS (N = cores) | CoreDNS 1.13.2 QPS | ratio |",
            "|---|---|---|---|",
        ]
        for cores in (1, 2, 4, 8, 16):
            ours = cores / (per_query * 1e-6)
            theirs = cores / (((low + high) / 2) * 1e-6)
            lines.append(f"| {cores} | {ours:,.0f} | {theirs:,.0f} | {ours / theirs:.1f} |")
    lines += [
        "",
        f"Machine: {cpu_model}, {os.cpu_count()} cores, {os.uname().sysname} "
        f"{os.uname().release}, Python {sys.version.split()[0]}.",
        "",
    ]
    out.write_text("\n".join(lines))
    print(out.read_text())


if __name__ == "__main__":
    main()
