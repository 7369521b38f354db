"""The SkyDNS zone: services by key, records per name computed on first ask.

CoreDNS's etcd plugin answers a name from every key *below* the name's path
(the whole subtree, etcd.go ``get`` with a prefix), or from the key *at* the
path when nothing is below (the exact-key fallback).  So a key contributes to
its own name and to every name above it up to the zone apex.  This table keeps,
per name, the services at it and the services below it; a change to one key
updates those few entries and retires the answers of just those names (and,
through ``RecordTable``'s dependencies, the names whose CNAME chain or SRV
additional section read them).  Records are built again only when a retired
name is asked for next.

Query names with a ``*`` or ``any`` label are CoreDNS's wildcard queries
(msg/path.go ``PathWithWildcard``, etcd.go ``loopNodes``): the label matches any
label at that place, and keys deeper than the query match too.  Their answers
are built from the subtree of the name right of the wildcard nearest the apex,
whose validity cell they share, so any change below it retires them.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable

from clusterdns.dns.zone import RecordTable, Rows, ancestors, rows_of, zone_of
from clusterdns.plugins.etcd.msg import WILDCARDS, Service, group, name_of
from clusterdns.plugins.etcd.records import apex_records, is_reverse, service_records

#: names whose records are kept built between changes
MAX_BUILT = 100_000


class SkyDNSZone(RecordTable):
    """``lookup(name, qtype)`` for the etcd plugin's zones, kept current by ``put``."""

    def __init__(self, zones: Iterable[str], prefix: str, serial: int) -> None:
        super().__init__(zones)
        self.prefix = prefix
        self.serial = serial
        self._where: dict[str, str] = {}  # key -> its owner name
        self._services: dict[str, Service] = {}  # key -> service
        self._at: dict[str, dict[str, Service]] = {}
        self._below: dict[str, dict[str, Service]] = {}
        self._built: OrderedDict[str, Rows | None] = OrderedDict()

    def __len__(self) -> int:
        return len(self._services)

    def keys(self) -> set[str]:
        return set(self._services)

    def owner_of(self, key: str) -> str | None:
        """The name ``key`` holds records for, when that name is in our zones."""
        name = name_of(key, self.prefix)
        if name is None or zone_of(name, self.zones) is None:
            return None
        return name

    # -- keeping current -------------------------------------------------------

    def put(self, key: str, service: Service | None) -> bool:
        """Set (or with None remove) the service at ``key``; False when nothing changed."""
        old = self._services.get(key)
        if old == service:
            return False
        name = self._where.get(key) if service is None else self.owner_of(key)
        if name is None:
            return False
        apex = zone_of(name, self.zones)
        assert apex is not None
        above = ancestors(name, apex) if name != apex else []
        if service is None:
            del self._services[key]
            del self._where[key]
            _discard(self._at, name, key)
            for parent in above:
                _discard(self._below, parent, key)
        else:
            self._services[key] = service
            self._where[key] = name
            self._at.setdefault(name, {})[key] = service
            for parent in above:
                self._below.setdefault(parent, {})[key] = service
        for touched in (name, *above):
            self._built.pop(touched, None)
            self._bump(touched, set())
        return True

    # -- records, per name -----------------------------------------------------

    def services(self, name: str) -> list[Service] | None:
        """What CoreDNS's ``Records`` finds for ``name``: the subtree, else the key; None: nothing."""
        found = self._below.get(name) or self._at.get(name)
        if not found:
            return None
        return group([found[key] for key in sorted(found)])

    def rows(self, owner: str) -> Rows | None:
        if owner in self._built:
            return self._built[owner]
        apex = zone_of(owner, self.zones)
        if apex is None:
            return None
        rows = self._build(owner, apex)
        if len(self._built) >= MAX_BUILT:
            self._built.popitem(last=False)
        if _wildcard_at(owner, apex) is None:
            self._built[owner] = rows
        return rows

    def _build(self, owner: str, apex: str) -> Rows | None:
        if owner == apex:
            return rows_of(
                apex_records(
                    apex,
                    self.serial,
                    self.services(apex) or [],
                    self.services(f"apex.dns.{apex}") or [],
                    self.services(f"ns.dns.{apex}") or [],
                    self.prefix,
                )
            )
        base = _wildcard_at(owner, apex)
        if base is not None:
            matched = self._wildcard_services(owner, base)
            return (
                None if matched is None else rows_of(service_records(owner, matched, self.prefix))
            )
        if is_reverse(owner):
            # backend_lookup.go PTR reads the exact key only (Reverse with exact=true)
            at = self._at.get(owner)
            if not at:
                return None
            return rows_of(service_records(owner, [at[k] for k in sorted(at)], self.prefix))
        found = self.services(owner)
        return None if found is None else rows_of(service_records(owner, found, self.prefix))

    def _wildcard_services(self, owner: str, base: str) -> list[Service] | None:
        """Services below ``base`` whose names match ``owner`` label by label from the apex."""
        if not (self._below.get(base) or self._at.get(base)):
            return None
        pattern = _reversed_labels(owner)
        matched = []
        for key, service in sorted((self._below.get(base) or {}).items()):
            labels = _reversed_labels(self._where[key])
            if len(labels) >= len(pattern) and all(
                want in WILDCARDS or want == have
                for want, have in zip(pattern, labels, strict=False)
            ):
                matched.append(service)
        return group(matched)

    def exists(self, name: str) -> bool:
        apex = zone_of(name, self.zones)
        if apex is None:
            return False
        if name == apex:
            return True
        base = _wildcard_at(name, apex)
        if base is not None:
            return bool(self._below.get(base) or self._at.get(base))
        return bool(self._below.get(name) or self._at.get(name))

    def base_of(self, name: str, apex: str) -> str:
        return _wildcard_at(name, apex) or name


def _discard(index: dict[str, dict[str, Service]], name: str, key: str) -> None:
    entries = index.get(name)
    if entries is not None:
        entries.pop(key, None)
        if not entries:
            del index[name]


def _reversed_labels(name: str) -> list[str]:
    return name.rstrip(".").split(".")[::-1]


def _wildcard_at(name: str, apex: str) -> str | None:
    """The name right of the wildcard label nearest the apex, or None for a plain name."""
    if name == apex:
        return None
    below = name[: -len(apex)] if apex != "." else name
    labels = below.rstrip(".").split(".")
    for i in range(len(labels) - 1, -1, -1):
        if labels[i] in WILDCARDS:
            rest = labels[i + 1 :]
            if not rest:
                return apex
            return ".".join(rest) + "." + (apex if apex != "." else "")
    return None
