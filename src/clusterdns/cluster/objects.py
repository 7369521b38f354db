"""Kubernetes objects -> the slim records DNS keeps (``cluster/model.py``).

``project_dropping`` takes one object as the API server or a manifest gives it
(a parsed JSON/YAML mapping) and returns its key, its projection and what it
had to leave out.  It does no I/O and is shared by every source, so a manifest
and the live API read the same object the same way.

Whatever a real kube-apiserver accepts is served (its validation:
pkg/apis/core/validation/validation.go ``ValidateService``,
``ValidateEndpoints``, ``ValidateNamespace``, pod status ``podIPs``;
pkg/apis/discovery/validation/validation.go ``ValidateEndpointSlice``).  One
odd field drops that field, never the whole object: an address that does not
parse drops that address, a port that cannot be a port drops that port, a
hostname or port name that cannot be a DNS label is served without it.  Each
such drop comes back as a message (``spec.ports[2].port: ...``) for the caller
to count and log once (``DropLog``).  Only an object DNS cannot name at all (no
metadata.name, a name or namespace that is not a DNS label, an unknown kind)
raises ``BadObject``.

An object that exists but gives DNS nothing (an FQDN EndpointSlice, a slice
that names no service, a pod that finished or is terminating) projects to
None: for the store that is the same as the object being gone.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Hashable, Iterable, Iterator, Mapping
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
#: EndpointSlice address types (discovery/v1); "IP" is the deprecated v1beta1 one, either family
SLICE_ADDRESS_TYPES = ("IPv4", "IPv6", "IP")

ObjectKey = tuple[str, str, str]
"""(kind, namespace, name); the namespace is "" for a Namespace."""

Dropped = list[str]
"""What a projection left out, one message per field (``spec.ports[1].port: ...``)."""

# IsDNS1123Label (apimachinery util/validation): lower case; object names must be this
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
# the same shape at any letter case: a name the API server would refuse only for its case
# is still a name DNS can serve, and queries are matched case-insensitively anyway
_ANY_CASE_LABEL = re.compile(r"^[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?$")


class BadObject(ClusterDNSError):
    """One object DNS cannot use at all; the message says which field and why."""


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
    """Key and projection of one object, leaving out odd fields silently (see ``project_dropping``)."""
    key, slim, _ = project_dropping(obj, kind, pod_names=pod_names)
    return key, slim


def project_dropping(
    obj: Mapping[str, Any], kind: str | None = None, *, pod_names: bool = True
) -> tuple[ObjectKey, Slim | None, Dropped]:
    """Key, projection and the fields left out of one object; BadObject if DNS cannot name it.

    ``pod_names``: keep endpoints' targetRef names (only ``endpoint_pod_names`` reads them).
    """
    key = object_key(obj, kind)
    kind, namespace, name = key
    meta: dict[str, Any] = obj["metadata"]
    dropped: Dropped = []
    slim: Slim | None
    if kind == "Namespace":
        if not _is_dns_label(name):
            raise BadObject(f"{name!r} is not a valid namespace name (RFC 1123 label)")
        slim = Namespace(intern(name), _labels(meta, dropped))
    elif kind == "Service":
        slim = _service(meta, _spec(obj, dropped), namespace, name, dropped)
    elif kind == "EndpointSlice":
        slim = _endpoint_slice(obj, meta, namespace, pod_names, dropped)
    elif kind == "Endpoints":
        slim = _legacy_endpoints(obj, namespace, name, pod_names, dropped)
    else:
        slim = _pod(obj, meta, namespace, name, dropped)
    return key, slim, dropped


class DropLog:
    """Which drops were reported already, so each is logged and counted once, not per relist.

    ``fresh(key, messages)`` returns the messages not reported for ``key`` last
    time and remembers ``messages`` as the current set: an object fixed and
    broken again is reported again.  Holds at most ``limit`` keys (the oldest
    go first), so a cluster of objects with drops cannot grow it without bound.
    """

    def __init__(self, limit: int = 100_000) -> None:
        self.limit = limit
        self._seen: dict[Hashable, frozenset[Any]] = {}

    def fresh(self, key: Hashable, messages: Iterable[Any]) -> list[Any]:
        current = list(dict.fromkeys(messages))
        before = self._seen.pop(key, frozenset())
        if current:
            self._seen[key] = frozenset(current)
            if len(self._seen) > self.limit:
                del self._seen[next(iter(self._seen))]
        return [m for m in current if m not in before]

    def forget(self, key: Hashable) -> None:
        self._seen.pop(key, None)


# ---------------------------------------------------------------- Service


def _spec(obj: Mapping[str, Any], dropped: Dropped) -> dict[str, Any]:
    spec = obj.get("spec")
    if isinstance(spec, dict):
        return spec
    if spec is not None:
        dropped.append("spec: is not a mapping; read as empty")
    return {}


def _service(
    meta: dict[str, Any], spec: dict[str, Any], ns: str, name: str, dropped: Dropped
) -> Service:
    # the API server wants a DNS-1035 label (ValidateServiceName); a DNS-1123 label is
    # all a DNS name needs, so a name starting with a digit (from a manifest) is served too
    if not _is_dns_label(name):
        raise BadObject(f"{name!r} is not a valid service name (RFC 1035 label)")
    svc_type = spec.get("type") or CLUSTER_IP
    if svc_type not in SERVICE_TYPES:
        dropped.append(
            f"spec.type: {svc_type!r} is not one of {', '.join(SERVICE_TYPES)}; served as ClusterIP"
        )
        svc_type = CLUSTER_IP
    annotations = meta.get("annotations")
    tolerate = isinstance(annotations, dict) and annotations.get(TOLERATE_UNREADY) == "true"
    common = {
        "namespace": intern(ns),
        "name": intern(name),
        "type": svc_type,
        "ports": tuple(_service_ports(spec.get("ports"), dropped)),
        "publish_not_ready": spec.get("publishNotReadyAddresses") is True or tolerate,
        "labels": _labels(meta, dropped),
    }
    if svc_type == EXTERNAL_NAME:
        return Service(external_name=_external_name(spec, dropped), **common)  # type: ignore[arg-type]
    ips = _cluster_ips(spec, dropped)
    # "None" is valid only as the one and only value (ValidateServiceClusterIPsRelatedFields)
    if ips and ips[0] == "None":
        return Service(headless=True, **common)  # type: ignore[arg-type]
    cluster_ips = tuple(
        ip for i, ip in enumerate(ips) if _good_ip(ip, f"spec.clusterIPs[{i}]", dropped)
    )
    if not ips:
        dropped.append(
            "spec.clusterIP: not set; the service has no address: write the one the "
            "API server assigned, or None for a headless service"
        )
    return Service(cluster_ips=cluster_ips, **common)  # type: ignore[arg-type]


def _cluster_ips(spec: dict[str, Any], dropped: Dropped) -> list[Any]:
    """spec.clusterIPs, or [spec.clusterIP] (the API server keeps them in step)."""
    ips = spec.get("clusterIPs")
    if ips is not None and not isinstance(ips, list):
        dropped.append("spec.clusterIPs: is not a list; spec.clusterIP is read instead")
        ips = None
    if not ips:
        single = spec.get("clusterIP")
        ips = [single] if single else []
    return ips


def _external_name(spec: dict[str, Any], dropped: Dropped) -> str:
    # ValidateService: a DNS-1123 subdomain once one trailing dot is trimmed; the CNAME
    # target is compared case-insensitively, so it is kept in lower case
    external = spec.get("externalName")
    if not isinstance(external, str) or not external.rstrip("."):
        dropped.append("spec.externalName: not set; the service has no CNAME")
        return ""
    name = external.rstrip(".").lower()
    if len(name) > 253 or not all(_ANY_CASE_LABEL.match(label) for label in name.split(".")):
        dropped.append(f"spec.externalName: {external!r} is not a DNS name; no CNAME is served")
        return ""
    return name


def _service_ports(ports: Any, dropped: Dropped) -> Iterator[ServicePort]:
    for where, port in _port_items(ports, "spec.ports", dropped):
        number = _port_number(port.get("port"), where, dropped, lowest=1)
        protocol = _protocol(port.get("protocol"), where, dropped)
        if number is None or protocol is None:
            continue
        yield ServicePort(_port_name(port.get("name"), where, dropped), number, protocol)


def _port_items(ports: Any, field: str, dropped: Dropped) -> Iterator[tuple[str, dict[str, Any]]]:
    """Each entry of a ports list with where it is (``spec.ports[1]``); non-mappings dropped."""
    if ports is None:
        return
    if not isinstance(ports, list):
        dropped.append(f"{field}: is not a list; no ports are served")
        return
    for i, port in enumerate(ports):
        where = f"{field}[{i}]"
        if isinstance(port, dict):
            yield where, port
        else:
            dropped.append(f"{where}: is not a mapping; the port is left out")


def _port_number(value: Any, where: str, dropped: Dropped, lowest: int) -> int | None:
    # Service ports: IsValidPortNum (1-65535).  EndpointSlice ports are not range-checked
    # by the API server; an SRV record holds 16 bits, so a number outside 0-65535 is dropped
    if isinstance(value, bool) or not isinstance(value, int) or not lowest <= value <= 65535:
        dropped.append(
            f"{where}.port: {value!r} is not a number from {lowest} to 65535; the port is left out"
        )
        return None
    return value


def _protocol(value: Any, where: str, dropped: Dropped) -> str | None:
    protocol = "TCP" if value is None else value  # the API server's default
    if protocol not in PROTOCOLS:
        dropped.append(f"{where}.protocol: {value!r} is not TCP, UDP or SCTP; the port is left out")
        return None
    return str(protocol)


def _port_name(value: Any, where: str, dropped: Dropped) -> str:
    # Service and EndpointSlice port names are DNS-1123 labels of up to 63 characters
    # (validateServicePort, discovery validatePorts); IANA_SVC_NAME's 15 is for container ports
    if value in (None, ""):
        return ""
    if not _is_any_case_label(value):
        dropped.append(f"{where}.name: {value!r} is not a DNS label; the port has no SRV name")
        return ""
    return str(value)


# ---------------------------------------------------------------- EndpointSlice


def _endpoint_slice(
    obj: Mapping[str, Any], meta: dict[str, Any], ns: str, pod_names: bool, dropped: Dropped
) -> ServiceEndpoints | None:
    labels = meta.get("labels")
    service_name = labels.get(SERVICE_NAME_LABEL) if isinstance(labels, dict) else None
    if not isinstance(service_name, str) or not _is_dns_label(service_name):
        # CoreDNS indexes it under a service that cannot exist: nothing is served
        dropped.append(f"metadata.labels: no {SERVICE_NAME_LABEL} label names a service")
        return None
    address_type = obj.get("addressType", "IPv4")
    if address_type == "FQDN":
        # FQDN slices name hosts, not addresses; CoreDNS reads only addresses
        dropped.append("addressType: FQDN slices hold no addresses for cluster DNS")
        return None
    if address_type not in SLICE_ADDRESS_TYPES:
        dropped.append(f"addressType: {address_type!r} is not IPv4, IPv6 or FQDN")
        return None
    family = None if address_type == "IP" else address_type
    subset = EndpointSubset(
        endpoints=tuple(_slice_endpoints(obj.get("endpoints"), family, pod_names, dropped)),
        ports=tuple(_slice_ports(obj.get("ports"), "ports", dropped)),
    )
    return ServiceEndpoints((intern(ns), intern(service_name)), (subset,), _trigger_time(meta))


def _slice_ports(ports: Any, field: str, dropped: Dropped) -> Iterator[EndpointPort]:
    for where, port in _port_items(ports, field, dropped):
        value = port.get("port")
        # a slice port may leave the number unset: CoreDNS's sentinel -1, no SRV record
        number = None if value is None else _port_number(value, where, dropped, lowest=0)
        protocol = _protocol(port.get("protocol"), where, dropped)
        if (value is not None and number is None) or protocol is None:
            continue
        yield EndpointPort(_port_name(port.get("name"), where, dropped), number, protocol)


def _slice_endpoints(
    endpoints: Any, family: str | None, pod_names: bool, dropped: Dropped
) -> Iterator[Endpoint]:
    if endpoints is None:
        return
    if not isinstance(endpoints, list):
        dropped.append("endpoints: is not a list; no endpoints are served")
        return
    # where an endpoint is ("endpoints[3]") is spelled out only for a message: 50 000
    # slices of 10 endpoints are half a million endpoints to project at start-up
    for i, ep in enumerate(endpoints):
        if not isinstance(ep, dict):
            dropped.append(f"endpoints[{i}]: is not a mapping; the endpoint is left out")
            continue
        values = ep.get("addresses")
        addresses = _plain_addresses(values, family)
        if addresses is None:
            addresses = _addresses(values, f"endpoints[{i}].addresses", family, dropped)
            if not addresses:
                continue
        hostname = ep.get("hostname")
        conditions = ep.get("conditions")
        ready = conditions.get("ready") if isinstance(conditions, dict) else None
        yield Endpoint(
            addresses=addresses,
            hostname=_hostname(hostname, f"endpoints[{i}]", dropped) if hostname else "",
            # object/endpoint.go endpointsliceReady: an unset ready condition ("unknown") is
            # ready; serving and terminating are not read
            ready=ready is None or ready is True,
            target_name=_target_name(ep.get("targetRef")) if pod_names else "",
        )


def _plain_addresses(values: Any, family: str | None) -> tuple[str, ...] | None:
    """The addresses when all is well (a non-empty list of good ones); None: look closer."""
    if not isinstance(values, list) or not values:
        return None
    for value in values:
        if not _is_ip(value, family):
            return None
    return tuple(values)


def _addresses(values: Any, where: str, family: str | None, dropped: Dropped) -> tuple[str, ...]:
    plain = _plain_addresses(values, family)
    if plain is not None:
        return plain  # the common case, without building a message per address
    if not isinstance(values, list) or not values:
        dropped.append(f"{where}: none given; the endpoint is left out")
        return ()
    return tuple(
        value for i, value in enumerate(values) if _good_ip(value, f"{where}[{i}]", dropped, family)
    )


def _hostname(value: Any, where: str, dropped: Dropped) -> str:
    # ValidateDNS1123Label on endpoints[].hostname and subsets[].addresses[].hostname
    if value in (None, ""):
        return ""
    if not _is_any_case_label(value):
        dropped.append(
            f"{where}.hostname: {value!r} is not a DNS label; the endpoint is named by its address"
        )
        return ""
    return str(value)


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


# ---------------------------------------------------------------- v1 Endpoints


def _legacy_endpoints(
    obj: Mapping[str, Any], ns: str, name: str, pod_names: bool, dropped: Dropped
) -> ServiceEndpoints:
    subsets = obj.get("subsets") or []
    if not isinstance(subsets, list):
        dropped.append("subsets: is not a list; no endpoints are served")
        subsets = []
    parts = []
    for i, subset in enumerate(subsets):
        if isinstance(subset, dict):
            parts.append(_legacy_subset(subset, f"subsets[{i}]", pod_names, dropped))
        else:
            dropped.append(f"subsets[{i}]: is not a mapping; it is left out")
    return ServiceEndpoints((intern(ns), intern(name)), tuple(parts))


def _legacy_subset(
    subset: dict[str, Any], where: str, pod_names: bool, dropped: Dropped
) -> EndpointSubset:
    endpoints = []
    for field_name, ready in (("addresses", True), ("notReadyAddresses", False)):
        addresses = subset.get(field_name) or []
        if not isinstance(addresses, list):
            dropped.append(f"{where}.{field_name}: is not a list; it is left out")
            continue
        for i, address in enumerate(addresses):
            at = f"{where}.{field_name}[{i}]"
            if not isinstance(address, dict):
                dropped.append(f"{at}: is not a mapping; it is left out")
                continue
            if not _good_ip(address.get("ip"), f"{at}.ip", dropped):
                continue
            endpoints.append(
                Endpoint(
                    addresses=(address["ip"],),
                    hostname=_hostname(address.get("hostname"), at, dropped),
                    ready=ready,
                    target_name=_target_name(address.get("targetRef")) if pod_names else "",
                )
            )
    ports = tuple(_slice_ports(subset.get("ports"), f"{where}.ports", dropped))
    return EndpointSubset(endpoints=tuple(endpoints), ports=ports)


def _target_name(target: Any) -> str:
    name = target.get("name") if isinstance(target, dict) else None
    return name if isinstance(name, str) else ""


# ---------------------------------------------------------------- Pod


def _pod(
    obj: Mapping[str, Any], meta: dict[str, Any], ns: str, name: str, dropped: Dropped
) -> Pod | None:
    spec = obj.get("spec")
    status = obj.get("status")
    spec = spec if isinstance(spec, dict) else {}
    status = status if isinstance(status, dict) else {}
    if meta.get("deletionTimestamp") or status.get("phase") in FINISHED_POD_PHASES:
        return None  # CoreDNS ignores terminating and finished pods (object/pod.go, controller.go)
    return Pod(
        namespace=intern(ns),
        name=name,
        ips=tuple(_pod_ips(status, dropped)),
        host_network=spec.get("hostNetwork") is True,
        labels=_labels(meta, dropped),
    )


def _pod_ips(status: dict[str, Any], dropped: Dropped) -> Iterator[str]:
    # status.podIP is podIPs[0] (the v1 conversion keeps them in step); CoreDNS indexes podIP
    seen: list[str] = []
    candidates: list[tuple[Any, str]] = []
    if status.get("podIP"):
        candidates.append((status["podIP"], "status.podIP"))
    pod_ips = status.get("podIPs") or []
    if isinstance(pod_ips, list):
        for i, entry in enumerate(pod_ips):
            ip = entry.get("ip") if isinstance(entry, dict) else None
            candidates.append((ip, f"status.podIPs[{i}].ip"))
    for ip, where in candidates:
        if ip not in seen and _good_ip(ip, where, dropped):
            seen.append(ip)
    yield from seen


# ---------------------------------------------------------------- shared checks


def _is_dns_label(name: Any) -> bool:
    return isinstance(name, str) and len(name) <= 63 and bool(_DNS_LABEL.match(name))


def _is_any_case_label(name: Any) -> bool:
    return isinstance(name, str) and len(name) <= 63 and bool(_ANY_CASE_LABEL.match(name))


def _labels(meta: dict[str, Any], dropped: Dropped) -> tuple[tuple[str, str], ...]:
    labels = meta.get("labels")
    if labels is None:
        return ()
    if not isinstance(labels, dict):
        dropped.append("metadata.labels: is not a mapping; read as none")
        return ()
    return labels_from({str(k): str(v) for k, v in labels.items()})


def _is_ip(value: Any, family: str | None = None) -> bool:
    if isinstance(value, str) and family != "IPv6" and is_ipv4_text(value):
        return True  # the common case, without ipaddress's cost (50k-service clusters)
    try:
        address = ipaddress.ip_address(value if isinstance(value, str) else "")
    except ValueError:
        return False
    return not family or f"IPv{address.version}" == family


def _good_ip(value: Any, where: str, dropped: Dropped, family: str | None = None) -> bool:
    """Whether ``value`` is an address (of ``family``); if not, say so in ``dropped``."""
    if _is_ip(value, family):
        return True
    if _is_ip(value):
        dropped.append(f"{where}: {value} is not an {family} address; it is left out")
    else:
        dropped.append(f"{where}: {value!r} is not an IP address; it is left out")
    return False
