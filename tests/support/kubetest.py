"""Helpers for tests of the kubernetes plugin against the test API server: a
kubeconfig, a Corefile, objects as kubectl would send them, and what the served
DNS and metrics say."""

from __future__ import annotations

import http.client
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from prometheus_client.parser import text_string_to_metric_families

from clusterdns.cluster import sample_cluster_path
from tests.support.serverutil import RunningServer, answers


def sample_objects() -> list[dict[str, Any]]:
    listing = yaml.safe_load(sample_cluster_path().read_text())
    items: list[dict[str, Any]] = listing["items"]
    return items


def wait_for(predicate: Callable[[], object], what: str, seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"gave up waiting for {what}")


def kubeconfig(
    path: Path, server: str, *, token: str = "", token_file: str = "", ca_file: str = ""
) -> Path:
    user: dict[str, str] = {}
    if token:
        user["token"] = token
    if token_file:
        user["tokenFile"] = token_file
    cluster = {"server": server}
    if ca_file:
        cluster["certificate-authority"] = ca_file
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "test", "cluster": cluster}],
                "users": [{"name": "dns", "user": user}],
                "contexts": [{"name": "ctx", "context": {"cluster": "test", "user": "dns"}}],
                "current-context": "ctx",
            }
        )
    )
    return path


def corefile(source: str, extra: str = "") -> str:
    return f"""
.:0 {{
    bind 127.0.0.1
    ready 127.0.0.1:0
    prometheus 127.0.0.1:0
    kubernetes cluster.local in-addr.arpa ip6.arpa {{
        {source}
        pods verified
        startup_timeout 1s
        {extra}
    }}
    whoami
}}
"""


def a(server: RunningServer, name: str, rdtype: str = "A") -> list[str]:
    return [line.split()[-1] for line in answers(server.udp(name, rdtype))]


def http_get(server: RunningServer, path: str) -> tuple[int, str]:
    connection = http.client.HTTPConnection("127.0.0.1", server.http_port(path), timeout=5)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


def metric(server: RunningServer, name: str, **labels: str) -> float:
    _, text = http_get(server, "/metrics")
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


def service(name: str, namespace: str, cluster_ip: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": name}},
        "spec": {"clusterIP": cluster_ip, "ports": [{"name": "http", "port": 80}], **spec},
    }


def endpoint_slice(
    name: str, namespace: str, service_name: str, ips: list[str], **meta: Any
) -> dict[str, Any]:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"kubernetes.io/service-name": service_name, "app": service_name},
            **meta,
        },
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        "endpoints": [
            {"addresses": [ip], "hostname": f"{service_name}-{i}", "conditions": {"ready": True}}
            for i, ip in enumerate(ips)
        ],
    }
