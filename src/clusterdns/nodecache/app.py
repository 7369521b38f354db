"""Running the node cache: the Corefile from the base, the node's network, the periodic sync.

Order, as node-cache's ``Init``/``RunApp``: write the Corefile from the base
template, put the interface (and so the local addresses) on the node, start
serving, then add the iptables rules once the server is up (node-cache does this
when the pidfile appears, so rules never point at a cache that failed to start),
and check interface and rules again every ``-syncinterval``.  The base Corefile
is re-read every 10 s and a changed one is reloaded.  On SIGTERM/SIGINT the
server stops and, unless ``-skipteardown``, the interface and rules go.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import signal
from collections.abc import Mapping

from prometheus_client import generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from clusterdns.nodecache.netsetup import REGISTRY, SETUP_ERRORS, NetworkSetup
from clusterdns.nodecache.params import (
    CONFIG_SYNC_PERIOD,
    DEFAULT_BASE_COREFILE,
    NodeCacheError,
    NodeCacheParams,
    cluster_dns_address,
)
from clusterdns.nodecache.template import (
    Pillars,
    drop_directives,
    embedded_base_corefile,
    fill,
    unbuilt_directives,
)
from clusterdns.plugins import registry
from clusterdns.server.server import Server

log = logging.getLogger("clusterdns.nodecache")

# Directives of the nodelocaldns template that only help operations; when this
# build lacks them the cache still answers correctly, so they are left out with a warning.
OPTIONAL_DIRECTIVES = ("reload", "loop")


def read_base(params: NodeCacheParams) -> tuple[str, str]:
    """The base template's text and name; the embedded template when the default path is absent."""
    path = params.base_corefile
    if path == DEFAULT_BASE_COREFILE and not os.path.exists(path):
        return embedded_base_corefile(), "<embedded nodelocaldns Corefile.base>"
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read(), path
    except OSError as exc:
        raise NodeCacheError(f"-basecorefile: cannot read {path}: {exc.strerror}") from exc


def build_corefile(params: NodeCacheParams, environ: Mapping[str, str]) -> str:
    """The Corefile to serve: the base filled in, minus directives this build lacks."""
    base, name = read_base(params)
    pillars = Pillars(
        local_ips=params.local_ips,
        cluster_dns=cluster_dns_address(params.cluster_dns, params.upstream_svc, environ),
        upstream_servers=params.upstream_servers,
        domain=params.domain,
    )
    text = fill(base, pillars, name)
    missing = unbuilt_directives(text, OPTIONAL_DIRECTIVES, _is_built)
    for directive in missing:
        log.warning(
            "[WARNING] %s: plugin '%s' is not built into clusterdns yet; left out", name, directive
        )
    return drop_directives(text, missing)


def _uses_reload(text: str) -> bool:
    return re.search(r"^\s*reload\b", text, re.MULTILINE) is not None


def _is_built(name: str) -> bool:
    return registry.setup_function(name) is not None


def write_corefile(params: NodeCacheParams, text: str) -> None:
    if not params.corefile:
        return
    try:
        with open(params.corefile, "w", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as exc:
        SETUP_ERRORS.labels("configmap").inc()
        raise NodeCacheError(f"-conf: cannot write {params.corefile}: {exc.strerror}") from exc


class NodeCache:
    def __init__(self, params: NodeCacheParams, environ: Mapping[str, str]) -> None:
        self.params = params
        self.environ = environ
        self.text = build_corefile(params, environ)
        # Without -conf there is no file: a label, so the reload plugin has nothing to watch.
        label = params.corefile or "<nodecache Corefile>"
        self.server = Server(self.text, label, default_port=params.port)
        self.network = NetworkSetup(params)
        self._tasks: list[asyncio.Task[None]] = []

    def check(self) -> None:
        """Refuse a bad Corefile before anything touches the node."""
        self.server.plan(self.text)
        write_corefile(self.params, self.text)
        log.info("[INFO] Using config file:\n%s", self.text)

    async def start(self) -> None:
        if self.params.setup_interface:
            await asyncio.to_thread(self.network.ensure_interface)
        await self.server.start()
        await self._serve_metrics()
        self._write_pidfile()
        if self.params.setup_iptables:
            await asyncio.to_thread(self.network.ensure_rules)
        self._tasks.append(asyncio.ensure_future(self._sync_network()))
        self._tasks.append(asyncio.ensure_future(self._sync_corefile()))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.server.stop()
        self._remove_pidfile()

    def teardown(self) -> None:
        if not self.params.skip_teardown:
            self.network.teardown()

    async def _serve_metrics(self) -> None:
        endpoint = await self.server.http_endpoint(self.params.metrics_listen_address, 9353)
        endpoint.routes["/metrics"] = _metrics

    async def _sync_network(self) -> None:
        while True:
            await asyncio.sleep(self.params.sync_interval)
            await asyncio.to_thread(self.network.setup)

    async def _sync_corefile(self) -> None:
        while True:
            await asyncio.sleep(CONFIG_SYNC_PERIOD)
            try:
                text = build_corefile(self.params, self.environ)
            except NodeCacheError as exc:
                SETUP_ERRORS.labels("configmap").inc()
                log.error("[ERROR] %s", exc)
                continue
            if text == self.text:
                continue
            write_corefile(self.params, text)
            if self.params.corefile and _uses_reload(text):
                self.text = text  # the reload plugin picks the written file up, as with node-cache
            elif await self.server.reload(text):
                self.text = text

    def _write_pidfile(self) -> None:
        if self.params.pidfile:
            with open(self.params.pidfile, "w", encoding="utf-8") as handle:
                handle.write(f"{os.getpid()}\n")

    def _remove_pidfile(self) -> None:
        if self.params.pidfile:
            with contextlib.suppress(OSError):
                os.remove(self.params.pidfile)


async def _metrics() -> tuple[int, str, bytes]:
    return 200, CONTENT_TYPE_LATEST, generate_latest(REGISTRY)


async def run_until_signalled(cache: NodeCache) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    try:
        await cache.start()
        log.info(
            "[INFO] nodecache serving on %s",
            ", ".join(f"{h}:{p}" for h, p in cache.server.addresses()),
        )
        await stop.wait()
        log.info("[INFO] SIGTERM: Shutting down servers then terminating")
    finally:
        await cache.stop()
        await asyncio.to_thread(cache.teardown)
