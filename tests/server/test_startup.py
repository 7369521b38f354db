"""Start-up as CoreDNS starts: the listeners open once the plugins have started.

CoreDNS (caddy's startWithListenerFds) runs every OnStartup callback before it
starts its servers, and the kubernetes plugin's OnStartup blocks until the
first sync or ``startup_timeout``.  Until then nothing listens, so a client's
query is refused by the kernel and the client tries its next server at once,
rather than receiving (and caching) a SERVFAIL or waiting for a time-out.  A
port in use is still an error at start, before any plugin starts.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dns.message
import dns.rcode
import pytest
import yaml
from aiohttp import web

from clusterdns.cluster import sample_cluster_path
from clusterdns.errors import ConfigError
from tests.support.apiserver import ApiServer
from tests.support.kubeconfigs import write_kubeconfig
from tests.support.serverutil import RunningServer, answers

TOKEN = "s3cret-token"
WEB = "web.shop.svc.cluster.local."


class ListGate:
    """Holds every list request the API server receives until ``release``."""

    def __init__(self, api: ApiServer) -> None:
        self.held = threading.Event()
        self.released = threading.Event()
        handle = api.frontend.handle

        async def gated(request: web.Request) -> web.StreamResponse:
            if "watch" not in request.query and request.path.startswith(("/api/", "/apis/")):
                self.held.set()
                await asyncio.get_running_loop().run_in_executor(None, self.released.wait)
            return await handle(request)

        api.frontend.handle = gated  # type: ignore[method-assign]  # before start(): routed


@pytest.fixture
def api() -> Iterator[tuple[ApiServer, ListGate]]:
    server = ApiServer(tokens={TOKEN: "clusterdns"})
    server.load(yaml.safe_load(sample_cluster_path().read_text())["items"])
    gate = ListGate(server)
    server.start()
    try:
        yield server, gate
    finally:
        gate.released.set()
        server.close()


def corefile(config: Path, port: int = 0) -> str:
    return f"""
.:{port} {{
    bind 127.0.0.1
    kubernetes cluster.local {{
        kubeconfig {config}
        startup_timeout 60s
    }}
}}
"""


def udp_exchange(port: int, wire: bytes) -> bytes:
    """One datagram to 127.0.0.1:port on a connected socket (so ICMP errors are seen)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(10)
        sock.connect(("127.0.0.1", port))
        sock.send(wire)
        return sock.recv(4096)


def reserved_port(server: RunningServer, started: Any) -> int:
    """The port the server bound (it binds before its plugins start)."""
    addresses = server.server.addresses()
    assert addresses, f"no port bound while starting ({started})"
    return addresses[0][1]


def test_first_start_listens_only_once_the_kubernetes_plugin_synced(
    api: tuple[ApiServer, ListGate], tmp_path: Path
) -> None:
    apiserver, gate = api
    config = write_kubeconfig(tmp_path / "kc", {"server": apiserver.url}, {"token": TOKEN})
    server = RunningServer(corefile(config))
    server.thread.start()
    starting = asyncio.run_coroutine_threadsafe(server.server.start(), server.loop)
    try:
        assert gate.held.wait(30), "the kubernetes plugin never listed"
        port = reserved_port(server, starting)
        query = dns.message.make_query(WEB, "A").to_wire()
        with pytest.raises(ConnectionRefusedError):  # ICMP port unreachable
            udp_exchange(port, query)
        with pytest.raises(ConnectionRefusedError):  # RST
            socket.create_connection(("127.0.0.1", port), timeout=10).close()
        assert not starting.done()
        gate.released.set()
        starting.result(60)
        reply = server.udp(WEB)
        assert reply.rcode() == dns.rcode.NOERROR
        assert [line.split()[-1] for line in answers(reply)] == ["10.96.10.10"]
        assert server.tcp(WEB).rcode() == dns.rcode.NOERROR
    finally:
        gate.released.set()
        if starting.done() and starting.exception() is None:
            server.stop()
        else:
            server.loop.call_soon_threadsafe(server.loop.stop)
            server.thread.join(10)


def test_a_port_in_use_is_an_error_before_any_plugin_starts(
    api: tuple[ApiServer, ListGate], tmp_path: Path
) -> None:
    apiserver, gate = api
    config = write_kubeconfig(tmp_path / "kc", {"server": apiserver.url}, {"token": TOKEN})
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        server = RunningServer(corefile(config, port))
        server.thread.start()
        try:
            with pytest.raises(
                ConfigError,
                match=rf"cannot listen on 127\.0\.0\.1:{port}/udp: .*another process holds",
            ):
                server.call(server.server.start())
        finally:
            server.loop.call_soon_threadsafe(server.loop.stop)
            server.thread.join(10)
    assert not gate.held.is_set()
    assert apiserver.requests() == []
