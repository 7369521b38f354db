"""The cluster as DNS sees it: slim, immutable projections of Kubernetes objects.

Only the fields cluster DNS reads are kept (as CoreDNS's ``plugin/kubernetes/object``
does): a namespace's name and labels; a service's type, cluster IPs, ports and
ExternalName; the addresses, hostnames and readiness of its endpoints; a pod's IPs.
A ``ClusterState`` is one consistent snapshot of all of them (its mappings are never mutated once
built; it compares by value, it is not hashable); sources (manifests on
disk, later the live API) build a new one when something changes.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

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
    node_name: str = ""
    #: conditions.ready; an unset condition counts as ready (discovery.k8s.io/v1 API docs)
    ready: bool = True
    #: name of the targetRef (the pod, normally), for ``endpoint_pod_names``
    target_name: str = ""
    target_kind: str = ""


@dataclass(frozen=True, slots=True)
class EndpointSubset:
    """One EndpointSlice (or one subset of a legacy Endpoints): endpoints sharing a port list."""

    endpoints: tuple[Endpoint, ...]
    ports: tuple[EndpointPort, ...] = ()
    source: str = ""  # "EndpointSlice <name>" or "Endpoints <name>", for messages


@dataclass(frozen=True, slots=True)
class Pod:
    namespace: str
    name: str
    #: status.podIPs in order; ips[0] is status.podIP, the one CoreDNS indexes
    ips: tuple[str, ...]
    host_network: bool = False
    labels: Labels = ()


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

    def pods(self) -> Iterator[Pod]:
        seen: set[tuple[str, str]] = set()
        for pods in self.pods_by_ip.values():
            for pod in pods:
                if (pod.namespace, pod.name) not in seen:
                    seen.add((pod.namespace, pod.name))
                    yield pod
