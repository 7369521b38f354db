"""The served zone (lazy, per name, kept current object by object) equals the whole-zone rules.

``build_records`` computes every record of a ``ClusterState`` snapshot at once:
it is the reference the rule tables in test_records.py check against the spec.
``ClusterZone`` answers from the live ``ClusterStore`` one name at a time and is
changed by single objects.  For the sample cluster, under several option sets,
and after creates, updates and deletes of every kind, both must give the same
status and the same answer bytes for every name (and its ancestors, and names
that do not exist) and every type.
"""

from __future__ import annotations

import dataclasses
import functools
import struct
from typing import Any

import dns.message
import dns.name
import dns.rdatatype
import pytest
import yaml

from clusterdns.cluster import sample_cluster_path
from clusterdns.cluster.labels import parse_selector
from clusterdns.cluster.manifests import (
    manifest_files,
    objects_from_documents,
    read_file,
    state_from_objects,
)
from clusterdns.cluster.objects import ObjectKey, Slim, project
from clusterdns.cluster.store import ClusterStore, Touched
from clusterdns.dns.reply import Answer, compile_answer
from clusterdns.dns.rrwire import RowSet
from clusterdns.dns.zone import RecordTable, ancestors, to_rrsets, zone_of
from clusterdns.plugins.kubernetes.options import KubernetesOptions
from clusterdns.plugins.kubernetes.records import apex_records, build_records, pod_record
from clusterdns.plugins.kubernetes.zone import ClusterZone

ZONES = ("cluster.local.", "in-addr.arpa.", "ip6.arpa.")
LOCAL = ("10.244.0.2",)  # a kube-dns endpoint: the NS is kube-dns's service name
SERIAL = 1_700_000_000
TYPES = ("A", "AAAA", "SRV", "PTR", "TXT", "CNAME", "NS", "SOA")

OPTION_SETS = {
    "defaults": KubernetesOptions(zones=ZONES),
    "pods verified": KubernetesOptions(zones=ZONES, pods="verified"),
    "pods insecure": KubernetesOptions(zones=ZONES, pods="insecure"),
    "namespaces": KubernetesOptions(zones=ZONES, namespaces=frozenset({"shop"})),
    "labels": KubernetesOptions(zones=ZONES, labels=parse_selector("app")),
    "endpoint_pod_names": KubernetesOptions(zones=ZONES, endpoint_pod_names=True),
    "noendpoints": KubernetesOptions(zones=ZONES, noendpoints=True),
    "ignore empty_service": KubernetesOptions(zones=ZONES, ignore_empty_service=True),
    "two zones": KubernetesOptions(zones=("cluster.local.", "corp.example.", "10.in-addr.arpa.")),
}


def sample_objects() -> dict[ObjectKey, Slim | None]:
    docs = [(str(f), d) for f in manifest_files(sample_cluster_path()) for d in read_file(f)]
    objects, problems = objects_from_documents(docs)
    assert problems == []
    return objects


class DnspythonTable(RecordTable):
    """The reference compiles with dnspython, so the served zone's own wire writer is checked.

    It reads records by the same lookup rules as the served zone (CoreDNS's).
    """

    cname_types = ClusterZone.cname_types
    cname_needs_target = ClusterZone.cname_needs_target
    answers_any = ClusterZone.answers_any

    def encode(
        self,
        name: str,
        qtype: int,
        answer: list[RowSet],
        additional: list[RowSet],
        apex: str | None = None,
    ) -> Answer:
        return compile_answer(name, qtype, 0, to_rrsets(answer), (), to_rrsets(additional))


def reference(
    objects: dict[ObjectKey, Slim | None], opts: KubernetesOptions, pod_names: list[str]
) -> RecordTable:
    """Every record at once; pod names (made per query, one per address) for ``pod_names``."""
    state = state_from_objects(objects)
    table = DnspythonTable(opts.zones)
    for owner, rows in build_records(state, opts).items():
        table.replace(owner, rows)
    for name in pod_names:
        pod = pod_record(name, state, opts)
        if pod is not None:
            table.replace(name, pod)
    for zone in opts.zones:
        for owner, rows in apex_records(zone, opts, state, LOCAL, SERIAL).items():
            table.replace(owner, rows)
    return table


def served(objects: dict[ObjectKey, Slim | None], opts: KubernetesOptions) -> ClusterZone:
    store = ClusterStore()
    zone = ClusterZone(store, opts, LOCAL, clock=lambda: SERIAL)
    touched = Touched()
    for key, obj in objects.items():
        store.apply(key, obj, touched)
    zone.apply(touched)
    return zone


def names_to_ask(table: RecordTable, extra: list[str]) -> list[str]:
    names = set(extra)
    for owner in table._records:
        apex = zone_of(owner, table.zones)
        assert apex is not None
        names.add(owner)
        names.update(ancestors(owner, apex))
        names.add("nope." + owner)
    return sorted(names)


EXTRA = [
    "nope.shop.svc.cluster.local.",
    "web.nope.svc.cluster.local.",
    "nope.cluster.local.",
    "10-244-1-10.shop.pod.cluster.local.",
    "10-244-9-9.shop.pod.cluster.local.",
    "10-244-1-10.default.pod.cluster.local.",
    "99.99.96.10.in-addr.arpa.",
    "web.shop.svc.corp.example.",
]


def assert_same(zone: ClusterZone, table: RecordTable, extra: list[str] = EXTRA) -> None:
    for name in names_to_ask(table, extra):
        for rdtype in TYPES:
            qtype = dns.rdatatype.from_text(rdtype)
            want, got = table.lookup(name, qtype), zone.lookup(name, qtype)
            if want is None or got is None:
                assert want is got, (name, rdtype)
                continue
            assert (got.status, got.answer.rcode) == (want.status, want.answer.rcode), (
                name,
                rdtype,
            )
            assert sections(name, qtype, got.answer) == sections(name, qtype, want.answer), (
                name,
                rdtype,
            )


def sections(name: str, qtype: int, answer: Answer) -> list[list[str]]:
    """The records of a compiled answer, in order-free text (dnspython shuffles rrsets)."""
    counts = (answer.ancount, answer.nscount, answer.arcount)
    return decoded(name, qtype, counts, answer.body)


@functools.cache
def decoded(name: str, qtype: int, counts: tuple[int, int, int], body: bytes) -> list[list[str]]:
    """``sections`` of these exact bytes; remembered, because most answers stay the same from
    one change to the next and decoding them with dnspython is what the comparison costs."""
    header = struct.pack(">HHHHHH", 0, 0x8400, 1, *counts)
    question = dns.name.from_text(name).to_wire() + struct.pack(">HH", qtype, 1)
    message = dns.message.from_wire(header + question + body)
    return [
        sorted(rr.to_text() for rrset in section for rr in rrset.to_rdataset())
        for section in (message.answer, message.authority, message.additional)
    ]


@pytest.mark.parametrize("opts", OPTION_SETS.values(), ids=OPTION_SETS.keys())
def test_served_zone_equals_the_whole_zone_rules(opts: KubernetesOptions) -> None:
    objects = sample_objects()
    assert_same(served(objects, opts), reference(objects, opts, EXTRA))


def change(objects: dict[ObjectKey, Slim | None], obj: dict[str, Any]) -> Slim | None:
    key, slim = project(obj)
    objects[key] = slim
    return slim


def doc(text: str) -> dict[str, Any]:
    loaded = yaml.safe_load(text)
    assert isinstance(loaded, dict)
    return loaded


SVC_WEB_NEW_IP = doc(
    """
kind: Service
metadata: {name: web, namespace: shop, labels: {app: web}}
spec: {clusterIP: 10.96.10.99, ports: [{name: http, port: 80}]}
"""
)
SLICE_NEW = doc(
    """
kind: EndpointSlice
addressType: IPv4
metadata:
  name: late-1
  namespace: shop
  labels: {kubernetes.io/service-name: late, app: late}
ports: [{name: http, port: 8080, protocol: TCP}]
endpoints:
- addresses: [10.244.7.1]
  hostname: late-0
- addresses: [10.244.7.2]
  conditions: {ready: false}
"""
)
SVC_LATE = doc(
    """
kind: Service
metadata: {name: late, namespace: shop, labels: {app: late}}
spec: {clusterIP: None, ports: [{name: http, port: 8080}]}
"""
)
NS_NEW = doc("kind: Namespace\nmetadata: {name: fresh, labels: {team: a}}")
SVC_IN_NEW_NS = doc(
    """
kind: Service
metadata: {name: solo, namespace: fresh}
spec: {clusterIP: 10.96.50.5, ports: [{port: 53, protocol: UDP, name: dns}]}
"""
)
EXTERNAL = doc(
    """
kind: Service
metadata: {name: alias, namespace: shop}
spec: {type: ExternalName, externalName: late.shop.svc.cluster.local}
"""
)
POD = doc(
    """
kind: Pod
metadata: {name: p1, namespace: shop}
spec: {}
status: {phase: Running, podIP: 10.244.8.8}
"""
)

STEPS: list[tuple[str, dict[str, Any] | ObjectKey]] = [
    ("update a service's cluster IP", SVC_WEB_NEW_IP),
    ("an ExternalName pointing at a name that does not exist yet", EXTERNAL),
    ("a slice before its service", SLICE_NEW),
    ("then the headless service", SVC_LATE),
    ("a namespace", NS_NEW),
    ("a service in it", SVC_IN_NEW_NS),
    ("a pod", POD),
    ("delete the slice", ("EndpointSlice", "shop", "late-1")),
    ("delete a service", ("Service", "shop", "web")),
    ("delete the namespace object (still implied by its service)", ("Namespace", "", "fresh")),
    ("delete its last object", ("Service", "fresh", "solo")),
    ("delete the pod", ("Pod", "shop", "p1")),
]


@pytest.mark.parametrize(
    "opts",
    [OPTION_SETS["defaults"], OPTION_SETS["pods verified"], OPTION_SETS["namespaces"]],
    ids=["defaults", "pods verified", "namespaces"],
)
def test_each_change_retires_exactly_what_it_touches(opts: KubernetesOptions) -> None:
    objects = sample_objects()
    zone = served(objects, opts)
    extra = EXTRA + [
        "late.shop.svc.cluster.local.",
        "late-0.late.shop.svc.cluster.local.",
        "alias.shop.svc.cluster.local.",
        "solo.fresh.svc.cluster.local.",
        "_dns._udp.solo.fresh.svc.cluster.local.",
        "fresh.svc.cluster.local.",
        "10-244-8-8.shop.pod.cluster.local.",
        "1.7.244.10.in-addr.arpa.",
        "7.244.10.in-addr.arpa.",
        "5.50.96.10.in-addr.arpa.",
        "99.10.96.10.in-addr.arpa.",
    ]
    assert_same(zone, reference(objects, opts, extra), extra)  # compiles every answer once
    for what, step in STEPS:
        touched = Touched()
        if isinstance(step, tuple):
            objects.pop(step)
            zone.store.apply(step, None, touched)
        else:
            key, slim = project(step)
            objects[key] = slim
            zone.store.apply(key, slim, touched)
        zone.apply(touched)
        try:
            assert_same(zone, reference(objects, opts, extra), extra)
        except AssertionError as err:
            raise AssertionError(f"after {what!r}: {err}") from None


def test_a_change_bumps_only_the_cells_of_what_it_touched() -> None:
    opts = OPTION_SETS["defaults"]
    zone = served(sample_objects(), opts)
    web = zone.lookup("web.shop.svc.cluster.local.", dns.rdatatype.A)
    db = zone.lookup("db.shop.svc.cluster.local.", dns.rdatatype.A)
    assert web is not None and db is not None
    touched = Touched()
    key, slim = project(SVC_WEB_NEW_IP)
    zone.store.apply(key, slim, touched)
    zone.apply(touched)
    assert web.cell[0] != web.version  # the memo drops replies built on web...
    assert db.cell[0] == db.version  # ...and keeps db's


def test_the_soa_serial_moves_at_most_once_a_second() -> None:
    now = [float(SERIAL)]
    store = ClusterStore()
    zone = ClusterZone(store, OPTION_SETS["defaults"], LOCAL, clock=lambda: now[0])
    nx = zone.lookup("a.b.nope.cluster.local.", dns.rdatatype.A)
    assert nx is not None
    for obj in (NS_NEW, SVC_IN_NEW_NS):
        touched = Touched()
        store.apply(*project(obj), touched)
        zone.apply(touched)
    assert nx.cell[0] == nx.version  # same second: negative answers keep their SOA
    now[0] += 1
    touched = Touched()
    store.apply(("Service", "fresh", "solo"), None, touched)
    zone.apply(touched)
    assert zone.serial == SERIAL + 1
    assert nx.cell[0] != nx.version  # the SOA in every negative answer changed


def test_options_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        OPTION_SETS["defaults"].ttl = 1  # type: ignore[misc]
