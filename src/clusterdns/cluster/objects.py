"""Kubernetes objects -> the slim records DNS keeps (``cluster/model.py``).

``project`` takes one object as the API server or a manifest gives it (a
parsed JSON/YAML mapping) and returns its key and its projection, or raises
``BadObject`` saying what is wrong with it (the caller names the object and
the file or the watch).  It does no I/O and is shared by every source, so a
manifest and the live API read the same object the same way.

An object that exists but gives DNS nothing (an FQDN EndpointSlice, a pod
that finished or is terminating) projects to None: for the store that is
the same as the object being gone.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from sys import intern
from typing import Any

from clusterdns.cluster.model import (
    CLUSTER_IP,
    EXTERNAL_NAME,
    SERVICE_NAME_LABEL,
    SERVICE_TYPES,
    Endpoint,
    EndpointPort,
    EndpointSubset,
    Namespace,
    Pod,
    Service,
    ServiceKey,
    ServicePort,
    is_ipv4_text,
    labels_from,
)
from clusterdns.errors import ClusterDNSError

PROTOCOLS = ("TCP", "UDP", "SCTP")
#: the pre-publishNotReadyAddresses way to publish unready endpoints (DNS spec 2.1, "ready")
TOLERATE_UNREADY = "service.alpha.kubernetes.io/tolerate-unready-endpoints"
#: set by the EndpointSlice controller: when the change that caused this version happened
LAST_CHANGE_TRIGGER_TIME = "endpoints.kubernetes.io/last-change-trigger-time"
#: pods CoreDNS's informer never sees (its field selector drops them)
FINISHED_POD_PHASES = ("Succeeded", "Failed", "Unknown")
KINDS = ("Namespace", "Service", "EndpointSlice", "Endpoints", "Pod")

ObjectKey = tuple[str, str, str]
"""(kind, namespace, name); the namespace is "" for a Namespace."""

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


class BadObject(ClusterDNSError):
    """One object is malformed; the message says which field and why."""


@dataclass(frozen=True, slots=True)
class ServiceEndpoints:
    """What one EndpointSlice (one subset) or one v1 Endpoints (its subsets) says of a service."""

    service: ServiceKey
    subsets: tuple[EndpointSubset, ...]
    #: the last-change-trigger-time annotation in seconds since the epoch; 0 when unset
    trigger_time: float = 0.0


Slim = Namespace | Service | ServiceEndpoints | Pod


def object_label(key: ObjectKey) -> str:
    """``Service shop/web``, ``Namespace shop``: how messages name an object."""
    kind, namespace, name = key
    return f"{kind} {namespace}/{name}" if namespace else f"{kind} {name}"


def object_key(obj: Mapping[str, Any], kind: str | None = None) -> ObjectKey:
    """The key of ``obj``; ``kind`` for list items, which carry none."""
    kind = kind or obj.get("kind")
    if kind not in KINDS:
        raise BadObject(f"kind {kind!r} is not one of {', '.join(KINDS)}")
    meta = obj.get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
    if not isinstance(name, str) or not name:
        raise BadObject("has no metadata.name")
    if kind == "Namespace":
        return (kind, "", name)
    namespace = meta.get("namespace") or "default"  # type: ignore[union-attr]
    if not _is_dns_label(namespace):
        raise BadObject(f"metadata.namespace {namespace!r} is not a valid namespace name")
    return (kind, namespace, name)


def project(
    obj: Mapping[str, Any], kind: str | None = None, *, pod_names: bool = True
) -> tuple[ObjectKey, Slim | None]:
    """Key and projection of one object; raise BadObject when it is malformed.

    ``pod_names``: keep endpoints' targetRef names (only ``endpoint_pod_names`` reads them).
    """
    key = object_key(obj, kind)
    kind, namespace, name = key
    meta: dict[str, Any] = obj["metadata"]
    if kind == "Namespace":
        if not _is_dns_label(name):
            raise BadObject(f"{name!r} is not a valid namespace name (RFC 1123 label)")
        return key, Namespace(intern(name), _labels(meta))
    if kind == "Service":
        return key, _service(meta, _mapping(obj, "spec"), namespace, name)
    if kind == "EndpointSlice":
        return key, _endpoint_slice(obj, meta, namespace, pod_names)
    if kind == "Endpoints":
        subsets = obj.get("subsets") or []
        if not isinstance(subsets, list):
            raise BadObject("subsets is not a list")
        parts = tuple(_legacy_subset(s, i, pod_names) for i, s in enumerate(subsets))
        return key, ServiceEndpoints((intern(namespace), intern(name)), parts)
    return key, _pod(obj, meta, namespace, name)


def _endpoint_slice(
    obj: Mapping[str, Any], meta: dict[str, Any], ns: str, pod_names: bool
) -> ServiceEndpoints | None:
    labels = meta.get("labels") or {}
    service_name = labels.get(SERVICE_NAME_LABEL) if isinstance(labels, dict) else None
    if not service_name or not isinstance(service_name, str):
        raise BadObject(f"has no {SERVICE_NAME_LABEL} label, so it belongs to no service")
    address_type = obj.get("addressType", "IPv4")
    if address_type == "FQDN":
        return None  # FQDN slices name hosts, not addresses: nothing for cluster DNS to serve
    if address_type not in ("IPv4", "IPv6"):
        raise BadObject(f"addressType {address_type!r} is not IPv4, IPv6 or FQDN")
    subset = EndpointSubset(
        endpoints=tuple(_slice_endpoints(obj.get("endpoints"), address_type, pod_names)),
        ports=tuple(_slice_ports(obj.get("ports"))),
    )
    return ServiceEndpoints((intern(ns), intern(service_name)), (subset,), _trigger_time(meta))


def _trigger_time(meta: dict[str, Any]) -> float:
    annotations = meta.get("annotations")
    text = annotations.get(LAST_CHANGE_TRIGGER_TIME) if isinstance(annotations, dict) else None
    if not isinstance(text, str):
        return 0.0
    # RFC 3339 with up to nanoseconds; datetime takes microseconds at most
    match = re.fullmatch(r"([^.Z+]+)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)", text)
    if match is None:
        return 0.0
    fraction = (match[2] or "0")[:6].ljust(6, "0")
    zone = "+00:00" if match[3] == "Z" else match[3]
    try:
        return datetime.fromisoformat(f"{match[1]}.{fraction}{zone}").timestamp()
    except ValueError:
        return 0.0


def _pod(obj: Mapping[str, Any], meta: dict[str, Any], ns: str, name: str) -> Pod | None:
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    if not isinstance(spec, dict) or not isinstance(status, dict):
        raise BadObject("spec and status must be mappings")
    if meta.get("deletionTimestamp") or status.get("phase") in FINISHED_POD_PHASES:
        return None  # CoreDNS ignores terminating and finished pods (object/pod.go, controller.go)
    return Pod(
        namespace=intern(ns),
        name=name,
        ips=tuple(_pod_ips(status)),
        host_network=bool(spec.get("hostNetwork", False)),
        labels=_labels(meta),
    )


def _is_dns_label(name: str) -> bool:
    return isinstance(name, str) and len(name) <= 63 and bool(_DNS_LABEL.match(name))


def _mapping(obj: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = obj.get(key)
    if not isinstance(value, dict):
        raise BadObject(f"has no {key}" if value is None else f"{key} is not a mapping")
    return value


def _labels(meta: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    labels = meta.get("labels") or {}
    if not isinstance(labels, dict):
        raise BadObject("metadata.labels is not a mapping")
    return labels_from({str(k): str(v) for k, v in labels.items()})


def _ip(value: Any, where: str, family: str | None = None) -> str:
    if isinstance(value, str) and family != "IPv6" and is_ipv4_text(value):
        return value  # the common case, without ipaddress's cost (50k-service clusters)
    try:
        address = ipaddress.ip_address(str(value))
    except ValueError:
        raise BadObject(f"{where}: {value!r} is not an IP address") from None
    if family and f"IPv{address.version}" != family:
        raise BadObject(f"{where}: {value} is not an {family} address")
    return str(value)


def _port_number(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise BadObject(f"{where}: port {value!r} is not a number from 1 to 65535")
    return value


def _protocol(value: Any, where: str) -> str:
    protocol = "TCP" if value is None else value
    if protocol not in PROTOCOLS:
        raise BadObject(f"{where}: protocol {value!r} is not TCP, UDP or SCTP")
    return str(protocol)


def _port_name(value: Any, where: str) -> str:
    if value in (None, ""):
        return ""
    if not _is_dns_label(value) or len(value) > 15:
        raise BadObject(f"{where}: port name {value!r} is not a valid IANA service name")
    return str(value)


def _service(meta: dict[str, Any], spec: dict[str, Any], ns: str, name: str) -> Service:
    if not _is_dns_label(name):
        raise BadObject(f"{name!r} is not a valid service name (RFC 1035 label)")
    svc_type = spec.get("type") or CLUSTER_IP
    if svc_type not in SERVICE_TYPES:
        raise BadObject(f"spec.type {svc_type!r} is not one of {', '.join(SERVICE_TYPES)}")
    annotations = meta.get("annotations") or {}
    tolerate = isinstance(annotations, dict) and annotations.get(TOLERATE_UNREADY) == "true"
    common = {
        "namespace": intern(ns),
        "name": intern(name),
        "type": svc_type,
        "ports": tuple(_service_ports(spec.get("ports"))),
        "publish_not_ready": bool(spec.get("publishNotReadyAddresses", False)) or tolerate,
        "labels": _labels(meta),
    }
    if svc_type == EXTERNAL_NAME:
        external = spec.get("externalName")
        if not isinstance(external, str) or not external.strip("."):
            raise BadObject("is type ExternalName but has no spec.externalName")
        return Service(external_name=external.rstrip(".").lower(), **common)  # type: ignore[arg-type]
    ips = spec.get("clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP") else [])
    if not ips:
        raise BadObject(
            "has no spec.clusterIP: write the address the API server assigned, "
            "or None for a headless service"
        )
    if not isinstance(ips, list):
        raise BadObject("spec.clusterIPs is not a list")
    if ips[0] == "None":
        return Service(headless=True, **common)  # type: ignore[arg-type]
    cluster_ips = tuple(_ip(ip, "spec.clusterIPs") for ip in ips)
    return Service(cluster_ips=cluster_ips, **common)  # type: ignore[arg-type]


def _port_items(ports: Any, field: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Each entry of a ports list with where it is (``spec.ports[1]``), checked to be a mapping."""
    if ports is None:
        return
    if not isinstance(ports, list):
        raise BadObject(f"{field} is not a list")
    for i, port in enumerate(ports):
        where = f"{field}[{i}]"
        if not isinstance(port, dict):
            raise BadObject(f"{where} is not a mapping")
        yield where, port


def _service_ports(ports: Any) -> Iterator[ServicePort]:
    for where, port in _port_items(ports, "spec.ports"):
        yield ServicePort(
            name=_port_name(port.get("name"), where),
            port=_port_number(port.get("port"), where),
            protocol=_protocol(port.get("protocol"), where),
        )


def _slice_ports(ports: Any) -> Iterator[EndpointPort]:
    for where, port in _port_items(ports, "ports"):
        number = port.get("port")
        yield EndpointPort(
            name=_port_name(port.get("name"), where),
            port=None if number is None else _port_number(number, where),
            protocol=_protocol(port.get("protocol"), where),
        )


def _slice_endpoints(endpoints: Any, family: str, pod_names: bool) -> Iterator[Endpoint]:
    if endpoints is None:
        return
    if not isinstance(endpoints, list):
        raise BadObject("endpoints is not a list")
    for i, ep in enumerate(endpoints):
        where = f"endpoints[{i}]"
        if not isinstance(ep, dict):
            raise BadObject(f"{where} is not a mapping")
        addresses = ep.get("addresses")
        if not isinstance(addresses, list) or not addresses:
            raise BadObject(f"{where} has no addresses")
        conditions = ep.get("conditions") or {}
        ready = conditions.get("ready") if isinstance(conditions, dict) else None
        target = ep.get("targetRef")
        yield Endpoint(
            addresses=tuple(_ip(a, f"{where}.addresses", family) for a in addresses),
            hostname=_hostname(ep.get("hostname"), where),
            # an unset ready condition means "unknown", which consumers treat as ready
            ready=ready is None or bool(ready),
            target_name=_target_name(target) if pod_names else "",
        )


def _hostname(value: Any, where: str) -> str:
    if value in (None, ""):
        return ""
    if not _is_dns_label(value):
        raise BadObject(f"{where}: hostname {value!r} is not a valid DNS label")
    return str(value)


def _legacy_subset(subset: Any, index: int, pod_names: bool) -> EndpointSubset:
    where = f"subsets[{index}]"
    if not isinstance(subset, dict):
        raise BadObject(f"{where} is not a mapping")
    endpoints = []
    for field_name, ready in (("addresses", True), ("notReadyAddresses", False)):
        addresses = subset.get(field_name) or []
        if not isinstance(addresses, list):
            raise BadObject(f"{where}.{field_name} is not a list")
        for i, address in enumerate(addresses):
            at = f"{where}.{field_name}[{i}]"
            if not isinstance(address, dict):
                raise BadObject(f"{at} is not a mapping")
            target = address.get("targetRef")
            endpoints.append(
                Endpoint(
                    addresses=(_ip(address.get("ip"), at),),
                    hostname=_hostname(address.get("hostname"), at),
                    ready=ready,
                    target_name=_target_name(target) if pod_names else "",
                )
            )
    ports = subset.get("ports") or []
    if not isinstance(ports, list):
        raise BadObject(f"{where}.ports is not a list")
    return EndpointSubset(endpoints=tuple(endpoints), ports=tuple(_slice_ports(ports)))


def _target_name(target: Any) -> str:
    return str(target.get("name") or "") if isinstance(target, dict) else ""


def _pod_ips(status: dict[str, Any]) -> Iterator[str]:
    seen = []
    if status.get("podIP"):
        seen.append(_ip(status["podIP"], "status.podIP"))
    for i, entry in enumerate(status.get("podIPs") or []):
        ip = entry.get("ip") if isinstance(entry, dict) else None
        if ip and ip not in seen:
            seen.append(_ip(ip, f"status.podIPs[{i}]"))
    yield from seen
