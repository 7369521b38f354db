"""The kubernetes plugin against a misbehaving API server: silence, failure loops, bugs.

The test API server runs over HTTPS on loopback and is switched into each fault
issue 18 names; clusterdns is served from a Corefile with a kubeconfig and asked
with dnspython.  What is checked, against client-go's reflector (reflector.go:
backoff on every failure, relist after a refused watch, resume from the last
resourceVersion) and the 30 s bound CoreDNS's HTTP/2 pings give (44-46 s measured):

* a silent connection is noticed and the watch resumed from the last
  resourceVersion, without a relist; a Service created meanwhile is answered;
* whatever the server does, the request rate per resource stays bounded,
  counted from the server's own request log over a fixed window;
* a watch-only failure still refreshes the state by relisting;
* ``clusterdns_kubernetes_watch_up`` goes to 0 and back to 1, and the log says
  once which resource is stale and when it streams again;
* an exception while storing an object restarts that reflector alone.

The idle timeout and the backoff are shortened (``kubeapi.TIMING``) so the
suite stays fast; the shape of every rule is the production one.
"""

from __future__ import annotations

import logging
import os
import socket
import stat
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dns.rcode
import pytest
import trustme

from clusterdns.cluster import kubeapi
from clusterdns.cluster.kubeapi import Backoff, Timing
from clusterdns.cluster.objects import ObjectKey, Slim
from clusterdns.cluster.store import ClusterStore, Touched
from tests.support.apiserver import ApiServer, server_ssl_context
from tests.support.kubetest import (
    a,
    corefile,
    endpoint_slice,
    http_get,
    kubeconfig,
    metric,
    sample_objects,
    service,
    wait_for,
)
from tests.support.serverutil import RunningServer, running

NOERROR = dns.rcode.NOERROR
TOKEN = "fault-token"
#: short enough for a fast suite, long enough for a loaded test machine
FAST = Timing(
    idle=3.0, connect=2.0, min_watch=1.0, backoff_initial=0.5, backoff_cap=3.0, backoff_reset=3.0
)
#: the bound: requests per resource in WINDOW seconds, counted from SETTLE seconds after
#: the fault (about one a second at worst; with FAST's backoff it is 2-3 list+watch rounds)
SETTLE, WINDOW, MOST = 1.0, 4.0, 8
#: how long a test waits for an answer after a silent connection: idle, a backoff, a margin
NOTICED_WITHIN = 4 * FAST.idle + 5


@pytest.fixture(autouse=True)
def fast_timing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kubeapi, "TIMING", FAST)


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The CA file clients trust and the server's key+certificate PEM."""
    folder = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    ca_file, server_pem = folder / "ca.crt", folder / "server.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    ca.issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(str(server_pem))
    return ca_file, server_pem


@pytest.fixture
def api(tls: tuple[Path, Path]) -> Iterator[ApiServer]:
    """An HTTPS API server with the sample cluster; bookmarks at the default (a minute)."""
    ca_file, server_pem = tls
    server = ApiServer(ssl_context=server_ssl_context(str(server_pem)), tokens={TOKEN: "dns"})
    server.load(sample_objects())
    server.start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def srv(api: ApiServer, tls: tuple[Path, Path], tmp_path: Path) -> Iterator[RunningServer]:
    config = kubeconfig(tmp_path / "kubeconfig", api.url, token=TOKEN, ca_file=str(tls[0]))
    with running(corefile(f"kubeconfig {config}")) as server:
        wait_for(lambda: api.watch_count() >= 4, "every watch open")
        wait_for(lambda: watch_up(server) == 1, "the services watch streaming")
        yield server


def watch_up(server: RunningServer, kind: str = "Service") -> float:
    return metric(server, "clusterdns_kubernetes_watch_up", kind=kind)


def stale_lines(caplog: pytest.LogCaptureFixture, plural: str = "services") -> list[str]:
    return [m for r in caplog.records if f"{plural} is stale" in (m := r.getMessage())]


# ---------------------------------------------------------------- silence


@dataclass(frozen=True)
class Silence:
    name: str
    #: the answer the next watch gets after the open one went silent ("": a normal one)
    next_watch: str


SILENCES = [
    Silence("an open watch goes silent", ""),
    Silence("and the next watch's headers never come", "silent"),
    Silence("and the next watch sends its headers, then nothing", "silent-headers"),
]


@pytest.mark.parametrize("case", SILENCES, ids=lambda c: c.name)
def test_a_silent_connection_is_noticed_and_the_watch_resumes_without_a_relist(
    case: Silence, api: ApiServer, srv: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    """A watch silent for ``idle`` (no FIN, no RST: a lost NAT entry, a hung proxy) is
    dropped and resumed from the last resourceVersion (client-go: a broken watch is
    resumed; a relist only on 410).  CoreDNS notices in 44-46 s; the bound is 30 s."""
    before = api.create(service("before", "shop", "10.96.10.40"))
    wait_for(lambda: a(srv, "before.shop.svc.cluster.local.") == ["10.96.10.40"], "before")
    last_seen = before["metadata"]["resourceVersion"]
    lists = api.count(verb="list", resource="services")
    if case.next_watch:
        api.inject_fault(0, 1, resource="services", verb="watch", mode=case.next_watch)
    started = time.monotonic()
    with caplog.at_level(logging.WARNING):
        assert api.freeze_watches("services") == 1
        api.create(service("during", "shop", "10.96.10.41"))
        wait_for(
            lambda: a(srv, "during.shop.svc.cluster.local.") == ["10.96.10.41"],
            "the change made while the watch was silent",
            NOTICED_WITHIN,
        )
    assert api.count(verb="list", resource="services") == lists  # resumed, not relisted
    resumed = api.requests_between(started, time.monotonic(), verb="watch", resource="services")
    assert resumed and all(r.query.get("resourceVersion") == last_seen for r in resumed)
    assert any("services is stale" in m and "silent" in m for m in stale_lines(caplog))
    assert len(resumed) <= 4  # no storm meanwhile


def test_a_list_whose_answer_never_comes_times_out_and_is_retried(
    api: ApiServer, tls: tuple[Path, Path], tmp_path: Path
) -> None:
    """A request whose headers never come gives up after ``idle`` like a silent watch."""
    api.inject_fault(0, 1, resource="services", verb="list", mode="silent")
    config = kubeconfig(tmp_path / "kubeconfig", api.url, token=TOKEN, ca_file=str(tls[0]))
    with running(corefile(f"kubeconfig {config}")) as server:
        wait_for(lambda: http_get(server, "/ready")[0] == 200, "synced", NOTICED_WITHIN)
        assert a(server, "web.shop.svc.cluster.local.") == ["10.96.10.10"]
    assert [r.code for r in api.requests(verb="list", resource="services")][:2] == [0, 200]


def test_api_sockets_have_tcp_keepalive_and_a_user_timeout(
    api: ApiServer, srv: RunningServer
) -> None:
    """A peer gone without FIN or RST is dropped by the kernel: keepalive probes after
    10 s idle, every 5 s, 3 of them; unacknowledged data given up after 25 s."""
    checked = 0
    for sock in _sockets_to(api.port):
        with sock:
            assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 10
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL) == 5
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT) == 3
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT) == 25_000
            checked += 1
    assert checked >= 4  # one connection per open watch


def _sockets_to(port: int) -> Iterator[socket.socket]:
    """Duplicates of this process's TCP sockets connected to ``port`` on loopback."""
    for fd in os.listdir("/proc/self/fd"):
        try:
            if not stat.S_ISSOCK(os.stat(f"/proc/self/fd/{fd}").st_mode):
                continue
            sock = socket.fromfd(int(fd), socket.AF_INET, socket.SOCK_STREAM)
        except OSError:
            continue
        try:
            peer = sock.getpeername()
        except OSError:
            sock.close()
            continue
        if isinstance(peer, tuple) and sock.type == socket.SOCK_STREAM and peer[1] == port:
            yield sock
        else:
            sock.close()


# ---------------------------------------------------------------- failure loops


@dataclass(frozen=True)
class Loop:
    name: str
    start: Callable[[ApiServer], None]
    heal: Callable[[ApiServer], None]
    #: the state still refreshes meanwhile, by relisting (a watch-only failure)
    relists: bool = False


def _forever(code: int, verb: str | None = None, **fault: Any) -> Callable[[ApiServer], None]:
    return lambda api: api.inject_fault(code, 10**6, resource="services", verb=verb, **fault)


def _allow_everything(api: ApiServer) -> None:
    api.clear_faults()
    api.allow("watch", "services")
    api.allow("list", "services")
    api.set_tokens({TOKEN: "dns"})


LOOPS = [
    Loop("short watches: 200, then the end", _forever(200, "watch", mode="short"), _allow_everything, True),
    Loop("ERROR 500 events", _forever(500, "watch", mode="error-event"), _allow_everything, True),
    Loop("ERROR 410 events", _forever(410, "watch", mode="error-event"), _allow_everything, True),
    Loop("503 on every request", _forever(503), _allow_everything),
    Loop("500 on watches only", _forever(500, "watch"), _allow_everything, True),
    Loop("429 with Retry-After", _forever(429, retry_after=1), _allow_everything),
    Loop("401: the token is refused", lambda api: api.set_tokens({"other": "x"}), _allow_everything),
    Loop("403 on watch, list allowed", lambda api: api.deny("watch", "services"), _allow_everything, True),
]  # fmt: skip


@pytest.mark.parametrize("case", LOOPS, ids=lambda c: c.name)
def test_every_failure_loop_is_paced_and_recovers(
    case: Loop, api: ApiServer, srv: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    """client-go's reflector backs off on every failure (reflector.go, backoffManager);
    a refused watch relists (ListAndWatch returns); whatever the server does, a resource
    makes about one request a second at most after the first few seconds."""
    assert watch_up(srv) == 1
    with caplog.at_level(logging.INFO):
        case.start(api)  # the open watches end at their (short) timeout; the next meet it
        started = time.monotonic()
        wait_for(lambda: watch_up(srv) == 0, "the watch noticed")
        if case.relists:  # a watch-only failure: the state is still refreshed by relisting
            api.create(service("relisted", "shop", "10.96.10.42"))
            wait_for(
                lambda: a(srv, "relisted.shop.svc.cluster.local.") == ["10.96.10.42"],
                "a change seen by relisting while the watch fails",
            )
        time.sleep(max(0.0, started + SETTLE + WINDOW - time.monotonic()))  # the window
        counted = api.requests_between(started + SETTLE, started + SETTLE + WINDOW)
        per_resource = sum(1 for r in counted if r.resource == "services")
        assert 1 <= per_resource <= MOST, [(r.verb, r.code, r.reason) for r in counted]
        assert watch_up(srv) == 0
        case.heal(api)
        api.create(service("healed", "shop", "10.96.10.43"))
        wait_for(lambda: a(srv, "healed.shop.svc.cluster.local.") == ["10.96.10.43"], "healed")
        wait_for(lambda: watch_up(srv) == 1, "watch_up back to 1")
    assert len(stale_lines(caplog)) == 1, stale_lines(caplog)  # once per outage
    messages = [r.getMessage() for r in caplog.records]
    assert any("services: the watch is streaming again" in m for m in messages)


# ---------------------------------------------------------------- supervision


def test_an_exception_while_storing_an_object_restarts_that_reflector_alone(
    api: ApiServer, srv: RunningServer, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    """A bug while storing one object is logged naming it; that kind's reflector starts
    over (a relist, with backoff); the other kinds keep following changes."""
    poisoned = {("Service", "shop", "poison")}
    real_apply = ClusterStore.apply

    def apply(self: ClusterStore, key: ObjectKey, obj: Slim | None, touched: Touched) -> None:
        if key in poisoned:
            raise RuntimeError("a bug in the store")
        real_apply(self, key, obj, touched)

    monkeypatch.setattr(ClusterStore, "apply", apply)
    lists = {kind: api.count(verb="list", resource=kind) for kind in ("services", "namespaces")}
    with caplog.at_level(logging.WARNING):
        api.create(service("poison", "shop", "10.96.10.50"))
        wait_for(lambda: watch_up(srv) == 0, "the services reflector down")
        wait_for(
            lambda: api.count(verb="list", resource="services") > lists["services"],
            "the services reflector started over",
        )
        # the other reflectors were not touched and keep following changes
        api.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "fresh"}})
        wait_for(lambda: srv.udp("fresh.svc.cluster.local.").rcode() == NOERROR, "a namespace")
        api.create(endpoint_slice("web-more", "shop", "web", ["10.244.1.99"]))
        assert api.count(verb="list", resource="namespaces") == lists["namespaces"]
        assert watch_up(srv, "Namespace") == 1 and watch_up(srv, "EndpointSlice") == 1
        assert a(srv, "web.shop.svc.cluster.local.") == ["10.96.10.10"]  # served as before
    failures = [r for r in caplog.records if "Service shop/poison" in r.getMessage()]
    assert len(failures) == 1 and "a bug in the store" in failures[0].getMessage()
    assert failures[0].exc_info is not None  # with its traceback
    poisoned.clear()  # the bug is fixed: the next start over serves the object
    wait_for(lambda: a(srv, "poison.shop.svc.cluster.local.") == ["10.96.10.50"], "recovered")
    wait_for(lambda: watch_up(srv) == 1, "watch_up back to 1")


# ---------------------------------------------------------------- the rules, without I/O


@pytest.mark.parametrize(
    ("idle", "rand", "seconds"),
    [(25.0, 0.0, 15), (25.0, 1.0, 20), (3.0, 0.5, 2), (1.0, 0.0, 1)],
)
def test_a_watch_asks_less_time_than_the_idle_timeout(
    idle: float, rand: float, seconds: int
) -> None:
    """The server ends a healthy watch (after its pre-timeout bookmark) before the reader
    would call it silent, so silence for ``idle`` always means a fault."""
    assert Timing(idle=idle).watch_seconds(lambda: rand) == seconds


def test_backoff_doubles_to_its_cap_and_starts_over_after_a_quiet_spell() -> None:
    """Half to all of 0.5 s, 1 s, 2 s ... up to 30 s; a first failure after 2 minutes
    without one starts again from the bottom (client-go's backoff manager)."""
    now = [0.0]
    backoff = Backoff(0.5, 30.0, 120.0, rand=lambda: 1.0, clock=lambda: now[0])
    delays = []
    for _ in range(8):
        delays.append(backoff.next())
        now[0] += delays[-1]
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    assert backoff.next(at_least=45.0) == 30.0  # Retry-After, held to the cap
    now[0] += 30.0 + 121.0
    assert backoff.next() == 0.5
    half = Backoff(0.5, 30.0, 120.0, rand=lambda: 0.0, clock=lambda: 0.0)
    assert [half.next() for _ in range(3)] == [0.25, 0.5, 1.0]
    assert half.next(at_least=3.0) == 3.0


def test_client_timeouts_are_held_to_the_idle_bound() -> None:
    """A list asks 60 s of read timeout; a silent server must still be noticed in time."""
    asked = kubeapi.aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=60)
    held = Timing(idle=25.0, connect=10.0).client_timeout(asked)
    assert (held.total, held.sock_connect, held.sock_read) == (None, 10.0, 25.0)
