"""Fixtures for the load tester: a real dnsmasq on 127.0.0.1 (no upstream) and the lossy relay."""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import dns.message
import pytest

from clusterdns.cli import main
from clusterdns.conntrackrace.relay import LossyRelay
from tests.support import relayutil

DNSMASQ = "/usr/sbin/dnsmasq"
HOSTS = 50


@dataclass(frozen=True)
class Server:
    host: str
    port: int

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


def _free_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1 right now."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            port = udp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    raise RuntimeError("no free port on 127.0.0.1")


def _answers(port: int) -> bool:
    query = dns.message.make_query("host0.bench.test", "A")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(0.2)
        try:
            sock.sendto(query.to_wire(), ("127.0.0.1", port))
            return bool(sock.recv(4096))
        except OSError:
            return False


@pytest.fixture(scope="session")
def dnsmasq(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """dnsmasq serving hostN.bench.test (A and AAAA) from a hosts file, nothing else, no upstream."""
    if not os.path.exists(DNSMASQ):
        pytest.fail(f"{DNSMASQ} is missing: install the Debian package dnsmasq-base (make deps)")
    folder = tmp_path_factory.mktemp("dnsmasq")
    hosts = folder / "hosts"
    hosts.write_text(
        "".join(
            f"10.0.0.{i} host{i}.bench.test\nfd00::{i:x} host{i}.bench.test\n" for i in range(HOSTS)
        )
    )
    port = _free_port()
    process = subprocess.Popen(
        [
            DNSMASQ,
            "-k",
            "--conf-file=/dev/null",
            "--no-resolv",
            "--no-hosts",
            f"--addn-hosts={hosts}",
            f"--port={port}",
            "--listen-address=127.0.0.1",
            "--bind-interfaces",
            "--pid-file=",
            "--user=root" if os.geteuid() == 0 else f"--user={os.getlogin()}",
            "--log-facility=/dev/null",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 10
        while not _answers(port):
            if process.poll() is not None or time.monotonic() > deadline:
                err = process.stderr.read().decode() if process.stderr else ""
                pytest.fail(f"dnsmasq did not start on 127.0.0.1:{port}: {err}")
            time.sleep(0.05)
        yield Server("127.0.0.1", port)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass
class RunningRelay:
    relay: LossyRelay
    server: Server


@pytest.fixture
def relay_in_thread() -> Any:
    """The context manager below, as a fixture (conftest modules are not imported by tests)."""
    return _relay_in_thread


@pytest.fixture
def bench_json() -> Any:
    return _bench_json


@contextlib.contextmanager
def _relay_in_thread(upstream: Server, window: float) -> Iterator[RunningRelay]:
    with relayutil.relay_in_thread((upstream.host, upstream.port), window) as relay:
        yield RunningRelay(relay, Server("127.0.0.1", relay.port))


def _bench_json(*argv: str) -> dict[str, Any]:
    """Run ``clusterdns bench ... --json`` in this process and parse what it printed."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["bench", *argv, "--json"])
    assert code == 0
    doc: dict[str, Any] = json.loads(out.getvalue())
    return doc
