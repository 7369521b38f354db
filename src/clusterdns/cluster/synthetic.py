"""Large, deterministic, kubectl-shaped clusters for load tests and benchmarks.

``generate`` returns plain objects (Namespaces, Services, EndpointSlices and
optionally Pods) in the shape ``kubectl get -o yaml`` prints; ``write`` stores
them as one ``List`` in YAML or JSON (JSON loads several times faster, which
matters at 50 000 services).  The same arguments always give the same cluster.

Shapes: every 10th service is headless (a StatefulSet: endpoints with
hostnames ``<svc>-0``, ``<svc>-1``...), every 25th an ExternalName, the rest
ClusterIP with ports ``http`` 80 and ``grpc`` 9000 over endpoints that listen on
8080 and 9000.  Cluster IPs come from 10.96.0.0/12 (from 10.96.1.0 on, clear of
the ``kubernetes`` and ``kube-dns`` addresses), pod IPs from 10.128.0.0/9.
"""

from __future__ import annotations

import ipaddress
import json
import os
from pathlib import Path
from typing import Any

import yaml

SERVICE_CIDR = ipaddress.ip_network("10.96.0.0/12")
POD_CIDR = ipaddress.ip_network("10.128.0.0/9")
_FIRST_SERVICE_OFFSET = 256  # 10.96.1.0
HEADLESS_EVERY = 10
EXTERNAL_NAME_EVERY = 25


def generate(
    namespaces: int, services: int, endpoints_per_service: int, pods: bool
) -> list[dict[str, Any]]:
    """``services`` services spread round-robin over ``namespaces`` namespaces (``ns-0``...)."""
    if namespaces < 1 or services < 0 or endpoints_per_service < 0:
        raise ValueError("need at least one namespace and no negative counts")
    service_space = SERVICE_CIDR.num_addresses - _FIRST_SERVICE_OFFSET - 1
    if services > service_space or services * endpoints_per_service > POD_CIDR.num_addresses - 2:
        raise ValueError("too many services or endpoints for the address ranges")
    objects: list[dict[str, Any]] = [_namespace(f"ns-{i}") for i in range(namespaces)]
    pod_objects: list[dict[str, Any]] = []
    next_pod = 1
    for index in range(services):
        namespace = f"ns-{index % namespaces}"
        name = f"svc-{index}"
        if index % EXTERNAL_NAME_EVERY == EXTERNAL_NAME_EVERY - 1:
            objects.append(_external_name(namespace, name, f"{name}.example.com"))
            continue
        headless = index % HEADLESS_EVERY == HEADLESS_EVERY - 1
        cluster_ip = str(SERVICE_CIDR.network_address + _FIRST_SERVICE_OFFSET + index)
        objects.append(_service(namespace, name, None if headless else cluster_ip))
        endpoints = []
        for n in range(endpoints_per_service):
            ip = str(POD_CIDR.network_address + next_pod)
            next_pod += 1
            pod_name = f"{name}-{n}" if headless else f"{name}-{_pod_suffix(index, n)}"
            endpoints.append((ip, pod_name, f"{name}-{n}" if headless else None))
            if pods:
                pod_objects.append(_pod(namespace, pod_name, ip, name))
        objects.append(_endpoint_slice(namespace, name, endpoints))
    return objects + pod_objects


def write(objects: list[dict[str, Any]], path: str | os.PathLike[str]) -> Path:
    """Write ``objects`` as one ``kind: List``: JSON for a ``.json`` path, YAML otherwise."""
    target = Path(path)
    document = {"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""}}
    document["items"] = objects  # type: ignore[assignment]
    with target.open("w", encoding="utf-8") as out:
        if target.suffix == ".json":
            json.dump(document, out, separators=(",", ":"))
        else:
            dumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
            yaml.dump(document, out, Dumper=dumper, sort_keys=False, default_flow_style=False)
    return target


def _pod_suffix(service: int, n: int) -> str:
    # a stable stand-in for a ReplicaSet pod's random suffix
    alphabet = "bcdfghjklmnpqrstvwxz2456789"
    value = service * 7919 + n * 104729 + 12345
    letters = []
    for _ in range(5):
        value, digit = divmod(value, len(alphabet))
        letters.append(alphabet[digit])
    return "".join(letters)


def _namespace(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name}},
    }


def _service(namespace: str, name: str, cluster_ip: str | None) -> dict[str, Any]:
    ip = cluster_ip or "None"
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": name}},
        "spec": {
            "clusterIP": ip,
            "clusterIPs": [ip],
            "ports": [
                {"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080},
                {"name": "grpc", "port": 9000, "protocol": "TCP", "targetPort": 9000},
            ],
            "selector": {"app": name},
            "type": "ClusterIP",
        },
    }


def _external_name(namespace: str, name: str, target: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"externalName": target, "type": "ExternalName"},
    }


def _endpoint_slice(
    namespace: str, service: str, endpoints: list[tuple[str, str, str | None]]
) -> dict[str, Any]:
    items = []
    for ip, pod_name, hostname in endpoints:
        item: dict[str, Any] = {
            "addresses": [ip],
            "conditions": {"ready": True, "serving": True, "terminating": False},
            "targetRef": {"kind": "Pod", "name": pod_name, "namespace": namespace},
        }
        if hostname:
            item["hostname"] = hostname
        items.append(item)
    return {
        "addressType": "IPv4",
        "apiVersion": "discovery.k8s.io/v1",
        "endpoints": items,
        "kind": "EndpointSlice",
        "metadata": {
            "name": f"{service}-abcde",
            "namespace": namespace,
            "labels": {"app": service, "kubernetes.io/service-name": service},
        },
        "ports": [
            {"name": "http", "port": 8080, "protocol": "TCP"},
            {"name": "grpc", "port": 9000, "protocol": "TCP"},
        ],
    }


def _pod(namespace: str, name: str, ip: str, app: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": app}},
        "spec": {},
        "status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}]},
    }
