"""The kubernetes handler: a source's per-object changes -> the store -> the zone, served per query.

A source (the live API's list+watch, or manifests on disk) hands over changes
of single objects.  Each is applied to the ``ClusterStore`` on the event loop,
which says what it touched; the ``ClusterZone`` retires just those answers
(and the memoized replies built on them, through their guards).  Nothing is
rebuilt ahead: a changed name is compiled again when it is next asked.
Queries therefore never wait on a rebuild, and an event costs time in
proportion to the object, not to the cluster.

Until every watched kind has been listed once, names in our zones answer
SERVFAIL (an NXDOMAIN would be cached by clients for names that exist) and
``ready`` says no; names outside our zones go down the chain.  Once synced,
losing the API server changes nothing clients see: the last known state is
served while the source retries.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Iterable, Sequence

from clusterdns.cluster.kubeapi import (
    ENDPOINT_SLICES,
    NAMESPACES,
    PODS,
    SERVICES,
    APISource,
    Change,
    Resource,
)
from clusterdns.cluster.kubeconfig import Connection
from clusterdns.cluster.listing import BATCH
from clusterdns.cluster.manifests import ManifestWatcher
from clusterdns.cluster.objects import ObjectKey, ServiceEndpoints
from clusterdns.cluster.store import ClusterStore, Touched
from clusterdns.collector import COLLECTOR
from clusterdns.dns.reply import render
from clusterdns.dns.wire import REFUSED, SERVFAIL, TYPE_AXFR, TYPE_IXFR
from clusterdns.dns.zone import zone_of
from clusterdns.plugins.authoritative import serve_from
from clusterdns.plugins.kubernetes.metrics import APIMetrics, observe_programming
from clusterdns.plugins.kubernetes.options import PODS_VERIFIED, KubernetesOptions
from clusterdns.plugins.kubernetes.zone import ClusterZone
from clusterdns.plugins.plugin import Handler, Plugin, Reply, Request
from clusterdns.plugins.views import InheritedView, Publisher
from clusterdns.slices import SHARED
from clusterdns.tasks import cancel_and_wait

log = logging.getLogger("clusterdns.plugins.kubernetes")

MANIFESTS = "manifests"


class Kubernetes(Plugin):
    name = "kubernetes"
    replies_outlive_reload = True

    def __init__(
        self,
        opts: KubernetesOptions,
        local_ips: Sequence[str] = (),
        connection: Connection | None = None,
        *,
        view_key: str = "",
        inherited: InheritedView | None = None,
        predecessor: Kubernetes | None = None,
    ) -> None:
        self.opts = opts
        #: names this instance's view across the processes of ``serve -workers`` (plugins/views.py)
        self.view_key = view_key
        #: in a worker: the supervisor's view this instance follows instead of a source
        self.inherited = inherited
        self.connection = connection if inherited is None else None
        self._publisher: Publisher | None = None
        self.store: ClusterStore
        self.zone: ClusterZone
        if inherited is not None:
            owner = inherited.owner
            assert isinstance(owner, Kubernetes)
            self.store, self.zone = owner.store, owner.zone
            self.resources: tuple[Resource, ...] = ()
            self._waiting = set(inherited.waiting)
        else:
            self.store = ClusterStore(imply_namespaces=connection is None)
            self.zone = ClusterZone(self.store, opts, local_ips)
            self.resources = _resources(opts) if connection is not None else ()
            self._waiting = {r.kind for r in self.resources} if connection else {MANIFESTS}
        self._synced = asyncio.Event()
        if not self._waiting:
            self._synced.set()
        self._api: APISource | None = None
        self._task: asyncio.Task[None] | None = None
        #: on reload: the running instance of the same directive, whose state this one takes
        self.predecessor = predecessor if inherited is None else None
        #: this instance's store and zone are its successor's now (``hand_over``)
        self._handed_over = False
        self._stopped = False

    # -- the sink sources deliver to --------------------------------------------

    def apply(self, changes: Sequence[Change], *, live: bool = True) -> None:
        """Put changed objects in the store and retire the answers they touch (on the loop)."""
        touched = Touched()
        for key, obj in changes:
            self.store.apply(key, obj, touched)
        self.zone.apply(touched)
        if self._publisher is not None:
            self._publisher.publish_changes(self.view_key, changes)
        if live:
            now = time.time()
            for _key, obj in changes:
                if isinstance(obj, ServiceEndpoints) and obj.trigger_time:
                    self._observe_programming(obj, now)

    def _observe_programming(self, endpoints: ServiceEndpoints, now: float) -> None:
        # object/metrics.go: recorded when the controller set the trigger time and the
        # service is known; headless ones are "headless_with_selector" (a controller made it)
        svc = self.store.service(*endpoints.service)
        if svc is None:
            return
        kind = "headless_with_selector" if svc.headless else "cluster_ip"
        observe_programming(kind, now - endpoints.trigger_time)

    def held(self, kind: str) -> Iterable[ObjectKey]:
        return self.store.keys(kind)

    def synced(self, kind: str) -> None:
        if self._publisher is not None:
            self._publisher.publish_synced(self.view_key, kind)
        if kind not in self._waiting:
            return
        self._waiting.discard(kind)
        if not self._waiting:
            self._synced.set()
            log.info(
                "kubernetes: synced: %d services, %d objects",
                len(self.store.services),
                len(self.store),
            )

    # -- the supervisor's side of ``serve -workers`` (plugins/views.py) ---------------

    def waiting(self) -> frozenset[str]:
        return frozenset(self._waiting)

    def publish_to(self, publisher: Publisher | None) -> None:
        """Send every change applied from now on (and every sync) to ``publisher`` too."""
        self._publisher = publisher

    # -- lifecycle ---------------------------------------------------------------

    async def start(self) -> None:
        if self.inherited is not None:
            # the supervisor already waited for the first sync (or startup_timeout) before
            # forking; a sync that comes later arrives as a message (views.deliver_synced)
            self.inherited.followers.append(self)
            return
        if self.predecessor is not None:
            self._waiting = set(self.predecessor._waiting)
            self.store, self.zone = await self.predecessor.hand_over()
            if not self._waiting:
                # the state is synced already: serve it while the list reconciles, as
                # after an outage (an API server down at reload time changes nothing)
                self._synced.set()
        self._start_source()
        await self._wait_for_sync()

    def _start_source(self) -> None:
        if self.connection is not None:
            self._api = APISource(
                self.connection,
                self.resources,
                self,
                APIMetrics(),
                pod_names=self.opts.endpoint_pod_names,
            )
            self._api.start()
        else:
            self._task = asyncio.ensure_future(self._follow_manifests())

    async def _stop_source(self) -> None:
        if self._api is not None:
            await self._api.stop()
            self._api = None  # it refers back to us: no cycle to outlive the server's gc.freeze
        await cancel_and_wait(self._task)
        self._task = None

    # -- reload: an unchanged directive keeps its state ------------------------------
    #
    # CoreDNS starts a reloaded kubernetes plugin from nothing: a second store fills
    # beside the one serving (twice the memory at 50 000 services), and every name is
    # compiled again once the new configuration serves (a storm of first asks: queries
    # waited 125 ms at 20 000 QPS).  Here the new instance of an unchanged directive
    # takes the running instance's store and zone, and lists into them with its own
    # connection (a kubeconfig read again, as CoreDNS does): the list reconciles, so
    # only what changed is compiled again, and the old configuration answers from the
    # same store until the new one serves.

    async def hand_over(self) -> tuple[ClusterStore, ClusterZone]:
        """Stop following the cluster and give the state to the reload's new instance."""
        await self._stop_source()
        self._handed_over = True
        return self.store, self.zone

    def _take_back(self) -> None:
        """The reload failed: this instance serves on, so it follows the cluster again."""
        self._handed_over = False
        self._start_source()

    def serving(self) -> None:
        self.predecessor = None  # replaced: it is about to stop, and must not be kept alive

    async def _wait_for_sync(self) -> None:
        """Wait for the first sync up to ``startup_timeout``, then serve anyway (CoreDNS)."""
        try:
            await asyncio.wait_for(self._synced.wait(), self.opts.startup_timeout or None)
        except TimeoutError:
            log.warning(
                "kubernetes: starting server with unsynced Kubernetes API (waiting for %s)",
                ", ".join(sorted(self._waiting)),
            )

    async def _follow_manifests(self) -> None:
        assert self.opts.manifests is not None
        watcher = ManifestWatcher(
            self.opts.manifests,
            interval=self.opts.poll_interval,
            pod_names=self.opts.endpoint_pod_names,
        )
        while True:
            try:
                if await asyncio.to_thread(watcher.changed):
                    with COLLECTOR.building():  # a changed file is read whole: state built
                        changes = await asyncio.to_thread(watcher.poll)
                        if changes is not None:
                            await self._apply_in_slices(changes)
                    if changes is not None:
                        self.synced(MANIFESTS)
            except Exception:  # a bug while reading must not end the watch
                log.exception("plugin/kubernetes: reading %s failed", self.opts.manifests)
            await asyncio.sleep(watcher.interval)

    async def _apply_in_slices(self, changes: list[Change]) -> None:
        """Apply a poll's changes a few at a time, letting queries in between (slices.py).

        ``changes`` is emptied as it goes: a first poll's 100 000 changes freed at once,
        when the next poll's result replaced them, held the loop 11 ms at 20 000 services.
        """
        slicer = SHARED
        changes.reverse()  # taken from the end, in order
        while changes:
            batch = changes[-BATCH:]
            del changes[-BATCH:]
            batch.reverse()
            self.apply(batch, live=False)
            if slicer.due():
                await slicer.pause()

    async def stop(self) -> None:
        if self.inherited is not None:
            # the view is the supervisor's: it outlives this instance (a reload follows it again)
            if self in self.inherited.followers:
                self.inherited.followers.remove(self)
            return
        await self._stop_source()
        self._stopped = True
        predecessor, self.predecessor = self.predecessor, None
        if predecessor is not None and predecessor._handed_over and not predecessor._stopped:
            predecessor._take_back()  # this instance never served: the state is still its
            return
        if self._handed_over:
            return  # the successor serves this store now
        slicer = SHARED
        while self.store.drain(BATCH * 8):  # a reload lets the old state go in slices
            if slicer.due():
                await slicer.pause()

    def ready(self) -> bool:
        return self._synced.is_set()

    # -- queries -------------------------------------------------------------

    async def serve(self, request: Request, next: Handler) -> Reply:
        query = request.query
        if query.qtype in (TYPE_AXFR, TYPE_IXFR):
            if zone_of(query.name, self.opts.zones) is None:
                return await next(request)
            # handler.go: zone transfers are the transfer plugin's, which we do not have
            return Reply.unanswered(REFUSED, self.name)
        if not self._synced.is_set():
            if zone_of(query.name, self.opts.zones) is None:
                return await next(request)
            # CoreDNS answers SERVFAIL (with the zone's SOA) until its cache has
            # synced: an NXDOMAIN now would be cached by clients for a name that exists.
            answer = self.zone.negative(query.name, SERVFAIL)
            assert answer is not None  # the name is in our zones
            wire = render(query, answer, request.udp)
            return Reply(wire, SERVFAIL, self.name, error="cluster state not synced yet")
        return await serve_from(
            self.zone, request, next, self.name, self.opts.falls_through, upstream=True
        )


def _resources(opts: KubernetesOptions) -> tuple[Resource, ...]:
    """What to list and watch: CoreDNS's informers (controller.go), selectors server-side."""
    labels = str(opts.labels) if opts.labels is not None else ""
    namespace_labels = str(opts.namespace_labels) if opts.namespace_labels is not None else ""
    resources = [
        _with_labels(SERVICES, labels),
        _with_labels(NAMESPACES, namespace_labels),
    ]
    if not opts.noendpoints:
        resources.append(_with_labels(ENDPOINT_SLICES, labels))
    if opts.pods == PODS_VERIFIED:
        resources.append(_with_labels(PODS, labels))
    return tuple(resources)


def _with_labels(resource: Resource, selector: str) -> Resource:
    return dataclasses.replace(resource, label_selector=selector) if selector else resource
