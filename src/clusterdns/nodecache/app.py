"""Running the node cache: which Corefile runs, the node's network, the periodic syncs.

Order, as node-cache's ``NewCacheApp``/``Init``/``RunApp`` (kubernetes/dns
``cmd/node-cache/app``): the upstream Service's address is looked up in the env
(a warning when it is missing: only a template that needs it fails); the base
Corefile (``-basecorefile``) is filled and written to ``-conf`` when it can be
read, and when it cannot, a warning says so and ``-conf`` runs as it is; then
the interface (and so the local addresses) goes on the node (a failure is logged and
counted, as node-cache's ``Init`` does: the addresses may be there already), the server starts
from ``-conf``, and the iptables rules are added once it is up (node-cache waits
for the pidfile, so rules never point at a cache that failed to start).  Every
``-syncinterval`` interface and rules are checked again; every 10 s the base and
the kube-dns ConfigMap (``-kubednscm``: stub domains, upstream nameservers) are
read again and, when either changed, the base is filled, written to ``-conf`` and run.  On
SIGTERM/SIGINT the server stops and, unless ``-skipteardown``, the interface and
rules go.  The embedded template is filled only with ``--embedded-base``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import signal
from collections.abc import Mapping
from dataclasses import dataclass

from prometheus_client import generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from clusterdns.nodecache.kubednscm import KubeDNSConfig, kubedns_dir, read_dir
from clusterdns.nodecache.netsetup import REGISTRY, SETUP_ERRORS, NetworkSetup
from clusterdns.nodecache.params import (
    CONFIG_SYNC_PERIOD,
    NodeCacheError,
    NodeCacheParams,
    cluster_dns_address,
)
from clusterdns.nodecache.template import Pillars, embedded_base_corefile, fill
from clusterdns.server.server import PlannedBlock, Server
from clusterdns.server.workers import WorkerPool
from clusterdns.tasks import cancel_and_wait

log = logging.getLogger("clusterdns.nodecache")

EMBEDDED_BASE = "<embedded nodelocaldns Corefile.base>"
IN_MEMORY = "<nodecache Corefile>"


@dataclass(frozen=True, slots=True)
class Corefile:
    """The Corefile that runs, the base text it was filled from (None: ``-conf`` as it is),
    and where it came from (the base's name, or the ``-conf`` path)."""

    text: str
    base: str | None
    source: str


def pillars_for(params: NodeCacheParams, environ: Mapping[str, str]) -> Pillars:
    """The values to fill; an unknown cluster DNS address is node-cache's warning, not an error."""
    try:
        cluster_dns: str | None = cluster_dns_address(
            params.cluster_dns, params.upstream_svc, environ
        )
        missing = ""
    except NodeCacheError as exc:
        if params.cluster_dns:
            raise  # a bad -clusterdns is the user's mistake, not a missing env var
        log.warning(
            "[WARNING] Unable to lookup IP address of Upstream service %s: %s",
            params.upstream_svc,
            exc,
        )
        cluster_dns, missing = None, str(exc)
    return Pillars(
        local_ips=params.local_ips,
        cluster_dns=cluster_dns,
        upstream_servers=params.upstream_servers,
        domain=params.domain,
        cluster_dns_missing=missing,
        kubedns=read_kubedns(params) or KubeDNSConfig(),
        port=params.port,
    )


def read_kubedns(params: NodeCacheParams) -> KubeDNSConfig | None:
    """The kube-dns ConfigMap's settings; None (logged) when they do not validate.

    No directory (no ``-kubednscm`` and no ``/etc/kube-dns``) is an empty config,
    as node-cache skips the kube-dns sync then.
    """
    directory = kubedns_dir(params.kubedns_cm)
    if directory is None:
        return KubeDNSConfig()
    try:
        return read_dir(directory)
    except NodeCacheError as exc:
        SETUP_ERRORS.labels("configmap").inc()
        log.error("[ERROR] Invalid config: %s", exc)
        return None


def read_base(params: NodeCacheParams) -> tuple[str, str]:
    """The base template's text and name; raises OSError when ``-basecorefile`` cannot be read."""
    if params.embedded_base:
        return embedded_base_corefile(), EMBEDDED_BASE
    with open(params.base_corefile, encoding="utf-8") as handle:
        return handle.read(), params.base_corefile


def read_conf(params: NodeCacheParams) -> str:
    """``-conf`` as it is: what runs when there is no base to fill."""
    path = params.corefile
    if path is None:
        raise NodeCacheError("-conf: no Corefile given and no base Corefile to fill")
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except OSError as exc:
        raise NodeCacheError(
            f"-conf: cannot read {path}: {exc.strerror}; without a readable -basecorefile "
            "the Corefile given with -conf runs as it is (--embedded-base fills the "
            "embedded nodelocaldns template instead)"
        ) from exc


def load_corefile(params: NodeCacheParams, pillars: Pillars) -> Corefile:
    """node-cache's ``updateCorefile`` then CoreDNS's ``-conf``: the base filled, else ``-conf``."""
    try:
        base, name = read_base(params)
    except OSError as exc:
        SETUP_ERRORS.labels("configmap").inc()
        log.warning(
            "[WARNING] Failed to read node-cache coreFile %s - %s; running %s as it is",
            params.base_corefile,
            exc.strerror,
            params.corefile,
        )
        return Corefile(read_conf(params), None, params.corefile or IN_MEMORY)
    return Corefile(fill(base, pillars, name), base, name)


def write_corefile(params: NodeCacheParams, text: str) -> None:
    if params.corefile is None:
        return
    try:
        with open(params.corefile, "w", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as exc:
        SETUP_ERRORS.labels("configmap").inc()
        raise NodeCacheError(f"-conf: cannot write {params.corefile}: {exc.strerror}") from exc


class NodeCache:
    def __init__(
        self, params: NodeCacheParams, environ: Mapping[str, str], *, workers: int = 1
    ) -> None:
        self.params = params
        self.pillars = pillars_for(params, environ)
        corefile = load_corefile(params, self.pillars)
        self.text = corefile.text
        self.base = corefile.base
        filename = params.corefile or IN_MEMORY
        # with workers > 1 this process is their supervisor (server/workers.py): the node's
        # network and the ConfigMap syncs stay here, the serving happens in the workers
        self.server: Server | WorkerPool = (
            Server(self.text, filename, default_port=params.port)
            if workers == 1
            else WorkerPool(self.text, filename, default_port=params.port, workers=workers)
        )
        self.network = NetworkSetup(params)
        self.planned: list[PlannedBlock] | None = None
        self._base_readable = corefile.base is not None
        self._tasks: list[asyncio.Task[None]] = []

    def check(self) -> None:
        """Write a filled base to ``-conf``, then set the Corefile up: refused before anything
        touches the node, and the plugins set up here are the ones that start."""
        if self.base is not None:
            write_corefile(self.params, self.text)
        self.planned = self.server.plan(self.text)
        log.info("[INFO] Using config file:\n%s", self.text)

    async def start(self) -> None:
        if self.params.setup_interface:
            await asyncio.to_thread(self.network.setup_interface)
        planned, self.planned = self.planned, None
        await self.server.start(planned)
        await self._serve_metrics()
        self._write_pidfile()
        if self.params.setup_iptables:
            await asyncio.to_thread(self.network.ensure_rules)
        self._tasks.append(asyncio.ensure_future(self._sync_network()))
        self._tasks.append(asyncio.ensure_future(self._sync_corefile()))

    async def stop(self) -> None:
        for task in self._tasks:
            await cancel_and_wait(task)
        await self.server.stop()
        self._remove_pidfile()

    def teardown(self) -> None:
        if not self.params.skip_teardown:
            self.network.teardown()

    async def sync_corefile(self) -> bool:
        """One configmap sync: a base or kube-dns ConfigMap that changed is filled, written, run.

        True when a new Corefile was written.  Without a readable base nothing
        happens: ``-conf`` is the user's, and its own ``reload`` directive watches it.
        """
        try:
            base, name = read_base(self.params)
        except OSError as exc:
            if self._base_readable:
                SETUP_ERRORS.labels("configmap").inc()
                log.warning(
                    "[WARNING] Failed to read node-cache coreFile %s - %s; keeping the running Corefile",
                    self.params.base_corefile,
                    exc.strerror,
                )
            self._base_readable = False
            return False
        self._base_readable = True
        kubedns = read_kubedns(self.params)
        if kubedns is None or kubedns == self.pillars.kubedns:
            if base == self.base:
                return False  # an invalid kube-dns config keeps the running Corefile
        else:
            self.pillars = dataclasses.replace(self.pillars, kubedns=kubedns)
            self.base = None  # filled again below with the new stub domains and upstreams
        if base == self.base:
            return False
        self.base = base  # a broken base is reported once, not every period
        try:
            text = fill(base, self.pillars, name)
            write_corefile(self.params, text)
        except NodeCacheError as exc:
            SETUP_ERRORS.labels("configmap").inc()
            log.error("[ERROR] %s", exc)
            return False
        log.info("[INFO] Updated Corefile from %s", name)
        if (
            self.params.corefile is not None
            and not self.params.reload_with_signal
            and self._runs_reload()
        ):
            self.text = text  # the reload plugin picks the written file up, as with node-cache
        elif await self.server.reload(text):
            self.text = text
        return True

    def _runs_reload(self) -> bool:
        return any(p.name == "reload" for block in self.server.blocks for p in block.plugins)

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
            await self.sync_corefile()

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
