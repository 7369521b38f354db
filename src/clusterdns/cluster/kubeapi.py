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
3. back off on every failure, and go on: nothing but ``stop`` ends a reflector.

Noticing a dead connection (within 30 s; CoreDNS takes 44-46 s, client-go pings
its HTTP/2 connection after 30 s of silence and gives up 15 s later).  Two kinds
of silence:

* the peer is gone without a FIN or RST (a node, a load balancer or a NAT entry
  lost): every API socket has TCP keepalive (first probe after 10 s idle, then
  every 5 s, 3 unanswered probes) and ``TCP_USER_TIMEOUT`` 25 s (data sent but
  never acknowledged), so the kernel drops it in about 25 s;
* a live peer that stops sending (a proxy, a hung API server): only the reader
  can tell.  Every read (the response headers, a list page, the watch stream)
  gives up after ``Timing.idle`` (25 s) without a byte.

A real kube-apiserver sends a watch bookmark only about once a minute
(cacher ``bookmarkFrequency``), so a quiet, healthy watch can be silent for
longer than that.  Each watch therefore asks a ``timeoutSeconds`` of 60-80 % of
``idle`` (15-20 s): the server ends it cleanly, after the bookmark it sends 2 s
before the deadline with the newest resourceVersion (cache_watcher.go,
``nextBookmarkTime``), and the watch is resumed from there on the same kept-alive
connection, without a relist.  Silence for ``idle`` is then always a fault: the
stream is dropped and the watch resumed from the last resourceVersion (a relist
only on 410).  The price is one cheap watch request per resource every 15-20 s
(four resources: about 0.23 requests/s per replica) where client-go makes one
every 5-10 minutes plus a ping every 30 s.

Backing off (client-go reflector.go): every failure waits a capped exponential
delay with jitter before the next request: a refused connection, a 5xx, a 429
(at least its ``Retry-After``), a 401/403, an ERROR event, a relist, a watch
that ends within a second (``Timing.min_watch``), a stream that breaks or goes
silent.  The delay starts again from ``Timing.backoff_initial`` only after
``Timing.backoff_reset`` without a failure (client-go's backoff manager resets
after 2 minutes), so a server that fails fast in a loop sees at most one
request a second per resource after the first few seconds, and one per
``backoff_cap`` (30 s) soon after.  A watch that is refused (403, 401, a 5xx;
not a refused connection or a 429) relists before the next watch, as
client-go's ListAndWatch does, and so does the third watch in a row that
breaks: with RBAC that grants ``list`` but not ``watch``, or a watch that
always fails, the state is still refreshed once per backoff.

Each reflector is supervised: an unexpected exception (a bug while projecting
or storing an object) is logged naming the object, and that reflector starts
over with a relist, after the backoff; the others go on.
``clusterdns_kubernetes_watch_up{kind}`` is 0 while a kind's watch is not
streaming, and the log says once per outage which resource is stale and why,
and when it recovers.

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
import socket
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp

from clusterdns.cluster.credentials import CredentialError, Credentials
from clusterdns.cluster.jsonlist import BadList
from clusterdns.cluster.kubeconfig import Connection
from clusterdns.cluster.listing import Seen, apply_list, forget, remove_unseen
from clusterdns.cluster.objects import (
    BadObject,
    DropLog,
    ObjectKey,
    Slim,
    object_key,
    object_label,
    project_dropping,
)
from clusterdns.collector import COLLECTOR
from clusterdns.sharded import ShardedSet
from clusterdns.slices import SHARED, Slicer

log = logging.getLogger("clusterdns.plugins.kubernetes")

Change = tuple[ObjectKey, Slim | None]

PAGE_SIZE = 500
LIST_CHUNK = 1 << 16  # bytes of a list response decoded between two reads
#: pods CoreDNS's informer never lists (controller.go podListFunc)
POD_FIELD_SELECTOR = "status.phase!=Succeeded,status.phase!=Failed,status.phase!=Unknown"
#: TCP keepalive on API sockets: idle seconds before the first probe, between probes, probes
KEEPALIVE = (10, 5, 3)
#: TCP_USER_TIMEOUT (ms): how long sent data may stay unacknowledged before the kernel drops
USER_TIMEOUT_MS = 25_000
#: a watch that refuses or breaks this many times in a row relists before the next one
RELIST_AFTER_BROKEN = 3


@dataclass(frozen=True, slots=True)
class Timing:
    """How patient the API source is; ``TIMING`` is what it uses (tests shorten it)."""

    idle: float = 25.0  # seconds without a byte before a read gives up
    connect: float = 10.0  # seconds for TCP and TLS to connect
    min_watch: float = 1.0  # a watch that ends sooner counts as a failure
    backoff_initial: float = 0.5
    backoff_cap: float = 30.0
    backoff_reset: float = 120.0  # seconds without a failure before the delay starts over

    def watch_seconds(self, rand: Callable[[], float] = random.random) -> int:
        """The ``timeoutSeconds`` to ask of one watch: 60-80 % of ``idle``, at least 1."""
        return max(1, round(self.idle * (0.6 + 0.2 * rand())))

    def client_timeout(self, asked: aiohttp.ClientTimeout | None = None) -> aiohttp.ClientTimeout:
        """``asked`` with its connect and read timeouts held to this timing's bounds."""
        connect = (
            self.connect if asked is None or asked.sock_connect is None else asked.sock_connect
        )
        read = self.idle if asked is None or asked.sock_read is None else asked.sock_read
        return aiohttp.ClientTimeout(
            total=asked.total if asked is not None else None,
            sock_connect=min(connect, self.connect),
            sock_read=min(read, self.idle),
        )


TIMING = Timing()


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
    def dropped(self, kind: str) -> None: ...
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


class Broken(Exception):
    """A watch stream that broke, went silent or ended too soon; resume it."""


class WatchRefused(Exception):
    """The watch request itself failed (``cause``); relist, unless it may be retried as is."""

    def __init__(self, cause: ApiError) -> None:
        super().__init__(str(cause))
        self.cause = cause


class Bug(Exception):
    """An unexpected exception while projecting or storing ``what``; start over."""

    def __init__(self, what: str, cause: BaseException) -> None:
        super().__init__(f"{what}: {type(cause).__name__}: {cause}")


class Backoff:
    """Capped exponential backoff with jitter, reset after a quiet spell (client-go's
    ExponentialBackoffManager: 800 ms to 30 s, reset after 2 min without a failure)."""

    def __init__(
        self,
        initial: float = TIMING.backoff_initial,
        cap: float = TIMING.backoff_cap,
        reset_after: float = TIMING.backoff_reset,
        rand: Callable[[], float] = random.random,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.initial, self.cap, self.reset_after = initial, cap, reset_after
        self.rand, self.clock = rand, clock
        self.attempt = 0
        self._until: float | None = None  # when the last delay handed out ends

    @classmethod
    def of(cls, timing: Timing) -> Backoff:
        return cls(timing.backoff_initial, timing.backoff_cap, timing.backoff_reset)

    def next(self, at_least: float = 0.0) -> float:
        """The delay before the next attempt: half to all of the current step."""
        now = self.clock()
        if self._until is not None and now - self._until > self.reset_after:
            self.attempt = 0
        ceiling = min(self.cap, self.initial * 2**self.attempt)
        self.attempt += 1
        delay = float(min(self.cap, max(ceiling / 2 + self.rand() * ceiling / 2, at_least)))
        self._until = now + delay
        return delay

    def reset(self) -> None:
        self.attempt = 0
        self._until = None


def keepalive_socket(addr_info: tuple[Any, ...]) -> socket.socket:
    """A socket for an API connection, with TCP keepalive and TCP_USER_TIMEOUT, so a
    peer gone without a FIN or RST is noticed by the kernel (aiohttp ``socket_factory``)."""
    family, type_, proto = addr_info[0], addr_info[1], addr_info[2]
    sock = socket.socket(family=family, type=type_, proto=proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    idle, interval, count = KEEPALIVE
    for name, value in (
        ("TCP_KEEPIDLE", idle),
        ("TCP_KEEPINTVL", interval),
        ("TCP_KEEPCNT", count),
        ("TCP_USER_TIMEOUT", USER_TIMEOUT_MS),
    ):
        option = getattr(socket, name, None)  # Linux names; elsewhere keepalive's defaults
        if option is not None:
            sock.setsockopt(socket.IPPROTO_TCP, option, value)
    return sock


class GuardedSink:
    """The sink, with an unexpected exception in ``apply`` turned into a ``Bug`` that
    names the object it failed on."""

    def __init__(self, sink: Sink) -> None:
        self.sink = sink

    def apply(self, changes: Sequence[Change], *, live: bool) -> None:
        try:
            self.sink.apply(changes, live=live)
        except Exception as err:
            raise Bug(f"storing {self._culprit(changes, live, err)}", err) from err

    def _culprit(self, changes: Sequence[Change], live: bool, err: Exception) -> str:
        if len(changes) == 1:
            return object_label(changes[0][0])
        for change in changes:  # applying an object again changes nothing: find the one
            try:
                self.sink.apply([change], live=live)
            except Exception:
                return object_label(change[0])
        return f"one of {len(changes)} objects from {object_label(changes[0][0])}"

    def held(self, kind: str) -> Iterable[ObjectKey]:
        return self.sink.held(kind)

    def synced(self, kind: str) -> None:
        self.sink.synced(kind)


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
        timing: Timing | None = None,
    ) -> None:
        self.conn = conn
        self.resources = tuple(resources)
        self.sink = GuardedSink(sink)
        self.metrics = metrics
        self.pod_names = pod_names
        self.page_size = page_size
        self.timing = timing if timing is not None else TIMING
        self.credentials = Credentials(conn)
        self._session: aiohttp.ClientSession | None = None
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        # TLS is set per request (Credentials.tls): an exec plugin's client certificate
        # may change, and aiohttp keeps connections of different contexts apart
        connector = aiohttp.TCPConnector(socket_factory=keepalive_socket)
        self._session = aiohttp.ClientSession(
            connector=connector,
            json_serialize=json.dumps,
            headers={"Accept": "application/json", "User-Agent": "clusterdns"},
            proxy=self.conn.proxy_url or None,
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
        try:
            auth = await self.credentials.header()
        except CredentialError as err:
            raise ApiError(0, str(err)) from None
        if auth:
            headers["Authorization"] = auth
        if resource.label_selector:
            params["labelSelector"] = resource.label_selector
        if resource.field_selector:
            params["fieldSelector"] = resource.field_selector
        timeout = self.timing.client_timeout(timeout)  # a silent server times out too
        started = time.perf_counter()
        try:
            response = await self._session.get(
                self.conn.server + resource.path,
                params=params,
                headers=headers,
                timeout=timeout,
                **self.credentials.tls(),
            )
        except (aiohttp.ClientError, TimeoutError) as err:
            self.metrics.request("GET", "<error>", self.conn.host, time.perf_counter() - started)
            raise ApiError(0, _connection_message(err)) from None
        self.metrics.request(
            "GET", str(response.status), self.conn.host, time.perf_counter() - started
        )
        if response.status == 200:
            return response
        if response.status == 401:
            self.credentials.invalidate(auth)
        body = await response.read()
        response.release()
        raise _api_error(response, body)


class Reflector:
    """List then watch one resource, forever, backing off on every failure."""

    def __init__(self, source: APISource, resource: Resource) -> None:
        self.source = source
        self.resource = resource
        self.kind = resource.kind
        self._reported = DropLog()  # each skip or dropped field is logged once, not per relist
        self.timing = source.timing
        self.backoff = Backoff.of(self.timing)
        self.version: str | None = None  # where the next watch resumes; None: list first
        self._broken = 0  # watches in a row that were refused, broke or ended too soon
        self._up = False
        self._down_since: float | None = None
        self._complaint = ""  # the reason last logged, so an outage is logged once

    async def run(self) -> None:
        """List and watch until cancelled; every failure is logged, backed off and retried."""
        self.source.metrics.watch_up(self.kind, False)
        while True:
            try:
                if self.version is None:
                    self.version = await self.list_all()
                await self.watch(self.version)
                self._broken = 0
            except Exception as err:  # supervision: only cancellation ends a reflector
                why, at_least = self._after_failure(err)
                self._down(why, err if isinstance(err, Bug) else None)
                await asyncio.sleep(self.backoff.next(at_least))

    def _after_failure(self, err: Exception) -> tuple[str, float]:
        """What to say about ``err`` and the least delay it asks; decides whether to relist."""
        match err:
            case Gone() | Garbage():
                self.version = None
                return str(err), 0.0
            case Broken():
                self._watch_failed(relist=False)
                return str(err), 0.0
            case WatchRefused(cause=cause):
                # reflector.go: a refused connection or a 429 retries the watch; anything
                # else ends ListAndWatch, which lists again
                self._watch_failed(relist=cause.status not in (0, 429))
                return self._explain(cause), _wait(cause)
            case ApiError():
                if err.status == 410:
                    self.version = None
                return self._explain(err), _wait(err)
            case Bug():
                self.version = None
                return f"starting over after a failure {err}", 0.0
            case _:
                self.version = None
                log.exception("kubernetes: %s: unexpected failure", self.resource.plural)
                return f"starting over after {type(err).__name__}: {err}", 0.0

    def _watch_failed(self, *, relist: bool) -> None:
        self._broken += 1
        if relist or self._broken >= RELIST_AFTER_BROKEN:
            self._broken = 0
            self.version = None  # the list refreshes what the watch cannot deliver

    # -- list ----------------------------------------------------------------

    async def list_all(self) -> str:
        """List from the watch cache, else consistently; the list's resourceVersion.

        As client-go's reflector: ``resourceVersion=0`` first, which the API
        server answers from its watch cache, whole (``limit`` is ignored there);
        where that is refused or fails, a paginated consistent list (``limit``
        and ``continue``, no resourceVersion).  Objects are applied as they
        are decoded; at the end what the list lacked is removed.
        """
        seen: ShardedSet[ObjectKey] = ShardedSet()
        slicer = SHARED
        with COLLECTOR.building():
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
            await forget(seen, slicer)
        self.source.sink.synced(self.kind)
        return version

    async def _list(self, first: dict[str, str], seen: Seen, slicer: Slicer) -> str:
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
        self, params: dict[str, str], timeout: aiohttp.ClientTimeout, seen: Seen
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
        name = _name_of(obj, self.kind)
        try:
            key, slim, dropped = project_dropping(obj, self.kind, pod_names=self.source.pod_names)
        except BadObject as bad:
            if self._reported.fresh(name, [str(bad)]):
                self.source.metrics.skipped(self.kind)
                log.warning("kubernetes: skipping %s: %s", name, bad)
            return None
        except Exception as err:
            raise Bug(f"projecting {name}", err) from err
        for message in self._reported.fresh(name, dropped):
            self.source.metrics.dropped(self.kind)
            log.warning("kubernetes: %s: %s", name, message)
        return key, slim

    # -- watch ---------------------------------------------------------------

    async def watch(self, version: str) -> None:
        """Follow one watch stream from ``version``, keeping ``self.version`` at the last
        resourceVersion seen; raise Broken if it broke, went silent or ended too soon."""
        params = {
            "watch": "1",
            "allowWatchBookmarks": "true",
            "timeoutSeconds": str(self.timing.watch_seconds()),
        }
        if version:
            params["resourceVersion"] = version
        timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=self.timing.connect, sock_read=self.timing.idle
        )
        try:
            response = await self.source.get(self.resource, params, timeout)
        except ApiError as err:
            raise WatchRefused(err) from None
        loop = asyncio.get_running_loop()
        started = loop.time()
        streaming = loop.call_later(self.timing.min_watch, self._streaming)
        buffer = b""
        try:
            async for chunk in response.content.iter_any():
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    if line.strip():
                        self._event(line)
        except TimeoutError:
            raise Broken(f"the watch was silent for {self.timing.idle:g}s") from None
        except (aiohttp.ClientError, ConnectionError) as err:
            raise Broken(f"the watch broke ({err or type(err).__name__})") from None
        finally:
            streaming.cancel()
            response.release()
        if buffer.strip():
            raise Broken("the watch ended halfway through an event")
        if loop.time() - started < self.timing.min_watch:
            raise Broken(f"the watch ended within {self.timing.min_watch:g}s of its start")

    def _event(self, line: bytes) -> None:
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
        if kind_of_event == "DELETED":
            try:
                self.source.sink.apply([(object_key(obj, self.kind), None)], live=True)
            except BadObject as bad:
                log.warning("kubernetes: %s: a DELETED event %s", self.kind, bad)
        elif kind_of_event in ("ADDED", "MODIFIED"):
            change = self._project(obj)
            if change is not None:
                self.source.sink.apply([change], live=True)
        elif kind_of_event != "BOOKMARK":
            raise Garbage(f"unknown watch event type {kind_of_event!r}")
        # only once the event is applied: a failure resumes from before it
        if isinstance(meta, dict) and meta.get("resourceVersion"):
            self.version = str(meta["resourceVersion"])
        if not self._up:
            self._streaming()

    # -- health ---------------------------------------------------------------

    def _streaming(self) -> None:
        """The watch delivers (an event, or a second without a failure): it is up."""
        self._broken = 0
        self._recovered()

    def _explain(self, err: ApiError) -> str:
        return _explain(err, self.resource, self.source.conn)

    def _down(self, why: str, bug: Bug | None = None) -> None:
        """Stale from now on: the metric says so, and the log once per outage and reason."""
        if self._up or self._down_since is None:
            self._down_since = time.monotonic()
        if self._up:
            self._up = False
            self.source.metrics.watch_up(self.kind, False)
        if why != self._complaint:
            log.log(
                logging.ERROR if bug is not None else logging.WARNING,
                "kubernetes: %s is stale: %s; serving the last known state, retrying",
                self.resource.plural,
                why,
                exc_info=bug.__cause__ if bug is not None else None,
            )
            self._complaint = why

    def _recovered(self) -> None:
        if self._up:
            return
        self._up = True
        self.source.metrics.watch_up(self.kind, True)
        if self._complaint:
            since = self._down_since if self._down_since is not None else time.monotonic()
            log.warning(
                "kubernetes: %s: the watch is streaming again after %.1fs",
                self.resource.plural,
                time.monotonic() - since,
            )
            self._complaint = ""
        self._down_since = None


def _wait(err: ApiError) -> float:
    """The least delay an error asks for: 429's Retry-After."""
    return err.retry_after or 0.0


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


def _connection_message(err: aiohttp.ClientError | TimeoutError) -> str:
    text = str(err) or type(err).__name__
    if isinstance(err, TimeoutError):  # connected, or half so, then silence
        return f"no answer in time: {text}"
    return f"cannot connect: {text}"


def _name_of(obj: dict[str, Any], kind: str) -> str:
    meta = obj.get("metadata")
    meta = meta if isinstance(meta, dict) else {}
    namespace = meta.get("namespace")
    name = meta.get("name")
    return f"{kind} {namespace}/{name}" if namespace else f"{kind} {name}"
