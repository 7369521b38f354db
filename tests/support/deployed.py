"""The deploy ConfigMap's Corefile, served by a `clusterdns serve` process on loopback.

Used by the tests that run an installed clusterdns (a bare venv, the built image's
filesystem) the way the Deployment runs it, against the fake API server in a process of
its own. Every port is a free loopback port and the upstream is a loopback server, so
nothing leaves the machine (the ConfigMap forwards to /etc/resolv.conf, and `loop`
sends a probe through forward at start).
"""

from __future__ import annotations

import contextlib
import ipaddress
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dns.exception
import dns.message
import dns.query
import dns.rdatatype
import yaml

from clusterdns.cluster.synthetic import SERVICE_CIDR
from tests.support.upstream import free_port

ROOT = Path(__file__).resolve().parents[2]
CONFIGMAP = ROOT / "deploy" / "configmap.yaml"

# svc-0 in ns-0 of the synthetic cluster (`clusterdns synth`): a ClusterIP service
NAME = "svc-0.ns-0.svc.cluster.local."


@dataclass(frozen=True, slots=True)
class Ports:
    dns: int
    health: int
    ready: int
    metrics: int

    @classmethod
    def free(cls) -> Ports:
        return cls(free_port(), free_port(), free_port(), free_port())


def configmap_corefile() -> str:
    """The Corefile the Deployment mounts (deploy/configmap.yaml, data.Corefile)."""
    return str(yaml.safe_load(CONFIGMAP.read_text())["data"]["Corefile"])


def _replace(text: str, old: str, new: str) -> str:
    if old not in text:
        raise AssertionError(f"deploy/configmap.yaml's Corefile no longer has {old!r}")
    return text.replace(old, new, 1)


def on_loopback(corefile: str, ports: Ports, api_url: str, upstream: str) -> str:
    """``corefile`` with its ports on free loopback ports, the API at ``api_url``."""
    text = _replace(corefile, ".:53 {", f".:{ports.dns} {{\n    bind 127.0.0.1")
    text = _replace(text, "health {", f"health 127.0.0.1:{ports.health} {{")
    text = _replace(text, "    ready\n", f"    ready 127.0.0.1:{ports.ready}\n")
    text = _replace(text, "prometheus :9153", f"prometheus 127.0.0.1:{ports.metrics}")
    text = _replace(text, "forward . /etc/resolv.conf", f"forward . {upstream}")
    return _replace(
        text,
        "kubernetes cluster.local in-addr.arpa ip6.arpa {",
        f"kubernetes cluster.local in-addr.arpa ip6.arpa {{\n        endpoint {api_url}",
    )


@contextlib.contextmanager
def api_server(services: int = 20) -> Iterator[str]:
    """``python -m tests.support.apiserver`` serving a synthetic cluster; yields its URL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.support.apiserver", "--synthetic-services", str(services)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        if not url.startswith("http"):
            raise AssertionError(f"the fake API server did not start (printed {url!r})")
        yield url
    finally:
        process.terminate()
        process.wait(10)


def wait_for_answer(
    port: int, name: str, process: subprocess.Popen[str], seconds: float = 60
) -> list[str]:
    """The A records of ``name`` once 127.0.0.1:``port`` answers NOERROR with some."""
    deadline = time.monotonic() + seconds
    query = dns.message.make_query(name, dns.rdatatype.A)
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the server exited with {process.returncode}")
        with contextlib.suppress(dns.exception.Timeout, OSError):
            reply = dns.query.udp(query, "127.0.0.1", port=port, timeout=0.5)
            addresses = [rr.address for rrset in reply.answer for rr in rrset]
            if addresses:
                return addresses
        time.sleep(0.2)
    raise AssertionError(f"127.0.0.1:{port} gave no answer for {name} in {seconds}s")


def in_service_cidr(addresses: list[str]) -> bool:
    """Whether every address is a ClusterIP of the synthetic cluster."""
    return bool(addresses) and all(ipaddress.ip_address(a) in SERVICE_CIDR for a in addresses)
