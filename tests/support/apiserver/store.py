"""The API server's storage: objects, one resourceVersion, history, lists and watchers.

This is the part of kube-apiserver + etcd a list/watch client can observe, with
no I/O (the HTTP layer in ``http.py`` drives it from one event loop thread):

* one global, monotonically increasing resourceVersion, bumped by every write
  of any kind (etcd's revision); an update that changes nothing writes nothing
  (etcd's ``GuaranteedUpdate`` skips equal bytes, so no event and no new RV);
* each object is serialized to JSON once per change; a list joins those bytes;
* a bounded history of changes (the watch cache window, and etcd's compaction
  point at the same time): a watch from an RV older than the window is told
  ``too old resource version: X (Y)``, and a paged list (``continue``) reads a
  consistent snapshot at its first page's RV by undoing the changes made since,
  until that RV falls out of the window (then 410 Expired, with an
  "inconsistent continue" token, as ``storage/etcd3`` does);
* watchers receive ready-made event lines; a label or field selector turns an
  object that stops matching into DELETED and one that starts matching into
  ADDED (``cacher/cache_watcher.go``: ``convertToWatchEvent``).
"""

from __future__ import annotations

import base64
import binascii
import bisect
import enum
import gc
import heapq
import itertools
import json
import posixpath
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from tests.support.apiserver.resources import RESOURCES, Resource, resource_for
from tests.support.apiserver.selectors import Filter
from tests.support.apiserver.status import (
    ApiError,
    already_exists,
    bad_request,
    conflict,
    expired,
    invalid,
    not_found,
    status_object,
    too_large_resource_version,
)
from tests.support.apiserver.validation import validate

#: metadata members in the order kube-apiserver writes them (ObjectMeta's field order)
_META_ORDER = (
    "name",
    "generateName",
    "namespace",
    "selfLink",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "labels",
    "annotations",
    "ownerReferences",
    "finalizers",
    "managedFields",
)
_SERVER_SET = frozenset(("uid", "resourceVersion", "creationTimestamp", "selfLink"))
_CONTINUE_VERSION = "meta.k8s.io/v1"
#: the annotation of the bookmark that ends a sendInitialEvents stream
INITIAL_EVENTS_END = "k8s.io/initial-events-end"
_JSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def _dumps(value: Any) -> bytes:
    return _JSON.encode(value).encode()


@dataclass(frozen=True, slots=True)
class Stored:
    """One object as stored at one resourceVersion: its JSON (without kind/apiVersion,
    as list items are served) and what selectors look at."""

    resource: Resource
    key: str  # "namespace/name" or "name": the etcd key after the resource prefix
    namespace: str
    name: str
    rv: int
    uid: str
    created: str
    raw: bytes
    labels: Mapping[str, str]
    fields: Mapping[str, str]

    def full(self) -> bytes:
        """The object with ``kind`` and ``apiVersion``, as GET and watch events send it."""
        return self.resource.kind_head + self.raw[1:]

    def at(self, rv: int) -> bytes:
        """The full object with ``metadata.resourceVersion`` set to ``rv`` (a deletion's RV)."""
        old = b'"resourceVersion":"%d"' % self.rv
        return self.full().replace(old, b'"resourceVersion":"%d"' % rv, 1)


@dataclass(slots=True, eq=False)
class Change:
    """One write: ``prev`` None for a create, ``cur`` None for a delete."""

    rv: int
    resource: Resource
    key: str
    prev: Stored | None
    cur: Stored | None
    _lines: dict[str, bytes] = field(default_factory=dict)

    def line(self, kind: str) -> bytes:
        """The watch event line of type ``kind`` for this change (built once, shared)."""
        line = self._lines.get(kind)
        if line is None:
            if kind == "DELETED":
                assert self.prev is not None
                obj = self.prev.at(self.rv)
            else:
                assert self.cur is not None
                obj = self.cur.full()
            line = event_line(kind, obj)
            self._lines[kind] = line
        return line


def event_line(kind: str, obj: bytes) -> bytes:
    return b'{"type":"%s","object":%s}\n' % (kind.encode(), obj)


class Signal(enum.Enum):
    """Out-of-band orders to the HTTP writer of a watch."""

    END = "end"  # finish the response cleanly
    CUT = "cut"  # write half an event line and drop the connection


class Watcher:
    """One open watch: its filter and the event lines waiting to be written.

    Lines come from ``initial`` (synthetic ADDED events of a "get state and
    start" watch, turned into bytes as they are written) and then ``pending``.
    More than ``buffer`` pending lines means the client is not keeping up: the
    watcher is ended, as kube-apiserver terminates unresponsive watchers.
    """

    def __init__(
        self,
        resource: Resource,
        flt: Filter,
        *,
        after: int,
        bookmarks: bool,
        buffer: int,
        wake: Callable[[], None] = lambda: None,
    ) -> None:
        self.resource = resource
        self.filter = flt
        self.after = after  # events with an RV at or below this are not sent
        self.bookmarks = bookmarks
        self.buffer = buffer
        self.wake = wake
        self.initial: list[Stored] = []
        self._initial_at = 0
        self.pending: deque[bytes | Signal] = deque()
        self.ended = False
        #: the error the stream carries as its one ERROR event (a watch from too old an RV)
        self.error: ApiError | None = None

    def matches(self, stored: Stored) -> bool:
        return self.filter.matches(stored.namespace, stored.labels, stored.fields)

    def offer(self, change: Change) -> None:
        if self.ended or change.rv <= self.after:
            return
        was = change.prev is not None and self.matches(change.prev)
        now = change.cur is not None and self.matches(change.cur)
        if now:
            self.push(change.line("MODIFIED" if was else "ADDED"))
        elif was:
            self.push(change.line("DELETED"))

    def push(self, item: bytes | Signal) -> None:
        if self.ended:
            return
        self.pending.append(item)
        if len(self.pending) > self.buffer:
            self.pending.clear()
            self.end()
            return
        self.wake()

    def end(self, *, drop: bool = False) -> None:
        """End the stream cleanly after the lines already queued, or at once with ``drop``."""
        if not self.ended:
            if drop:
                self.initial = []
                self._initial_at = 0
                self.pending.clear()
            self.pending.append(Signal.END)
            self.ended = True
            self.wake()

    def cut(self) -> None:
        """Drop the stream now, halfway through the next event line."""
        if not self.ended:
            self.pending.appendleft(Signal.CUT)
            self.ended = True
            self.wake()

    def take(self, limit: int = 256 * 1024) -> tuple[bytes, Signal | None]:
        """Up to ``limit`` bytes of whole lines to write, or a signal once the lines before
        it are written."""
        out: list[bytes] = []
        size = 0
        initial = self.initial
        while self._initial_at < len(initial) and size < limit and not self._cut_first():
            line = event_line("ADDED", initial[self._initial_at].full())
            self._initial_at += 1
            out.append(line)
            size += len(line)
        if self._initial_at >= len(initial) and initial:
            self.initial = []
            self._initial_at = 0
        pending = self.pending
        while pending and size < limit:
            item = pending[0]
            if isinstance(item, Signal):
                if out:
                    break
                pending.popleft()
                return b"", item
            pending.popleft()
            out.append(item)
            size += len(item)
        return b"".join(out), None

    def _cut_first(self) -> bool:
        return bool(self.pending) and self.pending[0] is Signal.CUT

    def half_line(self) -> bytes:
        """Half of the next event line (or of an event like it): what a cut leaves behind."""
        line: bytes | None = None
        if self._initial_at < len(self.initial):
            line = event_line("ADDED", self.initial[self._initial_at].full())
        else:
            line = next((i for i in self.pending if isinstance(i, bytes)), None)
        if line is None:
            line = bookmark_line(self.resource, self.after)
        return line[: max(1, len(line) // 2)]


def bookmark_line(resource: Resource, rv: int, initial_events_end: bool = False) -> bytes:
    """A BOOKMARK event: an object with only kind, apiVersion and metadata.resourceVersion
    (plus ``creationTimestamp: null``, as Go's encoder writes an empty ObjectMeta)."""
    meta: dict[str, Any] = {"resourceVersion": str(rv), "creationTimestamp": None}
    if initial_events_end:
        meta["annotations"] = {INITIAL_EVENTS_END: "true"}
    obj = {"kind": resource.kind, "apiVersion": resource.api_version, "metadata": meta}
    return event_line("BOOKMARK", _dumps(obj))


def error_line(error: ApiError) -> bytes:
    return event_line("ERROR", _dumps(error.status()))


class Table:
    """The objects of one resource, by key, with the keys sorted on demand (etcd's order)."""

    def __init__(self, resource: Resource) -> None:
        self.resource = resource
        self.objects: dict[str, Stored] = {}
        self._sorted: list[str] | None = []

    def put(self, stored: Stored) -> None:
        fresh = stored.key not in self.objects
        self.objects[stored.key] = stored
        if fresh and self._sorted is not None:
            bisect.insort(self._sorted, stored.key)

    def remove(self, key: str) -> None:
        del self.objects[key]
        if self._sorted is not None:
            del self._sorted[bisect.bisect_left(self._sorted, key)]

    def unsort(self) -> None:
        """Forget the sorted keys (before many inserts: sorting once later is cheaper)."""
        self._sorted = None

    def sorted_keys(self) -> list[str]:
        if self._sorted is None:
            self._sorted = sorted(self.objects)
        return self._sorted


@dataclass(frozen=True, slots=True)
class ListPage:
    body: bytes
    items: int
    resource_version: int
    continue_token: str


def encode_continue(start: str, rv: int) -> str:
    """The continue token of ``storage/etcd3``: base64url of {"v","rv","start"}."""
    token = {"v": _CONTINUE_VERSION, "rv": rv, "start": start}
    return base64.urlsafe_b64encode(_dumps(token)).rstrip(b"=").decode()


def decode_continue(token: str) -> tuple[str, int]:
    """(start key, rv) of a continue token; ApiError(400) when it is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = json.loads(raw)
    except (binascii.Error, ValueError) as err:
        raise bad_request(f"invalid continue token: continue key is not valid: {err}") from None
    if not isinstance(data, dict) or data.get("v") != _CONTINUE_VERSION:
        version = data.get("v") if isinstance(data, dict) else None
        raise bad_request(
            "invalid continue token: continue key is not valid: "
            f"server does not recognize this encoded version {version!r}"
        )
    rv, start = data.get("rv"), data.get("start")
    if not isinstance(rv, int) or rv == 0:
        raise bad_request(
            "invalid continue token: continue key is not valid: "
            "incorrect encoded start resourceVersion (version meta.k8s.io/v1)"
        )
    if not isinstance(start, str) or not start:
        raise bad_request(
            "invalid continue token: continue key is not valid: "
            "encoded start key empty (version meta.k8s.io/v1)"
        )
    if posixpath.normpath("/" + start) != "/" + start:
        raise bad_request(f"invalid continue token: continue key is not valid: {start}")
    return start, rv


def _now_rfc3339(clock: Callable[[], float]) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(clock()))


def _parse_rv(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise bad_request(f"invalid resource version: {text!r}")
    return value


class Store:
    """Objects of the four resources, the global resourceVersion, history and watchers.

    Not thread-safe: one thread (the server's event loop) calls it.
    """

    def __init__(
        self,
        *,
        history: int = 10_000,
        watch_buffer: int = 1_000_000,
        first_resource_version: int = 1,
        clock: Callable[[], float] = time.time,
        new_uid: Callable[[], str] = lambda: str(uuid.uuid4()),
    ) -> None:
        if history < 0:
            raise ValueError("history must be >= 0")
        self.rv = first_resource_version
        self.watch_buffer = watch_buffer
        self._clock = clock
        self._new_uid = new_uid
        self._history: deque[Change] = deque(maxlen=history)
        self.tables: dict[str, Table] = {}
        self._watchers: dict[str, set[Watcher]] = {}
        for resource in RESOURCES:
            self.tables[resource.name] = Table(resource)
            self._watchers[resource.name] = set()

    # --- history -------------------------------------------------------------------------

    @property
    def floor(self) -> int:
        """The oldest RV a watch may start from: every change after it is in the history."""
        return self.rv - len(self._history)

    @property
    def history_window(self) -> int:
        return self._history.maxlen or 0

    def set_history_window(self, size: int) -> None:
        self._history = deque(self._history, maxlen=size)

    def compact(self) -> int:
        """Drop the history (etcd compaction): older watches and continues get 410."""
        self._history.clear()
        return self.rv

    def _changes_after(self, rv: int) -> Iterator[Change]:
        count = self.rv - rv
        if count <= 0:
            return iter(())
        return itertools.islice(self._history, len(self._history) - count, None)

    # --- writes --------------------------------------------------------------------------

    def resource_of(self, obj: Mapping[str, Any], resource: Resource | None = None) -> Resource:
        kind = obj.get("kind")
        if resource is None:
            if not isinstance(kind, str):
                raise ValueError("object has no kind: say which resource it is")
            try:
                resource = resource_for(kind)
            except KeyError as err:
                raise ValueError(str(err.args[0])) from None
        if kind is not None and kind != resource.kind:
            raise bad_request(f"kind {kind!r} does not match the resource {resource.name!r}")
        api_version = obj.get("apiVersion")
        if api_version is not None and api_version != resource.api_version:
            raise bad_request(
                f"the API version in the data ({api_version}) does not match the expected "
                f"API version ({resource.api_version})"
            )
        return resource

    def _identity(
        self, resource: Resource, obj: Mapping[str, Any], namespace: str
    ) -> tuple[str, str]:
        meta = obj.get("metadata")
        if not isinstance(meta, Mapping):
            raise invalid(resource, "", "metadata: Required value")
        name = meta.get("name")
        if not isinstance(name, str) or not name:
            raise invalid(resource, "", "metadata.name: Required value: name is required")
        if "/" in name or name in (".", ".."):
            raise invalid(resource, name, f"metadata.name: Invalid value: {name!r}")
        if not resource.namespaced:
            return "", name
        given = meta.get("namespace") or ""
        if not isinstance(given, str):
            raise invalid(resource, name, "metadata.namespace: Invalid value")
        if namespace and given and given != namespace:
            raise bad_request(
                "the namespace of the provided object does not match the namespace sent on "
                "the request"
            )
        return namespace or given or "default", name

    def _build(
        self,
        resource: Resource,
        obj: Mapping[str, Any],
        namespace: str,
        name: str,
        rv: int,
        uid: str,
        created: str,
    ) -> Stored:
        meta_in: Mapping[str, Any] = obj["metadata"]
        labels = meta_in.get("labels") or {}
        if not isinstance(labels, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in labels.items()
        ):
            raise invalid(resource, name, "metadata.labels: Invalid value: must be strings")
        meta: dict[str, Any] = {}
        for member in _META_ORDER:
            if member == "name":
                meta["name"] = name
            elif member == "namespace":
                if resource.namespaced:
                    meta["namespace"] = namespace
            elif member == "uid":
                meta["uid"] = uid
            elif member == "resourceVersion":
                meta["resourceVersion"] = str(rv)
            elif member == "creationTimestamp":
                meta["creationTimestamp"] = created
            elif member in meta_in and member not in _SERVER_SET:
                meta[member] = meta_in[member]
        for member, value in meta_in.items():
            if member not in meta and member not in _SERVER_SET:
                meta[member] = value
        body: dict[str, Any] = {"metadata": meta}
        for member, value in obj.items():
            if member not in ("kind", "apiVersion", "metadata"):
                body[member] = value
        if resource.name == "namespaces" and "status" not in body:
            body["status"] = {"phase": "Active"}
        validate(resource, body, name)  # kube-apiserver's rules: 422 Invalid, as it refuses
        try:
            raw = _dumps(body)
        except (TypeError, ValueError) as err:
            raise invalid(resource, name, f"not JSON: {err}") from None
        key = f"{namespace}/{name}" if resource.namespaced else name
        fields = {"metadata.name": name, "metadata.namespace": namespace}
        for field_name, getter in resource.fields.items():
            fields[field_name] = getter(body)
        return Stored(resource, key, namespace, name, rv, uid, created, raw, dict(labels), fields)

    def create(
        self, obj: Mapping[str, Any], *, resource: Resource | None = None, namespace: str = ""
    ) -> Stored:
        resource = self.resource_of(obj, resource)
        namespace, name = self._identity(resource, obj, namespace)
        table = self.tables[resource.name]
        key = f"{namespace}/{name}" if resource.namespaced else name
        if key in table.objects:
            raise already_exists(resource, name)
        created = _now_rfc3339(self._clock)
        stored = self._build(resource, obj, namespace, name, self.rv + 1, self._new_uid(), created)
        self._commit(table, None, stored)
        return stored

    def update(
        self,
        obj: Mapping[str, Any],
        *,
        resource: Resource | None = None,
        namespace: str = "",
        name: str = "",
    ) -> Stored:
        """Replace an existing object (PUT). A ``metadata.resourceVersion`` in ``obj`` must be
        the current one (optimistic concurrency, 409 Conflict otherwise)."""
        resource = self.resource_of(obj, resource)
        namespace, obj_name = self._identity(resource, obj, namespace)
        if name and obj_name != name:
            raise bad_request(
                f"the name of the object ({obj_name}) does not match the name on the URL ({name})"
            )
        table = self.tables[resource.name]
        key = f"{namespace}/{obj_name}" if resource.namespaced else obj_name
        existing = table.objects.get(key)
        if existing is None:
            raise not_found(resource, obj_name)
        return self._replace(table, existing, obj)

    def apply(self, obj: Mapping[str, Any], *, resource: Resource | None = None) -> Stored:
        """Create, or update what is there (no resourceVersion check)."""
        resource = self.resource_of(obj, resource)
        namespace, name = self._identity(resource, obj, "")
        table = self.tables[resource.name]
        existing = table.objects.get(f"{namespace}/{name}" if resource.namespaced else name)
        if existing is None:
            return self.create(obj, resource=resource, namespace=namespace)
        return self._replace(table, existing, obj, check_rv=False)

    def _replace(
        self, table: Table, existing: Stored, obj: Mapping[str, Any], check_rv: bool = True
    ) -> Stored:
        wanted = obj["metadata"].get("resourceVersion")
        if check_rv and wanted not in (None, "") and str(wanted) != str(existing.rv):
            raise conflict(table.resource, existing.name)
        same = self._build(
            table.resource,
            obj,
            existing.namespace,
            existing.name,
            existing.rv,
            existing.uid,
            existing.created,
        )
        if same.raw == existing.raw:
            return existing  # nothing changed: nothing written, no event
        rv = self.rv + 1
        old = b'"resourceVersion":"%d"' % existing.rv
        raw = same.raw.replace(old, b'"resourceVersion":"%d"' % rv, 1)
        stored = Stored(
            same.resource,
            same.key,
            same.namespace,
            same.name,
            rv,
            same.uid,
            same.created,
            raw,
            same.labels,
            same.fields,
        )
        self._commit(table, existing, stored)
        return stored

    def delete(self, resource: Resource, namespace: str, name: str) -> Change:
        table = self.tables[resource.name]
        key = f"{namespace or 'default'}/{name}" if resource.namespaced else name
        existing = table.objects.get(key)
        if existing is None:
            raise not_found(resource, name)
        table.remove(key)
        return self._record(resource, key, existing, None)

    def load(self, objects: Iterable[Mapping[str, Any]]) -> int:
        """Create or update many objects (one RV each); returns the RV after the last.

        Keys are sorted once at the next list instead of at each insert, and the cyclic
        garbage collector waits until the end (the new objects hold no cycles)."""
        for table in self.tables.values():
            table.unsort()
        collecting = gc.isenabled()
        gc.disable()
        try:
            for obj in objects:
                self.apply(obj)
        finally:
            if collecting:
                gc.enable()
        return self.rv

    def _commit(self, table: Table, prev: Stored | None, cur: Stored) -> None:
        table.put(cur)
        self._record(table.resource, cur.key, prev, cur)

    def _record(
        self, resource: Resource, key: str, prev: Stored | None, cur: Stored | None
    ) -> Change:
        self.rv += 1
        change = Change(self.rv, resource, key, prev, cur)
        self._history.append(change)
        for watcher in tuple(self._watchers[resource.name]):
            watcher.offer(change)
            if watcher.ended:
                self._watchers[resource.name].discard(watcher)
        return change

    # --- reads ---------------------------------------------------------------------------

    def get(self, resource: Resource, namespace: str, name: str) -> Stored:
        key = f"{namespace or 'default'}/{name}" if resource.namespaced else name
        stored = self.tables[resource.name].objects.get(key)
        if stored is None:
            raise not_found(resource, name)
        return stored

    def list_page(
        self,
        resource: Resource,
        flt: Filter,
        *,
        limit: int = 0,
        continue_token: str = "",
        resource_version: str = "",
        resource_version_match: str = "",
    ) -> ListPage:
        """One page of a list, with the semantics of kube-apiserver's list parameters."""
        start = ""
        if continue_token:
            if resource_version not in ("", "0"):
                raise bad_request("specifying resource version is not allowed when using continue")
            if resource_version_match:
                raise invalid(
                    resource,
                    "",
                    "resourceVersionMatch: Forbidden: is forbidden when continue is provided",
                )
            start, at = decode_continue(continue_token)
            if at == -1:
                at = self.rv  # an "inconsistent continue": go on at the latest state
            elif at < self.floor:
                raise expired(
                    "The provided continue parameter is too old to display a consistent list "
                    "result. You can start a new list without the continue parameter, or use the "
                    "continue token in this response to retrieve the remainder of the results, "
                    "which may then show changes made since the first page.",
                    continue_token=encode_continue(start, -1),
                )
            elif at > self.rv:
                raise bad_request("invalid continue token: resourceVersion is in the future")
        else:
            at = self._list_rv(resource, limit, resource_version, resource_version_match)
            if resource_version == "0" and not resource_version_match:
                # served from the watch cache, which answers whole: limit is ignored
                # (API Concepts, "Retrieving large results sets in chunks")
                limit = 0
        table = self.tables[resource.name]
        overlay = self._overlay(resource, at)
        prefix = f"{flt.namespace}/" if resource.namespaced and flt.namespace else ""
        items: list[bytes] = []
        last = ""
        more = False
        candidates = self._snapshot(table, overlay, max(start, prefix), prefix)
        for stored in candidates:
            if limit > 0 and len(items) >= limit:
                more = True
                break
            last = stored.key
            if flt.matches(stored.namespace, stored.labels, stored.fields):
                items.append(stored.raw)
        token = encode_continue(last + "\x00", at) if more else ""
        meta = b'{"resourceVersion":"%d"' % at
        if token:
            meta += b',"continue":"%s"' % token.encode()
            if flt.selects_all:
                remaining = self._count_after(table, overlay, last, prefix)
                meta += b',"remainingItemCount":%d' % remaining
        meta += b"}"
        head = f'{{"kind":"{resource.list_kind}","apiVersion":"{resource.api_version}","metadata":'.encode()
        body = b"".join((head, meta, b',"items":[', b",".join(items), b"]}"))
        return ListPage(body, len(items), at, token)

    def _list_rv(self, resource: Resource, limit: int, rv_text: str, match: str) -> int:
        """The RV a list without continue is served at (API Concepts, "resourceVersion in
        requests": unset -> most recent; "0" -> any; N -> not older than N, or exactly N
        with resourceVersionMatch=Exact or, legacy, with a limit)."""
        if match not in ("", "Exact", "NotOlderThan"):
            raise invalid(
                resource,
                "",
                f'resourceVersionMatch: Unsupported value: "{match}": supported values: '
                '"Exact", "NotOlderThan"',
            )
        if match and not rv_text:
            raise invalid(
                resource,
                "",
                "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless "
                "resourceVersion is provided",
            )
        if match == "Exact" and rv_text == "0":
            raise invalid(
                resource,
                "",
                'resourceVersionMatch: Forbidden: resourceVersionMatch "exact" is forbidden for '
                'resourceVersion "0"',
            )
        if rv_text in ("", "0"):
            return self.rv
        wanted = _parse_rv(rv_text)
        if wanted > self.rv:
            raise too_large_resource_version(wanted, self.rv)
        exact = match == "Exact" or (not match and limit > 0)
        if not exact:
            return self.rv
        if wanted < self.floor:
            raise expired("The resourceVersion for the provided list is too old.")
        return wanted

    def _overlay(self, resource: Resource, at: int) -> dict[str, Stored | None]:
        """Keys changed after ``at`` -> their state at ``at`` (None: absent then)."""
        overlay: dict[str, Stored | None] = {}
        for change in self._changes_after(at):
            if change.resource is resource and change.key not in overlay:
                overlay[change.key] = change.prev
        return overlay

    @staticmethod
    def _snapshot(
        table: Table, overlay: Mapping[str, Stored | None], start: str, prefix: str
    ) -> Iterator[Stored]:
        """The objects at the snapshot, in key order, from ``start`` on, under ``prefix``."""
        keys = table.sorted_keys()
        lo = bisect.bisect_left(keys, start)
        hi = bisect.bisect_left(keys, prefix[:-1] + "0") if prefix else len(keys)
        current: Iterator[str] = (keys[i] for i in range(lo, hi))
        if not overlay:
            objects = table.objects
            return (objects[k] for k in current)
        gone = sorted(
            k
            for k, v in overlay.items()
            if v is not None and k not in table.objects and k >= start and k.startswith(prefix)
        )
        merged = heapq.merge(current, gone) if gone else current
        return Store._resolve(merged, table.objects, overlay)

    @staticmethod
    def _resolve(
        keys: Iterator[str], objects: Mapping[str, Stored], overlay: Mapping[str, Stored | None]
    ) -> Iterator[Stored]:
        for key in keys:
            if key in overlay:
                then = overlay[key]
                if then is not None:
                    yield then
            else:
                yield objects[key]

    @staticmethod
    def _count_after(
        table: Table, overlay: Mapping[str, Stored | None], last: str, prefix: str
    ) -> int:
        keys = table.sorted_keys()
        lo = bisect.bisect_right(keys, last)
        hi = bisect.bisect_left(keys, prefix[:-1] + "0") if prefix else len(keys)
        count = max(0, hi - lo)
        for key, then in overlay.items():
            if key > last and key.startswith(prefix):
                count += (then is not None) - (key in table.objects)
        return count

    # --- watch ---------------------------------------------------------------------------

    def watch(
        self,
        resource: Resource,
        flt: Filter,
        *,
        resource_version: str = "",
        send_initial_events: bool | None = None,
        bookmarks: bool = False,
        wake: Callable[[], None] = lambda: None,
    ) -> Watcher:
        """Open a watch (API Concepts, "Semantics for watch"): from RV N, every change after
        N; from "" or "0", synthetic ADDED events for the current objects first. A watch
        from an RV older than the history gets one ERROR event (410 Expired) and ends."""
        start = None if resource_version in ("", "0") else _parse_rv(resource_version)
        initial = send_initial_events if send_initial_events is not None else start is None
        after = self.rv if (initial or start is None) else start
        watcher = Watcher(
            resource, flt, after=after, bookmarks=bookmarks, buffer=self.watch_buffer, wake=wake
        )
        if start is not None and not initial and start < self.floor:
            watcher.error = expired(f"too old resource version: {start} ({self.floor})")
            watcher.push(error_line(watcher.error))
            watcher.end()
            return watcher
        if initial:
            table = self.tables[resource.name]
            watcher.initial = [s for s in table.objects.values() if watcher.matches(s)]
        elif start is not None:
            for change in self._changes_after(start):
                if change.resource is resource:
                    watcher.offer(change)
        if send_initial_events:
            watcher.push(bookmark_line(resource, self.rv, initial_events_end=True))
        if not watcher.ended:
            self._watchers[resource.name].add(watcher)
        return watcher

    def unwatch(self, watcher: Watcher) -> None:
        self._watchers[watcher.resource.name].discard(watcher)

    def watchers(self) -> list[Watcher]:
        return [w for ws in self._watchers.values() for w in ws]

    def bookmark(self, watcher: Watcher) -> None:
        """Queue a BOOKMARK at the current RV (never behind what the watcher asked for)."""
        watcher.push(bookmark_line(watcher.resource, max(self.rv, watcher.after)))


__all__ = [
    "INITIAL_EVENTS_END",
    "Change",
    "ListPage",
    "Signal",
    "Store",
    "Stored",
    "Table",
    "Watcher",
    "bookmark_line",
    "decode_continue",
    "encode_continue",
    "error_line",
    "status_object",
]
