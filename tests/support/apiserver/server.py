"""ApiServer: a small, real Kubernetes API server for tests and benchmarks.

Runs in a background thread with its own event loop (``start``/``stop``, or a
``with`` block) or on a loop the caller owns (``astart``/``astop``).  Objects
live across stops: ``stop()`` ends every stream and connection and keeps the port
reserved (bound, not listening: connections are refused), ``start()`` serves
again on the same port with the same objects and resourceVersions.
``reserve()`` alone gives a server that is "down" from the start.

Python methods that touch objects or watches run on the server's loop (called
from another thread they wait for it), so they are ordered with the requests.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from aiohttp import web

from tests.support.apiserver.http import BOOKMARK_INTERVAL, Fault, Frontend, RequestRecord
from tests.support.apiserver.resources import RESOURCES, VERBS, resource_for
from tests.support.apiserver.store import Store

T = TypeVar("T")
#: the user a bearer token maps to when tokens are given as a plain list
DEFAULT_TOKEN_USER = "system:serviceaccount:kube-system:coredns"


def server_ssl_context(
    certfile: str, keyfile: str | None = None, client_ca: str | None = None
) -> ssl.SSLContext:
    """A server TLS context; with ``client_ca``, client certificates signed by it are
    asked for (optional) and their CN is the user name."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certfile, keyfile)
    if client_ca:
        context.load_verify_locations(client_ca)
        context.verify_mode = ssl.CERT_OPTIONAL
    return context


def _parse(raw: bytes) -> dict[str, Any]:
    obj: dict[str, Any] = json.loads(raw)
    return obj


def _token_map(tokens: Mapping[str, str] | Iterable[str]) -> dict[str, str]:
    if isinstance(tokens, Mapping):
        return dict(tokens)
    return {token: DEFAULT_TOKEN_USER for token in tokens}


class ApiServer:
    """Services, EndpointSlices, Namespaces and Pods over kube-apiserver's HTTP API."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        ssl_context: ssl.SSLContext | None = None,
        tokens: Mapping[str, str] | Iterable[str] | None = None,
        basic_auth: Mapping[str, str] | None = None,
        anonymous: bool | None = None,
        permissions: Iterable[tuple[str, str]] | None = None,
        history: int = 10_000,
        bookmark_interval: float = BOOKMARK_INTERVAL,
        watch_timeout: float = 1800.0,
        watch_buffer: int = 1_000_000,
        gzip: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.host = host
        self.port = port
        self.ssl_context = ssl_context
        client_certs = ssl_context is not None and ssl_context.verify_mode != ssl.CERT_NONE
        self.store = Store(history=history, watch_buffer=watch_buffer, clock=clock)
        self.frontend = Frontend(
            self.store,
            tokens=_token_map(tokens) if tokens is not None else None,
            basic_auth=basic_auth,
            client_certs=client_certs,
            anonymous=anonymous,
            permissions=set(permissions) if permissions is not None else None,
            bookmark_interval=bookmark_interval,
            watch_timeout=watch_timeout,
            gzip=gzip,
            server_address=lambda: f"{self._url_host}:{self.port}",
        )
        self._lock = threading.RLock()
        self._reserved: socket.socket | None = None
        self._runner: web.AppRunner | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._thread: threading.Thread | None = None

    # --- where ---------------------------------------------------------------------------

    @property
    def _url_host(self) -> str:
        return f"[{self.host}]" if ":" in self.host else self.host

    @property
    def url(self) -> str:
        """``https://127.0.0.1:PORT`` (http without TLS); the port is bound on first use."""
        if self.port == 0:
            self.reserve()
        scheme = "https" if self.ssl_context is not None else "http"
        return f"{scheme}://{self._url_host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._runner is not None

    def _bind(self) -> socket.socket:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self.port))
        except OSError:
            sock.close()
            raise
        self.port = sock.getsockname()[1]
        return sock

    def reserve(self) -> ApiServer:
        """Bind the port without listening: the server is "down" (connections refused)
        but its URL is fixed. ``start()`` brings it up on that port."""
        with self._lock:
            if self._reserved is None and self._runner is None:
                self._reserved = self._bind()
        return self

    # --- lifecycle on the caller's loop -----------------------------------------------------------

    async def astart(self) -> None:
        """Serve on the running loop (reserving the port first if needed)."""
        if self._runner is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        with self._lock:
            sock = self._reserved or self._bind()
            self._reserved = None
        sock.listen(512)
        sock.setblocking(False)
        runner = web.AppRunner(
            self.frontend.application(),
            access_log=None,
            handle_signals=False,
            shutdown_timeout=2.0,
        )
        await runner.setup()
        site = web.SockSite(runner, sock, ssl_context=self.ssl_context)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            sock.close()
            raise
        self._runner = runner

    async def astop(self) -> None:
        """End every watch stream (cleanly), close every connection, stop listening; keep
        the objects and the port (reserved again, refusing connections)."""
        runner = self._runner
        if runner is None:
            return
        for watcher in self.store.watchers():
            self.store.unwatch(watcher)
            watcher.end(drop=True)
        self.frontend.release()
        streams = list(self.frontend.streams)
        if streams:
            await asyncio.wait(streams, timeout=2.0)
        await runner.cleanup()
        self._runner = None
        with self._lock:
            self._reserved = self._bind()

    # --- lifecycle in a thread ---------------------------------------------------------------------

    def start(self) -> ApiServer:
        """Serve from a background thread with its own event loop; returns when listening."""
        if self._thread is not None:
            return self
        self.reserve()
        started = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            try:
                loop.run_until_complete(self.astart())
            except BaseException as err:  # reported to start()'s caller
                failure.append(err)
                started.set()
                loop.close()
                return
            started.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        thread = threading.Thread(target=run, name=f"apiserver:{self.port}", daemon=True)
        thread.start()
        started.wait(30)
        if failure:
            thread.join()
            raise failure[0]
        self._thread = thread
        return self

    def stop(self) -> None:
        """Go down: streams ended, connections closed, port reserved, objects kept."""
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        asyncio.run_coroutine_threadsafe(self.astop(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(30)
        self._thread = None
        self._loop = None
        self._loop_thread = None

    def close(self) -> None:
        """Stop and release the port."""
        if self._thread is not None:
            self.stop()
        with self._lock:
            if self._reserved is not None:
                self._reserved.close()
                self._reserved = None

    def __enter__(self) -> ApiServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn`` on the server's loop (waiting for it from another thread)."""
        loop = self._loop
        if loop is None or not loop.is_running() or threading.get_ident() == self._loop_thread:
            with self._lock:
                return fn(*args, **kwargs)
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            try:
                future.set_result(fn(*args, **kwargs))
            except BaseException as err:
                future.set_exception(err)

        loop.call_soon_threadsafe(run)
        return future.result(timeout=300)

    # --- objects -----------------------------------------------------------------------------

    def create(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """Create ``obj`` (a dict as kubectl takes it, with kind); returns it as stored."""
        return _parse(self._call(lambda: self.store.create(obj).full()))

    def update(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """Replace an existing object (404 ApiError if missing; 409 if a given
        metadata.resourceVersion is not the current one)."""
        return _parse(self._call(lambda: self.store.update(obj).full()))

    def replace(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """``update`` under kubectl's name for it (a PUT of the whole object)."""
        return self.update(obj)

    def apply(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """Create or replace."""
        return _parse(self._call(lambda: self.store.apply(obj).full()))

    def delete(self, kind: str, name: str, namespace: str = "default") -> dict[str, Any]:
        """Delete; ``kind`` is ``Service``, ``services``... Returns the object as deleted."""
        resource = resource_for(kind)

        def run() -> bytes:
            change = self.store.delete(resource, namespace if resource.namespaced else "", name)
            assert change.prev is not None
            return change.prev.at(change.rv)

        return _parse(self._call(run))

    def load(self, objects: Iterable[Mapping[str, Any]]) -> int:
        """Create or replace many objects (one resourceVersion each); returns the last RV."""
        return self._call(self.store.load, objects)

    def get(self, kind: str, name: str, namespace: str = "default") -> dict[str, Any] | None:
        resource = resource_for(kind)
        table = self.store.tables[resource.name]
        key = f"{namespace}/{name}" if resource.namespaced else name
        stored = self._call(table.objects.get, key)
        return _parse(stored.full()) if stored is not None else None

    def count_objects(self, kind: str) -> int:
        return len(self.store.tables[resource_for(kind).name].objects)

    @property
    def resource_version(self) -> int:
        """The current (latest) resourceVersion."""
        return self.store.rv

    def compact(self) -> int:
        """Drop the event history: watches from any earlier RV and continue tokens of any
        earlier list now get 410 Expired. Returns the RV compacted to."""
        return self._call(self.store.compact)

    def set_history_window(self, size: int) -> None:
        self._call(self.store.set_history_window, size)

    # --- watches ------------------------------------------------------------------------------

    def watch_count(self, kind: str | None = None) -> int:
        """Open watch streams (of one kind, or all)."""
        name = resource_for(kind).name if kind else None
        watchers = self._call(self.store.watchers)
        return sum(1 for w in watchers if not w.ended and name in (None, w.resource.name))

    def wait_for_watches(
        self, count: int = 1, kind: str | None = None, timeout: float = 10.0
    ) -> bool:
        """Wait until at least ``count`` watches are open; False on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.watch_count(kind) >= count:
                return True
            time.sleep(0.01)
        return self.watch_count(kind) >= count

    def send_bookmark(self) -> int:
        """A BOOKMARK now on every watch that allowed bookmarks; returns how many."""

        def run() -> int:
            sent = 0
            for watcher in self.store.watchers():
                if watcher.bookmarks and not watcher.ended:
                    self.store.bookmark(watcher)
                    sent += 1
            return sent

        return self._call(run)

    def cut_watches(self) -> int:
        """Drop every watch connection now, halfway through an event line."""

        def run() -> int:
            watchers = [w for w in self.store.watchers() if not w.ended]
            for watcher in watchers:
                self.store.unwatch(watcher)
                watcher.cut()
            return len(watchers)

        return self._call(run)

    def send_garbage(self, line: bytes = b"this is not json") -> int:
        """Write a line that is not JSON on every open watch; returns how many."""

        def run() -> int:
            watchers = [w for w in self.store.watchers() if not w.ended]
            for watcher in watchers:
                watcher.push(line.rstrip(b"\n") + b"\n")
            return len(watchers)

        return self._call(run)

    def freeze_watches(self, kind: str | None = None) -> int:
        """Leave every open watch (of one kind, or all) open and silent from now on: no
        event, no bookmark, no end, as when a NAT entry or a node on the path is lost.
        Returns how many."""
        name = resource_for(kind).name if kind else None

        def run() -> int:
            watchers = [
                w for w in self.store.watchers() if not w.ended and name in (None, w.resource.name)
            ]
            for watcher in watchers:
                self.store.unwatch(watcher)
                self.frontend.frozen.add(watcher)
                watcher.wake()
            return len(watchers)

        return self._call(run)

    def end_watches(self) -> int:
        """End every watch stream cleanly (as at its timeout)."""

        def run() -> int:
            watchers = [w for w in self.store.watchers() if not w.ended]
            for watcher in watchers:
                self.store.unwatch(watcher)
                watcher.end()
            return len(watchers)

        return self._call(run)

    @property
    def bookmark_interval(self) -> float:
        return self.frontend.bookmark_interval

    @bookmark_interval.setter
    def bookmark_interval(self, seconds: float) -> None:
        self.frontend.bookmark_interval = seconds

    # --- authentication and authorization -----------------------------------------------------

    def set_tokens(self, tokens: Mapping[str, str] | Iterable[str]) -> None:
        """The bearer tokens accepted from now on (token -> user, or tokens of
        DEFAULT_TOKEN_USER); others get 401."""
        self.frontend.tokens = _token_map(tokens)

    def set_basic_auth(self, users: Mapping[str, str]) -> None:
        """user -> password accepted with HTTP basic auth from now on."""
        self.frontend.basic_auth = dict(users)

    def allow(self, verb: str, resource: str) -> None:
        """Permit ``verb`` on ``resource`` (e.g. "watch", "endpointslices")."""
        name = resource_for(resource).name
        with self._lock:
            permissions = self.frontend.permissions
            if permissions is not None:
                self.frontend.permissions = permissions | {(verb, name)}

    def deny(self, verb: str, resource: str) -> None:
        """Refuse ``verb`` on ``resource`` with 403 from now on (everything else that was
        allowed stays allowed)."""
        name = resource_for(resource).name
        with self._lock:
            permissions = self.frontend.permissions
            if permissions is None:
                permissions = {(v, r.name) for v in VERBS for r in RESOURCES}
            self.frontend.permissions = permissions - {(verb, name)}

    # --- faults and what clients did --------------------------------------------------------------

    def inject_fault(
        self,
        code: int,
        count: int = 1,
        *,
        resource: str | None = None,
        verb: str | None = None,
        path: str | None = None,
        retry_after: int | None = None,
        message: str = "",
        mode: str = "status",
    ) -> None:
        """Answer ``code`` (with a Status body; Retry-After when given) to the next
        ``count`` requests, or only those for ``resource``/``verb``/``path``.

        ``mode`` answers otherwise: ``silent`` (the connection is accepted and left open
        without a byte), ``silent-headers`` (200 and headers, then nothing),
        ``short`` (200, then the end at once), ``error-event`` (200, one ERROR event
        with ``code``, then the end)."""
        name = resource_for(resource).name if resource else None
        self.frontend.add_fault(Fault(code, count, name, verb, path, retry_after, message, mode))

    def clear_faults(self) -> None:
        self.frontend.clear_faults()

    def requests(
        self, verb: str | None = None, resource: str | None = None, code: int | None = None
    ) -> list[RequestRecord]:
        """The requests seen (oldest first), optionally only those matching."""
        name = resource_for(resource).name if resource else None
        return [
            r
            for r in self.frontend.records()
            if (verb is None or r.verb == verb)
            and (name is None or r.resource == name)
            and (code is None or r.code == code)
        ]

    def count(
        self, verb: str | None = None, resource: str | None = None, code: int | None = None
    ) -> int:
        """How many requests matched (verb, resource, code), None matching any."""
        name = resource_for(resource).name if resource else None
        return sum(
            n
            for (v, res, c), n in self.frontend.counts().items()
            if (verb is None or v == verb)
            and (name is None or res == name)
            and (code is None or c == code)
        )

    def wait_for_requests(
        self,
        count: int = 1,
        verb: str | None = None,
        resource: str | None = None,
        code: int | None = None,
        timeout: float = 10.0,
    ) -> bool:
        """Wait until at least ``count`` requests matched; False on timeout."""
        deadline = time.monotonic() + timeout
        while self.count(verb, resource, code) < count:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)
        return True

    def requests_between(
        self,
        start: float,
        end: float,
        *,
        verb: str | None = None,
        resource: str | None = None,
    ) -> list[RequestRecord]:
        """The requests that came between two time.monotonic() readings."""
        return [r for r in self.requests(verb, resource) if start <= r.at < end]

    def reset_requests(self) -> None:
        self.frontend.reset_records()
