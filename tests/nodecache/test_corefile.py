"""Which Corefile the node cache runs, in node-cache's order (kubernetes/dns cmd/node-cache/app).

* ``NewCacheApp``: the upstream Service's address comes from ``<SVC>_SERVICE_HOST``; when it is
  missing node-cache logs "Unable to lookup IP address of Upstream service" and goes on.
* ``updateCorefile`` (configmap.go): the base file is filled and written to ``-conf``; when it
  cannot be read node-cache logs "Failed to read node-cache coreFile", counts a ``configmap``
  setup error and writes nothing, so CoreDNS runs ``-conf`` as it is.
* ``initDNSConfigSync``: the base is synced every 10 s and filled again when it changed.

The cache runs in-process on 127.0.0.1 with an ephemeral port, no interface and no rules.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dns.message
import dns.query
import pytest

from clusterdns.nodecache.app import EMBEDDED_BASE, NodeCache, load_corefile, pillars_for
from clusterdns.nodecache.netsetup import REGISTRY
from clusterdns.nodecache.params import NodeCacheError, NodeCacheParams

SEED_COREFILE = Path(__file__).with_name("seed003.Corefile")


def base(address: str) -> str:
    return (
        ".:0 {\n"
        "    bind __PILLAR__LOCAL__DNS__\n"
        "    hosts {\n"
        f"        {address} a.test\n"
        "        fallthrough\n"
        "    }\n"
        "    forward . __PILLAR__CLUSTER__DNS__\n"
        "}\n"
    )


def filled(address: str) -> str:
    return (
        base(address)
        .replace("__PILLAR__LOCAL__DNS__", "127.0.0.1")
        .replace("__PILLAR__CLUSTER__DNS__", "127.0.0.1:5300")
    )


def params(tmp_path: Path, **changes: Any) -> NodeCacheParams:
    values: dict[str, Any] = {
        "local_ips": ("127.0.0.1",),
        "port": 0,
        "setup_interface": False,
        "setup_iptables": False,
        "metrics_listen_address": "127.0.0.1:0",
        "base_corefile": str(tmp_path / "Corefile.base"),
        "corefile": str(tmp_path / "Corefile"),
        "cluster_dns": "127.0.0.1:5300",
    }
    values.update(changes)
    return NodeCacheParams(**values)


def configmap_errors() -> float:
    value = REGISTRY.get_sample_value(
        "coredns_nodecache_setup_errors_total", {"errortype": "configmap"}
    )
    return value or 0.0


class Running:
    """A checked NodeCache started on its own event loop in a thread."""

    def __init__(self, cache: NodeCache) -> None:
        self.cache = cache
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.call(cache.start())

    def call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    def stop(self) -> None:
        try:
            self.call(self.cache.stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()

    def a(self, name: str) -> list[str]:
        host, port = self.cache.server.addresses()[0]
        reply = dns.query.udp(dns.message.make_query(name, "A"), host, port=port, timeout=3)
        return sorted(rr.to_text() for rrset in reply.answer for rr in rrset)


@pytest.fixture
def start() -> Iterator[Any]:
    started: list[Running] = []

    def run(cache: NodeCache) -> Running:
        started.append(Running(cache))
        return started[-1]

    yield run
    for running in started:
        running.stop()


def test_a_readable_base_is_filled_into_conf_and_filled_again_when_it_changes(
    tmp_path: Path, start: Any
) -> None:
    (tmp_path / "Corefile.base").write_text(base("10.0.0.1"))
    cache = NodeCache(params(tmp_path), {})
    cache.check()
    assert (tmp_path / "Corefile").read_text() == filled("10.0.0.1")
    running = start(cache)
    assert running.a("a.test.") == ["10.0.0.1"]

    (tmp_path / "Corefile.base").write_text(base("10.0.0.2"))
    assert running.call(cache.sync_corefile()) is True
    assert (tmp_path / "Corefile").read_text() == filled("10.0.0.2")
    assert running.a("a.test.") == ["10.0.0.2"]
    assert cache.server.text == filled("10.0.0.2")
    # an unchanged base is not filled again: -conf is left as it is
    (tmp_path / "Corefile").write_text(filled("10.0.0.3"))
    assert running.call(cache.sync_corefile()) is False
    assert (tmp_path / "Corefile").read_text() == filled("10.0.0.3")


def test_a_base_that_goes_away_or_breaks_leaves_the_running_corefile(
    tmp_path: Path, start: Any, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "Corefile.base").write_text(base("10.0.0.1"))
    cache = NodeCache(params(tmp_path), {})
    cache.check()
    running = start(cache)
    errors = configmap_errors()

    (tmp_path / "Corefile.base").unlink()
    assert running.call(cache.sync_corefile()) is False
    assert configmap_errors() == errors + 1
    assert "Failed to read node-cache coreFile" in caplog.text
    assert running.call(cache.sync_corefile()) is False
    assert configmap_errors() == errors + 1  # reported once, not every period

    (tmp_path / "Corefile.base").write_text(base("10.0.0.1") + "# __PILLAR__\nx __PILLAR__NOPE__\n")
    assert running.call(cache.sync_corefile()) is False
    assert configmap_errors() == errors + 2
    assert "Corefile.base:10: __PILLAR__NOPE__ is not a value" in caplog.text
    assert (tmp_path / "Corefile").read_text() == filled("10.0.0.1")
    assert running.a("a.test.") == ["10.0.0.1"]

    (tmp_path / "Corefile.base").write_text(base("10.0.0.4"))
    assert running.call(cache.sync_corefile()) is True
    assert running.a("a.test.") == ["10.0.0.4"]


def test_without_a_base_conf_runs_as_it_is_and_the_service_env_is_not_needed(
    tmp_path: Path, start: Any, caplog: pytest.LogCaptureFixture
) -> None:
    conf = tmp_path / "Corefile"
    conf.write_text(filled("10.0.0.9"))
    caplog.set_level(logging.WARNING)
    errors = configmap_errors()
    cache = NodeCache(params(tmp_path, cluster_dns=None), {})
    assert "Unable to lookup IP address of Upstream service kube-dns" in caplog.text
    assert f"Failed to read node-cache coreFile {tmp_path / 'Corefile.base'}" in caplog.text
    assert f"running {conf} as it is" in caplog.text
    assert configmap_errors() == errors + 1
    cache.check()
    assert conf.read_text() == filled("10.0.0.9")
    running = start(cache)
    assert running.a("a.test.") == ["10.0.0.9"]
    assert running.call(cache.sync_corefile()) is False


def test_without_a_base_or_conf_it_says_what_runs(tmp_path: Path) -> None:
    with pytest.raises(NodeCacheError, match=r"-conf: cannot read .*Corefile: No such file.*"):
        NodeCache(params(tmp_path), {})


def test_the_missing_service_env_fails_only_when_the_base_needs_it(tmp_path: Path) -> None:
    (tmp_path / "Corefile.base").write_text(base("10.0.0.1"))
    with pytest.raises(
        NodeCacheError,
        match=r"Corefile.base:7: __PILLAR__CLUSTER__DNS__ needs the cluster DNS address, "
        r"but env KUBE_DNS_SERVICE_HOST .* is not set; pass -clusterdns IP",
    ):
        NodeCache(params(tmp_path, cluster_dns=None), {})
    assert not (tmp_path / "Corefile").exists()
    cache = NodeCache(params(tmp_path, cluster_dns=None), {"KUBE_DNS_SERVICE_HOST": "10.96.0.10"})
    assert "forward . 10.96.0.10" in cache.text


def test_the_embedded_template_only_when_asked_for(tmp_path: Path) -> None:
    conf = tmp_path / "Corefile"
    conf.write_text(SEED_COREFILE.read_text())
    p = params(tmp_path, local_ips=("169.254.20.10",), cluster_dns="10.96.0.11")
    plain = load_corefile(p, pillars_for(p, {}))
    assert (plain.text, plain.base, plain.source) == (SEED_COREFILE.read_text(), None, str(conf))
    embedded = params(tmp_path, local_ips=("169.254.20.10",), cluster_dns="10.96.0.11",
                      embedded_base=True, corefile=None)  # fmt: skip
    loaded = load_corefile(embedded, pillars_for(embedded, {}))
    assert loaded.source == EMBEDDED_BASE
    assert "forward . 10.96.0.11 {" in loaded.text and "bind 169.254.20.10" in loaded.text


def test_the_plugins_set_up_by_the_check_are_the_ones_that_start(
    tmp_path: Path, start: Any
) -> None:
    (tmp_path / "Corefile.base").write_text(base("10.0.0.1"))
    cache = NodeCache(params(tmp_path), {})
    cache.check()
    planned = cache.planned
    assert planned is not None
    start(cache)
    assert cache.server.blocks is planned
