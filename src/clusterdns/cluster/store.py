"""The live cluster, changed one object at a time.

A ``ClusterStore`` holds the slim projections of the objects a source has
seen and the indexes the record rules need (address -> services, namespace ->
services, service -> EndpointSlices).  ``apply(key, obj)`` puts or removes one
object and notes in a ``Touched`` what that could have changed: the services
whose names may answer differently, the addresses whose PTR may have changed,
the namespaces whose existence or labels changed, the namespaces whose pod
names changed.  Every step costs time in proportion to the object, never to
the cluster.

It answers the same ``ClusterView`` questions as a ``ClusterState`` snapshot,
so the record rules read both alike.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from clusterdns.cluster.model import (
    EndpointSubset,
    Namespace,
    Pod,
    Service,
    ServiceKey,
    canonical_ip,
)
from clusterdns.cluster.objects import ObjectKey, ServiceEndpoints, Slim
from clusterdns.sharded import ShardedDict


@dataclass(slots=True)
class Touched:
    """What a batch of changes may have changed in the answers."""

    services: set[ServiceKey] = field(default_factory=set)
    ips: set[str] = field(default_factory=set)  # canonical addresses
    namespaces: set[str] = field(default_factory=set)
    pod_namespaces: set[str] = field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(self.services or self.ips or self.namespaces or self.pod_namespaces)


class ClusterStore:
    """Slim objects by key, with the indexes DNS looks things up by.

    ``imply_namespaces``: a namespace that objects live in exists even when no
    Namespace object declares it (manifests: a partial ``kubectl get svc -A``
    dump behaves as the cluster it came from).  The API source watches
    Namespaces and turns this off.
    """

    def __init__(self, *, imply_namespaces: bool = True) -> None:
        self.imply_namespaces = imply_namespaces
        self._declared: dict[str, Namespace] = {}
        self._implied: Counter[str] = Counter()
        self.services: ShardedDict[ServiceKey, Service] = ShardedDict()
        self._services_in: dict[str, dict[ServiceKey, None]] = {}
        self._slices: ShardedDict[tuple[str, str], ServiceEndpoints] = ShardedDict()
        self._legacy: ShardedDict[tuple[str, str], ServiceEndpoints] = ShardedDict()
        self._slices_of: ShardedDict[ServiceKey, dict[tuple[str, str], None]] = ShardedDict()
        #: canonical address -> services with that cluster IP, in the order they came
        self._cluster_ips: ShardedDict[str, dict[ServiceKey, None]] = ShardedDict()
        #: canonical address -> one service key per endpoint that holds it (a multiset)
        self._endpoint_ips: ShardedDict[str, tuple[ServiceKey, ...]] = ShardedDict()
        self._pods: ShardedDict[tuple[str, str], Pod] = ShardedDict()
        self._pods_by_ip: ShardedDict[str, tuple[Pod, ...]] = ShardedDict()

    # -- ClusterView ---------------------------------------------------------

    @property
    def namespaces(self) -> Mapping[str, Namespace]:
        merged = {name: Namespace(name) for name in self._implied}
        merged.update(self._declared)
        return merged

    def namespace(self, name: str) -> Namespace | None:
        declared = self._declared.get(name)
        if declared is not None:
            return declared
        return Namespace(name) if self._implied.get(name) else None

    def service(self, namespace: str, name: str) -> Service | None:
        return self.services.get((namespace, name))

    def endpoints_of(self, namespace: str, name: str) -> tuple[EndpointSubset, ...]:
        # A v1 Endpoints object stands in only for a service that has no EndpointSlice.
        key = (namespace, name)
        slices = self._slices_of.get(key)
        if slices:
            return tuple(s for k in slices for s in self._slices[k].subsets)
        legacy = self._legacy.get(key)
        return legacy.subsets if legacy is not None else ()

    def services_at(self, ip: str) -> Iterable[ServiceKey]:
        return self._cluster_ips.get(ip, {}).keys()

    def endpoint_services_at(self, ip: str) -> Iterable[ServiceKey]:
        return dict.fromkeys(self._endpoint_ips.get(ip, ())).keys()

    def pods_at(self, ip: str) -> tuple[Pod, ...]:
        return self._pods_by_ip.get(ip, ())

    # -- reading -------------------------------------------------------------

    def services_in(self, namespace: str) -> Iterable[ServiceKey]:
        return self._services_in.get(namespace, {}).keys()

    def keys(self, kind: str) -> Iterator[ObjectKey]:
        """The keys of every object of ``kind`` held (a relist removes those it did not see).

        A snapshot taken at once (C calls only), its keys made one at a time, so a
        relist of 50 000 objects can go through them in slices.
        """
        if kind == "Namespace":
            return (("Namespace", "", name) for name in list(self._declared))
        tables: dict[str, ShardedDict[tuple[str, str], Any]] = {
            "Service": self.services,
            "EndpointSlice": self._slices,
            "Endpoints": self._legacy,
            "Pod": self._pods,
        }
        return ((kind, ns, name) for keys in tables[kind].key_lists() for ns, name in keys)

    def addresses_of(self, key: ServiceKey) -> set[str]:
        """A service's cluster IPs and endpoint addresses (canonical): its PTR owners."""
        svc = self.services.get(key)
        ips = {canonical_ip(ip) for ip in svc.cluster_ips} if svc else set()
        for subset in self.endpoints_of(*key):
            ips.update(_subset_addresses(subset))
        return ips

    def __len__(self) -> int:
        return len(self.services) + len(self._slices) + len(self._legacy) + len(self._pods)

    # -- changing --------------------------------------------------------------

    def drain(self, count: int) -> bool:
        """Drop up to ``count`` entries, answers be damned (the store is being let go):
        freeing a million objects at once is a stall, so its owner frees it in slices.
        False once empty."""
        for held in self._held_by_size():
            while held and count > 0:
                held.popitem()
                count -= 1
            if count <= 0:
                return True
        return False

    def _held_by_size(self) -> list[dict[Any, Any] | ShardedDict[Any, Any]]:
        return [
            self._endpoint_ips,
            self._slices,
            self._legacy,
            self._slices_of,
            self._cluster_ips,
            self.services,
            self._services_in,
            self._pods_by_ip,
            self._pods,
            self._declared,
        ]

    def apply(self, key: ObjectKey, obj: Slim | None, touched: Touched) -> None:
        """Put ``obj`` under ``key`` (None removes it); note what it may change in ``touched``."""
        kind, namespace, name = key
        if kind == "Namespace":
            self._put_namespace(name, obj if isinstance(obj, Namespace) else None, touched)
        elif kind == "Service":
            self._put_service((namespace, name), obj if isinstance(obj, Service) else None, touched)
        elif kind in ("EndpointSlice", "Endpoints"):
            held = self._slices if kind == "EndpointSlice" else self._legacy
            new = obj if isinstance(obj, ServiceEndpoints) else None
            self._put_endpoints(held, (namespace, name), new, touched)
        elif kind == "Pod":
            self._put_pod((namespace, name), obj if isinstance(obj, Pod) else None, touched)

    def _put_namespace(self, name: str, new: Namespace | None, touched: Touched) -> None:
        old = self._declared.get(name)
        if old == new:
            return
        if new is None:
            del self._declared[name]
        else:
            self._declared[name] = new
        self._namespace_changed(name, touched)

    def _namespace_changed(self, name: str, touched: Touched) -> None:
        touched.namespaces.add(name)
        touched.services.update(self.services_in(name))
        touched.pod_namespaces.add(name)

    def _imply(self, namespace: str, delta: int, touched: Touched) -> None:
        if not self.imply_namespaces or not delta:
            return
        before = self._implied[namespace]
        after = before + delta
        if after:
            self._implied[namespace] = after
        else:
            del self._implied[namespace]
        if (before == 0) != (after == 0) and namespace not in self._declared:
            self._namespace_changed(namespace, touched)

    def _put_service(self, key: ServiceKey, new: Service | None, touched: Touched) -> None:
        old = self.services.get(key)
        if old == new:
            return
        touched.services.add(key)
        # PTRs of the endpoints depend on the service too (labels, publishNotReadyAddresses)
        touched.ips.update(self.addresses_of(key))
        if old is not None:
            self._unindex_cluster_ips(key, old)
        if new is None:
            del self.services[key]
            self._services_in[key[0]].pop(key, None)
            self._imply(key[0], -1, touched)
            return
        self.services[key] = new
        if old is None:
            self._services_in.setdefault(key[0], {})[key] = None
            self._imply(key[0], +1, touched)
        for ip in new.cluster_ips:
            canonical = canonical_ip(ip)
            self._cluster_ips.setdefault(canonical, {})[key] = None
            touched.ips.add(canonical)

    def _unindex_cluster_ips(self, key: ServiceKey, svc: Service) -> None:
        for ip in svc.cluster_ips:
            canonical = canonical_ip(ip)
            holders = self._cluster_ips.get(canonical)
            if holders is not None:
                holders.pop(key, None)
                if not holders:
                    del self._cluster_ips[canonical]

    def _put_endpoints(
        self,
        held: ShardedDict[tuple[str, str], ServiceEndpoints],
        key: tuple[str, str],
        new: ServiceEndpoints | None,
        touched: Touched,
    ) -> None:
        old = held.get(key)
        if old == new:
            return
        is_slice = held is self._slices
        for endpoints in (old, new):
            if endpoints is not None:
                touched.services.add(endpoints.service)
                if is_slice and endpoints.service in self._legacy:
                    # the legacy object stops or starts standing in for the slices
                    touched.ips.update(_addresses(self._legacy[endpoints.service]))
        if old is not None:
            self._unindex_endpoints(old, touched)
            if is_slice:
                self._slices_of[old.service].pop(key, None)
                if not self._slices_of[old.service]:
                    del self._slices_of[old.service]
        self._imply(key[0], (new is not None) - (old is not None), touched)
        if new is None:
            del held[key]
            return
        held[key] = new
        if is_slice:
            self._slices_of.setdefault(new.service, {})[key] = None
        for ip in _addresses(new):
            self._endpoint_ips[ip] = self._endpoint_ips.get(ip, ()) + (new.service,)
            touched.ips.add(ip)

    def _unindex_endpoints(self, old: ServiceEndpoints, touched: Touched) -> None:
        for ip in _addresses(old):
            touched.ips.add(ip)
            holders = list(self._endpoint_ips.get(ip, ()))
            if old.service in holders:
                holders.remove(old.service)
            if holders:
                self._endpoint_ips[ip] = tuple(holders)
            else:
                self._endpoint_ips.pop(ip, None)

    def _put_pod(self, key: tuple[str, str], new: Pod | None, touched: Touched) -> None:
        old = self._pods.get(key)
        if old == new:
            return
        touched.pod_namespaces.add(key[0])
        self._imply(key[0], (new is not None) - (old is not None), touched)
        if old is not None and old.ips:
            left = tuple(p for p in self._pods_by_ip.get(old.ips[0], ()) if p is not old)
            if left:
                self._pods_by_ip[old.ips[0]] = left
            else:
                self._pods_by_ip.pop(old.ips[0], None)
        if new is None:
            del self._pods[key]
            return
        self._pods[key] = new
        if new.ips:  # indexed by status.podIP alone, as CoreDNS's pod informer does
            self._pods_by_ip[new.ips[0]] = self._pods_by_ip.get(new.ips[0], ()) + (new,)


def _subset_addresses(subset: EndpointSubset) -> Iterator[str]:
    for endpoint in subset.endpoints:
        for ip in endpoint.addresses:
            yield canonical_ip(ip)


def _addresses(endpoints: ServiceEndpoints) -> set[str]:
    return {ip for subset in endpoints.subsets for ip in _subset_addresses(subset)}
