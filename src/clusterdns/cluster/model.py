"""The cluster as DNS sees it: slim, immutable projections of Kubernetes objects.

Only the fields cluster DNS reads are kept (as CoreDNS's ``plugin/kubernetes/object``
does): a namespace's name and labels; a service's type, cluster IPs, ports and
ExternalName; the addresses, hostnames and readiness of its endpoints; a pod's IPs.
A ``ClusterState`` is one consistent snapshot of all of them (its mappings are
never mutated once built; it compares by value), used by the tools; the server
keeps a ``ClusterStore`` (``cluster/store.py``) that changes one object at a time.
Both answer the ``ClusterView`` questions the record rules ask.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

#: the label an EndpointSlice carries to name its Service (discovery.k8s.io/v1)
SERVICE_NAME_LABEL = "kubernetes.io/service-name"

CLUSTER_IP = "ClusterIP"
NODE_PORT = "NodePort"
LOAD_BALANCER = "LoadBalancer"
EXTERNAL_NAME = "ExternalName"
SERVICE_TYPES = (CLUSTER_IP, NODE_PORT, LOAD_BALANCER, EXTERNAL_NAME)

ServiceKey = tuple[str, str]
"""(namespace, name) of a Service."""


Labels = tuple[tuple[str, str], ...]
"""metadata.labels as sorted (key, value) pairs: hashable and comparable."""


def labels_from(items: Mapping[str, str] | None) -> Labels:
    return tuple(sorted((items or {}).items()))


@dataclass(frozen=True, slots=True)
class Namespace:
    name: str
    labels: Labels = ()


@dataclass(frozen=True, slots=True)
class ServicePort:
    name: str  # "" for an unnamed port: it has no SRV name of its own (spec 2.3.2)
    port: int
    protocol: str = "TCP"


@dataclass(frozen=True, slots=True)
class Service:
    namespace: str
    name: str
    type: str = CLUSTER_IP
    #: every cluster IP (spec.clusterIPs, dual-stack); empty for headless and ExternalName
    cluster_ips: tuple[str, ...] = ()
    headless: bool = False  # spec.clusterIP: None
    external_name: str = ""
    ports: tuple[ServicePort, ...] = ()
    #: spec.publishNotReadyAddresses, or the legacy tolerate-unready-endpoints annotation
    publish_not_ready: bool = False
    labels: Labels = ()

    @property
    def key(self) -> ServiceKey:
        return (self.namespace, self.name)

    @property
    def is_external_name(self) -> bool:
        return self.type == EXTERNAL_NAME


@dataclass(frozen=True, slots=True)
class EndpointPort:
    name: str
    #: None when the slice leaves the port unset (CoreDNS's sentinel -1: no SRV record)
    port: int | None
    protocol: str = "TCP"


@dataclass(frozen=True, slots=True)
class Endpoint:
    addresses: tuple[str, ...]
    hostname: str = ""
    #: conditions.ready; an unset condition counts as ready (discovery.k8s.io/v1 API docs)
    ready: bool = True
    #: name of the targetRef (the pod, normally), for ``endpoint_pod_names``
    target_name: str = ""


@dataclass(frozen=True, slots=True)
class EndpointSubset:
    """One EndpointSlice (or one subset of a legacy Endpoints): endpoints sharing a port list."""

    endpoints: tuple[Endpoint, ...]
    ports: tuple[EndpointPort, ...] = ()


@dataclass(frozen=True, slots=True)
class Pod:
    namespace: str
    name: str
    #: status.podIPs in order; ips[0] is status.podIP, the one CoreDNS indexes
    ips: tuple[str, ...]
    host_network: bool = False
    labels: Labels = ()


class ClusterView(Protocol):
    """What the record rules read of the cluster: a snapshot or the live store.

    Addresses passed to ``services_at`` and ``endpoint_services_at`` are canonical
    (``canonical_ip``); ``pods_at`` compares text, as CoreDNS's pod index does.
    """

    @property
    def namespaces(self) -> Mapping[str, Namespace]: ...
    @property
    def services(self) -> Mapping[ServiceKey, Service]: ...
    def namespace(self, name: str) -> Namespace | None: ...
    def service(self, namespace: str, name: str) -> Service | None: ...
    def endpoints_of(self, namespace: str, name: str) -> tuple[EndpointSubset, ...]: ...
    def services_at(self, ip: str) -> Iterable[ServiceKey]:
        """Services that have ``ip`` among their cluster IPs, oldest first."""
        ...

    def endpoint_services_at(self, ip: str) -> Iterable[ServiceKey]:
        """Services whose endpoints hold ``ip``."""
        ...

    def pods_at(self, ip: str) -> tuple[Pod, ...]:
        """Pods whose status.podIP is ``ip``, as written."""
        ...


_OCTET = r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4 = re.compile(rf"{_OCTET}(\.{_OCTET}){{3}}")


def is_ipv4_text(text: str) -> bool:
    """A dotted quad in canonical form (no leading zeros): the cheap test for the hot loops."""
    return _IPV4.fullmatch(text) is not None


def canonical_ip(ip: str) -> str:
    """The one spelling of an address that indexes use (IPv6 compressed, lower-case).

    Projected IPv4 text is canonical already (``objects._good_ip`` refuses leading zeros).
    """
    return ip if ":" not in ip else str(ipaddress.ip_address(ip))


@dataclass(frozen=True, slots=True)
class ClusterState:
    """One snapshot of the cluster.

    ``endpoints`` holds, per service, the subsets merged from every EndpointSlice
    that names the service in its ``kubernetes.io/service-name`` label; a legacy
    v1 Endpoints object is used only for a service that has no slice.
    ``pods_by_ip`` indexes pods by ``status.podIP`` alone, as CoreDNS's pod
    informer does (so a dual-stack pod's second IP is not a verified pod IP).
    """

    namespaces: Mapping[str, Namespace] = field(default_factory=dict)
    services: Mapping[ServiceKey, Service] = field(default_factory=dict)
    endpoints: Mapping[ServiceKey, tuple[EndpointSubset, ...]] = field(default_factory=dict)
    pods_by_ip: Mapping[str, tuple[Pod, ...]] = field(default_factory=dict)
    #: address -> services, built on first use (a snapshot never changes)
    _by_ip: dict[str, tuple[list[ServiceKey], list[ServiceKey]]] = field(
        default_factory=dict, compare=False, repr=False
    )

    @classmethod
    def build(
        cls,
        namespaces: Mapping[str, Namespace],
        services: Mapping[ServiceKey, Service],
        endpoints: Mapping[ServiceKey, tuple[EndpointSubset, ...]],
        pods: Mapping[tuple[str, str], Pod] | None = None,
    ) -> ClusterState:
        by_ip: dict[str, list[Pod]] = {}
        for pod in (pods or {}).values():
            if pod.ips:
                by_ip.setdefault(pod.ips[0], []).append(pod)
        return cls(
            namespaces=dict(namespaces),
            services=dict(services),
            endpoints=dict(endpoints),
            pods_by_ip={ip: tuple(p) for ip, p in by_ip.items()},
        )

    def service(self, namespace: str, name: str) -> Service | None:
        return self.services.get((namespace, name))

    def endpoints_of(self, namespace: str, name: str) -> tuple[EndpointSubset, ...]:
        return self.endpoints.get((namespace, name), ())

    def namespace(self, name: str) -> Namespace | None:
        return self.namespaces.get(name)

    def pods_at(self, ip: str) -> tuple[Pod, ...]:
        return tuple(self.pods_by_ip.get(ip, ()))

    def services_at(self, ip: str) -> Iterable[ServiceKey]:
        return self._ip_index().get(ip, ([], []))[0]

    def endpoint_services_at(self, ip: str) -> Iterable[ServiceKey]:
        return self._ip_index().get(ip, ([], []))[1]

    def _ip_index(self) -> dict[str, tuple[list[ServiceKey], list[ServiceKey]]]:
        index = self._by_ip
        if index or not (self.services or self.endpoints):
            return index
        for key, svc in self.services.items():
            for ip in svc.cluster_ips:
                index.setdefault(canonical_ip(ip), ([], []))[0].append(key)
        for key, subsets in self.endpoints.items():
            for subset in subsets:
                for endpoint in subset.endpoints:
                    for ip in endpoint.addresses:
                        holders = index.setdefault(canonical_ip(ip), ([], []))[1]
                        if key not in holders:
                            holders.append(key)
        return index
