"""Pod specs out of Kubernetes manifests: Pod, and the pod template of the workload kinds."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from clusterdns.errors import ManifestError

TEMPLATE_PATHS: dict[str, tuple[str, ...]] = {
    "Pod": ("spec",),
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "ReplicationController": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}


@dataclass(frozen=True, slots=True)
class DNSOption:
    name: str
    value: str | None


@dataclass(frozen=True, slots=True)
class PodDNSConfig:
    nameservers: tuple[str, ...] = ()
    searches: tuple[str, ...] = ()
    options: tuple[DNSOption, ...] = ()


@dataclass(frozen=True, slots=True)
class PodDNSSpec:
    """The fields of a pod spec the kubelet's DNS code reads, and where they came from."""

    kind: str
    namespace: str
    name: str
    dns_policy: str
    host_network: bool
    dns_config: PodDNSConfig | None
    source: str = ""

    @property
    def ref(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"


def load_pods(text: str, source: str = "<manifest>") -> list[PodDNSSpec]:
    """Every pod (spec) in a YAML text: multi-document, ``kind: List`` items, workload templates."""
    try:
        documents = list(yaml.safe_load_all(text))
    except yaml.YAMLError as exc:
        raise ManifestError(f"{source}: not valid YAML: {exc}") from exc
    pods = [
        pod_from_object(obj, f"{source} (document {i + 1})")
        for i, doc in enumerate(documents)
        for obj in _objects(doc)
    ]
    if not pods:
        raise ManifestError(f"{source}: no Pod or workload with a pod template found")
    return pods


def _objects(doc: Any) -> Iterator[Mapping[str, Any]]:
    if not isinstance(doc, Mapping):
        return
    if doc.get("kind") == "List" or (doc.get("kind", "").endswith("List") and "items" in doc):
        for item in doc.get("items") or []:
            yield from _objects(item)
    elif doc.get("kind") in TEMPLATE_PATHS:
        yield doc


def pod_from_object(obj: Mapping[str, Any], source: str = "") -> PodDNSSpec:
    kind = str(obj.get("kind"))
    meta = obj.get("metadata") or {}
    name = str(meta.get("name") or "<unnamed>")
    namespace = str(meta.get("namespace") or "default")
    where = f"{source}: {kind} {namespace}/{name}"
    spec: Any = obj
    for key in TEMPLATE_PATHS[kind]:
        spec = spec.get(key) if isinstance(spec, Mapping) else None
    if not isinstance(spec, Mapping):
        path = ".".join(TEMPLATE_PATHS[kind])
        raise ManifestError(f"{where}: has no {path} to read the pod spec from")
    # A template's namespace is the workload's: pods are created in the workload's namespace.
    return PodDNSSpec(
        kind=kind,
        namespace=namespace,
        name=name,
        dns_policy=str(spec.get("dnsPolicy") or "ClusterFirst"),
        host_network=bool(spec.get("hostNetwork", False)),
        dns_config=_dns_config(spec.get("dnsConfig"), where),
        source=source,
    )


def _strings(value: Any, what: str, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ManifestError(f"{where}: spec.dnsConfig.{what} must be a list")
    return tuple(str(v) for v in value)


def _dns_config(value: Any, where: str) -> PodDNSConfig | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise ManifestError(f"{where}: spec.dnsConfig must be a mapping")
    options = []
    for i, option in enumerate(value.get("options") or []):
        if not isinstance(option, Mapping):
            raise ManifestError(f"{where}: spec.dnsConfig.options[{i}] must be a mapping")
        raw = option.get("value")
        options.append(DNSOption(str(option.get("name") or ""), None if raw is None else str(raw)))
    return PodDNSConfig(
        nameservers=_strings(value.get("nameservers"), "nameservers", where),
        searches=_strings(value.get("searches"), "searches", where),
        options=tuple(options),
    )
