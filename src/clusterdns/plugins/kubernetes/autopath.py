"""The search path of a client pod, for ``autopath @kubernetes`` (CoreDNS plugin/kubernetes/autopath.go).

For a query in one of our zones from a source IP that is a known pod
(``pods verified``: the store indexes pods by status.podIP) the search path is
the kubelet's ClusterFirst list, ``<ns>.svc.<zone> svc.<zone> <zone>``, then
the search domains of the server's own resolv.conf, then ``""`` (the name as
given).  None means "do not guess": another pods mode, an unknown source
address, or a pod on the host network, whose address is the node's and may
belong to any host-network pod (CoreDNS does not look at hostNetwork; we do not
guess for such pods because their search path is the node's, not ClusterFirst's).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from clusterdns.dns.names import absolute, longest_zone
from clusterdns.plugins.kubernetes.options import PODS_VERIFIED

if TYPE_CHECKING:
    from clusterdns.plugins.kubernetes.handler import Kubernetes

RESOLV_CONF = "/etc/resolv.conf"


@functools.lru_cache(maxsize=4)
def resolv_search(path: str = RESOLV_CONF) -> tuple[str, ...]:
    """The search domains of ``path``, absolute: the last ``search`` line, or ``domain``'s
    first word when that comes last (miekg/dns ``ClientConfigFromFile``, as CoreDNS reads it)."""
    domains: tuple[str, ...] = ()
    try:
        with open(path, encoding="utf-8", errors="replace") as stream:
            for line in stream:
                words = line.split()
                if words and words[0] == "search":
                    domains = tuple(absolute(w) for w in words[1:])
                elif words and words[0] == "domain":
                    domains = tuple(absolute(w) for w in words[1:2])
    except OSError:
        return ()
    return domains


def search_path(
    plugin: Kubernetes, client_ip: str, name: str, resolv: str = RESOLV_CONF
) -> list[str] | None:
    """The client's search path ending with ``""``, or None when autopath must not guess."""
    zone = longest_zone(name, plugin.opts.zones)  # CoreDNS: k.Zones, reverse ones too
    if zone is None or plugin.opts.pods != PODS_VERIFIED:
        return None
    pods = plugin.store.pods_at(client_ip)
    if not pods or pods[0].host_network:
        return None
    namespace = pods[0].namespace
    if zone == ".":
        head = [f"{namespace}.svc.", "svc.", "."]
    else:
        head = [f"{namespace}.svc.{zone}", f"svc.{zone}", zone]
    return [*head, *resolv_search(resolv), ""]
