"""The service environment variables the kubelet injects into a pod's containers.

From pkg/kubelet/envvars/envvars.go (FromServices, makeLinkVariables) and
pkg/kubelet/kubelet_pods.go (getServiceEnvVarMap):

* only services with a cluster IP (not "None", not empty): headless and ExternalName
  services get nothing;
* the ``kubernetes`` service of ``default`` is always injected, even with
  ``enableServiceLinks: false``; the pod namespace's services only when it is true, and
  a service of the pod's namespace with the same name wins;
* names: upper case, ``-`` becomes ``_``, a leading digit gets a ``_`` prefix;
* ``<SVC>_SERVICE_HOST``, ``<SVC>_SERVICE_PORT`` (first port), ``<SVC>_SERVICE_PORT_<NAME>``
  for named ports, then the Docker-link forms ``<SVC>_PORT`` (first port) and
  ``<SVC>_PORT_<port>_<PROTO>`` with ``_PROTO``, ``_PORT``, ``_ADDR``.  The URL form is
  ``proto://ip:port`` with no brackets, even for IPv6.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from clusterdns.errors import ManifestError

MASTER_NAMESPACE = "default"
MASTER_SERVICES = frozenset({"kubernetes"})


@dataclass(frozen=True, slots=True)
class ServicePort:
    port: int
    protocol: str = "TCP"
    name: str = ""


@dataclass(frozen=True, slots=True)
class ServiceView:
    namespace: str
    name: str
    cluster_ip: str
    ports: tuple[ServicePort, ...]

    @property
    def has_cluster_ip(self) -> bool:
        return self.cluster_ip not in ("", "None")


def load_services(text: str, source: str = "<cluster>") -> list[ServiceView]:
    """Services from ``kubectl get svc -A -o yaml`` output (a List) or multi-document YAML."""
    try:
        documents = list(yaml.safe_load_all(text))
    except yaml.YAMLError as exc:
        raise ManifestError(f"{source}: not valid YAML: {exc}") from exc
    return [_service(obj, source) for doc in documents for obj in _items(doc)]


def _items(doc: Any) -> Iterator[Mapping[str, Any]]:
    if not isinstance(doc, Mapping):
        return
    if "items" in doc and str(doc.get("kind", "")).endswith("List"):
        for item in doc.get("items") or []:
            yield from _items(item)
    elif doc.get("kind") == "Service":
        yield doc


def _service(obj: Mapping[str, Any], source: str) -> ServiceView:
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    namespace = str(meta.get("namespace") or "default")
    name = str(meta.get("name") or "")
    if not name:
        raise ManifestError(f"{source}: a Service in namespace {namespace} has no metadata.name")
    ports = []
    for i, port in enumerate(spec.get("ports") or []):
        try:
            number = int(port["port"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ManifestError(
                f"{source}: Service {namespace}/{name}: spec.ports[{i}].port must be a number"
            ) from exc
        ports.append(
            ServicePort(number, str(port.get("protocol") or "TCP"), str(port.get("name") or ""))
        )
    cluster_ip = "" if spec.get("type") == "ExternalName" else str(spec.get("clusterIP") or "")
    return ServiceView(namespace, name, cluster_ip, tuple(ports))


def env_name(name: str) -> str:
    out = name.replace(".", "_").replace("-", "_").upper()
    return "_" + out if out[:1].isdigit() else out


def visible_services(
    services: list[ServiceView], namespace: str, enable_service_links: bool = True
) -> list[ServiceView]:
    """getServiceEnvVarMap's choice of services for a pod in ``namespace``, sorted by name."""
    chosen: dict[str, ServiceView] = {}
    for service in services:
        if not service.has_cluster_ip or not service.ports:
            continue
        if service.namespace == MASTER_NAMESPACE and service.name in MASTER_SERVICES:
            chosen.setdefault(service.name, service)
        elif service.namespace == namespace and enable_service_links:
            chosen[service.name] = service
    return [chosen[name] for name in sorted(chosen)]


def service_env(service: ServiceView) -> list[tuple[str, str]]:
    prefix = env_name(service.name)
    ip = service.cluster_ip
    first = service.ports[0]
    out = [
        (f"{prefix}_SERVICE_HOST", ip),
        (f"{prefix}_SERVICE_PORT", str(first.port)),
    ]
    out.extend(
        (f"{prefix}_SERVICE_PORT_{env_name(p.name)}", str(p.port)) for p in service.ports if p.name
    )
    for i, port in enumerate(service.ports):
        proto = port.protocol.lower()
        url = f"{proto}://{ip}:{port.port}"
        if i == 0:
            out.append((f"{prefix}_PORT", url))
        base = f"{prefix}_PORT_{port.port}_{port.protocol.upper()}"
        out.extend(
            [
                (base, url),
                (f"{base}_PROTO", proto),
                (f"{base}_PORT", str(port.port)),
                (f"{base}_ADDR", ip),
            ]
        )
    return out


def pod_service_env(
    services: list[ServiceView], namespace: str, enable_service_links: bool = True
) -> list[tuple[str, str]]:
    """All service variables for a pod in ``namespace``, services by name, each in kubelet order."""
    env: list[tuple[str, str]] = []
    for service in visible_services(services, namespace, enable_service_links):
        env.extend(service_env(service))
    return env
