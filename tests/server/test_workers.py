"""`clusterdns serve -workers N` as processes: one watch, every worker current, one server outside.

Which worker takes a datagram is the kernel's choice (a hash of the source
port picks the SO_REUSEPORT socket of a worker), so a test that needs one
particular worker to answer stops the others (SIGSTOP: a stopped process reads
nothing) and asks from new source ports until an answer comes: it can only come
from the worker left running.  The others go on afterwards (SIGCONT).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import dns.message
import dns.query
import dns.rcode
import pytest
import yaml
from aiohttp import web

from clusterdns.cluster import sample_cluster_path
from tests.support.apiserver import ApiServer
from tests.support.kubeconfigs import write_kubeconfig
from tests.support.serverutil import http_get

CLI = [sys.executable, "-m", "clusterdns"]
TOKEN = "workers-token"
KINDS = ("Service", "EndpointSlice", "Namespace")
T = TypeVar("T")


def free_port(kind: int = socket.SOCK_DGRAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(predicate: Callable[[], T], what: str, seconds: float = 20) -> T:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError(f"gave up waiting for {what}")


def ask(port: int, name: str) -> dns.message.Message | None:
    try:
        query = dns.message.make_query(name, "A")
        return dns.query.udp(query, "127.0.0.1", port=port, timeout=0.5)
    except dns.exception.Timeout:
        return None


def address_of(port: int, name: str) -> str | None:
    reply = ask(port, name)
    if reply is None or reply.rcode() != dns.rcode.NOERROR or not reply.answer:
        return None
    return reply.answer[0][0].to_text()


def children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as handle:
        return [int(n) for n in handle.read().split()]


@contextlib.contextmanager
def only(worker: int, workers: list[int]) -> Iterator[None]:
    """Every other worker stopped, so only ``worker`` answers."""
    others = [w for w in workers if w != worker]
    for other in others:
        os.kill(other, signal.SIGSTOP)
    try:
        yield
    finally:
        for other in others:
            os.kill(other, signal.SIGCONT)


@dataclass
class Pod:
    process: subprocess.Popen[bytes]
    port: int
    http: int
    conf: Path

    def workers(self, count: int) -> list[int]:
        return wait_for(
            lambda: (found := children(self.process.pid)) and len(found) == count and found,
            f"{count} workers",
        )

    def metric(self, prefix: str) -> float:
        status, body = http_get(self.http, "/metrics")
        assert status == 200
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in body.decode().splitlines()
            if line.startswith(prefix)
        )

    def ready(self) -> bool:
        return http_get(self.http, "/ready")[0] == 200


def corefile(port: int, http: int, kubeconfig: Path, address: str) -> str:
    return f"""
.:{port} {{
    bind 127.0.0.1
    ready 127.0.0.1:{http}
    health 127.0.0.1:{http}
    prometheus 127.0.0.1:{http}
    hosts {{
        {address} web.test
        fallthrough
    }}
    kubernetes cluster.local {{
        kubeconfig {kubeconfig}
    }}
}}
"""


def start_pod(tmp_path: Path, api: ApiServer, *flags: str) -> Pod:
    kubeconfig = write_kubeconfig(tmp_path / "kc", {"server": api.url}, {"token": TOKEN})
    port, http = free_port(), free_port(socket.SOCK_STREAM)
    conf = tmp_path / "Corefile"
    conf.write_text(corefile(port, http, kubeconfig, "10.0.0.1"))
    process = subprocess.Popen(
        [*CLI, "serve", "-quiet", "-conf", str(conf), *flags], stdout=subprocess.DEVNULL
    )
    pod = Pod(process, port, http, conf)
    wait_for(lambda: _ready_or_dead(pod), "the pod to be ready", seconds=30)
    return pod


def _status(port: int, path: str) -> int | None:
    """The HTTP status of ``path``; None while nothing listens yet (the supervisor binds the
    HTTP endpoints once the workers are up)."""
    with contextlib.suppress(OSError):
        return http_get(port, path)[0]
    return None


def _ready_or_dead(pod: Pod) -> bool:
    assert pod.process.poll() is None, "the server exited"
    with contextlib.suppress(OSError):
        return pod.ready()
    return False


def stop_pod(pod: Pod) -> int:
    if pod.process.poll() is None:
        pod.process.send_signal(signal.SIGTERM)
    try:
        return pod.process.wait(20)
    except subprocess.TimeoutExpired:
        pod.process.kill()
        return pod.process.wait(10)


def sample_api() -> ApiServer:
    server = ApiServer(tokens={TOKEN: "clusterdns"})
    server.load(yaml.safe_load(sample_cluster_path().read_text())["items"])
    return server


@pytest.fixture(scope="module")
def api() -> Iterator[ApiServer]:
    server = sample_api().start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def own_api() -> Iterator[ApiServer]:
    """An API server whose watches are this test's pod's alone."""
    server = sample_api().start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="module")
def pod(api: ApiServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pod]:
    started = start_pod(tmp_path_factory.mktemp("workers"), api, "-workers", "2")
    try:
        yield started
    finally:
        assert stop_pod(started) == 0


def service(name: str, ip: str) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"clusterIP": ip, "clusterIPs": [ip], "ports": [{"port": 80}]},
    }


def test_a_new_service_reaches_every_worker_through_one_watch(pod: Pod, api: ApiServer) -> None:
    """The API is listed and watched once per pod (the supervisor's), not once per worker."""
    workers = pod.workers(2)
    api.create(service("added", "10.96.77.7"))
    name = "added.default.svc.cluster.local."
    for worker in workers:
        with only(worker, workers):
            wait_for(lambda: address_of(pod.port, name) == "10.96.77.7", f"worker {worker}")
    for kind in KINDS:
        assert len(api.requests("watch", kind)) == 1, kind
        assert len(api.requests("list", kind)) == 1, kind


def test_metrics_are_the_sums_over_workers(pod: Pod) -> None:
    """One /metrics with CoreDNS's names and no worker label: requests summed.  Each query
    comes from a new source port, so the kernel spreads them over both workers' sockets."""
    pod.workers(2)
    series = 'coredns_dns_requests_total{family="1",proto="udp",server="dns://127.0.0.1:'
    before = pod.metric(series)
    sent = 0
    for _ in range(40):
        if address_of(pod.port, "web.test.") == "10.0.0.1":
            sent += 1
    assert sent > 0
    assert pod.metric(series) - before == sent
    assert "worker=" not in http_get(pod.http, "/metrics")[1].decode()
    assert pod.metric("clusterdns_worker_restarts_total") == 0


def test_sigusr1_reloads_every_worker(pod: Pod) -> None:
    workers = pod.workers(2)
    pod.conf.write_text(pod.conf.read_text().replace("10.0.0.1 web.test", "10.0.0.2 web.test"))
    try:
        os.kill(pod.process.pid, signal.SIGUSR1)
        for worker in workers:
            with only(worker, workers):
                wait_for(lambda: address_of(pod.port, "web.test.") == "10.0.0.2", "the reload")
        assert pod.workers(2) == workers  # reloaded in place, not restarted
    finally:
        pod.conf.write_text(pod.conf.read_text().replace("10.0.0.2 web", "10.0.0.1 web"))
        os.kill(pod.process.pid, signal.SIGUSR1)
        wait_for(lambda: address_of(pod.port, "web.test.") == "10.0.0.1", "the reload back")


@pytest.mark.parametrize("sockets", ["reuseport", "shared"])
def test_a_killed_worker_is_replaced_while_the_other_answers(
    api: ApiServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sockets: str
) -> None:
    """Per address, one SO_REUSEPORT socket per worker (the default) or one socket for all:
    either way the supervisor holds them, so the new worker serves the dead one's socket."""
    monkeypatch.setenv("CLUSTERDNS_WORKER_SOCKETS", sockets)
    pod = start_pod(tmp_path, api, "-workers", "2")
    try:
        first, second = pod.workers(2)
        os.kill(first, signal.SIGKILL)
        name = "kubernetes.default.svc.cluster.local."
        wait_for(lambda: address_of(pod.port, name) == "10.96.0.1", "answers meanwhile")
        wait_for(lambda: pod.metric("clusterdns_worker_restarts_total") == 1, "the restart")
        replaced = pod.workers(2)
        assert second in replaced and first not in replaced
        wait_for(pod.ready, "ready again")
    finally:
        assert stop_pod(pod) == 0  # SIGTERM: a clean exit, every worker stopped
    assert pod.process.returncode == 0


def test_taskset_to_one_cpu_runs_one_process(api: ApiServer, tmp_path: Path) -> None:
    """The default worker count is the CPUs the affinity allows: one CPU, no supervisor."""
    kubeconfig = write_kubeconfig(tmp_path / "kc", {"server": api.url}, {"token": TOKEN})
    port, http = free_port(), free_port(socket.SOCK_STREAM)
    conf = tmp_path / "Corefile"
    conf.write_text(corefile(port, http, kubeconfig, "10.0.0.1"))
    process = subprocess.Popen(
        ["taskset", "-c", "0", *CLI, "serve", "-quiet", "-conf", str(conf)],
        stdout=subprocess.DEVNULL,
    )
    pod = Pod(process, port, http, conf)
    try:
        wait_for(lambda: _ready_or_dead(pod), "the server to be ready", seconds=30)
        assert children(process.pid) == []
        assert address_of(port, "web.test.") == "10.0.0.1"
    finally:
        assert stop_pod(pod) == 0


def ttl_of(port: int, name: str) -> int | None:
    reply = ask(port, name)
    return reply.answer[0].ttl if reply is not None and reply.answer else None


def test_a_reload_that_changes_the_kubernetes_block_forks_the_workers_again(
    own_api: ApiServer, tmp_path: Path
) -> None:
    """The supervisor starts the new block's list+watch and forks every worker from it; the
    old watches end, so the API server still sees one watch per resource."""
    api = own_api
    pod = start_pod(tmp_path, api, "-workers", "2")
    name = "kubernetes.default.svc.cluster.local."
    try:
        before = pod.workers(2)
        text = pod.conf.read_text()
        pod.conf.write_text(text.replace("kubeconfig ", "ttl 7\n        kubeconfig "))
        os.kill(pod.process.pid, signal.SIGUSR1)
        after = wait_for(
            lambda: (found := children(pod.process.pid)) and not set(found) & set(before) and found,
            "the workers forked again",
        )
        for worker in after:
            with only(worker, after):
                wait_for(lambda: ttl_of(pod.port, name) == 7, f"worker {worker} on the new block")
        for kind in KINDS:
            wait_for(lambda kind=kind: api.watch_count(kind) == 1, f"one {kind} watch")
    finally:
        assert stop_pod(pod) == 0


def test_workers_started_before_the_first_sync_are_forked_again_once_it_comes(
    tmp_path: Path,
) -> None:
    """CoreDNS serves after startup_timeout even unsynced (SERVFAIL for its zones, /ready 503);
    once the sync comes the supervisor forks the workers again, so they share the synced
    state instead of each holding a copy of what arrived after the fork."""
    api = sample_api()
    released = threading.Event()
    handle = api.frontend.handle

    async def gated(request: web.Request) -> web.StreamResponse:
        if "watch" not in request.query and request.path.startswith(("/api/", "/apis/")):
            await asyncio.get_running_loop().run_in_executor(None, released.wait)
        return await handle(request)

    api.frontend.handle = gated  # type: ignore[method-assign]
    api.start()
    kubeconfig = write_kubeconfig(tmp_path / "kc", {"server": api.url}, {"token": TOKEN})
    port, http = free_port(), free_port(socket.SOCK_STREAM)
    conf = tmp_path / "Corefile"
    conf.write_text(
        corefile(port, http, kubeconfig, "10.0.0.1").replace(
            "kubeconfig ", "startup_timeout 1s\n        kubeconfig "
        )
    )
    process = subprocess.Popen(
        [*CLI, "serve", "-quiet", "-conf", str(conf), "-workers", "2"], stdout=subprocess.DEVNULL
    )
    pod = Pod(process, port, http, conf)
    try:
        first = pod.workers(2)
        wait_for(lambda: address_of(port, "web.test.") == "10.0.0.1", "answers before the sync")
        wait_for(lambda: _status(http, "/ready") == 503, "not ready before the sync")
        released.set()
        wait_for(lambda: _ready_or_dead(pod), "ready after the sync")
        wait_for(
            lambda: (found := children(process.pid)) and not set(found) & set(first),
            "the workers forked again",
        )
        wait_for(
            lambda: address_of(port, "kubernetes.default.svc.cluster.local.") == "10.96.0.1",
            "the synced state answered",
        )
    finally:
        released.set()
        assert stop_pod(pod) == 0
        api.close()


def answered_from(source: str, port: int) -> bool:
    query = dns.message.make_query("web.test.", "A")
    try:
        dns.query.udp(query, "127.0.0.1", port=port, timeout=0.5, source=source)
    except dns.exception.Timeout:
        return False
    return True


def test_reuseport_keeps_each_client_address_on_one_worker(
    api: ApiServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CLUSTERDNS_WORKER_SOCKETS=reuseport-client: a socket per worker, and a classic BPF program
    on the group picks the worker by the client's address, so every query of one client
    (whatever its source port) reaches the same worker."""
    monkeypatch.setenv("CLUSTERDNS_WORKER_SOCKETS", "reuseport-client")
    pod = start_pod(tmp_path, api, "-workers", "2")
    try:
        workers = pod.workers(2)
        for source in ("127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"):
            reached = []
            for worker in workers:
                with only(worker, workers):
                    reached.append(all(answered_from(source, pod.port) for _ in range(3)))
            assert sum(reached) == 1, (source, reached)
    finally:
        assert stop_pod(pod) == 0
