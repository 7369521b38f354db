"""Cluster state from Kubernetes manifests on disk, in the shape kubectl prints them.

``kubectl get ns,svc,endpointslices,pods -A -o yaml`` prints a ``List``; people
also keep multi-document YAML files, JSON, and directories of those.  The core,
``state_from_documents``, takes already parsed documents and does no I/O: a bad
object is skipped and reported as a ``Problem`` naming the file and the object
(``Service shop/web``), the rest is kept.  ``load_manifests`` reads files;
``ManifestWatcher`` polls them and hands over a new state when they change,
keeping the last good content of a file that stops parsing.

A namespace that objects live in but that no Namespace object declares is
implied: in a live cluster a Service cannot exist in a missing namespace, so a
partial dump (``kubectl get svc -A -o yaml``) behaves as the cluster it came from.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import os
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from clusterdns.cluster.model import (
    CLUSTER_IP,
    EXTERNAL_NAME,
    SERVICE_NAME_LABEL,
    SERVICE_TYPES,
    ClusterState,
    Endpoint,
    EndpointPort,
    EndpointSubset,
    Namespace,
    Pod,
    Service,
    ServiceKey,
    ServicePort,
    labels_from,
)
from clusterdns.errors import ManifestError

log = logging.getLogger(__name__)

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
PROTOCOLS = ("TCP", "UDP", "SCTP")
#: the pre-publishNotReadyAddresses way to publish unready endpoints (DNS spec 2.1, "ready")
TOLERATE_UNREADY = "service.alpha.kubernetes.io/tolerate-unready-endpoints"
#: pods CoreDNS's informer never sees (its field selector drops them)
FINISHED_POD_PHASES = ("Succeeded", "Failed", "Unknown")

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")

_YamlLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True, slots=True)
class Problem:
    """Something wrong in a manifest: where, which object, and what."""

    file: str
    object: str  # "Service shop/web"; "" when the whole file is at fault
    message: str

    def __str__(self) -> str:
        where = f"{self.file}: " if self.file else ""
        what = f"{self.object}: " if self.object else ""
        return f"{where}{what}{self.message}"


class _Bad(Exception):
    """One object is wrong; the message says what (internal to this module)."""


# ---------------------------------------------------------------- sans-I/O core


def state_from_documents(
    docs: Iterable[tuple[str, Any]],
) -> tuple[ClusterState, list[Problem]]:
    """Build a ClusterState from ``(file, parsed document)`` pairs.

    Documents may be single objects or lists (``kind: List`` or ``ServiceList``
    and the like, whose items may omit their kind).  Kinds other than Namespace,
    Service, EndpointSlice, Endpoints and Pod are ignored.
    """
    builder = _StateBuilder()
    for file, doc in docs:
        for obj in _objects(file, doc, builder.problems):
            builder.add(file, obj)
    return builder.finish(), builder.problems


def _objects(file: str, doc: Any, problems: list[Problem]) -> Iterator[dict[str, Any]]:
    if doc is None:
        return
    if isinstance(doc, list):  # a JSON array of objects
        for item in doc:
            yield from _objects(file, item, problems)
        return
    if not isinstance(doc, dict):
        problems.append(Problem(file, "", f"expected a Kubernetes object, found {_kind_of(doc)}"))
        return
    kind = doc.get("kind")
    if isinstance(kind, str) and kind.endswith("List") and "items" in doc:
        items = doc.get("items") or []
        if not isinstance(items, list):
            problems.append(Problem(file, kind, "items is not a list"))
            return
        item_kind = kind[: -len("List")] if kind != "List" else None
        for item in items:
            if isinstance(item, dict) and item_kind and "kind" not in item:
                item = {**item, "kind": item_kind}
            yield from _objects(file, item, problems)
        return
    yield doc


def _kind_of(value: Any) -> str:
    return {str: "a string", list: "a list", int: "a number", float: "a number"}.get(
        type(value), type(value).__name__
    )


class _StateBuilder:
    def __init__(self) -> None:
        self.problems: list[Problem] = []
        self.namespaces: dict[str, Namespace] = {}
        self.services: dict[ServiceKey, Service] = {}
        self.slices: dict[tuple[str, str], tuple[ServiceKey, EndpointSubset]] = {}
        self.legacy: dict[ServiceKey, tuple[EndpointSubset, ...]] = {}
        self.pods: dict[tuple[str, str], Pod] = {}
        self.seen: dict[tuple[str, str, str], str] = {}  # (kind, ns, name) -> file

    def add(self, file: str, obj: dict[str, Any]) -> None:
        kind = obj.get("kind")
        handler = _HANDLERS.get(kind) if isinstance(kind, str) else None
        if handler is None:
            return
        meta = obj.get("metadata")
        namespaced = kind != "Namespace"
        name = meta.get("name") if isinstance(meta, dict) else None
        namespace = (meta.get("namespace") or "default") if isinstance(meta, dict) else ""
        label = f"{kind} {namespace}/{name}" if namespaced else f"{kind} {name}"
        try:
            if not isinstance(meta, dict) or not isinstance(name, str) or not name:
                raise _Bad("has no metadata.name")
            if namespaced and not _is_dns_label(namespace):
                raise _Bad(f"metadata.namespace {namespace!r} is not a valid namespace name")
            self._note_duplicate(file, str(kind), namespace if namespaced else "", name, label)
            handler(self, obj, meta, namespace, name)
        except _Bad as bad:
            self.problems.append(Problem(file, label, str(bad)))

    def _note_duplicate(self, file: str, kind: str, ns: str, name: str, label: str) -> None:
        key = (kind, ns, name)
        if key in self.seen:
            first = self.seen[key]
            self.problems.append(
                Problem(file, label, f"is defined again (first in {first}); the later one is used")
            )
        self.seen[key] = file

    def finish(self) -> ClusterState:
        endpoints: dict[ServiceKey, list[EndpointSubset]] = {}
        for service_key, subset in self.slices.values():
            endpoints.setdefault(service_key, []).append(subset)
        for service_key, subsets in self.legacy.items():
            # v1 Endpoints only stand in for a service that has no EndpointSlice
            if service_key not in endpoints:
                endpoints[service_key] = list(subsets)
        namespaces = dict(self.namespaces)
        implied = [k[0] for k in self.services] + [k[0] for k in endpoints]
        implied += [k[0] for k in self.pods]
        for ns in implied:
            namespaces.setdefault(ns, Namespace(ns))
        return ClusterState.build(
            namespaces,
            self.services,
            {k: tuple(v) for k, v in endpoints.items()},
            self.pods,
        )

    # -- kinds

    def add_namespace(self, obj: dict[str, Any], meta: dict[str, Any], _ns: str, name: str) -> None:
        if not _is_dns_label(name):
            raise _Bad(f"{name!r} is not a valid namespace name (RFC 1123 label)")
        self.namespaces[name] = Namespace(name, _labels(meta))

    def add_service(self, obj: dict[str, Any], meta: dict[str, Any], ns: str, name: str) -> None:
        self.services[(ns, name)] = _service(meta, _mapping(obj, "spec"), ns, name)

    def add_endpoint_slice(
        self, obj: dict[str, Any], meta: dict[str, Any], ns: str, name: str
    ) -> None:
        labels = meta.get("labels") or {}
        service_name = labels.get(SERVICE_NAME_LABEL) if isinstance(labels, dict) else None
        if not service_name:
            raise _Bad(f"has no {SERVICE_NAME_LABEL} label, so it belongs to no service")
        address_type = obj.get("addressType", "IPv4")
        if address_type == "FQDN":
            return  # FQDN slices name hosts, not addresses: nothing for cluster DNS to serve
        if address_type not in ("IPv4", "IPv6"):
            raise _Bad(f"addressType {address_type!r} is not IPv4, IPv6 or FQDN")
        subset = EndpointSubset(
            endpoints=tuple(_slice_endpoints(obj.get("endpoints"), address_type)),
            ports=tuple(_slice_ports(obj.get("ports"))),
            source=f"EndpointSlice {name}",
        )
        self.slices[(ns, name)] = ((ns, str(service_name)), subset)

    def add_endpoints(self, obj: dict[str, Any], meta: dict[str, Any], ns: str, name: str) -> None:
        subsets = obj.get("subsets") or []
        if not isinstance(subsets, list):
            raise _Bad("subsets is not a list")
        self.legacy[(ns, name)] = tuple(_legacy_subset(s, i, name) for i, s in enumerate(subsets))

    def add_pod(self, obj: dict[str, Any], meta: dict[str, Any], ns: str, name: str) -> None:
        spec = obj.get("spec") or {}
        status = obj.get("status") or {}
        if not isinstance(spec, dict) or not isinstance(status, dict):
            raise _Bad("spec and status must be mappings")
        if meta.get("deletionTimestamp") or status.get("phase") in FINISHED_POD_PHASES:
            # CoreDNS ignores terminating and finished pods (object/pod.go, controller.go)
            self.pods.pop((ns, name), None)
            return
        self.pods[(ns, name)] = Pod(
            namespace=ns,
            name=name,
            ips=tuple(_pod_ips(status)),
            host_network=bool(spec.get("hostNetwork", False)),
            labels=_labels(meta),
        )


_HANDLERS: dict[str, Callable[[_StateBuilder, dict[str, Any], dict[str, Any], str, str], None]] = {
    "Namespace": _StateBuilder.add_namespace,
    "Service": _StateBuilder.add_service,
    "EndpointSlice": _StateBuilder.add_endpoint_slice,
    "Endpoints": _StateBuilder.add_endpoints,
    "Pod": _StateBuilder.add_pod,
}


def _is_dns_label(name: str) -> bool:
    return isinstance(name, str) and len(name) <= 63 and bool(_DNS_LABEL.match(name))


def _mapping(obj: dict[str, Any], key: str) -> dict[str, Any]:
    value = obj.get(key)
    if not isinstance(value, dict):
        raise _Bad(f"has no {key}" if value is None else f"{key} is not a mapping")
    return value


def _labels(meta: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    labels = meta.get("labels") or {}
    if not isinstance(labels, dict):
        raise _Bad("metadata.labels is not a mapping")
    return labels_from({str(k): str(v) for k, v in labels.items()})


_IPV4_TEXT = re.compile(
    r"((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
)


def _ip(value: Any, where: str, family: str | None = None) -> str:
    if isinstance(value, str) and family != "IPv6" and _IPV4_TEXT.fullmatch(value):
        return value  # the common case, without ipaddress's cost (50k-service clusters)
    try:
        address = ipaddress.ip_address(str(value))
    except ValueError:
        raise _Bad(f"{where}: {value!r} is not an IP address") from None
    if family and f"IPv{address.version}" != family:
        raise _Bad(f"{where}: {value} is not an {family} address")
    return str(value)


def _port_number(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise _Bad(f"{where}: port {value!r} is not a number from 1 to 65535")
    return value


def _protocol(value: Any, where: str) -> str:
    protocol = "TCP" if value is None else value
    if protocol not in PROTOCOLS:
        raise _Bad(f"{where}: protocol {value!r} is not TCP, UDP or SCTP")
    return str(protocol)


def _port_name(value: Any, where: str) -> str:
    if value in (None, ""):
        return ""
    if not _is_dns_label(value) or len(value) > 15:
        raise _Bad(f"{where}: port name {value!r} is not a valid IANA service name")
    return str(value)


def _service(meta: dict[str, Any], spec: dict[str, Any], ns: str, name: str) -> Service:
    if not _is_dns_label(name):
        raise _Bad(f"{name!r} is not a valid service name (RFC 1035 label)")
    svc_type = spec.get("type") or CLUSTER_IP
    if svc_type not in SERVICE_TYPES:
        raise _Bad(f"spec.type {svc_type!r} is not one of {', '.join(SERVICE_TYPES)}")
    annotations = meta.get("annotations") or {}
    tolerate = isinstance(annotations, dict) and annotations.get(TOLERATE_UNREADY) == "true"
    common = {
        "namespace": ns,
        "name": name,
        "type": svc_type,
        "ports": tuple(_service_ports(spec.get("ports"))),
        "publish_not_ready": bool(spec.get("publishNotReadyAddresses", False)) or tolerate,
        "labels": _labels(meta),
    }
    if svc_type == EXTERNAL_NAME:
        external = spec.get("externalName")
        if not isinstance(external, str) or not external.strip("."):
            raise _Bad("is type ExternalName but has no spec.externalName")
        return Service(external_name=external.rstrip(".").lower(), **common)  # type: ignore[arg-type]
    ips = spec.get("clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP") else [])
    if not ips:
        raise _Bad(
            "has no spec.clusterIP: write the address the API server assigned, "
            "or None for a headless service"
        )
    if not isinstance(ips, list):
        raise _Bad("spec.clusterIPs is not a list")
    if ips[0] == "None":
        return Service(headless=True, **common)  # type: ignore[arg-type]
    cluster_ips = tuple(_ip(ip, "spec.clusterIPs") for ip in ips)
    return Service(cluster_ips=cluster_ips, **common)  # type: ignore[arg-type]


def _service_ports(ports: Any) -> Iterator[ServicePort]:
    if ports is None:
        return
    if not isinstance(ports, list):
        raise _Bad("spec.ports is not a list")
    for i, port in enumerate(ports):
        where = f"spec.ports[{i}]"
        if not isinstance(port, dict):
            raise _Bad(f"{where} is not a mapping")
        yield ServicePort(
            name=_port_name(port.get("name"), where),
            port=_port_number(port.get("port"), where),
            protocol=_protocol(port.get("protocol"), where),
        )


def _slice_ports(ports: Any) -> Iterator[EndpointPort]:
    if ports is None:
        return
    if not isinstance(ports, list):
        raise _Bad("ports is not a list")
    for i, port in enumerate(ports):
        where = f"ports[{i}]"
        if not isinstance(port, dict):
            raise _Bad(f"{where} is not a mapping")
        number = port.get("port")
        yield EndpointPort(
            name=_port_name(port.get("name"), where),
            port=None if number is None else _port_number(number, where),
            protocol=_protocol(port.get("protocol"), where),
        )


def _slice_endpoints(endpoints: Any, family: str) -> Iterator[Endpoint]:
    if endpoints is None:
        return
    if not isinstance(endpoints, list):
        raise _Bad("endpoints is not a list")
    for i, ep in enumerate(endpoints):
        where = f"endpoints[{i}]"
        if not isinstance(ep, dict):
            raise _Bad(f"{where} is not a mapping")
        addresses = ep.get("addresses")
        if not isinstance(addresses, list) or not addresses:
            raise _Bad(f"{where} has no addresses")
        conditions = ep.get("conditions") or {}
        ready = conditions.get("ready") if isinstance(conditions, dict) else None
        target = ep.get("targetRef") or {}
        yield Endpoint(
            addresses=tuple(_ip(a, f"{where}.addresses", family) for a in addresses),
            hostname=_hostname(ep.get("hostname"), where),
            node_name=str(ep.get("nodeName") or ""),
            # an unset ready condition means "unknown", which consumers treat as ready
            ready=ready is None or bool(ready),
            target_name=str(target.get("name") or "") if isinstance(target, dict) else "",
            target_kind=str(target.get("kind") or "") if isinstance(target, dict) else "",
        )


def _hostname(value: Any, where: str) -> str:
    if value in (None, ""):
        return ""
    if not _is_dns_label(value):
        raise _Bad(f"{where}: hostname {value!r} is not a valid DNS label")
    return str(value)


def _legacy_subset(subset: Any, index: int, name: str) -> EndpointSubset:
    where = f"subsets[{index}]"
    if not isinstance(subset, dict):
        raise _Bad(f"{where} is not a mapping")
    endpoints = []
    for field_name, ready in (("addresses", True), ("notReadyAddresses", False)):
        addresses = subset.get(field_name) or []
        if not isinstance(addresses, list):
            raise _Bad(f"{where}.{field_name} is not a list")
        for i, address in enumerate(addresses):
            at = f"{where}.{field_name}[{i}]"
            if not isinstance(address, dict):
                raise _Bad(f"{at} is not a mapping")
            target = address.get("targetRef") or {}
            endpoints.append(
                Endpoint(
                    addresses=(_ip(address.get("ip"), at),),
                    hostname=_hostname(address.get("hostname"), at),
                    node_name=str(address.get("nodeName") or ""),
                    ready=ready,
                    target_name=str(target.get("name") or "") if isinstance(target, dict) else "",
                    target_kind=str(target.get("kind") or "") if isinstance(target, dict) else "",
                )
            )
    ports = subset.get("ports") or []
    if not isinstance(ports, list):
        raise _Bad(f"{where}.ports is not a list")
    return EndpointSubset(
        endpoints=tuple(endpoints),
        ports=tuple(_slice_ports(ports)),
        source=f"Endpoints {name}",
    )


def _pod_ips(status: dict[str, Any]) -> Iterator[str]:
    seen = []
    if status.get("podIP"):
        seen.append(_ip(status["podIP"], "status.podIP"))
    for i, entry in enumerate(status.get("podIPs") or []):
        ip = entry.get("ip") if isinstance(entry, dict) else None
        if ip and ip not in seen:
            seen.append(_ip(ip, f"status.podIPs[{i}]"))
    yield from seen


# ---------------------------------------------------------------- files


def manifest_files(path: str | os.PathLike[str]) -> list[Path]:
    """The manifest files at ``path``: the file itself, or a directory's *.yaml, *.yml, *.json.

    A directory is read one level deep, skipping dot-names, so a mounted
    ConfigMap (whose ``..data`` holds the real files) is read once.
    """
    root = Path(path)
    if root.is_dir():
        return sorted(
            p
            for p in root.iterdir()
            if not p.name.startswith(".") and p.suffix in MANIFEST_SUFFIXES and p.is_file()
        )
    if root.exists():
        return [root]
    raise ManifestError(f"{root}: no such file or directory")


def parse_text(text: str, file: str) -> list[Any]:
    """Parse one file's text into documents; raise ManifestError naming file and line."""
    if file.endswith(".json"):
        try:
            return [json.loads(text)]
        except json.JSONDecodeError as err:
            raise ManifestError(f"{file}:{err.lineno}: not valid JSON: {err.msg}") from None
    try:
        return list(yaml.load_all(text, Loader=_YamlLoader))
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err)
        raise ManifestError(f"{file}{line}: not valid YAML: {problem}") from None


def read_file(path: Path) -> list[Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ManifestError(f"{path}: cannot read: {err}") from None
    return parse_text(text, str(path))


def load_manifests(path: str | os.PathLike[str]) -> tuple[ClusterState, list[Problem]]:
    """Read a manifest file or directory; a file that does not parse is reported and skipped."""
    docs: list[tuple[str, Any]] = []
    problems: list[Problem] = []
    for file in manifest_files(path):
        try:
            docs.extend((str(file), doc) for doc in read_file(file))
        except ManifestError as err:
            problems.append(Problem(str(file), "", _without_file(str(err), str(file))))
    state, object_problems = state_from_documents(docs)
    return state, problems + object_problems


def _without_file(message: str, file: str) -> str:
    return message[len(file) :].lstrip(":").lstrip() if message.startswith(file) else message


# ---------------------------------------------------------------- watching

StateCallback = Callable[[ClusterState, list[Problem]], None]
ProblemCallback = Callable[[Problem], None]
_Signature = tuple[int, int, int]  # mtime_ns, size, inode


@dataclass(slots=True)
class _FileState:
    signature: _Signature
    docs: list[Any]


def _log_problem(problem: Problem) -> None:
    log.warning("manifests: %s", problem)


class ManifestWatcher:
    """Poll manifest files every ``interval`` seconds; deliver a new state when it changes.

    Change is seen from each file's mtime, size and inode (no extra dependency,
    works on ConfigMap mounts).  When a file stops parsing, its last good
    content is kept and the problem reported, so a half-saved edit never
    empties the zone.  ``on_change(state, problems)`` receives the state and the
    object problems found in it; ``on_problem`` receives file-level problems
    (default: a warning in the log).

    Use ``poll()`` directly, ``start()``/``stop()`` for a thread, or
    ``await run()`` as an asyncio task (the callback then runs on the loop).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        on_change: StateCallback,
        *,
        interval: float = 1.0,
        on_problem: ProblemCallback = _log_problem,
    ) -> None:
        self.path = Path(path)
        self.interval = interval
        self.on_change = on_change
        self.on_problem = on_problem
        self.state: ClusterState | None = None
        self.problems: list[Problem] = []
        self._files: dict[Path, _FileState] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def poll(self) -> bool:
        """Look once; deliver and return True when the state changed."""
        result = self._check()
        if result is None:
            return False
        self._deliver(*result)
        return True

    def _check(self) -> tuple[ClusterState, list[Problem]] | None:
        try:
            files = manifest_files(self.path)
        except ManifestError as err:
            self.on_problem(Problem(str(self.path), "", f"{err}; keeping the last state"))
            return None
        changed = set(self._files) != set(files)
        for file in files:
            changed |= self._refresh(file)
        for gone in set(self._files) - set(files):
            del self._files[gone]
        if not changed and self.state is not None:
            return None
        docs = [(str(f), doc) for f in files if f in self._files for doc in self._files[f].docs]
        state, problems = state_from_documents(docs)
        if state == self.state:
            return None
        return state, problems

    def _refresh(self, file: Path) -> bool:
        try:
            st = file.stat()
        except OSError:
            return False  # vanished between listing and stat: the next poll sees it gone
        signature = (st.st_mtime_ns, st.st_size, st.st_ino)
        known = self._files.get(file)
        if known is not None and known.signature == signature:
            return False
        try:
            docs = read_file(file)
        except ManifestError as err:
            kept = "keeping its last good content" if known else "skipping it"
            self.on_problem(Problem(str(file), "", f"{_without_file(str(err), str(file))}; {kept}"))
            # remember the signature so a broken file is reported once, not every poll
            self._files[file] = _FileState(signature, known.docs if known else [])
            return False
        self._files[file] = _FileState(signature, docs)
        return True

    def _deliver(self, state: ClusterState, problems: list[Problem]) -> None:
        self.state = state
        self.problems = problems
        self.on_change(state, problems)

    # -- thread

    def start(self) -> None:
        """Poll once now (so the first state is there on return), then in a daemon thread."""
        self.poll()
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="manifest-watcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.poll()
            except Exception:  # a bug in a callback must not end the watch
                log.exception("manifest watcher: poll failed")

    # -- asyncio

    async def run(self) -> None:
        """Poll forever (cancel the task to stop); reading and parsing happen off the loop."""
        while True:
            try:
                result = await asyncio.to_thread(self._check)
                if result is not None:
                    self._deliver(*result)
            except Exception:
                log.exception("manifest watcher: poll failed")
            await asyncio.sleep(self.interval)


def documents_of(objects: Iterable[Mapping[str, Any]], file: str = "") -> list[tuple[str, Any]]:
    """Pair generated or hand-built objects with a file name for ``state_from_documents``."""
    return [(file, dict(obj)) for obj in objects]


__all__ = [
    "ManifestWatcher",
    "Problem",
    "documents_of",
    "load_manifests",
    "manifest_files",
    "parse_text",
    "state_from_documents",
]
