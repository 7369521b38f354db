"""etcd v3 as a source of per-key changes: list a prefix, then watch it.

What CoreDNS's etcd plugin reads per query is read here once and then
followed:

1. list every key under the prefix at one revision, in pages (``limit``,
   then the next key after the last one, at the same ``revision``), handing
   each key to the sink as it arrives; at the end the sink drops the keys it
   holds that the list did not have, so a relist is reconciled key by key with
   no moment of empty answers;
2. watch the prefix from the list's revision + 1, handing every PUT and
   DELETE to the sink;
3. when the watch is cancelled because that revision was compacted, list
   again; when etcd cannot be reached (refused, stream broken, keepalive
   timed out), try the next endpoint after a capped, jittered backoff and list
   again.  The sink keeps what it had meanwhile.  Nothing ends this but ``stop``.

The gRPC API is etcd's own (``etcdserverpb``: KV.Range, Watch.Watch,
Auth.Authenticate) through ``grpc.aio``; the message classes and stubs come
from the ``aetcd`` package's generated ``aetcd.rpc`` module.  aetcd's own
``Client`` is not used: it has no TLS and no list of endpoints, both of which
the Corefile's ``tls`` and ``endpoint`` need.
"""

from __future__ import annotations

import asyncio
import logging
import random
import ssl
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

# grpcio and aetcd are the [etcd] extra: imported at the top so that importing the etcd
# plugin's setup (setup -> handler -> here) raises ImportError when they are missing.
import grpc
from aetcd import rpc

from clusterdns.tasks import cancel_and_wait

log = logging.getLogger("clusterdns.plugins.etcd")

PAGE_SIZE = 1000
BATCH = 500  # keys applied between two yields to the query loop
TIMEOUT = 5.0  # CoreDNS etcd.go etcdTimeout, per unary call
BACKOFF_INITIAL = 0.2
BACKOFF_CAP = 10.0
#: HTTP/2 pings so a silent etcd (no RST) is noticed; etcd allows one per 5 s by default
CHANNEL_OPTIONS = (
    ("grpc.keepalive_time_ms", 10_000),
    ("grpc.keepalive_timeout_ms", 5_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
    ("grpc.max_receive_message_length", 64 * 1024 * 1024),
)

Change = tuple[str, bytes | None]
"""A key and its new value, or None when it was deleted."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    host: str
    port: int
    secure: bool

    @property
    def target(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def __str__(self) -> str:
        return f"{'https' if self.secure else 'http'}://{self.target}"


def parse_endpoint(text: str) -> Endpoint:
    """``http://host:2379``, ``https://host:2379`` or ``host:port``; ValueError when not one."""
    parts = urlsplit(text if "://" in text else "http://" + text)
    if parts.scheme not in ("http", "https", "unix") or not parts.hostname:
        raise ValueError(f"endpoint {text!r} is not http(s)://HOST:PORT")
    if parts.path not in ("", "/"):
        raise ValueError(f"endpoint {text!r} has a path")
    port = parts.port or 2379  # urlsplit raises ValueError for a bad port
    return Endpoint(parts.hostname, port, parts.scheme == "https")


@dataclass(frozen=True, slots=True)
class TLSFiles:
    """CoreDNS ``tls [CERT KEY] [CACERT]``: any of them may be absent."""

    cert: str | None = None
    key: str | None = None
    ca: str | None = None


@dataclass(frozen=True, slots=True)
class EtcdConfig:
    endpoints: tuple[Endpoint, ...]
    prefix: str  # "/skydns/"
    username: str | None = None
    password: str | None = None
    tls: TLSFiles | None = None


class Sink(Protocol):
    """Where the source delivers: the plugin, on the event loop."""

    def apply(self, changes: Sequence[Change]) -> None: ...
    def held(self) -> set[str]: ...
    def synced(self) -> None: ...


class Compacted(Exception):
    """The watch's start revision was compacted away: list again."""


def prefix_end(prefix: bytes) -> bytes:
    """The ``range_end`` that makes a Range or Watch cover every key starting with ``prefix``."""
    end = bytearray(prefix)
    while end:
        if end[-1] < 0xFF:
            end[-1] += 1
            return bytes(end)
        end.pop()
    return b"\0"


def read_tls(files: TLSFiles) -> dict[str, bytes | None]:
    """The PEM bytes grpc's ``ssl_channel_credentials`` takes; OSError when one cannot be read."""

    def read(path: str | None) -> bytes | None:
        if path is None:
            return None
        with open(path, "rb") as handle:
            return handle.read()

    chain, key, root = read(files.cert), read(files.key), read(files.ca)
    return {"root_certificates": root, "private_key": key, "certificate_chain": chain}


class EtcdSource:
    """List + watch of one prefix, delivering to a sink; ``start`` it on the loop, ``stop`` it."""

    def __init__(
        self,
        config: EtcdConfig,
        sink: Sink,
        *,
        rand: Callable[[], float] = random.random,
        backoff_initial: float = BACKOFF_INITIAL,
        backoff_cap: float = BACKOFF_CAP,
    ) -> None:
        self.config = config
        self.sink = sink
        self.rand = rand
        self.backoff_initial = backoff_initial
        self.backoff_cap = backoff_cap
        self.revision = 0
        self.connected = False
        self._task: asyncio.Task[None] | None = None
        self._credentials: Any = None
        if config.tls is not None or any(e.secure for e in config.endpoints):
            self._credentials = _credentials(config.tls or TLSFiles())

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)

    async def _run(self) -> None:
        attempt = 0
        turn = 0
        while True:
            endpoint = self.config.endpoints[turn % len(self.config.endpoints)]
            try:
                await self._session(endpoint)
            except asyncio.CancelledError:
                raise
            except Compacted:
                log.info("plugin/etcd: revision %d was compacted; listing again", self.revision)
                continue
            except Exception as exc:  # grpc errors, bad certificates, bugs: retry all the same
                if self.connected or attempt == 0:
                    log.warning(
                        "plugin/etcd: %s: %s; serving the last records while retrying",
                        endpoint,
                        _describe(exc),
                    )
                if self.connected:
                    attempt = 0
                self.connected = False
            turn += 1
            delay = min(self.backoff_cap, self.backoff_initial * 2**attempt)
            attempt = min(attempt + 1, 16)
            await asyncio.sleep(delay * (0.5 + self.rand() / 2))

    async def _session(self, endpoint: Endpoint) -> None:
        if self._credentials is not None:
            channel = grpc.aio.secure_channel(endpoint.target, self._credentials, CHANNEL_OPTIONS)
        else:
            channel = grpc.aio.insecure_channel(endpoint.target, CHANNEL_OPTIONS)
        try:
            metadata: tuple[tuple[str, str], ...] = ()
            if self.config.username is not None:
                auth = rpc.AuthStub(channel)
                reply = await auth.Authenticate(
                    rpc.AuthenticateRequest(
                        name=self.config.username, password=self.config.password or ""
                    ),
                    timeout=TIMEOUT,
                )
                metadata = (("token", reply.token),)
            revision = await self._list(rpc.KVStub(channel), metadata)
            if not self.connected:
                log.info(
                    "plugin/etcd: %s: listed %s at revision %d",
                    endpoint,
                    self.config.prefix,
                    revision,
                )
            self.connected = True
            self.revision = revision
            self.sink.synced()
            await self._watch(rpc.WatchStub(channel), metadata)
        finally:
            await channel.close(grace=None)

    async def _list(self, kv: Any, metadata: tuple[tuple[str, str], ...]) -> int:
        prefix = self.config.prefix.encode()
        end = prefix_end(prefix)
        start = prefix
        revision = 0
        listed: set[str] = set()
        while True:
            reply = await kv.Range(
                rpc.RangeRequest(key=start, range_end=end, limit=PAGE_SIZE, revision=revision),
                timeout=TIMEOUT,
                metadata=metadata,
            )
            revision = revision or reply.header.revision
            changes: list[Change] = []
            for item in reply.kvs:
                key = item.key.decode("utf-8", "replace")
                listed.add(key)
                changes.append((key, bytes(item.value)))
            await self._deliver(changes)
            if not reply.more or not reply.kvs:
                break
            start = bytes(reply.kvs[-1].key) + b"\0"
        gone = [(key, None) for key in self.sink.held() - listed]
        await self._deliver(gone)
        return revision

    async def _watch(self, watch: Any, metadata: tuple[tuple[str, str], ...]) -> None:
        prefix = self.config.prefix.encode()
        create = rpc.WatchRequest(
            create_request=rpc.WatchCreateRequest(
                key=prefix, range_end=prefix_end(prefix), start_revision=self.revision + 1
            )
        )
        done = asyncio.Event()

        async def requests() -> AsyncIterator[Any]:
            yield create
            await done.wait()

        call = watch.Watch(requests(), metadata=metadata)
        try:
            async for reply in call:
                if reply.compact_revision:
                    raise Compacted()
                if reply.canceled:
                    raise ConnectionError(f"watch cancelled by etcd: {reply.cancel_reason}")
                changes: list[Change] = []
                for event in reply.events:
                    key = event.kv.key.decode("utf-8", "replace")
                    deleted = event.type == rpc.Event.EventType.DELETE
                    changes.append((key, None if deleted else bytes(event.kv.value)))
                    self.revision = max(self.revision, event.kv.mod_revision)
                await self._deliver(changes)
            raise ConnectionError("watch stream ended")
        finally:
            done.set()
            call.cancel()

    async def _deliver(self, changes: Sequence[Change]) -> None:
        for start in range(0, len(changes), BATCH):
            self.sink.apply(changes[start : start + BATCH])
            if len(changes) > BATCH:
                await asyncio.sleep(0)


def _credentials(files: TLSFiles) -> Any:
    return grpc.ssl_channel_credentials(**read_tls(files))


def _describe(exc: BaseException) -> str:
    details = getattr(exc, "details", None)
    code = getattr(exc, "code", None)
    if callable(details) and callable(code):
        return f"{code().name}: {details()}"
    if isinstance(exc, ssl.SSLError | OSError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"
