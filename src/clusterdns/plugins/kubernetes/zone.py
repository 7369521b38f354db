"""The cluster zone, computed per name from the live store and compiled on first ask.

Nothing is built ahead for services, endpoints or addresses: a query for a
name under ``<svc>.<ns>.svc.<zone>`` builds that service's names (a few
records per endpoint, ``records.service_records``) and keeps them in a small
bounded cache; a PTR query looks its address up in the store's index; a pod
name is checked against the pod index.  Only the names at the top of each
zone (SOA, NS, ``dns-version``, ``svc``, ``pod``, one per namespace) are held
as records, in the ``RecordTable`` this class extends.

Every name under a service shares that service's validity cell (its *base*),
so a change to a service, its slices or its namespace retires all of its
compiled answers and memoized replies with one bump.  A reverse name is its
own base.  Reverse empty non-terminals (``96.10.in-addr.arpa.``) exist while
an address below them has a PTR (RFC 8020); they are counted as PTRs come and go.
"""

from __future__ import annotations

import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Sequence

from clusterdns.cluster.model import ServiceKey, canonical_ip
from clusterdns.cluster.store import ClusterStore, Touched
from clusterdns.dns.wire import TYPE_A, TYPE_AAAA
from clusterdns.dns.zone import Record, RecordTable, Rows, ancestors, rows_of, zone_of
from clusterdns.plugins.kubernetes.options import PODS_DISABLED, KubernetesOptions
from clusterdns.plugins.kubernetes.records import (
    DNS_SCHEMA_VERSION,
    DNS_VERSION_TTL,
    NS_LABELS,
    apex_records,
    has_ptr,
    ip_of_reverse_name,
    namespace_exposed,
    pod_record,
    ptr_records,
    reverse_name,
    service_name_records,
    service_records,
)
from clusterdns.sharded import ShardedSet

#: services whose names are kept built (a miss rebuilds one service: a few records per endpoint)
MAX_SERVICES = 4096


class _ServiceNames:
    """The names of one service in one zone: records per owner, and the empty non-terminals."""

    __slots__ = ("owners", "empty")

    def __init__(self, owners: dict[str, Rows], empty: frozenset[str]) -> None:
        self.owners = owners
        self.empty = empty


class ClusterZone(RecordTable):
    """``lookup(name, qtype)`` for the kubernetes zones, kept current by ``apply``.

    Lookups read the records as CoreDNS's plugin/backend_lookup.go does: an
    ExternalName's CNAME answers A, AAAA (and CNAME) queries only, and only
    when its target in the zone has records of that type; ANY is NODATA
    (handler.go's default branch); the zone in every name reads as asked
    (handler.go keeps "the case of the original query").
    """

    cname_types = frozenset({TYPE_A, TYPE_AAAA})
    cname_needs_target = True
    answers_any = False
    zone_case = True

    def __init__(
        self,
        store: ClusterStore,
        opts: KubernetesOptions,
        local_ips: Sequence[str] = (),
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(opts.zones)
        self.store = store
        self.opts = opts
        self.local_ips = tuple(local_ips)
        self.clock = clock
        self.serial = int(clock())
        self._forward = frozenset(opts.forward_zones)
        self._reverse = frozenset(opts.reverse_zones)
        self._services: OrderedDict[tuple[ServiceKey, str], _ServiceNames] = OrderedDict()
        #: reverse names above addresses that have a PTR (RFC 8020 empty non-terminals)
        self._reverse_above: Counter[str] = Counter()
        self._has_ptr: ShardedSet[str] = ShardedSet()
        self._nameserver_services: set[ServiceKey] = set()
        for zone in opts.forward_zones:
            self._put_static(zone, self._skeleton(zone))
        self._refresh_apex()

    # -- records, per name ---------------------------------------------------

    def rows(self, owner: str) -> Rows | None:
        static = self._records.get(owner)
        if static is not None:
            return static
        apex = zone_of(owner, self.zones)
        if apex is None:
            return None
        if apex in self._reverse:
            ip = ip_of_reverse_name(owner)
            if ip is None:
                return None
            rows = rows_of(ptr_records(self.store, self.opts, ip))
            return rows or None
        labels = _labels_below(owner, apex)
        if len(labels) == 3 and labels[-1] == "svc":
            built = self._services.get(((labels[1], labels[0]), apex))
            if built is not None:
                return built.owners.get(owner)
            records = service_name_records(self.store, labels[1], labels[0], self.opts, apex)
            return rows_of(records) if records is not None else None
        if len(labels) > 3 and labels[-1] == "svc":
            return self._service_names(labels[-3:], apex).owners.get(owner)
        if len(labels) == 3 and labels[-1] == "pod":
            records = pod_record(owner, self.store, self.opts)
            return rows_of(records) if records is not None else None
        return None

    def exists(self, name: str) -> bool:
        if name in self._records or self._descendants[name] > 0:
            return True
        apex = zone_of(name, self.zones)
        if apex is None:
            return False
        if apex in self._reverse:
            return self._reverse_above[name] > 0 or self.rows(name) is not None
        labels = _labels_below(name, apex)
        if len(labels) > 3 and labels[-1] == "svc":
            names = self._service_names(labels[-3:], apex)
            return name in names.owners or name in names.empty
        return self.rows(name) is not None

    def base_of(self, name: str, apex: str) -> str:
        if apex in self._forward:
            labels = _labels_below(name, apex)
            if len(labels) >= 3 and labels[-1] in ("svc", "pod"):
                # every name of a service shares its cell; pod names share their namespace's
                keep = 3 if labels[-1] == "svc" else 2
                return ".".join(labels[-keep:]) + "." + apex
            if len(labels) < 3:
                return apex
        return name

    def _service_names(self, labels: list[str], zone: str) -> _ServiceNames:
        """The names under ``<svc>.<ns>.svc.<zone>``, built once and kept in a bounded cache."""
        name, namespace = labels[0], labels[1]
        key = ((namespace, name), zone)
        found = self._services.get(key)
        if found is not None:
            return found
        records = service_records(self.store, namespace, name, self.opts, zone)
        base = f"{name}.{namespace}.svc.{zone}"
        owners = {owner: rows_of(rows) for owner, rows in records.items()}
        empty = {a for owner in owners for a in ancestors(owner, base)} - owners.keys()
        found = _ServiceNames(owners, frozenset(empty))
        if len(self._services) >= MAX_SERVICES:
            self._services.popitem(last=False)
        self._services[key] = found
        return found

    # -- keeping current -----------------------------------------------------

    def apply(self, touched: Touched) -> None:
        """Retire what ``touched`` may have changed; called on the loop after store changes."""
        if not touched:
            return
        opts = self.opts
        for namespace in touched.namespaces:
            if opts.namespaces:  # reverse names check the namespace only then (reverse.go)
                for key in self.store.services_in(namespace):
                    touched.ips.update(self.store.addresses_of(key))
            for zone in opts.forward_zones:
                self._put_namespace(namespace, zone)
        for key in touched.services:
            self._service_changed(key)
        if opts.pods != PODS_DISABLED:
            for namespace in touched.pod_namespaces:
                for zone in opts.forward_zones:
                    self._bump(f"{namespace}.pod.{zone}", set())  # the base of its pod names
        if self._reverse:
            for ip in touched.ips:
                self._address_changed(ip)
        local = {canonical_ip(ip) for ip in self.local_ips}
        if touched.ips & local or touched.services & self._nameserver_services:
            self._refresh_apex()
        self._advance_serial()

    def _service_changed(self, key: ServiceKey) -> None:
        namespace, name = key
        for zone in self.opts.forward_zones:
            self._services.pop((key, zone), None)
            base = f"{name}.{namespace}.svc.{zone}"
            self._bump(base, set())

    def _address_changed(self, ip: str) -> None:
        owner = reverse_name(ip)
        apex = zone_of(owner, self.zones)
        if apex is None or apex not in self._reverse:
            return
        self._bump(owner, set())
        present = has_ptr(self.store, self.opts, ip)
        if present == (ip in self._has_ptr):
            return
        if present:
            self._has_ptr.add(ip)
        else:
            self._has_ptr.discard(ip)
        for above in ancestors(owner, apex)[:-1]:
            count = self._reverse_above[above] + (1 if present else -1)
            if count > 0:
                self._reverse_above[above] = count
            else:
                del self._reverse_above[above]
            if count in (0, 1):  # an empty non-terminal appeared or went away
                self._bump(above, set())

    def _put_namespace(self, namespace: str, zone: str) -> None:
        exposed = namespace_exposed(self.store, namespace, self.opts)
        rows: list[Record] | None = [] if exposed else None
        self.replace(f"{namespace}.svc.{zone}", rows)
        if self.opts.pods != PODS_DISABLED:
            self.replace(f"{namespace}.pod.{zone}", rows)

    def _skeleton(self, zone: str) -> dict[str, list[Record]]:
        # parse.go: "svc.<zone>" and "pod.<zone>" answer NODATA whatever the cluster holds
        return {
            f"svc.{zone}": [],
            f"pod.{zone}": [],
            f"dns-version.{zone}": [Record("TXT", DNS_VERSION_TTL, f'"{DNS_SCHEMA_VERSION}"')],
        }

    def _put_static(self, zone: str, records: dict[str, list[Record]]) -> None:
        for owner, rows in records.items():
            self.replace(owner, rows)

    def _refresh_apex(self) -> None:
        """SOA, NS and ``ns.dns.<zone>`` of every forward zone, from the bound addresses."""
        self._nameserver_services = set()
        for zone in self.opts.zones:
            apex = apex_records(zone, self.opts, self.store, self.local_ips, self.serial)
            for owner, rows in apex.items():
                self.replace(owner, rows)
            for record in apex[zone]:
                if record.rdtype == "NS" and not record.rdata.startswith(NS_LABELS):
                    labels = record.rdata.split(".")
                    if len(labels) > 3 and labels[2] == "svc":
                        self._nameserver_services.add((labels[1], labels[0]))

    def _advance_serial(self) -> None:
        # CoreDNS's serial is the Unix time of the last change; it moves at most once a
        # second, and each move retires the zone's negative answers (their SOA changed)
        now = int(self.clock())
        if now != self.serial:
            self.serial = now
            self._refresh_apex()


def _labels_below(name: str, apex: str) -> list[str]:
    """The labels of ``name`` above ``apex`` (``web.shop.svc.`` -> ['web', 'shop', 'svc'])."""
    rel = name if apex == "." else name[: -len(apex)]
    return rel.rstrip(".").split(".") if rel else []
