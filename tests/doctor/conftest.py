"""Fixtures for the doctor: a clusterdns over the sample cluster, a lossy relay in front of it."""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from clusterdns.cli import main
from clusterdns.cluster import sample_cluster_path
from tests.support import relayutil
from tests.support.serverutil import RunningServer, running


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


@pytest.fixture
def lossy_relay() -> Any:
    return relayutil.relay_in_thread


def _doctor_json(*argv: str) -> tuple[int, dict[str, Any]]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["doctor", *argv, "--json"])
    doc: dict[str, Any] = json.loads(out.getvalue())
    return code, doc


@pytest.fixture
def doctor_json() -> Any:
    return _doctor_json
