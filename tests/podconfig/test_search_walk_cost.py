"""What the kubelet's resolv.conf costs a pod's stub resolver: every name asked, in order.

The file comes from ``pod_dns`` (the kubelet's rules); the walk from the resolver's model
of glibc ``__res_context_search`` (resolv/res_query.c: fewer dots than ndots, the search
list first and the name as given last; at least ndots dots, the name first; a trailing
dot, the name only; "." on the list stands for the name as given) and musl
``name_from_dns_search`` (at least ndots dots or a trailing dot: the name only).  A and
AAAA go out together for every name (glibc in parallel on one socket, musl likewise).
"""

from __future__ import annotations

import pytest

from clusterdns.podconfig.kubelet import HostResolv, Kubelet, pod_dns
from clusterdns.podconfig.manifest import DNSOption, PodDNSConfig, PodDNSSpec
from clusterdns.resolver.resolvconf import Libc, effective, parse
from clusterdns.resolver.search import NOERROR, NXDOMAIN, Answer, SearchWalk

NODE = HostResolv(("192.0.2.53",), ("corp.example",), ("edns0",))
KUBELET = Kubelet(host=NODE)
CLUSTER = ("shop.svc.cluster.local.", "svc.cluster.local.", "cluster.local.", "corp.example.")


def walk(name: str, libc: Libc, config: PodDNSConfig | None, exists: set[str]) -> list[str]:
    """Every query (``name type``) the walk sends; names in ``exists`` answer, others NXDOMAIN."""
    pod = PodDNSSpec("Pod", "shop", "p", "ClusterFirst", False, config)
    eff = effective(parse(pod_dns(pod, KUBELET).to_text()), libc)
    stub = SearchWalk(name, eff)
    sent: list[str] = []
    for _ in range(64):  # bounded: a walk is never longer than the search list + 1
        candidate = stub.current()
        if candidate is None:
            break
        found = candidate.name in exists
        answers = [Answer(t, NOERROR if found else NXDOMAIN, found) for t in stub.types]
        sent.extend(f"{candidate.name} {t}" for t in stub.types)
        stub.feed(answers)
    return sent


def names(sent: list[str]) -> list[str]:
    return list(dict.fromkeys(s.split()[0] for s in sent))


NDOTS2 = PodDNSConfig(options=(DNSOption("ndots", "2"),))
ROOT = PodDNSConfig(searches=(".",))
NO_AAAA = PodDNSConfig(options=(DNSOption("no-aaaa", None),))
EXT = "google.com."
DEEP = "a.b.c.d.e.example."
COSTS = [
    # an external name with 1 dot < ndots:5: the 4 search domains first, then the name
    ("glibc_external", Libc.GLIBC, "google.com", None, {EXT},
     [f"google.com.{d}" for d in CLUSTER] + [EXT], 10),
    ("musl_external", Libc.MUSL, "google.com", None, {EXT},
     [f"google.com.{d}" for d in CLUSTER] + [EXT], 10),
    # a trailing dot: the name only
    ("glibc_trailing_dot", Libc.GLIBC, "google.com.", None, {EXT}, [EXT], 2),
    ("musl_trailing_dot", Libc.MUSL, "google.com.", None, {EXT}, [EXT], 2),
    # 5 dots >= ndots:5: the name first
    ("glibc_enough_dots", Libc.GLIBC, "a.b.c.d.e.example", None, {DEEP}, [DEEP], 2),
    ("musl_enough_dots", Libc.MUSL, "a.b.c.d.e.example", None, {DEEP}, [DEEP], 2),
    # glibc goes on to the search list when the name as given does not exist; musl does not
    ("glibc_enough_dots_missing", Libc.GLIBC, "a.b.c.d.e.example", None, set(),
     [DEEP] + [f"{DEEP}{d}" for d in CLUSTER], 10),
    ("musl_enough_dots_missing", Libc.MUSL, "a.b.c.d.e.example", None, set(), [DEEP], 2),
    # a service in the pod's namespace: the first search domain answers
    ("glibc_service_short_name", Libc.GLIBC, "web", None, {"web.shop.svc.cluster.local."},
     ["web.shop.svc.cluster.local."], 2),
    ("glibc_service_other_namespace", Libc.GLIBC, "db.data", None, {"db.data.svc.cluster.local."},
     ["db.data.shop.svc.cluster.local.", "db.data.svc.cluster.local."], 4),
    # dnsConfig ndots:2: 1 dot still searches, 2 dots go out as they are
    ("glibc_ndots2_one_dot", Libc.GLIBC, "google.com", NDOTS2, {EXT},
     [f"google.com.{d}" for d in CLUSTER] + [EXT], 10),
    ("glibc_ndots2_two_dots", Libc.GLIBC, "www.google.com", NDOTS2, {"www.google.com."},
     ["www.google.com."], 2),
    # dnsConfig searches ["."]: glibc asks the name where "." stands and not again at the end;
    # musl sends nothing for "." and asks the name last
    ("glibc_root_on_search_list", Libc.GLIBC, "google.com", ROOT, {EXT},
     [f"google.com.{d}" for d in CLUSTER] + [EXT], 10),
    ("musl_root_on_search_list", Libc.MUSL, "google.com", ROOT, {EXT},
     [f"google.com.{d}" for d in CLUSTER] + [EXT], 10),
    ("glibc_root_on_search_list_missing", Libc.GLIBC, "nowhere.example", ROOT, set(),
     [f"nowhere.example.{d}" for d in CLUSTER] + ["nowhere.example."], 10),
    ("musl_root_on_search_list_missing", Libc.MUSL, "nowhere.example", ROOT, set(),
     [f"nowhere.example.{d}" for d in CLUSTER] + ["nowhere.example."], 10),
    # glibc's no-aaaa: A only
    ("glibc_no_aaaa", Libc.GLIBC, "google.com", NO_AAAA, {EXT},
     [f"google.com.{d}" for d in CLUSTER] + [EXT], 5),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "libc", "name", "config", "exists", "order", "queries"),
    COSTS,
    ids=[c[0] for c in COSTS],
)
def test_queries_one_lookup_costs(
    case: str,
    libc: Libc,
    name: str,
    config: PodDNSConfig | None,
    exists: set[str],
    order: list[str],
    queries: int,
) -> None:
    sent = walk(name, libc, config, exists)
    assert names(sent) == order
    assert len(sent) == queries


def test_every_name_is_asked_for_a_and_aaaa() -> None:
    sent = walk("google.com", Libc.GLIBC, None, {EXT})
    assert sent[:2] == [
        "google.com.shop.svc.cluster.local. A",
        "google.com.shop.svc.cluster.local. AAAA",
    ]
