"""``serve -workers N``: a supervisor, N serving processes, one view of the cluster.

The supervisor sets the Corefile up (every error is reported before anything
starts), starts only the plugins that hold a view of the cluster
(``plugins/views.py``: the kubernetes plugin's list+watch, store and zone),
waits for their first sync, binds the DNS sockets, freezes the heap
(``gc.freeze``, so the copies the collector would make never happen) and
forks the workers.  The cluster state is then shared copy-on-write, and the
API watches run once per pod.  Every change the supervisor applies after a
fork is sent, in order, over the worker's socketpair and applied to its copy.

A worker builds its whole server from the Corefile itself, after the fork:
nothing it inherited is running in it.  Its kubernetes plugin follows the
inherited view instead of opening a source.  The supervisor binds, per
address, one SO_REUSEPORT UDP and TCP socket per worker slot and holds them
all: a worker forked in a dead one's place serves the same socket, so what was
queued there is answered, not dropped (``CLUSTERDNS_WORKER_SOCKETS`` picks one
shared socket instead, or a program that keeps each client address on one
worker; the README's "How it is built" has the numbers).

To the outside it is one server: the supervisor alone binds the HTTP
endpoints the workers' plugins ask for (health, ready, prometheus) and
answers each request by asking every worker over its socket (``/metrics``
merged, ``metricsmerge.py``; ``/ready`` 200 when every worker is).  SIGUSR1
reloads every worker; SIGTERM runs every worker's lameduck at once, then
stops; a worker that dies is forked again from the supervisor's current
state and counted in ``clusterdns_worker_restarts_total``.

The supervisor runs asyncio's own event loop, not uvloop: a fork leaves the
child inside the parent's loop, and a pure-Python loop can simply be
abandoned (kept referenced, its descriptors closed), while libuv keeps
process-wide state.  Each worker starts uvloop fresh.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import pickle
import resource
import signal
import socket
import struct
import sys
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import REGISTRY, Counter, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from clusterdns.collector import COLLECTOR
from clusterdns.errors import ClusterDNSError, ConfigError
from clusterdns.plugins import views
from clusterdns.plugins.plugin import Route
from clusterdns.server.http import HTTPEndpoint
from clusterdns.server.metricsmerge import merge
from clusterdns.server.reuseport import attach_client_affinity
from clusterdns.server.run import install_event_loop
from clusterdns.server.server import PlannedBlock, Server, socket_pair

log = logging.getLogger("clusterdns.server.workers")

RESTARTS = Counter(
    "clusterdns_worker_restarts_total",
    "Worker processes of `serve -workers` forked again after one died.",
)

#: families only the supervisor adds to (a worker inherits their values at its fork)
SUPERVISOR_FAMILIES = ("coredns_kubernetes_", "clusterdns_kubernetes_", "clusterdns_worker_")
READY_PATH, METRICS_PATH = "/ready", "/metrics"
#: how long the supervisor waits for one worker's answer to an HTTP request or a reload
ANSWER_SECONDS = 5.0
START_SECONDS = 120.0
#: a worker that died sooner than this after its fork is forked again only after a pause
QUICK_DEATH = 2.0
#: a worker that reads nothing while this much waits for it is killed (and forked again)
MAX_BACKLOG = 256 << 20
#: what a stopped worker gets for its lameduck before it is killed
STOP_GRACE = 60.0
#: ``reuseport`` (the default: per address one SO_REUSEPORT socket per worker slot, all
#: bound by the supervisor), ``shared`` (per address one socket that every worker reads) or
#: ``reuseport-client`` (reuseport, each client address kept on one worker: reuseport.py)
SOCKETS_ENV = "CLUSTERDNS_WORKER_SOCKETS"
SHARED, REUSEPORT, REUSEPORT_CLIENT = "shared", "reuseport", "reuseport-client"
Pair = tuple[socket.socket, socket.socket]
#: a worker's own ``os._exit(1)`` is CoreDNS's log.Fatal (the loop plugin): the pod exits
FATAL_STATUS = 1
#: a worker that raised out of its loop (a bug): forked again, as a killed one is
CRASHED_STATUS = 70

_HEADER = struct.Struct("!I")

#: in a worker: what it inherited and must never free (their descriptors were closed
#: by number, and a socket object's finaliser would close whatever has that number now)
_ABANDONED: list[object] = []


def frame(message: object) -> bytes:
    body = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return _HEADER.pack(len(body)) + body


async def receive(reader: asyncio.StreamReader) -> Any:
    """The next message, or None when the other side has gone."""
    try:
        head = await reader.readexactly(_HEADER.size)
        body = await reader.readexactly(_HEADER.unpack(head)[0])
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    return pickle.loads(body)


@dataclass(frozen=True, slots=True)
class WorkerSpec:
    """What a forked worker needs to build its server."""

    text: str
    filename: str
    default_port: int
    sockets: dict[tuple[str, int], Pair]


@dataclass(eq=False)  # one per process: compared and hashed by identity
class WorkerProcess:
    slot: int
    pid: int
    forked_at: float
    sock: socket.socket
    writer: asyncio.StreamWriter | None = None
    #: frames published before the writer existed, sent first
    backlog: list[bytes] = field(default_factory=list)
    started: asyncio.Event = field(default_factory=asyncio.Event)
    #: the HTTP routes its plugins added (host, port, paths), as it said when it started
    endpoints: list[tuple[str, int, tuple[str, ...]]] = field(default_factory=list)
    failure: str = ""
    pending: dict[int, asyncio.Future[Any]] = field(default_factory=dict)
    task: asyncio.Task[None] | None = None
    exited: asyncio.Event = field(default_factory=asyncio.Event)

    def send(self, data: bytes) -> None:
        if self.writer is None:
            self.backlog.append(data)
            return
        if self.writer.transport.is_closing():
            return
        self.writer.write(data)
        if self.writer.transport.get_write_buffer_size() > MAX_BACKLOG:
            log.error("[ERROR] worker %d (pid %d) is not reading: killing it", self.slot, self.pid)
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)


class WorkerPool:
    """The supervisor: the ``Server`` interface that ``run.py`` and the node cache drive."""

    def __init__(
        self, text: str, filename: str = "Corefile", *, default_port: int, workers: int
    ) -> None:
        self.text = text
        self.filename = filename
        self.default_port = default_port
        self.count = workers
        self.builder = Server(text, filename, default_port=default_port)
        self.blocks: list[PlannedBlock] = []
        self.owners: list[views.ViewOwner] = []
        #: (host, port) -> its sockets: one pair for all workers, or one per slot (reuseport)
        self.sockets: dict[tuple[str, int], list[Pair]] = {}
        self.workers: dict[int, WorkerProcess] = {}
        #: replaced workers still in their lameduck: they get changes until they exit
        self.retiring: set[WorkerProcess] = set()
        self._routes: dict[tuple[str, int, str], Route] = {}
        self._stopping = False
        self._ids = 0
        self._tasks: set[asyncio.Task[Any]] = set()
        self._http_lock = asyncio.Lock()
        self._mode_given = bool(os.environ.get(SOCKETS_ENV))
        self.mode = os.environ.get(SOCKETS_ENV, "") or REUSEPORT
        if self.mode not in (SHARED, REUSEPORT, REUSEPORT_CLIENT):
            log.warning(
                "[WARNING] %s=%s is not %s, %s or %s: using %s",
                *(SOCKETS_ENV, self.mode, SHARED, REUSEPORT, REUSEPORT_CLIENT, REUSEPORT),
            )
            self.mode = REUSEPORT

    # -- the Server interface ------------------------------------------------

    def plan(self, text: str) -> list[PlannedBlock]:
        return self.builder.plan(text)

    def addresses(self) -> list[tuple[str, int]]:
        return [
            (host or "0.0.0.0", pairs[0][0].getsockname()[1])
            for (host, _), pairs in self.sockets.items()
        ]

    async def http_endpoint(self, address: str, default_port: int) -> HTTPEndpoint:
        return await self.builder.http_endpoint(address, default_port)

    async def start(self, planned: list[PlannedBlock] | None = None) -> None:
        """Build the views, wait for their sync, bind, fork; return once every worker serves."""
        self.blocks = planned if planned is not None else self.plan(self.text)
        owners = _owners(self.blocks)
        with COLLECTOR.building():  # frozen on leaving: the workers share it untouched
            results = await asyncio.gather(*(o.start() for o in owners), return_exceptions=True)
        failed = [r for r in results if isinstance(r, BaseException)]
        if failed:
            await asyncio.gather(*(o.stop() for o in owners), return_exceptions=True)
            raise failed[0]
        self.owners = owners
        for owner in owners:
            owner.publish_to(self)
        try:
            self.sockets = self._bind(self.blocks, set())
            unsynced = any(o.waiting() for o in owners)
            for slot in range(self.count):
                self._fork(slot)
            await self._wait_started()
        except BaseException:
            await self.stop()
            raise
        log.info("[INFO] serving with %d workers", self.count)
        if unsynced:
            self._spawn(self._refork_when_synced())

    async def _refork_when_synced(self) -> None:
        """After ``startup_timeout`` the workers were forked before the first sync, and each
        applies what came since on its own copy: once synced, fork them again to share it."""
        while any(o.waiting() for o in self.owners):
            await asyncio.sleep(0.1)
            if self._stopping:
                return
        # what the late sync built is out of later collections already (collector.py: a
        # list freezes what it built); freezing again also takes what came after it, so the
        # collector never writes the pages the new workers share
        gc.freeze()
        log.info("[INFO] kubernetes synced after the workers started: forking them again")
        await self.replace_all()

    async def replace_all(self) -> None:
        """Fork a new worker for each slot from the state as it is now, then retire the old
        one (its lameduck overlaps the new one's answers; both read the slot's socket, so
        nothing queued is dropped)."""
        for slot in sorted(self.workers):
            if self._stopping:
                return
            old = self.workers[slot]
            self._fork(slot)
            new = self.workers[slot]
            self.retiring.add(old)
            if not await self._started(new):
                log.error("[ERROR] worker %d did not start again: %s", slot, new.failure)
                self.retiring.discard(old)
                self.workers[slot] = old
                continue
            old.send(frame(("stop",)))

    async def _wait_started(self) -> None:
        """Every worker serving, and its HTTP routes served by the supervisor."""
        for worker in list(self.workers.values()):
            if not await self._started(worker):
                raise ClusterDNSError(
                    f"worker {worker.slot} did not start: {worker.failure or 'no answer'}"
                )
            await self._sync_http(worker.endpoints)

    async def _started(self, worker: WorkerProcess) -> bool:
        """True once ``worker`` serves; False when it exited or did not start in time."""
        waits = [asyncio.ensure_future(e.wait()) for e in (worker.started, worker.exited)]
        await asyncio.wait(waits, timeout=START_SECONDS, return_when="FIRST_COMPLETED")
        for wait in waits:
            wait.cancel()
        return worker.started.is_set() and not worker.exited.is_set()

    async def reload(self, text: str | None = None) -> bool:
        """Every worker reloads ``text``; a file that does not set up is refused here, once."""
        new_text = self.text if text is None else text
        try:
            planned = self.plan(new_text)
        except Exception as exc:  # a bad reload must never take the server down
            log.error("[ERROR] Restart failed: %s", exc)
            return False
        owners = _owners(planned)
        same_views = {o.view_key for o in owners} == {o.view_key for o in self.owners}
        if not same_views or _listener_keys(planned) != set(self.sockets):
            return await self._reload_by_forking(new_text, planned, owners, same_views)
        answers = await asyncio.gather(
            *(self._ask(w, ("reload", new_text), START_SECONDS) for w in self._live())
        )
        ok = all(a is not None and a[0] for a in answers)
        for answer in answers:
            if answer is not None:
                await self._sync_http(answer[1])
        if ok:
            self.text = new_text
            self.blocks = planned
        return ok

    async def _reload_by_forking(
        self,
        text: str,
        planned: list[PlannedBlock],
        owners: list[views.ViewOwner],
        same_views: bool,
    ) -> bool:
        """A reload that changes a kubernetes directive or a listener: the supervisor starts
        the new views (one list+watch each) and binds the new sockets, then forks every
        worker again from that state, the old ones serving until the new ones do."""
        old_owners = self.owners
        if same_views:
            owners = old_owners
        else:
            with COLLECTOR.building():
                results = await asyncio.gather(*(o.start() for o in owners), return_exceptions=True)
            failed = [r for r in results if isinstance(r, BaseException)]
            if failed:
                await asyncio.gather(*(o.stop() for o in owners), return_exceptions=True)
                log.error("[ERROR] Restart failed: %s", failed[0])
                return False
        try:
            added = self._bind(planned, set(self.sockets))
        except Exception as exc:
            if owners is not old_owners:
                await asyncio.gather(*(o.stop() for o in owners), return_exceptions=True)
            log.error("[ERROR] Restart failed: %s", exc)
            return False
        self.sockets.update(added)
        if owners is not old_owners:
            for owner in old_owners:
                owner.publish_to(None)
            for owner in owners:
                owner.publish_to(self)
            self.owners = owners
        self.text, self.blocks = text, planned
        await self.replace_all()
        if owners is not old_owners:
            await asyncio.gather(*(o.stop() for o in old_owners), return_exceptions=True)
        log.info("[INFO] Reloading complete")
        return True

    async def stop(self) -> None:
        """Every worker's lameduck at once, then their stop; then the views and endpoints."""
        self._stopping = True
        everyone = [*self.workers.values(), *self.retiring]
        for worker in everyone:
            worker.send(frame(("stop",)))
        deadline = time.monotonic() + STOP_GRACE
        for worker in everyone:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(worker.exited.wait(), max(0.1, deadline - time.monotonic()))
            if not worker.exited.is_set():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(worker.pid, signal.SIGKILL)
                await worker.exited.wait()
        await asyncio.gather(*(o.stop() for o in self.owners), return_exceptions=True)
        for endpoint in self.builder.http.values():
            await endpoint.close()
        for pairs in self.sockets.values():
            for pair in pairs:
                for sock in pair:
                    sock.close()
        self.sockets.clear()

    def _bind(
        self, planned: list[PlannedBlock], skip: set[tuple[str, int]]
    ) -> dict[tuple[str, int], list[Pair]]:
        if not self._mode_given:
            self.mode = _default_mode(planned)
        copies = 1 if self.mode == SHARED else self.count
        bound = bind_sockets(planned, skip=skip, copies=copies)
        if self.mode == REUSEPORT_CLIENT:
            for pairs in bound.values():
                for sock in pairs[0]:
                    attach_client_affinity(sock, self.count)
        return bound

    def _slot_sockets(self, slot: int) -> dict[tuple[str, int], Pair]:
        """The sockets worker ``slot`` serves: its own (reuseport) or the one shared pair."""
        return {key: pairs[min(slot, len(pairs) - 1)] for key, pairs in self.sockets.items()}

    # -- views.Publisher: every change the views apply, to every worker ---------

    def publish_changes(self, key: str, changes: Sequence[Any]) -> None:
        if self.workers:
            self._broadcast(frame(("apply", key, list(changes))))

    def publish_synced(self, key: str, kind: str) -> None:
        if self.workers:
            self._broadcast(frame(("synced", key, kind)))

    def _broadcast(self, data: bytes) -> None:
        for worker in [*self.workers.values(), *self.retiring]:
            worker.send(data)

    # -- forking ---------------------------------------------------------------

    def _fork(self, slot: int) -> None:
        """Fork a worker from the state as it is now (called between awaits: consistent)."""
        parent, child = socket.socketpair()
        sockets = self._slot_sockets(slot)
        spec = WorkerSpec(self.text, self.filename, self.default_port, sockets)
        keep = {0, 1, 2, child.fileno()} | {s.fileno() for p in sockets.values() for s in p}
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child, which never returns
            code = CRASHED_STATUS
            try:
                code = run_worker(slot, spec, child, keep, self.owners)
            except BaseException:
                traceback.print_exc()
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        child.close()
        worker = WorkerProcess(slot, pid, time.monotonic(), parent)
        self.workers[slot] = worker
        worker.task = asyncio.ensure_future(self._follow(worker))

    async def _follow(self, worker: WorkerProcess) -> None:
        """Read one worker's messages; when it has gone, reap it and fork another."""
        reader, worker.writer = await asyncio.open_unix_connection(sock=worker.sock)
        for data in worker.backlog:
            worker.writer.write(data)
        worker.backlog.clear()
        while True:
            message = await receive(reader)
            if message is None:
                break
            self._handle(worker, message)
        worker.writer.close()
        status = await _reap(worker.pid)
        for future in worker.pending.values():
            if not future.done():
                future.set_result(None)
        if self.workers.get(worker.slot) is worker:
            del self.workers[worker.slot]
        worker.exited.set()
        if worker in self.retiring:
            self.retiring.discard(worker)
            return
        if self._stopping or not worker.started.is_set():
            return
        if os.WIFEXITED(status) and os.WEXITSTATUS(status) == FATAL_STATUS:
            self._exit_fatally(worker)
        log.error(
            "[ERROR] worker %d (pid %d) %s; starting another",
            worker.slot,
            worker.pid,
            _exit_text(status),
        )
        RESTARTS.inc()
        if time.monotonic() - worker.forked_at < QUICK_DEATH:
            await asyncio.sleep(QUICK_DEATH)
            if self._stopping:
                return
        self._fork(worker.slot)

    def _exit_fatally(self, worker: WorkerProcess) -> None:
        """A worker logged a fatal error and exited: so does the pod, as CoreDNS would."""
        log.error("[ERROR] worker %d (pid %d) exited fatally: stopping", worker.slot, worker.pid)
        for other in self.workers.values():
            with contextlib.suppress(ProcessLookupError):
                os.kill(other.pid, signal.SIGKILL)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(FATAL_STATUS)

    def _handle(self, worker: WorkerProcess, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == "started":
            worker.started.set()
            worker.endpoints = message[1]
            self._spawn(self._sync_http(message[1]))
        elif kind == "failed":
            worker.failure = message[1]
        elif kind == "answer":
            future = worker.pending.pop(message[1], None)
            if future is not None and not future.done():
                future.set_result(message[2])
        elif kind == "reload":  # a worker's reload plugin saw the Corefile change
            self._spawn(self.reload(message[1]))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _live(self) -> list[WorkerProcess]:
        return [w for w in self.workers.values() if w.started.is_set() and not w.exited.is_set()]

    async def _ask(self, worker: WorkerProcess, request: tuple[Any, ...], seconds: float) -> Any:
        """Send ``request`` with an id; its answer, or None when none came in time."""
        self._ids += 1
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        worker.pending[self._ids] = future
        worker.send(frame((request[0], self._ids, *request[1:])))
        try:
            return await asyncio.wait_for(future, seconds)
        except TimeoutError:
            worker.pending.pop(self._ids, None)
            return None

    # -- one HTTP server for all -------------------------------------------------

    async def _sync_http(self, endpoints: list[tuple[str, int, tuple[str, ...]]]) -> None:
        """Serve, on the supervisor's endpoints, every route the workers' plugins added."""
        async with self._http_lock:  # workers report at once; each route is added once
            await self._sync_routes(endpoints)

    async def _sync_routes(self, endpoints: list[tuple[str, int, tuple[str, ...]]]) -> None:
        wanted = {(host, port, path) for host, port, paths in endpoints for path in paths}
        for key in [k for k in self._routes if k not in wanted]:
            host, port, path = key
            endpoint = self.builder.http.get((host, port))
            if endpoint is not None:
                endpoint.remove(path, self._routes.pop(key))
        for key in sorted(wanted - self._routes.keys()):
            host, port, path = key
            endpoint = self.builder.http.get((host, port))
            if endpoint is None:
                endpoint = self.builder.http[(host, port)] = HTTPEndpoint(host, port)
                await endpoint.start()
            route = self._routes[key] = self._route(host, port, path)
            endpoint.add(path, route)

    def _route(self, host: str, port: int, path: str) -> Route:
        async def answer() -> tuple[int, str, bytes]:
            return await self.answer(host, port, path)

        return answer

    async def answer(self, host: str, port: int, path: str) -> tuple[int, str, bytes]:
        """One answer for the pod from every worker's answer to ``path``."""
        live = self._live()
        results = await asyncio.gather(
            *(self._ask(w, ("http", host, port, path), ANSWER_SECONDS) for w in live)
        )
        answered: list[tuple[int, str, bytes]] = [r for r in results if r is not None]
        if path == METRICS_PATH and answered:
            own = generate_latest(REGISTRY).decode()
            texts = [body.decode() for status, _, body in answered if status == 200]
            body = merge(own, texts, lambda name: name.startswith(SUPERVISOR_FAMILIES))
            return 200, CONTENT_TYPE_LATEST, body.encode()
        failing = [r for r in answered if r[0] != 200]
        if failing:
            status, ctype, _ = failing[0]
            return status, ctype, b", ".join(dict.fromkeys(r[2] for r in failing))
        if path == READY_PATH and len(answered) < self.count:
            waiting = self.count - len(answered)
            return 503, "text/plain", f"{waiting} of {self.count} workers starting".encode()
        if not answered:
            return 503, "text/plain", b"no worker is answering"
        return answered[0]


def _owners(planned: list[PlannedBlock]) -> list[views.ViewOwner]:
    return [p for b in planned for p in b.plugins if isinstance(p, views.ViewOwner)]


def _listener_keys(planned: list[PlannedBlock]) -> set[tuple[str, int]]:
    return {(host, port) for b in planned for host in b.hosts for _, port in b.addresses}


def bind_sockets(
    planned: list[PlannedBlock], *, skip: set[tuple[str, int]] | None = None, copies: int = 1
) -> dict[tuple[str, int], list[Pair]]:
    """The UDP and TCP sockets of every listener the blocks need, bound once for all workers.

    ``copies`` > 1: that many SO_REUSEPORT pairs on each address, one per worker slot, in slot
    order (the group's order, which reuseport.py's program indexes).  The supervisor holds
    them all and reads none: a worker that exits leaves its queue to the one forked in its
    place, where a socket of its own would have dropped what was queued.
    """
    bound: dict[tuple[str, int], list[Pair]] = {}
    try:
        for host, port in sorted(_listener_keys(planned) - (skip or set())):
            pairs = bound[(host, port)] = []
            for _ in range(copies):
                udp, tcp = socket_pair(host, port, reuse_port=copies > 1)
                port = udp.getsockname()[1]  # port 0: the copies join the first one's port
                pairs.append((udp, tcp))
                tcp.listen(1024)
    except BaseException:
        for pairs in bound.values():
            for pair in pairs:
                for sock in pair:
                    sock.close()
        raise
    return bound


async def _reap(pid: int) -> int:
    """The wait status of a child that has closed its socket (it exits right after)."""
    while True:
        try:
            done, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return 0
        if done:
            return status
        await asyncio.sleep(0.01)


def _exit_text(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"was killed by signal {os.WTERMSIG(status)}"
    return f"exited with status {os.waitstatus_to_exitcode(status)}"


# -- the worker side -----------------------------------------------------------


def run_worker(
    slot: int,
    spec: WorkerSpec,
    channel: socket.socket,
    keep: set[int],
    owners: list[views.ViewOwner],
) -> int:
    """In the forked child: leave the supervisor's loop behind, serve on a fresh one."""
    _close_descriptors(keep)
    signal.set_wakeup_fd(-1)
    for number in (signal.SIGTERM, signal.SIGUSR1, signal.SIGCHLD, signal.SIGHUP):
        signal.signal(number, signal.SIG_DFL)
    # Ctrl-C reaches every process of the group: the supervisor stops the workers in order
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _ABANDONED.extend([asyncio.events._get_running_loop(), asyncio.get_event_loop_policy()])
    asyncio.events._set_running_loop(None)
    views.inherit(owners)
    install_event_loop()
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    return loop.run_until_complete(serve_worker(slot, spec, channel))


def _close_descriptors(keep: set[int]) -> None:
    """Close every descriptor but ``keep`` (no /proc needed: a chroot may not mount it)."""
    limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if limit == resource.RLIM_INFINITY or limit <= 0:
        limit = 1 << 20
    low = 0
    for number in sorted(keep):
        if number > low:  # closerange(n, n) would be close_range(n, UINT_MAX): every fd
            os.closerange(low, number)  # close_range(2) where the kernel has it
        low = number + 1
    os.closerange(low, limit)


async def serve_worker(slot: int, spec: WorkerSpec, channel: socket.socket) -> int:
    reader, writer = await asyncio.open_unix_connection(sock=channel)
    server = Server(spec.text, spec.filename, default_port=spec.default_port)
    server.shared_sockets = spec.sockets
    server.bind_http = False
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    try:
        await server.start()
    except Exception as exc:
        writer.write(frame(("failed", str(exc))))
        await writer.drain()
        return 1
    writer.write(frame(("started", endpoints_of(server))))
    log.debug("worker %d (pid %d) serving", slot, os.getpid())
    follower = WorkerSide(server, writer, stop)
    reading = asyncio.ensure_future(follower.read(reader))
    await stop.wait()
    await server.stop()
    reading.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await reading
    writer.close()
    return 0


def endpoints_of(server: Server) -> list[tuple[str, int, tuple[str, ...]]]:
    """The HTTP routes a worker's plugins added: the supervisor serves them."""
    return [(host, port, tuple(ep.routes)) for (host, port), ep in server.http.items()]


class WorkerSide:
    """A worker's end of its socket: changes to apply, questions to answer, reload, stop."""

    def __init__(self, server: Server, writer: asyncio.StreamWriter, stop: asyncio.Event) -> None:
        self.server = server
        self.writer = writer
        self.stop = stop
        self._tasks: set[asyncio.Task[None]] = set()

    async def read(self, reader: asyncio.StreamReader) -> None:
        while True:
            message = await receive(reader)
            if message is None:  # the supervisor has gone: so do we
                self.stop.set()
                return
            kind = message[0]
            if kind == "apply":
                views.deliver(message[1], message[2])
            elif kind == "synced":
                views.deliver_synced(message[1], message[2])
            elif kind == "http":
                self._spawn(self._answer(message[1], message[2], message[3], message[4]))
            elif kind == "reload":
                self._spawn(self._reload(message[1], message[2]))
            elif kind == "stop":
                self.stop.set()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _answer(self, ident: int, host: str, port: int, path: str) -> None:
        endpoint = self.server.http.get((host, port))
        if endpoint is None:
            result: tuple[int, str, bytes] = (404, "text/plain", b"404 page not found\n")
        else:
            result = await endpoint.answer(path)
        self.writer.write(frame(("answer", ident, result)))

    async def _reload(self, ident: int, text: str) -> None:
        ok = await self.server.reload(text)
        self.writer.write(frame(("answer", ident, (ok, endpoints_of(self.server)))))


def check_workers(count: int) -> int:
    if count < 1:
        raise ConfigError(f"-workers {count}: give 1 or more (1: a single process, no supervisor)")
    return count


def _default_mode(planned: Sequence[PlannedBlock]) -> str:
    """reuseport, or reuseport-client when a block runs *searchwalk*: it follows each
    client's walk through the search list, which must then reach one worker whole, as it
    reaches the one process (a resolver may send each query of a walk from a new port)."""
    walks = any(plugin.name == "searchwalk" for block in planned for plugin in block.plugins)
    return REUSEPORT_CLIENT if walks else REUSEPORT
