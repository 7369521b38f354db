"""The records of the cluster zone: pure functions from ClusterState and options to records.

This is the whole of the Kubernetes DNS schema (kubernetes/dns
docs/specification.md, schema 1.1.0) as CoreDNS's *kubernetes* plugin answers it
at query time (plugin/kubernetes/kubernetes.go ``findServices``/``findPods``,
reverse.go, ns.go, and plugin/backend_lookup.go for SRV weights and the SOA),
computed ahead of time so the server can compile wire answers once per change.

The result, a ``RecordSet``, maps an owner name (absolute, lower-case) to its
records.  How the consumer reads it:

* A name exists (NOERROR) when it is a key, or when it is an ancestor of a key
  down from the zone apex: ``_tcp.web.shop.svc.cluster.local.`` exists because
  ``_http._tcp.web.shop.svc.cluster.local.`` does.  Keys with an empty list are
  names that exist with no records at all (``svc.<zone>``, ``pod.<zone>``,
  ``<ns>.svc.<zone>`` for every exposed namespace, ``<ns>.pod.<zone>`` when pods
  are enabled).  Everything else below a zone is NXDOMAIN.
  (CoreDNS answers NXDOMAIN for a few empty non-terminals, such as
  ``_tcp.<svc>...`` or ``dns.<zone>``; RFC 8020 says such names must not be
  NXDOMAIN, so we keep them existing.)
* A query whose type has no record at an existing name is NODATA.
* The apex SOA/NS are not in the set: ``apex_records`` builds them (the SOA
  serial is a clock value the caller owns).  Pod names
  (``1-2-3-4.<ns>.pod.<zone>``) are synthesized per query by ``pod_record``.
* An ExternalName's CNAME is at the service name; CoreDNS returns it for A,
  AAAA and CNAME queries only (``ClusterZone`` reads it so), and NODATA for
  other types.

Record data is zone-file text (``10.96.0.1``, ``0 50 80 web.shop.svc.cluster.local.``).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from clusterdns.cluster.model import (
    ClusterState,
    ClusterView,
    Endpoint,
    EndpointSubset,
    Service,
    canonical_ip,
    is_ipv4_text,
)
from clusterdns.dns.names import is_ip
from clusterdns.dns.names import is_subdomain as in_zone
from clusterdns.dns.zone import Record
from clusterdns.plugins.kubernetes.options import PODS_DISABLED, PODS_INSECURE, KubernetesOptions

#: the schema version (spec 2.2; CoreDNS ``DNSSchemaVersion``)
DNS_SCHEMA_VERSION = "1.1.0"
#: CoreDNS hard-codes this TTL on the dns-version TXT (kubernetes.go ``Services``)
DNS_VERSION_TTL = 28800
#: SOA timers of plugin/backend_lookup.go ``SOA``
SOA_REFRESH = 7200
SOA_RETRY = 1800
SOA_EXPIRE = 86400
SOA_MAX_TTL = 300
#: the name of the zone's nameserver (ns.go ``defaultNSName``)
NS_LABELS = "ns.dns."
#: CoreDNS drops targetRef names that could not be a DNS label (object/endpoint.go)
MAX_LABEL = 63


RecordSet = dict[str, list[Record]]
"""owner name (absolute, lower-case) -> records; an empty list marks an existing empty name."""


# ---------------------------------------------------------------- whole zone


def build_records(state: ClusterState, opts: KubernetesOptions) -> RecordSet:
    """Every record of every zone in ``opts.zones``, except the apex SOA/NS and pod names."""
    out: RecordSet = {}
    for zone in opts.forward_zones:
        _merge(out, _zone_skeleton(state, opts, zone))
    for svc in state.services.values():
        if _service_exposed(state, svc, opts):
            _add_service(out, state, svc, opts)
    _merge(out, reverse_records(state, opts))
    return out


def service_records(
    state: ClusterView, namespace: str, name: str, opts: KubernetesOptions, zone: str
) -> RecordSet:
    """The names under ``<name>.<namespace>.svc.<zone>`` and their records.

    The server builds these per service when one of its names is first asked;
    PTRs are ``ptr_records``'s.
    """
    svc = state.service(namespace, name)
    if svc is None or not _service_exposed(state, svc, opts):
        return {}
    out: RecordSet = {}
    for owner, records in _service_names(state, svc, opts, f"{name}.{namespace}.svc.{zone}"):
        out.setdefault(owner, []).extend(records)
    return out


def service_name_records(
    state: ClusterView, namespace: str, name: str, opts: KubernetesOptions, zone: str
) -> list[Record] | None:
    """The records of ``<name>.<namespace>.svc.<zone>`` alone (None: the name does not exist).

    The first query for a service is nearly always for its own name: this
    answers it without building the names of its endpoints.
    """
    svc = state.service(namespace, name)
    if svc is None or not _service_exposed(state, svc, opts):
        return None
    base = f"{name}.{namespace}.svc.{zone}"
    first = next(_service_names(state, svc, opts, base), None)
    return first[1] if first is not None and first[0] == base else None


def _add_service(
    out: RecordSet, state: ClusterState, svc: Service, opts: KubernetesOptions
) -> None:
    for zone in opts.forward_zones:
        _merge(out, service_records(state, svc.namespace, svc.name, opts, zone))


def _merge(into: RecordSet, part: RecordSet) -> None:
    for owner, records in part.items():
        into.setdefault(owner, []).extend(records)


def _zone_skeleton(state: ClusterState, opts: KubernetesOptions, zone: str) -> RecordSet:
    # parse.go: "svc.<zone>" and "pod.<zone>" answer NODATA whatever the cluster holds;
    # "<ns>.svc.<zone>" answers NODATA when the namespace is exposed, NXDOMAIN if not;
    # "<ns>.pod.<zone>" likewise, but only when pods are enabled (findPods).
    out: RecordSet = {f"svc.{zone}": [], f"pod.{zone}": []}
    out[f"dns-version.{zone}"] = [Record("TXT", DNS_VERSION_TTL, f'"{DNS_SCHEMA_VERSION}"')]
    for ns in state.namespaces:
        if namespace_exposed(state, ns, opts):
            out[f"{ns}.svc.{zone}"] = []
            if opts.pods != PODS_DISABLED:
                out[f"{ns}.pod.{zone}"] = []
    return out


# ---------------------------------------------------------------- filters


def namespace_exposed(state: ClusterView, namespace: str, opts: KubernetesOptions) -> bool:
    """CoreDNS ``namespaceExposed``: the namespace exists, is listed in ``namespaces``
    (when given) and matches ``namespace_labels`` (when given)."""
    ns = state.namespace(namespace)
    if ns is None:
        return False
    if opts.namespaces and namespace not in opts.namespaces:
        return False
    return opts.namespace_labels is None or opts.namespace_labels.matches(ns.labels)


def _service_exposed(state: ClusterView, svc: Service, opts: KubernetesOptions) -> bool:
    return namespace_exposed(state, svc.namespace, opts) and _labels_match(svc, opts)


def _labels_match(svc: Service, opts: KubernetesOptions) -> bool:
    # CoreDNS applies ``labels`` to the service, endpoint-slice and pod watches; the
    # slice controller copies a service's labels onto its slices, so filtering the
    # service (and with it its endpoints) is the same selection.
    return opts.labels is None or opts.labels.matches(svc.labels)


# ---------------------------------------------------------------- one service


@dataclass(frozen=True, slots=True)
class _Entry:
    """One ``msg.Service`` of CoreDNS's lookups: an address with one port (or none)."""

    label: str  # endpoint label for endpoint entries, "" for a cluster IP
    ip: str
    port: int | None  # None: the sentinel -1 for a service/slice without ports
    port_name: str
    protocol: str


def _service_names(
    state: ClusterView, svc: Service, opts: KubernetesOptions, base: str
) -> Iterator[tuple[str, list[Record]]]:
    if svc.is_external_name:
        yield from _external_name(svc, opts, base)
        return
    # the service name comes first, before the endpoints of a ClusterIP service are read:
    # ``service_name_records`` stops there
    if svc.headless:
        endpoint_entries = [] if opts.noendpoints else list(_endpoint_entries(state, svc, opts))
        if not endpoint_entries:
            return  # spec 2.4.1: a headless service without ready endpoints is NXDOMAIN
        yield from _address_names(base, endpoint_entries, opts)
    else:
        if opts.ignore_empty_service and not _has_ready_address(state, svc, opts):
            return  # "ignore empty_service": NXDOMAIN so the client's search list goes on
        yield from _address_names(base, list(_cluster_ip_entries(svc)), opts, target=base)
        endpoint_entries = [] if opts.noendpoints else list(_endpoint_entries(state, svc, opts))
    # findServices: "<endpoint>.<svc>" names work for ClusterIP services too
    by_label: dict[str, list[_Entry]] = {}
    for entry in endpoint_entries:
        by_label.setdefault(entry.label, []).append(entry)
    for label, entries in by_label.items():
        owner = f"{label}.{base}"
        yield owner, _addresses(entries, opts) + _srv(entries, opts, base)


def _external_name(
    svc: Service, opts: KubernetesOptions, base: str
) -> Iterator[tuple[str, list[Record]]]:
    # spec 2.5; CoreDNS keeps the service only when externalName is a name, not an IP
    # (the projection leaves the name empty when it was missing or not a DNS name)
    if not svc.external_name or is_ip(svc.external_name):
        return
    yield base, [Record("CNAME", opts.ttl, svc.external_name.rstrip(".") + ".")]


def _address_names(
    base: str, entries: list[_Entry], opts: KubernetesOptions, target: str | None = None
) -> Iterator[tuple[str, list[Record]]]:
    """The service name itself and its ``_<port>._<proto>`` names."""
    yield base, _addresses(entries, opts) + _srv(entries, opts, base, target)
    by_port: dict[tuple[str, str], list[_Entry]] = {}
    for entry in entries:
        # spec 2.3.2/2.4.2: unnamed ports have no SRV name of their own; nor has a
        # 63-character name (legal for a port), as "_" + name is longer than a DNS label
        if entry.port_name and len(entry.port_name) < MAX_LABEL:
            key = (entry.port_name.lower(), entry.protocol.lower())
            by_port.setdefault(key, []).append(entry)
    for (port_name, protocol), port_entries in by_port.items():
        # findServices: the name holds the addresses of its entries too (A/AAAA answer)
        owner = f"_{port_name}._{protocol}.{base}"
        yield owner, _addresses(port_entries, opts) + _srv(port_entries, opts, base, target)


def _cluster_ip_entries(svc: Service) -> Iterator[_Entry]:
    # findServices: one entry per (port, cluster IP); a port-less service gets the -1 sentinel
    ports = svc.ports or ()
    if not ports:
        for ip in svc.cluster_ips:
            yield _Entry("", ip, None, "", "")
        return
    for port in ports:
        for ip in svc.cluster_ips:
            yield _Entry("", ip, port.port, port.name, port.protocol)


def _endpoint_entries(
    state: ClusterView, svc: Service, opts: KubernetesOptions
) -> Iterator[_Entry]:
    # findServices: for each slice, each ready address x each port of that slice
    for subset in state.endpoints_of(svc.namespace, svc.name):
        ports = subset.ports or ()
        for endpoint in _ready(subset, svc):
            for ip in endpoint.addresses:
                label = endpoint_label(endpoint, ip, opts)
                if not ports:
                    yield _Entry(label, ip, None, "", "")
                for port in ports:
                    yield _Entry(label, ip, port.port, port.name, port.protocol)


def _ready(subset: EndpointSubset, svc: Service | None) -> Iterator[Endpoint]:
    # spec 2.1 "ready"; with publishNotReadyAddresses the slice controller marks every
    # endpoint ready, so a hand-written slice saying otherwise is read the same way
    publish = svc is not None and svc.publish_not_ready
    return (ep for ep in subset.endpoints if ep.ready or publish)


def _has_ready_address(state: ClusterView, svc: Service, opts: KubernetesOptions) -> bool:
    if opts.noendpoints:
        return False  # no endpoint cache: CoreDNS counts zero addresses
    return any(
        ep.addresses for s in state.endpoints_of(svc.namespace, svc.name) for ep in _ready(s, svc)
    )


def endpoint_label(endpoint: Endpoint, ip: str, opts: KubernetesOptions) -> str:
    """The endpoint's name under its service (kubernetes.go ``endpointHostname``).

    The hostname; else, with ``endpoint_pod_names``, the target pod's name; else
    the address with dashes (``10-244-1-5``, ``fd00--1``; an IPv6 address ending
    in ``::`` gets a trailing ``0`` so the label does not end in a dash).
    """
    if endpoint.hostname:
        return endpoint.hostname.lower()
    if opts.endpoint_pod_names and endpoint.target_name and len(endpoint.target_name) <= MAX_LABEL:
        return endpoint.target_name.lower()
    return dashed_ip(ip)


def dashed_ip(ip: str) -> str:
    if "." in ip:
        return ip.replace(".", "-")
    label = ip.lower().replace(":", "-")
    return label + "0" if label.endswith("-") else label


def _addresses(entries: Sequence[_Entry], opts: KubernetesOptions) -> list[Record]:
    # plugin.A/AAAA: one record per distinct address
    seen: dict[str, Record] = {}
    for entry in entries:
        if entry.ip not in seen:
            seen[entry.ip] = address_record(entry.ip, opts.ttl)
    return list(seen.values())


def _srv(
    entries: Sequence[_Entry], opts: KubernetesOptions, base: str, target: str | None = None
) -> list[Record]:
    """plugin.SRV over CoreDNS's entries: priority 0, weight from the entry count, no
    record for port-less entries, one record per (target, port)."""
    weight = srv_weight(len(entries))
    records: list[Record] = []
    seen: set[tuple[str, int]] = set()
    for entry in entries:
        if entry.port is None:
            continue
        host = target if target is not None else f"{entry.label}.{base}"
        if (host, entry.port) in seen:
            continue
        seen.add((host, entry.port))
        records.append(Record("SRV", opts.ttl, f"0 {weight} {entry.port} {host}"))
    return records


def srv_weight(entries: int) -> int:
    """CoreDNS's SRV weight: floor(100 / entries), at least 1.

    plugin.SRV sums a default weight of 100 per entry (the sentinel port-less
    ones and duplicates included) and gives each ``floor(100/total * 100)`` in
    float64; integer division gives the same number for every count.
    """
    return max(1, 100 // entries) if entries else 100


def address_record(ip: str, ttl: int) -> Record:
    if is_ipv4_text(ip):
        return Record("A", ttl, ip)
    address = ipaddress.ip_address(ip)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return Record("A", ttl, str(address.ipv4_mapped))  # Go's To4() sees a v4 address
    return Record("A" if address.version == 4 else "AAAA", ttl, str(address))


# ---------------------------------------------------------------- reverse


def reverse_records(
    state: ClusterState, opts: KubernetesOptions, ips: Iterable[str] | None = None
) -> RecordSet:
    """PTR records of every address of the cluster (or of ``ips``) in ``opts``'s reverse zones."""
    if not opts.reverse_zones:
        return {}
    if ips is None:
        ips = [ip for svc in state.services.values() for ip in svc.cluster_ips]
        ips += [
            ip
            for subsets in state.endpoints.values()
            for subset in subsets
            for endpoint in subset.endpoints
            for ip in endpoint.addresses
        ]
    out: RecordSet = {}
    for ip in dict.fromkeys(canonical_ip(ip) for ip in ips):
        records = ptr_records(state, opts, ip)
        if records:
            out[reverse_name(ip)] = records
    return out


def ptr_records(state: ClusterView, opts: KubernetesOptions, ip: str) -> list[Record]:
    """The PTRs of one canonical address, when its reverse name is in one of our zones.

    reverse.go ``serviceRecordForIP``: an IP that is a service's cluster IP points
    to that one service (``<svc>.<ns>.svc.<primary zone>``; the first service wins,
    as SvcIndexReverse's first match); otherwise to every endpoint holding it
    (``<endpoint>.<svc>.<ns>.svc.<primary zone>``), one PTR per service selecting the pod.
    """
    owner = reverse_name(ip)
    if not any(in_zone(owner, zone) for zone in opts.reverse_zones):
        return []
    targets = dict.fromkeys(_ptr_targets(state, opts, ip))
    return [Record("PTR", opts.ttl, target) for target in targets]


def has_ptr(state: ClusterView, opts: KubernetesOptions, ip: str) -> bool:
    """Whether an address in our reverse zones has a PTR, found without building them all:
    a first sync asks it of every endpoint address (500 000 at 50 000 services)."""
    return next(_ptr_targets(state, opts, ip), None) is not None


def _ptr_targets(state: ClusterView, opts: KubernetesOptions, ip: str) -> Iterator[str]:
    """The PTR targets of ``ip``, one at a time (an endpoint's may come more than once)."""
    primary = opts.primary_zone
    for namespace, name in state.services_at(ip):
        svc = state.service(namespace, name)
        if svc is None or not svc.cluster_ips or not _labels_match(svc, opts):
            continue
        if _reverse_namespace_ok(state, namespace, opts):
            yield f"{name}.{namespace}.svc.{primary}"
            return
    if opts.noendpoints:
        return
    for namespace, name in state.endpoint_services_at(ip):
        svc = state.service(namespace, name)
        if svc is not None and not _labels_match(svc, opts):
            continue
        if not _reverse_namespace_ok(state, namespace, opts):
            continue
        for subset in state.endpoints_of(namespace, name):
            for endpoint in _ready(subset, svc):
                for address in endpoint.addresses:
                    if address == ip or (":" in address and canonical_ip(address) == ip):
                        label = endpoint_label(endpoint, address, opts)
                        yield f"{label}.{name}.{namespace}.svc.{primary}"


def reverse_name(ip: str) -> str:
    """The in-addr.arpa./ip6.arpa. name of an address (spec 2.3.3)."""
    if ":" not in ip:
        return ".".join(reversed(ip.split("."))) + ".in-addr.arpa."
    return ipaddress.ip_address(ip).reverse_pointer + "."


def ip_of_reverse_name(name: str) -> str | None:
    """The canonical address a full in-addr.arpa./ip6.arpa. name stands for, or None."""
    if name.endswith(".in-addr.arpa."):
        labels = name[: -len(".in-addr.arpa.")].split(".")
        if len(labels) == 4:
            text = ".".join(reversed(labels))
            return text if is_ipv4_text(text) else None
    elif name.endswith(".ip6.arpa."):
        nibbles = name[: -len(".ip6.arpa.")].split(".")
        if len(nibbles) == 32 and all(len(n) == 1 for n in nibbles):
            digits = "".join(reversed(nibbles))
            try:
                groups = ":".join(digits[i : i + 4] for i in range(0, 32, 4))
                return str(ipaddress.IPv6Address(groups))
            except ValueError:
                return None
    return None


def _reverse_namespace_ok(state: ClusterView, namespace: str, opts: KubernetesOptions) -> bool:
    # reverse.go checks the namespace only when ``namespaces`` is configured
    return not opts.namespaces or namespace_exposed(state, namespace, opts)


def service_addresses(state: ClusterState, namespace: str, name: str) -> set[str]:
    """A service's cluster IPs and endpoint addresses: the PTR owners a change to it touches."""
    svc = state.service(namespace, name)
    ips = set(svc.cluster_ips) if svc else set()
    for subset in state.endpoints_of(namespace, name):
        for endpoint in subset.endpoints:
            ips.update(endpoint.addresses)
    return ips


# ---------------------------------------------------------------- apex


def soa_record(zone: str, opts: KubernetesOptions, serial: int) -> Record:
    """plugin.SOA: ``ns.dns.<zone> hostmaster.<zone>``, TTL min(ttl, 300), minimum = ttl.

    CoreDNS's serial is the Unix time of the last cluster change it saw.
    """
    return Record(
        "SOA",
        min(opts.ttl, SOA_MAX_TTL),
        f"{NS_LABELS}{zone} hostmaster.{zone} {serial} "
        f"{SOA_REFRESH} {SOA_RETRY} {SOA_EXPIRE} {opts.ttl}",
    )


def ns_addresses(
    zone: str, state: ClusterView, opts: KubernetesOptions, local_ips: Sequence[str] = ()
) -> list[tuple[str, str]]:
    """The zone's nameservers as (name, address), as ns.go ``nsAddrs`` finds them.

    The server's own addresses (``local_ips``, the ones it is bound to) are
    looked up among endpoint addresses; each service they are an endpoint of
    names a nameserver: its cluster IPs under ``<svc>.<ns>.svc.<zone>`` (so the NS
    of a cluster is normally ``kube-dns.kube-system.svc.cluster.local.``), or for
    a headless service each endpoint under its own name.  When none is an
    endpoint, the answer is ``ns.dns.<zone>`` with the local addresses.
    """
    local = {canonical_ip(ip) for ip in local_ips}
    found: list[tuple[str, str]] = []
    endpoint_found = False
    holders = (
        [] if opts.noendpoints else [k for ip in local for k in state.endpoint_services_at(ip)]
    )
    for namespace, name in dict.fromkeys(holders):
        svc = state.service(namespace, name)
        for subset in state.endpoints_of(namespace, name):
            ready = list(_ready(subset, svc))
            if not any(canonical_ip(ip) in local for ep in ready for ip in ep.addresses):
                continue
            endpoint_found = True
            if svc is None:
                continue
            svc_name = f"{name}.{namespace}.svc.{zone}"
            if svc.headless:
                for ep in ready:
                    for ip in ep.addresses:
                        found.append((f"{endpoint_label(ep, ip, opts)}.{svc_name}", ip))
            else:
                found.extend((svc_name, ip) for ip in svc.cluster_ips)
    if not endpoint_found:
        found = [(f"{NS_LABELS}{zone}", ip) for ip in local_ips]
    return list(dict.fromkeys(found))


def apex_records(
    zone: str,
    opts: KubernetesOptions,
    state: ClusterView | None = None,
    local_ips: Sequence[str] = (),
    serial: int = 0,
) -> RecordSet:
    """The SOA and NS at ``zone``, and ``ns.dns.<zone>``'s addresses.

    ``ns.dns.<zone>`` answers A/AAAA with every nameserver address whatever name
    the NS records use (kubernetes.go ``isDefaultNS``).  Glue for NS targets
    under the service names is in ``build_records``'s set already; use
    ``ns_addresses`` for the additional section.
    """
    nameservers = ns_addresses(zone, state or ClusterState(), opts, local_ips)
    apex = [soa_record(zone, opts, serial)]
    seen: list[str] = []
    for name, _ip in nameservers:
        if name not in seen:
            seen.append(name)
            apex.append(Record("NS", opts.ttl, name))
    default_ns = [address_record(ip, opts.ttl) for _name, ip in nameservers]
    return {zone: apex, f"{NS_LABELS}{zone}": _unique(default_ns)}


def _unique(records: Iterable[Record]) -> list[Record]:
    return list(dict.fromkeys(records))


# ---------------------------------------------------------------- pods


def pod_record(name: str, state: ClusterView, opts: KubernetesOptions) -> list[Record] | None:
    """Records for ``<dashed-ip>.<ns>.pod.<zone>``, or None when the name does not exist.

    kubernetes.go ``findPods``: nothing with ``pods disabled``; the namespace must
    be exposed (exist, and be listed when ``namespaces`` is set) in both other
    modes; ``insecure`` answers any well-formed address, ``verified`` only the
    status.podIP of a pod in that namespace, compared as text.  Three dashes and
    no ``--`` read as IPv4, anything else as IPv6 (``fd00--1``).
    """
    if opts.pods == PODS_DISABLED:
        return None
    name = name.lower()
    zone = _forward_zone_of(name, opts)
    if zone is None:
        return None
    labels = name[: -len(zone)].rstrip(".").split(".")
    if len(labels) != 3 or labels[2] != "pod":
        return None
    pod_label, namespace = labels[0], labels[1]
    if not namespace_exposed(state, namespace, opts):
        return None
    ip = _ip_from_pod_label(pod_label)
    if not is_ip(ip):
        return None
    if opts.pods == PODS_INSECURE:
        return [address_record(ip, opts.ttl)]
    pods = [
        pod
        for pod in state.pods_at(ip)
        if pod.namespace == namespace and (opts.labels is None or opts.labels.matches(pod.labels))
    ]
    return [address_record(ip, opts.ttl)] if pods else None


def _ip_from_pod_label(label: str) -> str:
    if label.count("-") == 3 and "--" not in label:
        return label.replace("-", ".")
    return label.replace("-", ":")


def _forward_zone_of(name: str, opts: KubernetesOptions) -> str | None:
    zones = [z for z in opts.forward_zones if in_zone(name, z)]
    return max(zones, key=len) if zones else None
