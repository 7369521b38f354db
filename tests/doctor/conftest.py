"""Fixtures for the doctor: a clusterdns over the sample cluster, a lossy relay in front of it."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from clusterdns.bench.lab import LossyRelay
from clusterdns.cli import main
from clusterdns.cluster import sample_cluster_path
from serverutil import RunningServer, running


def cluster_corefile() -> str:
    return f"""
cluster.local:0 in-addr.arpa:0 ip6.arpa:0 {{
    bind 127.0.0.1
    errors
    kubernetes cluster.local in-addr.arpa ip6.arpa {{
        manifests {sample_cluster_path()}
    }}
}}
"""


@pytest.fixture(scope="module")
def cluster_dns() -> Iterator[RunningServer]:
    with running(cluster_corefile()) as server:
        yield server


@pytest.fixture
def pod_resolv_conf(tmp_path: Path) -> Path:
    """A ClusterFirst pod's resolv.conf; the nameserver is loopback (the test's --server answers)."""
    path = tmp_path / "resolv.conf"
    path.write_text(
        "search default.svc.cluster.local svc.cluster.local cluster.local\n"
        "nameserver 127.0.0.1\noptions ndots:5\n"
    )
    return path


@contextlib.contextmanager
def _relay(upstream: tuple[str, int], window: float) -> Iterator[LossyRelay]:
    """A LossyRelay on its own loop in a thread, so the doctor runs in the test's thread."""
    ready = threading.Event()
    holder: dict[str, Any] = {}

    async def serve() -> None:
        holder["stop"] = asyncio.Event()
        async with LossyRelay(upstream, window=window) as relay:
            holder["relay"] = relay
            ready.set()
            await holder["stop"].wait()

    def run() -> None:
        loop = asyncio.new_event_loop()
        holder["loop"] = loop
        try:
            loop.run_until_complete(serve())
        finally:
            ready.set()
            loop.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    ready.wait(10)
    if "relay" not in holder:
        pytest.fail("the lossy relay did not start")
    try:
        yield holder["relay"]
    finally:
        holder["loop"].call_soon_threadsafe(holder["stop"].set)
        thread.join(10)


@pytest.fixture
def lossy_relay() -> Any:
    return _relay


def _doctor_json(*argv: str) -> tuple[int, dict[str, Any]]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["doctor", *argv, "--json"])
    doc: dict[str, Any] = json.loads(out.getvalue())
    return code, doc


@pytest.fixture
def doctor_json() -> Any:
    return _doctor_json
