"""The live Kubernetes API as a source of per-object changes: list, then watch.

One ``Reflector`` per resource does what client-go's reflector does:

1. list from the API server's watch cache (``resourceVersion=0``, served
   whole), falling back to a consistent list in pages (``limit``/``continue``;
   an expired continue token restarts the list); decode it item by item as
   it arrives (``listing``), hand every object to the sink, and at the end
   remove what the sink holds of that kind but the list did not have: a
   relist is reconciled object by object, with no moment of empty answers;
2. watch from the list's ``resourceVersion`` with ``allowWatchBookmarks``,
   handing each ADDED/MODIFIED/DELETED to the sink; a stream that ends or
   breaks is resumed from the last resourceVersion seen; ``410 Gone`` (as a
   status or as an ERROR event) and a line that is not JSON start a relist;
3. on a refused connection, a 5xx or a 429 (``Retry-After`` honoured), wait
   with capped exponential backoff and jitter and try again; 401 and 403 are
   logged naming the resource and the verb the ClusterRole must grant, and
   retried the same way.  Nothing here ends the watch but ``stop``.

HTTP is aiohttp (async, streaming, its C parser); lists are decoded by
``jsonlist`` (msgspec, one item at a time), watch lines by the stdlib.  A
malformed object is skipped with a warning naming it and counted; the rest of
the list or stream goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp

from clusterdns.cluster.jsonlist import BadList
from clusterdns.cluster.kubeconfig import Connection, Credentials, ssl_context
from clusterdns.cluster.listing import apply_list, remove_unseen
from clusterdns.cluster.objects import BadObject, ObjectKey, Slim, object_key, project
from clusterdns.cluster.slices import SHARED, Slicer

log = logging.getLogger("clusterdns.plugins.kubernetes")

Change = tuple[ObjectKey, Slim | None]

PAGE_SIZE = 500
LIST_CHUNK = 1 << 16  # bytes of a list response decoded between two reads
BACKOFF_INITIAL = 0.5
BACKOFF_CAP = 30.0
WATCH_TIMEOUT = (300, 600)  # seconds asked of the server per watch, picked at random
#: pods CoreDNS's informer never lists (controller.go podListFunc)
POD_FIELD_SELECTOR = "status.phase!=Succeeded,status.phase!=Failed,status.phase!=Unknown"


@dataclass(frozen=True, slots=True)
class Resource:
    kind: str  # "Service"
    path: str  # "/api/v1/services"
    plural: str  # "services"
    group: str = ""  # "" for the core group
    label_selector: str = ""
    field_selector: str = ""

    @property
    def resource(self) -> str:
        """``endpointslices.discovery.k8s.io``: how RBAC messages name it."""
        return f"{self.plural}.{self.group}" if self.group else self.plural


SERVICES = Resource("Service", "/api/v1/services", "services")
ENDPOINT_SLICES = Resource(
    "EndpointSlice",
    "/apis/discovery.k8s.io/v1/endpointslices",
    "endpointslices",
    "discovery.k8s.io",
)
NAMESPACES = Resource("Namespace", "/api/v1/namespaces", "namespaces")
PODS = Resource("Pod", "/api/v1/pods", "pods", field_selector=POD_FIELD_SELECTOR)
#: the verbs the source uses on every resource it reads (deploy/ RBAC is checked against these)
VERBS = ("list", "watch")


class Sink(Protocol):
    """Where a reflector delivers: the plugin, on the event loop."""

    def apply(self, changes: Sequence[Change], *, live: bool) -> None: ...
    def held(self, kind: str) -> Iterable[ObjectKey]: ...
    def synced(self, kind: str) -> None: ...


class Metrics(Protocol):
    def request(self, method: str, code: str, host: str, seconds: float) -> None: ...
    def skipped(self, kind: str) -> None: ...
    def watch_up(self, kind: str, up: bool) -> None: ...


class ApiError(Exception):
    def __init__(self, status: int, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class Gone(Exception):
    """410: the resourceVersion or continue token is too old; list again."""


class Garbage(Exception):
    """The stream carried something that is not a watch event; list again."""


class Backoff:
    """Capped exponential backoff with full jitter (client-go's reflector shape)."""

    def __init__(
        self,
        initial: float = BACKOFF_INITIAL,
        cap: float = BACKOFF_CAP,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.initial, self.cap, self.rand = initial, cap, rand
        self.attempt = 0

    def next(self, at_least: float = 0.0) -> float:
        ceiling = min(self.cap, self.initial * 2**self.attempt)
        self.attempt += 1
        delay = ceiling / 2 + self.rand() * ceiling / 2
        return float(min(self.cap, max(delay, at_least)))

    def reset(self) -> None:
        self.attempt = 0


class APISource:
    """List+watch every resource in ``resources`` into ``sink`` until ``stop``."""

    def __init__(
        self,
        conn: Connection,
        resources: Sequence[Resource],
        sink: Sink,
        metrics: Metrics,
        *,
        pod_names: bool = True,
        page_size: int = PAGE_SIZE,
        backoff: Callable[[], Backoff] = Backoff,
    ) -> None:
        self.conn = conn
        self.resources = tuple(resources)
        self.sink = sink
        self.metrics = metrics
        self.pod_names = pod_names
        self.page_size = page_size
        self.backoff = backoff
        self.credentials = Credentials(conn)
        self._ssl = ssl_context(conn)
        self._session: aiohttp.ClientSession | None = None
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        connector = aiohttp.TCPConnector(ssl=self._ssl if self._ssl is not None else False)
        self._session = aiohttp.ClientSession(
            connector=connector,
            json_serialize=json.dumps,
            headers={"Accept": "application/json", "User-Agent": "clusterdns"},
        )
        for resource in self.resources:
            reflector = Reflector(self, resource)
            self._tasks.append(asyncio.ensure_future(reflector.run()))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(BaseException):  # cancelled, as asked
                await task
        self._tasks = []
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def get(
        self, resource: Resource, params: dict[str, str], timeout: aiohttp.ClientTimeout
    ) -> aiohttp.ClientResponse:
        """GET ``resource`` with ``params``; raise ApiError for any status but 200."""
        assert self._session is not None
        headers = {}
        auth = self.credentials.header()
        if auth:
            headers["Authorization"] = auth
        if resource.label_selector:
            params["labelSelector"] = resource.label_selector
        if resource.field_selector:
            params["fieldSelector"] = resource.field_selector
        started = time.perf_counter()
        try:
            response = await self._session.get(
                self.conn.server + resource.path, params=params, headers=headers, timeout=timeout
            )
        except aiohttp.ClientError as err:
            self.metrics.request("GET", "<error>", self.conn.host, time.perf_counter() - started)
            raise ApiError(0, _connection_message(err)) from None
        self.metrics.request(
            "GET", str(response.status), self.conn.host, time.perf_counter() - started
        )
        if response.status == 200:
            return response
        body = await response.read()
        response.release()
        raise _api_error(response, body)


class Reflector:
    """List then watch one resource, forever."""

    def __init__(self, source: APISource, resource: Resource) -> None:
        self.source = source
        self.resource = resource
        self.kind = resource.kind
        self._complaint = ""  # the last error logged, so an outage is logged once

    async def run(self) -> None:
        backoff = self.source.backoff()
        version: str | None = None
        while True:
            try:
                if version is None:
                    version = await self.list_all()
                    self._recovered()
                    backoff.reset()
                version, broke = await self.watch(version)
                if broke:  # resume at once, but not in a tight loop if it keeps breaking
                    await asyncio.sleep(backoff.next())
                else:
                    backoff.reset()
            except (Gone, Garbage) as why:
                log.info("kubernetes: %s: %s; listing again", self.resource.plural, why)
                version = None
            except ApiError as err:
                if err.status == 410:
                    version = None
                    continue
                self._down(err)
                await asyncio.sleep(backoff.next(err.retry_after or 0.0))

    # -- list ----------------------------------------------------------------

    async def list_all(self) -> str:
        """List from the watch cache, else consistently; the list's resourceVersion.

        As client-go's reflector: ``resourceVersion=0`` first, which the API
        server answers from its watch cache, whole (``limit`` is ignored there);
        where that is refused or fails, a paginated consistent list (``limit``
        and ``continue``, no resourceVersion).  Objects are applied as they
        are decoded; at the end what the list lacked is removed.
        """
        seen: set[ObjectKey] = set()
        slicer = SHARED
        try:
            version = await self._list({"resourceVersion": "0"}, seen, slicer)
        except ApiError as err:
            if err.status in (401, 403, 429):
                raise  # the consistent list would be refused the same way
            log.info(
                "kubernetes: list %s from the watch cache failed (%s); listing from etcd",
                self.resource.plural,
                err,
            )
            seen.clear()
            version = await self._list({}, seen, slicer)
        await remove_unseen(self.kind, self.source.sink, seen, slicer)
        self.source.sink.synced(self.kind)
        return version

    async def _list(self, first: dict[str, str], seen: set[ObjectKey], slicer: Slicer) -> str:
        """Every page of one list (a watch-cache list is one page); its resourceVersion."""
        params: dict[str, str] = {**first, "limit": str(self.source.page_size)}
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=60)
        while True:
            response = await self._get_or_restart(params, timeout, seen)
            try:
                meta = await apply_list(
                    response.content.iter_chunked(LIST_CHUNK),
                    self._project,
                    self.source.sink,
                    seen,
                    slicer,
                )
            except (BadList, aiohttp.ClientError, TimeoutError) as err:
                raise ApiError(0, f"list {self.resource.plural}: unreadable list: {err}") from None
            finally:
                response.release()
            token = str(meta.get("continue") or "")
            if not token:
                return str(meta.get("resourceVersion") or "")
            # a continued list names its snapshot in the token; no resourceVersion with it
            params.pop("resourceVersion", None)
            params["continue"] = token

    async def _get_or_restart(
        self, params: dict[str, str], timeout: aiohttp.ClientTimeout, seen: set[ObjectKey]
    ) -> aiohttp.ClientResponse:
        try:
            return await self.source.get(self.resource, dict(params), timeout)
        except ApiError as err:
            if err.status != 410 or "continue" not in params:
                raise
            # the continue token expired mid-list: start the list over (client-go does too)
            params.pop("continue")
            seen.clear()
            return await self.source.get(self.resource, dict(params), timeout)

    def _project(self, obj: Any) -> Change | None:
        if not isinstance(obj, dict):
            self.source.metrics.skipped(self.kind)
            log.warning("kubernetes: %s: skipping an item that is not an object", self.kind)
            return None
        try:
            return project(obj, self.kind, pod_names=self.source.pod_names)
        except BadObject as bad:
            self.source.metrics.skipped(self.kind)
            log.warning("kubernetes: skipping %s: %s", _name_of(obj, self.kind), bad)
            return None

    # -- watch ---------------------------------------------------------------

    async def watch(self, version: str) -> tuple[str, bool]:
        """Follow one watch stream: the last resourceVersion seen, and whether it broke."""
        params = {
            "watch": "1",
            "allowWatchBookmarks": "true",
            "timeoutSeconds": str(random.randint(*WATCH_TIMEOUT)),
        }
        if version:
            params["resourceVersion"] = version
        read_limit = float(params["timeoutSeconds"]) + 30
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=read_limit)
        response = await self.source.get(self.resource, params, timeout)
        self._recovered()
        buffer = b""
        broke = False
        try:
            async for chunk in response.content.iter_any():
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    if line.strip():
                        version = self._event(line, version)
        except (TimeoutError, aiohttp.ClientError, ConnectionError) as err:
            # a stream cut mid-event: resume from the last complete event
            log.info("kubernetes: watch %s broke (%s); resuming", self.resource.plural, err)
            broke = True
        finally:
            response.release()
        return version, broke or bool(buffer.strip())

    def _event(self, line: bytes, version: str) -> str:
        try:
            event = json.loads(line)
            kind_of_event = event["type"]
            obj = event["object"]
        except (ValueError, KeyError, TypeError):
            raise Garbage(f"a watch line is not an event: {line[:80]!r}") from None
        if not isinstance(obj, dict):
            raise Garbage("a watch event without an object")
        if kind_of_event == "ERROR":
            code = obj.get("code")
            if code == 410:
                raise Gone(str(obj.get("message") or "resource version too old"))
            raise Garbage(f"the watch said {code}: {obj.get('message', '')}")
        meta = obj.get("metadata")
        if isinstance(meta, dict) and meta.get("resourceVersion"):
            version = str(meta["resourceVersion"])
        if kind_of_event == "BOOKMARK":
            return version
        if kind_of_event == "DELETED":
            try:
                self.source.sink.apply([(object_key(obj, self.kind), None)], live=True)
            except BadObject as bad:
                log.warning("kubernetes: %s: a DELETED event %s", self.kind, bad)
            return version
        if kind_of_event in ("ADDED", "MODIFIED"):
            change = self._project(obj)
            if change is not None:
                self.source.sink.apply([change], live=True)
            return version
        raise Garbage(f"unknown watch event type {kind_of_event!r}")

    # -- health ---------------------------------------------------------------

    def _down(self, err: ApiError) -> None:
        self.source.metrics.watch_up(self.kind, False)
        message = _explain(err, self.resource, self.source.conn)
        if message != self._complaint:
            log.warning("kubernetes: %s; serving the last known state", message)
            self._complaint = message

    def _recovered(self) -> None:
        self.source.metrics.watch_up(self.kind, True)
        if self._complaint:
            log.warning("kubernetes: %s: the API server answers again", self.resource.plural)
            self._complaint = ""


def _api_error(response: aiohttp.ClientResponse, body: bytes) -> ApiError | Gone:
    message = ""
    try:
        status = json.loads(body)
        if isinstance(status, dict):
            message = str(status.get("message") or "")
    except ValueError:
        message = body[:200].decode("utf-8", "replace")
    if response.status == 410:
        return ApiError(410, message or "410 Gone")
    retry_after = None
    if response.status == 429:
        try:
            retry_after = float(response.headers.get("Retry-After", ""))
        except ValueError:
            retry_after = 1.0
    return ApiError(response.status, message or response.reason or "", retry_after)


def _explain(err: ApiError, resource: Resource, conn: Connection) -> str:
    what = f"list/watch {resource.resource} at {conn.server}"
    if err.status == 401:
        return f"{what}: 401 Unauthorized ({err}): check the token or client certificate"
    if err.status == 403:
        return (
            f"{what}: 403 Forbidden ({err}): the ClusterRole must grant "
            f"'list' and 'watch' on {resource.resource}"
        )
    if err.status == 0:
        return f"{what}: {err}"
    return f"{what}: {err.status} {err}"


def _connection_message(err: aiohttp.ClientError) -> str:
    text = str(err) or type(err).__name__
    return f"cannot connect: {text}"


def _name_of(obj: dict[str, Any], kind: str) -> str:
    meta = obj.get("metadata")
    meta = meta if isinstance(meta, dict) else {}
    namespace = meta.get("namespace")
    name = meta.get("name")
    return f"{kind} {namespace}/{name}" if namespace else f"{kind} {name}"
