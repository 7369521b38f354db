"""Cluster state from Kubernetes manifests on disk, in the shape kubectl prints them.

``kubectl get ns,svc,endpointslices,pods -A -o yaml`` prints a ``List``; people
also keep multi-document YAML files, JSON, and directories of those.  The core,
``objects_from_documents``, takes already parsed documents and does no I/O: a
bad object is skipped and reported as a ``Problem`` naming the file and the
object (``Service shop/web``), the rest is kept.  ``load_manifests`` reads files
into a ``ClusterState`` snapshot (for the tools); ``ManifestWatcher`` polls them
and turns what changed into per-object changes for the server's store, keeping
the last good content of a file that stops parsing.

A namespace that objects live in but that no Namespace object declares is
implied: in a live cluster a Service cannot exist in a missing namespace, so a
partial dump (``kubectl get svc -A -o yaml``) behaves as the cluster it came from.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from clusterdns.cluster.jsonlist import BadList, ListDecoder
from clusterdns.cluster.model import ClusterState, EndpointSubset, Namespace, Pod, Service
from clusterdns.cluster.objects import (
    BadObject,
    DropLog,
    ObjectKey,
    ServiceEndpoints,
    Slim,
    object_label,
    project_dropping,
)
from clusterdns.errors import ManifestError

log = logging.getLogger(__name__)

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")

_YamlLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

Change = tuple[ObjectKey, Slim | None]
"""One object put (its projection) or removed (None)."""


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


# ---------------------------------------------------------------- sans-I/O core


def objects_from_documents(
    docs: Iterable[tuple[str, Any]], *, pod_names: bool = True
) -> tuple[dict[ObjectKey, Slim | None], list[Problem]]:
    """The objects of ``(file, parsed document)`` pairs, by key; a later definition wins.

    Documents may be single objects or lists (``kind: List`` or ``ServiceList``
    and the like, whose items may omit their kind).  Kinds other than Namespace,
    Service, EndpointSlice, Endpoints and Pod are ignored.  A value of None is an
    object that gives DNS nothing (an FQDN slice, a finished pod).
    """
    objects: dict[ObjectKey, Slim | None] = {}
    first_file: dict[ObjectKey, str] = {}
    problems: list[Problem] = []
    for file, doc in docs:
        for obj in _objects(file, doc, problems):
            kind = obj.get("kind")
            if kind not in _KINDS:
                continue
            try:
                key, slim, dropped = project_dropping(obj, pod_names=pod_names)
            except BadObject as bad:
                problems.append(Problem(file, _label_of(obj), str(bad)))
                continue
            problems.extend(Problem(file, object_label(key), message) for message in dropped)
            if key in first_file:
                problems.append(
                    Problem(
                        file,
                        object_label(key),
                        f"is defined again (first in {first_file[key]}); the later one is used",
                    )
                )
            first_file.setdefault(key, file)
            objects[key] = slim
    return objects, problems


_KINDS = ("Namespace", "Service", "EndpointSlice", "Endpoints", "Pod")


def _label_of(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
    kind = obj.get("kind")
    if kind == "Namespace":
        return f"{kind} {name}"
    namespace = (meta.get("namespace") or "default") if isinstance(meta, dict) else ""
    return f"{kind} {namespace}/{name}"


def state_from_objects(objects: Mapping[ObjectKey, Slim | None]) -> ClusterState:
    """A snapshot of projected objects, with implied namespaces and v1 Endpoints rules."""
    namespaces: dict[str, Namespace] = {}
    services: dict[tuple[str, str], Service] = {}
    slices: dict[tuple[str, str], list[EndpointSubset]] = {}
    legacy: dict[tuple[str, str], tuple[EndpointSubset, ...]] = {}
    pods: dict[tuple[str, str], Pod] = {}
    implied: list[str] = []
    for (kind, namespace, name), obj in objects.items():
        if namespace:
            implied.append(namespace)
        if isinstance(obj, Namespace):
            namespaces[name] = obj
        elif isinstance(obj, Service):
            services[(namespace, name)] = obj
        elif isinstance(obj, ServiceEndpoints) and kind == "EndpointSlice":
            slices.setdefault(obj.service, []).extend(obj.subsets)
        elif isinstance(obj, ServiceEndpoints):
            legacy[obj.service] = obj.subsets
        elif isinstance(obj, Pod):
            pods[(namespace, name)] = obj
    endpoints = {key: tuple(subsets) for key, subsets in slices.items()}
    for key, subsets in legacy.items():
        # v1 Endpoints only stand in for a service that has no EndpointSlice
        endpoints.setdefault(key, subsets)
    for namespace in implied:
        namespaces.setdefault(namespace, Namespace(namespace))
    return ClusterState.build(namespaces, services, endpoints, pods)


def state_from_documents(
    docs: Iterable[tuple[str, Any]],
) -> tuple[ClusterState, list[Problem]]:
    """A ClusterState from ``(file, parsed document)`` pairs, and the problems found."""
    objects, problems = objects_from_documents(docs)
    return state_from_objects(objects), problems


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


def read_file(path: Path) -> Iterator[Any]:
    """The documents of one file; a JSON list's items come one at a time, as decoded.

    Errors (ManifestError) may come while iterating: a JSON file is decoded
    as it is read, so it is never held whole as Python objects.
    """
    if path.suffix == ".json":
        return _json_documents(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ManifestError(f"{path}: cannot read: {err}") from None
    return iter(parse_text(text, str(path)))


def _json_documents(path: Path) -> Iterator[Any]:
    """A JSON file's documents: each item of a list as a one-item list (so ``_objects``
    reads it as it reads any list), then the rest of the document.

    The file is read a megabyte at a time, never whole: a 500 MB file read at once is
    500 MB to allocate and, when it is let go, to unmap, with the GIL held all along
    (poll() runs in a thread; the query loop waited 100 ms and more for it).
    """
    decoder = ListDecoder()
    try:
        with path.open("rb") as file:
            while chunk := file.read(1 << 20):
                decoder.feed(chunk)
                for item in decoder.items():
                    assert decoder.envelope is not None  # items come only from a list
                    # poll() runs in a thread, and must not give the GIL up by itself
                    # here: on one core, a release per item (time.sleep(0)) wakes the
                    # query loop without letting it run, so it never asks for the GIL
                    # (CPython asks after a 5 ms wait with no wake-up).
                    yield {**decoder.envelope, "items": [item]}
        yield decoder.finish()
    except OSError as err:
        raise ManifestError(f"{path}: cannot read: {err}") from None
    except BadList:
        # the message with its line comes from the stdlib's decoder (only on this path)
        parse_text(path.read_bytes().decode("utf-8", "replace"), str(path))
        raise ManifestError(f"{path}: not valid JSON") from None


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

ProblemCallback = Callable[[Problem], None]
_Signature = tuple[int, int, int]  # mtime_ns, size, inode


@dataclass(slots=True)
class _FileState:
    signature: _Signature
    objects: dict[ObjectKey, Slim | None]


def _log_problem(problem: Problem) -> None:
    log.warning("manifests: %s", problem)


class ManifestWatcher:
    """Turn changes of manifest files into per-object changes.

    ``poll()`` looks at the files (mtime, size and inode: no extra dependency,
    works on ConfigMap mounts), re-reads only the files that changed, and
    returns the objects put or removed since the last poll (the first poll
    returns every object), or None while the path does not exist.  When a file stops parsing, its last good content
    is kept and the problem reported, so a half-saved edit never empties the
    zone.  An object defined in two files is taken from the later file.

    ``poll`` reads files: call it off the event loop.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        interval: float = 1.0,
        on_problem: ProblemCallback = _log_problem,
        pod_names: bool = True,
    ) -> None:
        self.path = Path(path)
        self.interval = interval
        self.on_problem = on_problem
        self.pod_names = pod_names
        self.served: dict[ObjectKey, Slim | None] = {}
        self._files: dict[Path, _FileState] = {}
        self._reported = DropLog()  # a file's problems are reported once, not at each edit

    def changed(self) -> bool:
        """Whether ``poll`` has anything to read: a file added, removed or rewritten since."""
        try:
            files = manifest_files(self.path)
        except ManifestError:
            return True  # poll reports it
        if set(files) != set(self._files):
            return True
        return any(self._files[file].signature != _signature(file) for file in files)

    def poll(self) -> list[Change] | None:
        """The changes since the last poll; None when the path cannot be read at all."""
        try:
            files = manifest_files(self.path)
        except ManifestError as err:
            self.on_problem(Problem(str(self.path), "", f"{err}; keeping the last state"))
            return None
        # poll() runs in a thread: what touches every key is a loop in Python, which hands
        # the GIL to the query loop when it asks, not one C call over 100 000 keys (a set
        # union of two files' keys took 95-130 ms, the keys equal but not identical)
        touched: list[Iterable[ObjectKey]] = []
        for gone in set(self._files) - set(files):
            touched.append(self._files.pop(gone).objects)
        for file in files:
            touched.append(self._refresh(file))
        order = [self._files[f] for f in files if f in self._files]
        changes: list[Change] = []
        seen: set[ObjectKey] = set()
        for key in (key for keys in touched for key in keys):
            if key in seen:
                continue
            seen.add(key)
            # the last file (in name order) that defines the object wins
            owner = next((f for f in reversed(order) if key in f.objects), None)
            held = self.served.get(key, _ABSENT)
            if owner is None:
                if held is not _ABSENT:
                    del self.served[key]
                    changes.append((key, None))
                continue
            obj = owner.objects[key]
            if obj != held:
                self.served[key] = obj
                changes.append((key, obj))
            else:
                # The file keeps the served object, and the one just read goes now, on its
                # own.  Kept, every object would be held twice, and the next read would free
                # a whole file's objects in one C call: 1.5 s with the GIL held at 50 000
                # services, while the query loop waited for it.
                owner.objects[key] = held
        return changes

    def state(self) -> ClusterState:
        """A snapshot of what the polls so far have served."""
        return state_from_objects(self.served)

    def _refresh(self, file: Path) -> Iterable[ObjectKey]:
        """Re-read ``file`` if it changed; the keys it defined before and defines now."""
        signature = _signature(file)
        if signature is None:
            return ()  # vanished between listing and stat: the next poll sees it gone
        known = self._files.get(file)
        if known is not None and known.signature == signature:
            return ()
        try:
            objects, problems = objects_from_documents(
                ((str(file), doc) for doc in read_file(file)), pod_names=self.pod_names
            )
        except ManifestError as err:
            kept = "keeping its last good content" if known else "skipping it"
            self.on_problem(Problem(str(file), "", f"{_without_file(str(err), str(file))}; {kept}"))
            # remember the signature so a broken file is reported once, not every poll
            self._files[file] = _FileState(signature, known.objects if known else {})
            return ()
        for problem in self._reported.fresh(file, problems):
            self.on_problem(problem)
        self._files[file] = _FileState(signature, objects)
        if known is None:
            return objects
        gone = [key for key in known.objects if key not in objects]
        # the old keys are equal to the new ones, not the same objects: freed by one dict
        # dealloc, 100 000 of them held the GIL 40 ms; popped in a Python loop, they do not
        while known.objects:
            known.objects.popitem()
        return itertools.chain(objects, gone)


_ABSENT: Any = object()


def _signature(file: Path) -> _Signature | None:
    """mtime, size and inode: what tells a rewritten file (also a ConfigMap's swapped link)."""
    try:
        st = file.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


def documents_of(objects: Iterable[Mapping[str, Any]], file: str = "") -> list[tuple[str, Any]]:
    """Pair generated or hand-built objects with a file name for ``state_from_documents``."""
    return [(file, dict(obj)) for obj in objects]


__all__ = [
    "Change",
    "ManifestWatcher",
    "Problem",
    "documents_of",
    "load_manifests",
    "manifest_files",
    "objects_from_documents",
    "parse_text",
    "state_from_documents",
    "state_from_objects",
]
