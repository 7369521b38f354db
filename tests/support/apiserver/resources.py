"""The four resources the API server serves, with the names kube-apiserver uses.

Each :class:`Resource` knows its URL segments (group, version, plural), its
``kind`` and whether it is namespaced, and the fields a ``fieldSelector`` may
name for it.  The selectable fields are the ones kube-apiserver registers for
these kinds (``pkg/registry/*/strategy.go``: ``GetAttrs``/``ToSelectableFields``):
``metadata.name`` and ``metadata.namespace`` for all, plus ``spec.clusterIP`` and
``spec.type`` for Services, ``addressType`` for EndpointSlices, ``status.phase``
for Namespaces and ``spec.nodeName``, ``status.phase``, ``status.podIP`` and
friends for Pods.  Any other field is refused with 400, as the real server does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

FieldGetter = Callable[[Mapping[str, Any]], str]


def _path(*keys: str) -> FieldGetter:
    def get(obj: Mapping[str, Any]) -> str:
        value: Any = obj
        for key in keys:
            value = value.get(key) if isinstance(value, Mapping) else None
            if value is None:
                return ""
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)

    return get


@dataclass(frozen=True, slots=True)
class Resource:
    """One API resource: ``services`` (kind ``Service``) in group ``""`` version ``v1``..."""

    name: str  # the plural, as in the URL and in RBAC rules
    kind: str
    group: str  # "" for the core group
    version: str
    namespaced: bool
    singular: str
    #: fieldSelector fields beyond metadata.name / metadata.namespace
    fields: Mapping[str, FieldGetter] = field(default_factory=dict)

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    @property
    def qualified(self) -> str:
        """``services`` or ``endpointslices.discovery.k8s.io`` (GroupResource.String())."""
        return f"{self.name}.{self.group}" if self.group else self.name

    @property
    def prefix(self) -> str:
        """The URL prefix of the group version: ``/api/v1`` or ``/apis/discovery.k8s.io/v1``."""
        return f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"

    @property
    def kind_head(self) -> bytes:
        """``{"kind":..,"apiVersion":..,`` to put in front of a stored object's other members."""
        return f'{{"kind":"{self.kind}","apiVersion":"{self.api_version}",'.encode()

    def selectable_fields(self) -> tuple[str, ...]:
        base = ("metadata.name", "metadata.namespace")
        return base + tuple(self.fields)


SERVICES = Resource(
    "services",
    "Service",
    "",
    "v1",
    True,
    "service",
    {"spec.clusterIP": _path("spec", "clusterIP"), "spec.type": _path("spec", "type")},
)
ENDPOINT_SLICES = Resource(
    "endpointslices",
    "EndpointSlice",
    "discovery.k8s.io",
    "v1",
    True,
    "endpointslice",
    {"addressType": _path("addressType")},
)
NAMESPACES = Resource(
    "namespaces",
    "Namespace",
    "",
    "v1",
    False,
    "namespace",
    {"status.phase": _path("status", "phase")},
)
PODS = Resource(
    "pods",
    "Pod",
    "",
    "v1",
    True,
    "pod",
    {
        "spec.nodeName": _path("spec", "nodeName"),
        "spec.restartPolicy": _path("spec", "restartPolicy"),
        "spec.schedulerName": _path("spec", "schedulerName"),
        "spec.serviceAccountName": _path("spec", "serviceAccountName"),
        "spec.hostNetwork": _path("spec", "hostNetwork"),
        "status.phase": _path("status", "phase"),
        "status.podIP": _path("status", "podIP"),
        "status.nominatedNodeName": _path("status", "nominatedNodeName"),
    },
)

RESOURCES: tuple[Resource, ...] = (SERVICES, ENDPOINT_SLICES, NAMESPACES, PODS)
BY_NAME: dict[str, Resource] = {r.name: r for r in RESOURCES}
BY_KIND: dict[str, Resource] = {r.kind: r for r in RESOURCES}
#: every verb the server knows, for authorization rules
VERBS = ("get", "list", "watch", "create", "update", "patch", "delete")


def resource_for(name_or_kind: str) -> Resource:
    """``"services"``, ``"Service"`` or ``"service"`` -> SERVICES; KeyError for anything else."""
    if name_or_kind in BY_NAME:
        return BY_NAME[name_or_kind]
    if name_or_kind in BY_KIND:
        return BY_KIND[name_or_kind]
    for resource in RESOURCES:
        if name_or_kind.lower() in (resource.singular, resource.kind.lower()):
            return resource
    raise KeyError(f"unknown resource {name_or_kind!r}: expected one of {sorted(BY_NAME)}")
