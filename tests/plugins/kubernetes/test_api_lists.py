"""How the API source lists: watch cache first, consistent pages as the fallback, relists.

client-go's reflector lists with ``resourceVersion=0`` first, which the API
server answers from its watch cache, whole (``limit`` is ignored there); where
that fails it lists consistently, in pages.  A relist replaces what is held.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.apiserver import ApiServer
from tests.support.serverutil import RunningServer, answers, running

TOKEN = "list-token"


def _service(name: str, namespace: str, ip: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"clusterIP": ip, "ports": [{"name": "http", "port": 80}]},
    }


def _namespace(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def _services(count: int) -> Iterator[dict[str, Any]]:
    for i in range(count):
        yield _service(f"s{i}", "shop", f"10.{96 + i // 65536}.{i // 256 % 256}.{i % 256}")


def _ip(i: int) -> str:
    return f"10.{96 + i // 65536}.{i // 256 % 256}.{i % 256}"


def _kubeconfig(path: Path, server: str) -> Path:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "t", "cluster": {"server": server}}],
        "users": [{"name": "u", "user": {"token": TOKEN}}],
        "contexts": [{"name": "c", "context": {"cluster": "t", "user": "u"}}],
        "current-context": "c",
    }
    path.write_text(yaml.safe_dump(config))
    return path


def _corefile(config: Path, startup: str = "5s") -> str:
    return f"""
.:0 {{
    bind 127.0.0.1
    kubernetes cluster.local {{
        kubeconfig {config}
        startup_timeout {startup}
    }}
}}
"""


def _wait_for(predicate: Callable[[], object], what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _a(server: RunningServer, name: str) -> list[str]:
    return [line.split()[-1] for line in answers(server.udp(name))]


@pytest.fixture
def api() -> Iterator[ApiServer]:
    server = ApiServer(tokens={TOKEN: "clusterdns"}, bookmark_interval=0.5)
    server.load([_namespace("shop"), *_services(1200)])
    server.start()
    try:
        yield server
    finally:
        server.close()


def test_the_first_list_asks_the_watch_cache_and_comes_whole(
    api: ApiServer, tmp_path: Path
) -> None:
    """resourceVersion=0 first (client-go's reflector); the server ignores limit for it."""
    with running(_corefile(_kubeconfig(tmp_path / "kubeconfig", api.url))) as srv:
        assert _a(srv, "s1199.shop.svc.cluster.local.") == [_ip(1199)]
        lists = api.requests(verb="list", resource="services")
        assert len(lists) == 1
        assert lists[0].query.get("resourceVersion") == "0"
        assert all(r.query.get("resourceVersion") == "0" for r in api.requests(verb="list"))


@pytest.mark.parametrize("code", [500, 503, 400, 404])
def test_a_refused_watch_cache_list_falls_back_to_consistent_pages(
    api: ApiServer, tmp_path: Path, code: int
) -> None:
    """Where the resourceVersion=0 list fails, list again without a resourceVersion, in pages
    of ``limit`` with ``continue`` (API Concepts, "Retrieving large results sets in chunks")."""
    api.inject_fault(code, 1, resource="services", verb="list")
    with running(_corefile(_kubeconfig(tmp_path / "kubeconfig", api.url))) as srv:
        assert _a(srv, "s1199.shop.svc.cluster.local.") == [_ip(1199)]
        assert _a(srv, "s0.shop.svc.cluster.local.") == [_ip(0)]
        lists = api.requests(verb="list", resource="services")
        assert lists[0].query.get("resourceVersion") == "0"
        assert lists[0].code == code
        pages = lists[1:]
        assert len(pages) >= 3  # 1200 services in pages of 500
        assert all("resourceVersion" not in r.query and r.query.get("limit") for r in pages)
        assert all("continue" in r.query for r in pages[1:])


def test_a_relist_removes_what_the_api_server_no_longer_has(api: ApiServer, tmp_path: Path) -> None:
    """Deletions missed while the watch could not resume (410) are applied by the relist."""
    with running(_corefile(_kubeconfig(tmp_path / "kubeconfig", api.url))) as srv:
        assert _a(srv, "s7.shop.svc.cluster.local.") == [_ip(7)]
        lists_before = api.count(verb="list", resource="services")
        api.stop()
        for i in range(5, 10):
            api.delete("Service", f"s{i}", "shop")
        api.inject_fault(410, 1, resource="services", verb="watch")
        api.start()
        _wait_for(lambda: api.count(verb="list", resource="services") > lists_before, "a relist")
        _wait_for(lambda: not _a(srv, "s7.shop.svc.cluster.local."), "s7 removed by the relist")
        assert not _a(srv, "s9.shop.svc.cluster.local.")
        assert _a(srv, "s10.shop.svc.cluster.local.") == [_ip(10)]


@pytest.mark.timeout(600)
def test_fifty_thousand_services_in_one_response_are_all_served(tmp_path: Path) -> None:
    """A watch-cache list of 50 000 objects arrives as one response; every one is served."""
    count = 50_000
    server = ApiServer(tokens={TOKEN: "clusterdns"})
    server.load([_namespace("shop"), *_services(count)])
    server.start()
    try:
        config = _kubeconfig(tmp_path / "kubeconfig", server.url)
        with running(_corefile(config, startup="300s")) as srv:
            lists = server.requests(verb="list", resource="services")
            assert [r.query.get("resourceVersion") for r in lists] == ["0"]
            for i in (0, 1, count // 2, count - 1):
                assert _a(srv, f"s{i}.shop.svc.cluster.local.") == [_ip(i)]
    finally:
        server.close()
