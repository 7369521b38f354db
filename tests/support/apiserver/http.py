"""The HTTP face of the API server: routing, authentication, authorization, faults,
list/get/create/update/delete and watch streams, on aiohttp.web.

Paths are kube-apiserver's (``/api/v1/namespaces/{ns}/services``,
``/apis/discovery.k8s.io/v1/endpointslices``...); the verb comes from the method
and the ``watch`` parameter as in apiserver's ``RequestInfoFactory``.  A watch is
a chunked ``application/json`` stream of one event per line, ended cleanly at
``timeoutSeconds`` or when the server stops; with ``allowWatchBookmarks`` it
carries a BOOKMARK about once a minute, as kube-apiserver's watch cache does
(``bookmark_interval``; tests ask for less).  Every request is recorded (method,
path, query, verb, resource, code, user, when) for tests to assert on.

Faults a test switches on (``Fault.mode``): an error status (``status``), a
connection accepted and then left silent and open, before the headers
(``silent``) or after them (``silent-headers``), a watch answered 200 and ended
at once (``short``), a watch that carries one ERROR event and ends
(``error-event``, as apiserver ends a watch after an error); and open watch
streams can be frozen: silent and open from then on, as behind a lost NAT entry.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import threading
import time
import zlib
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests.support.apiserver.resources import BY_NAME, RESOURCES, Resource
from tests.support.apiserver.selectors import Filter, parse_filter
from tests.support.apiserver.status import (
    ApiError,
    bad_request,
    forbidden,
    injected,
    invalid,
    unauthorized,
)
from tests.support.apiserver.store import Signal, Store, Stored, Watcher, error_line

ANONYMOUS = "system:anonymous"
#: responses bigger than this are gzipped for clients that accept it, at level 1
#: (apiserver's responsewriters: defaultGzipThresholdBytes, defaultGzipContentEncodingLevel)
GZIP_THRESHOLD = 128 * 1024
GZIP_LEVEL = 1
KUBERNETES_VERSION = {
    "major": "1",
    "minor": "31",
    "gitVersion": "v1.31.0",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2024-08-13T00:00:00Z",
    "goVersion": "go1.22.5",
    "compiler": "gc",
    "platform": "linux/amd64",
}
_JSON_HEADERS = {"Content-Type": "application/json", "Cache-Control": "no-cache, private"}
_TRUE = frozenset(("1", "t", "T", "true", "TRUE", "True"))
_FALSE = frozenset(("0", "f", "F", "false", "FALSE", "False"))
_POLL = 1.0  # how often an idle watch looks whether its client went away
#: watch-cache bookmarks come about once a minute (cacher.go bookmarkFrequency)
BOOKMARK_INTERVAL = 60.0
#: the ways a Fault answers (see the module docstring)
FAULT_MODES = frozenset(("status", "silent", "silent-headers", "short", "error-event"))


@dataclass(frozen=True, slots=True)
class Target:
    """The resource a path names: /api/v1/namespaces/{namespace}/{resource}/{name}."""

    resource: Resource
    namespace: str = ""
    name: str = ""


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One request as the server saw it."""

    method: str
    path: str
    query: Mapping[str, str]
    verb: str  # get, list, watch, create, update, patch, delete, deletecollection
    resource: str  # "services"...; "" for /healthz, /version and other non-resource paths
    namespace: str
    name: str
    code: int
    user: str
    #: the Status reason of a refusal ("Expired", "Forbidden"...), also for a watch whose
    #: 200 stream carried a single ERROR event; the fault mode of a silent or short answer;
    #: "" for success
    reason: str = ""
    #: time.monotonic() when the request came
    at: float = 0.0


@dataclass(slots=True)
class Fault:
    """Answer the next ``remaining`` requests that match with ``mode``: ``code`` as a
    status, or as the ERROR event of an ``error-event``; see FAULT_MODES."""

    code: int
    remaining: int
    resource: str | None = None
    verb: str | None = None
    path: str | None = None
    retry_after: int | None = None
    message: str = ""
    mode: str = "status"

    def applies(self, verb: str, resource: str, path: str) -> bool:
        if self.resource is not None and self.resource != resource:
            return False
        if self.verb is not None and self.verb != verb:
            return False
        return (
            self.path is None or path == self.path or path.startswith(self.path.rstrip("/") + "/")
        )


def parse_path(path: str) -> Target | None:
    """The resource a path names, or None for a non-resource path. ApiError(404) for a
    path under /api or /apis that names nothing this server serves."""
    parts = [p for p in path.split("/") if p]
    if not parts or parts[0] not in ("api", "apis"):
        return None
    if parts[0] == "api":
        group, version, rest = "", parts[1] if len(parts) > 1 else "", parts[2:]
    else:
        group = parts[1] if len(parts) > 1 else ""
        version = parts[2] if len(parts) > 2 else ""
        rest = parts[3:]
    if not rest:
        return None  # discovery: /api, /api/v1, /apis, /apis/{group}/{version}
    namespace = ""
    if rest[0] == "namespaces" and len(rest) >= 3:
        namespace, rest = rest[1], rest[2:]
    resource = BY_NAME.get(rest[0])
    if (
        resource is None
        or resource.group != group
        or resource.version != version
        or len(rest) > 2
        or (namespace and not resource.namespaced)
    ):
        raise ApiError(404, "the server could not find the requested resource")
    return Target(resource, namespace, rest[1] if len(rest) == 2 else "")


def _verb(method: str, target: Target, watch: bool) -> str:
    if method in ("GET", "HEAD"):
        if watch:
            return "watch"
        return "get" if target.name else "list"
    if method == "POST":
        return "create"
    if method == "PUT":
        return "update"
    if method == "PATCH":
        return "patch"
    if method == "DELETE":
        return "delete" if target.name else "deletecollection"
    return method.lower()


def _flag(query: Mapping[str, str], name: str) -> bool | None:
    value = query.get(name)
    if value is None or value == "":
        return None
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise bad_request(f"invalid boolean value for {name}: {value!r}")


def _int(query: Mapping[str, str], name: str) -> int:
    value = query.get(name, "")
    if value == "":
        return 0
    try:
        return int(value)
    except ValueError:
        raise bad_request(f"invalid value for {name}: {value!r}") from None


def _gzip(body: bytes) -> bytes:
    compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    return compressor.compress(body) + compressor.flush()


def _json_response(body: bytes, status: int = 200, headers: Mapping[str, str] = {}) -> web.Response:
    return web.Response(body=body, status=status, headers={**_JSON_HEADERS, **headers})


def _error_response(error: ApiError) -> web.Response:
    return _json_response(error.body(), error.code, error.headers)


class Frontend:
    """Everything between an HTTP request and the Store."""

    def __init__(
        self,
        store: Store,
        *,
        tokens: Mapping[str, str] | None = None,
        basic_auth: Mapping[str, str] | None = None,
        client_certs: bool = False,
        anonymous: bool | None = None,
        permissions: set[tuple[str, str]] | None = None,
        bookmark_interval: float = BOOKMARK_INTERVAL,
        watch_timeout: float = 1800.0,
        gzip: bool = True,
        server_address: Callable[[], str] = lambda: "",
        records: int = 100_000,
    ) -> None:
        self.store = store
        self.tokens: dict[str, str] | None = dict(tokens) if tokens is not None else None
        self.basic_auth: dict[str, str] | None = (
            dict(basic_auth) if basic_auth is not None else None
        )
        self.client_certs = client_certs
        if anonymous is None:
            anonymous = tokens is None and basic_auth is None and not client_certs
        self.anonymous = anonymous
        self.permissions = set(permissions) if permissions is not None else None
        self.bookmark_interval = bookmark_interval
        self.watch_timeout = watch_timeout
        self.gzip = gzip
        self._server_address = server_address
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._records: deque[RequestRecord] = deque(maxlen=records)
        self._counts: Counter[tuple[str, str, int]] = Counter()
        self.streams: set[asyncio.Task[Any]] = set()
        #: open watches frozen by a test: silent from now on, never closed
        self.frozen: set[Watcher] = set()
        self._held: set[asyncio.Future[None]] = set()

    # --- bookkeeping (any thread) ----------------------------------------------------------

    def add_fault(self, fault: Fault) -> None:
        if fault.mode not in FAULT_MODES:
            raise ValueError(f"fault mode {fault.mode!r} is not one of {sorted(FAULT_MODES)}")
        with self._lock:
            self._faults.append(fault)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def _take_fault(self, verb: str, resource: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.remaining > 0 and fault.applies(verb, resource, path):
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def records(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._records)

    def counts(self) -> Counter[tuple[str, str, int]]:
        with self._lock:
            return Counter(self._counts)

    def reset_records(self) -> None:
        with self._lock:
            self._records.clear()
            self._counts.clear()

    def _record(
        self,
        request: web.BaseRequest,
        verb: str,
        target: Target | None,
        code: int,
        user: str,
        reason: str = "",
    ) -> None:
        record = RequestRecord(
            request.method,
            request.path,
            {k: v for k, v in request.query.items()},
            verb,
            target.resource.name if target else "",
            target.namespace if target else "",
            target.name if target else "",
            code,
            user,
            reason,
            time.monotonic(),
        )
        with self._lock:
            self._records.append(record)
            self._counts[(verb, record.resource, code)] += 1

    # --- the handler -----------------------------------------------------------------------

    def application(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.StreamResponse:
        verb, target, user = "get", None, ""
        query: Mapping[str, str] = request.query
        try:
            unknown: ApiError | None = None
            try:
                target = parse_path(request.path)
            except ApiError as error:
                unknown = error
            # authentication comes first, as in apiserver's filter chain: an unauthenticated
            # request for a path that serves nothing is still a 401
            if not self._public(request.path):
                user = self._authenticate(request)
            if unknown is not None:
                raise unknown
            watch = bool(_flag(query, "watch")) if target is not None else False
            verb = _verb(request.method, target, watch) if target else request.method.lower()
            fault = self._take_fault(verb, target.resource.name if target else "", request.path)
            if fault is not None and fault.mode != "status":
                return await self._misbehave(request, fault, verb, target, user)
            if fault is not None:
                raise self._fault_error(fault, user, verb, target)
            if target is None:
                response = self._non_resource(request)
            else:
                self._authorize(user, verb, target)
                if verb == "watch":
                    return await self._watch(request, target, user)
                response = await self._resource(request, verb, target, query)
        except ApiError as error:
            response = _error_response(error)
            reason = error.reason
        else:
            reason = ""
        self._record(request, verb, target, response.status, user, reason)
        return response

    @staticmethod
    def _public(path: str) -> bool:
        # health and version are readable without credentials (system:public-info-viewer)
        return path in ("/version", "/version/") or path.startswith(
            ("/healthz", "/livez", "/readyz")
        )

    async def _misbehave(
        self, request: web.Request, fault: Fault, verb: str, target: Target | None, user: str
    ) -> web.StreamResponse:
        """Answer as ``fault.mode`` says: silence, a short watch, or an ERROR event."""
        code = 0 if fault.mode == "silent" else 200
        self._record(request, verb, target, code, user, fault.mode)
        if fault.mode == "silent":
            await self.hold(request)
            return web.Response(status=503)  # never sent: the connection is closed
        response = web.StreamResponse(status=200, headers=_JSON_HEADERS)
        response.enable_chunked_encoding()
        await response.prepare(request)
        if fault.mode == "silent-headers":
            await self.hold(request)
            return response
        if fault.mode == "error-event":
            await response.write(error_line(injected(fault.code, None, fault.message)))
        with contextlib.suppress(ConnectionError):
            await response.write_eof()
        return response

    async def hold(self, request: web.BaseRequest) -> None:
        """Stay silent until the server stops (``release``), then close the connection:
        never answer, never close before that."""
        held: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._held.add(held)
        try:
            await held
        finally:
            self._held.discard(held)
            if request.transport is not None:
                request.transport.close()

    def release(self) -> None:
        """End every held (silent) connection: the server is stopping."""
        for held in list(self._held):
            if not held.done():
                held.set_result(None)

    def _fault_error(self, fault: Fault, user: str, verb: str, target: Target | None) -> ApiError:
        if fault.code == 403 and target is not None and not fault.message:
            return forbidden(
                user or ANONYMOUS, verb, target.resource, target.namespace, target.name
            )
        return injected(fault.code, fault.retry_after, fault.message)

    def _authenticate(self, request: web.BaseRequest) -> str:
        """The user name: a client certificate's CN, a bearer token's user, a basic-auth
        user, or system:anonymous when anonymous requests are allowed; 401 otherwise."""
        transport = request.transport
        peer = transport.get_extra_info("peercert") if transport is not None else None
        if peer:
            for rdn in peer.get("subject", ()):
                for key, value in rdn:
                    if key == "commonName":
                        return str(value)
        header = request.headers.get("Authorization", "")
        if header:
            scheme, _, credential = header.strip().partition(" ")
            credential = credential.strip()
            if scheme.lower() == "bearer" and self.tokens is not None:
                user = self.tokens.get(credential)
                if user is None:
                    raise unauthorized()
                return user
            if scheme.lower() == "basic" and self.basic_auth is not None:
                try:
                    name, _, password = base64.b64decode(credential).decode().partition(":")
                except (binascii.Error, UnicodeDecodeError):
                    raise unauthorized() from None
                if name in self.basic_auth and self.basic_auth[name] == password:
                    return name
                raise unauthorized()
        if self.anonymous:
            return ANONYMOUS
        raise unauthorized()

    def _authorize(self, user: str, verb: str, target: Target) -> None:
        permissions = self.permissions
        if permissions is not None and (verb, target.resource.name) not in permissions:
            raise forbidden(user, verb, target.resource, target.namespace, target.name)

    # --- non-resource paths --------------------------------------------------------------

    def _non_resource(self, request: web.BaseRequest) -> web.Response:
        path = request.path.rstrip("/") or "/"
        if request.method not in ("GET", "HEAD"):
            raise ApiError(405, f"the server does not allow this method on {path}")
        if path in ("/healthz", "/livez", "/readyz") or path.startswith(
            ("/healthz/", "/livez/", "/readyz/")
        ):
            return web.Response(text="ok", content_type="text/plain")
        if path == "/version":
            return _json_response(json.dumps(KUBERNETES_VERSION, indent=2).encode())
        document = self._discovery(path)
        if document is None:
            raise ApiError(404, "the server could not find the requested resource")
        return _json_response(json.dumps(document, separators=(",", ":")).encode())

    def _discovery(self, path: str) -> dict[str, Any] | None:
        if path == "/api":
            address = self._server_address()
            return {
                "kind": "APIVersions",
                "versions": ["v1"],
                "serverAddressByClientCIDRs": [
                    {"clientCIDR": "0.0.0.0/0", "serverAddress": address}
                ],
            }
        groups = sorted({r.group for r in RESOURCES if r.group})
        if path == "/apis":
            return {
                "kind": "APIGroupList",
                "apiVersion": "v1",
                "groups": [
                    {
                        "name": g,
                        "versions": [{"groupVersion": f"{g}/v1", "version": "v1"}],
                        "preferredVersion": {"groupVersion": f"{g}/v1", "version": "v1"},
                    }
                    for g in groups
                ],
            }
        for group_version in ["v1"] + [f"{g}/v1" for g in groups]:
            prefix = "/api/v1" if group_version == "v1" else f"/apis/{group_version}"
            if path == prefix:
                return {
                    "kind": "APIResourceList",
                    "apiVersion": "v1",
                    "groupVersion": group_version,
                    "resources": [
                        {
                            "name": r.name,
                            "singularName": r.singular,
                            "namespaced": r.namespaced,
                            "kind": r.kind,
                            "verbs": ["create", "delete", "get", "list", "update", "watch"],
                        }
                        for r in RESOURCES
                        if r.api_version == group_version
                    ],
                }
        return None

    # --- list, get, create, update, delete -----------------------------------------------------

    async def _resource(
        self, request: web.Request, verb: str, target: Target, query: Mapping[str, str]
    ) -> web.Response:
        store, resource = self.store, target.resource
        if verb == "list":
            flt = parse_filter(
                resource,
                target.namespace,
                query.get("labelSelector", ""),
                query.get("fieldSelector", ""),
            )
            page = store.list_page(
                resource,
                flt,
                limit=_int(query, "limit"),
                continue_token=query.get("continue", ""),
                resource_version=query.get("resourceVersion", ""),
                resource_version_match=query.get("resourceVersionMatch", ""),
            )
            return await self._body(request, page.body)
        if verb == "get":
            return _json_response(store.get(resource, target.namespace, target.name).full())
        if verb == "delete":
            change = store.delete(resource, target.namespace, target.name)
            assert change.prev is not None
            return _json_response(change.prev.at(change.rv))
        if verb in ("create", "update"):
            obj = await self._read_object(request, resource)
            stored: Stored
            if verb == "create":
                if target.name:
                    raise ApiError(405, f"POST is not supported on a single {resource.kind}")
                if resource.namespaced and not target.namespace:
                    raise ApiError(404, "the server could not find the requested resource")
                stored = store.create(obj, resource=resource, namespace=target.namespace)
                return _json_response(stored.full(), 201)
            stored = store.update(
                obj, resource=resource, namespace=target.namespace, name=target.name
            )
            return _json_response(stored.full())
        raise ApiError(
            405, f"the server does not allow this method on the requested resource ({verb})"
        )

    async def _read_object(self, request: web.Request, resource: Resource) -> dict[str, Any]:
        raw = await request.read()
        try:
            obj = json.loads(raw)
        except ValueError as err:
            raise bad_request(f"the body of the request is not JSON: {err}") from None
        if not isinstance(obj, dict):
            raise invalid(resource, "", "the body must be a JSON object")
        return obj

    async def _body(self, request: web.Request, body: bytes) -> web.Response:
        headers: dict[str, str] = {}
        accepts = request.headers.get("Accept-Encoding", "")
        if self.gzip and len(body) > GZIP_THRESHOLD and "gzip" in accepts:
            body = await asyncio.get_running_loop().run_in_executor(None, _gzip, body)
            headers = {"Content-Encoding": "gzip", "Vary": "Accept-Encoding"}
        return _json_response(body, 200, headers)

    # --- watch -----------------------------------------------------------------------------------

    def _open_watch(
        self, target: Target, query: Mapping[str, str], wake: Callable[[], None]
    ) -> Watcher:
        resource = target.resource
        field_text = query.get("fieldSelector", "")
        if target.name:  # a watch on one object is a watch with metadata.name=<name>
            field_text = ",".join(t for t in (field_text, f"metadata.name={target.name}") if t)
        flt: Filter = parse_filter(
            resource, target.namespace, query.get("labelSelector", ""), field_text
        )
        bookmarks = bool(_flag(query, "allowWatchBookmarks"))
        send_initial = _flag(query, "sendInitialEvents")
        match = query.get("resourceVersionMatch", "")
        if send_initial is not None:
            if match != "NotOlderThan":
                raise invalid(
                    resource,
                    "",
                    "resourceVersionMatch: Forbidden: sendInitialEvents requires setting "
                    "resourceVersionMatch to NotOlderThan",
                )
            if not bookmarks:
                raise invalid(
                    resource,
                    "",
                    "allowWatchBookmarks: Forbidden: sendInitialEvents requires setting "
                    "allowWatchBookmarks to true",
                )
        elif match:
            raise invalid(
                resource,
                "",
                "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden for watch "
                "unless sendInitialEvents is provided",
            )
        return self.store.watch(
            resource,
            flt,
            resource_version=query.get("resourceVersion", ""),
            send_initial_events=send_initial,
            bookmarks=bookmarks,
            wake=wake,
        )

    async def _watch(self, request: web.Request, target: Target, user: str) -> web.StreamResponse:
        loop = asyncio.get_running_loop()
        wakeup = asyncio.Event()
        query = request.query
        try:
            watcher = self._open_watch(target, query, wakeup.set)
            requested = _int(query, "timeoutSeconds")
        except ApiError as error:
            refusal = _error_response(error)
            self._record(request, "watch", target, refusal.status, user, error.reason)
            return refusal
        timeout = requested if requested > 0 else self.watch_timeout
        deadline = loop.time() + timeout
        response = web.StreamResponse(status=200, headers=_JSON_HEADERS)
        response.enable_chunked_encoding()
        reason = watcher.error.reason if watcher.error is not None else ""
        self._record(request, "watch", target, 200, user, reason)
        task = asyncio.current_task()
        if task is not None:
            self.streams.add(task)
        try:
            await response.prepare(request)
            await self._stream(request, response, watcher, wakeup, deadline)
        except ConnectionError:
            pass  # the client went away
        finally:
            self.store.unwatch(watcher)
            watcher.ended = True
            if task is not None:
                self.streams.discard(task)
        return response

    async def _stream(
        self,
        request: web.Request,
        response: web.StreamResponse,
        watcher: Watcher,
        wakeup: asyncio.Event,
        deadline: float,
    ) -> None:
        loop = asyncio.get_running_loop()
        next_bookmark = self._next_bookmark(loop.time(), deadline)
        while True:
            if watcher in self.frozen:
                self.frozen.discard(watcher)
                await self.hold(request)
                return
            data, signal = watcher.take()
            if data:
                await response.write(data)
            if signal is Signal.END:
                await response.write_eof()
                return
            if signal is Signal.CUT:
                await response.write(watcher.half_line())
                if request.transport is not None:
                    request.transport.close()
                return
            if data:
                continue
            now = loop.time()
            if now >= deadline:
                self.store.unwatch(watcher)
                watcher.end()
                continue
            if watcher.bookmarks and now >= next_bookmark:
                self.store.bookmark(watcher)
                next_bookmark = self._next_bookmark(now, deadline)
                continue
            transport = request.transport
            if transport is None or transport.is_closing():
                return
            wait = (
                min(deadline, next_bookmark if watcher.bookmarks else deadline, now + _POLL) - now
            )
            wakeup.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wakeup.wait(), max(wait, 0.0))

    def _next_bookmark(self, now: float, deadline: float) -> float:
        # roughly every interval, and once 2s before the deadline (cache_watcher.go,
        # nextBookmarkTime)
        at = now + self.bookmark_interval
        pre_timeout = deadline - 2.0
        if now < pre_timeout < at:
            at = pre_timeout
        return at
