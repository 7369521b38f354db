"""The autopath handler: walk the client's search path on the server, answer with a CNAME.

As CoreDNS's plugin/autopath/autopath.go: a query whose name lies under the
first element of the client's search path (``name.<ns>.svc.<zone>`` for a pod
in ``<ns>``) is tried as asked; when that is NXDOMAIN the base name is tried
with each further search domain in turn, ending with the name itself (``""``);
the first reply that is not NXDOMAIN is returned with a CNAME from the asked
name to the name that answered in front (cname.go), so the client's resolver
takes it and stops its walk.  When every try is NXDOMAIN the first reply goes
back and the client walks on.

The server's reply memo holds replies by query bytes, whoever asked.  A reply
that depends on the client (a CNAME'd answer, or an NXDOMAIN that another
client's search path would have turned into an answer) must never be served
from it: every NXDOMAIN and every rewritten reply leaving this plugin has
``memo_until`` 0.  Replies that are not NXDOMAIN for the name as asked are the
same for everyone and stay memoizable.
"""

from __future__ import annotations

from collections.abc import Callable

import dns.message
import dns.name
import dns.rrset
from prometheus_client import Counter

from clusterdns.dns.names import is_subdomain, longest_zone
from clusterdns.dns.wire import NXDOMAIN, WireError, parse_query, text_to_wire
from clusterdns.plugins.plugin import Handler, Host, Plugin, Reply, Request

SUCCESS = Counter(
    "coredns_autopath_success_total", "Counter of requests that did autopath.", ["server"]
)

SearchFunc = Callable[[Request], list[str] | None]


class AutoPath(Plugin):
    name = "autopath"

    def __init__(
        self,
        zones: tuple[str, ...],
        via: str,
        search: tuple[str, ...],
        block_plugins: Callable[[], tuple[Plugin, ...]],
        host: Host,
    ) -> None:
        self.zones = zones
        self.via = via
        self.search = list(search)
        self.block_plugins = block_plugins
        self.search_func: SearchFunc | None = None

    async def start(self) -> None:
        if self.via != "kubernetes":
            return
        from clusterdns.plugins.kubernetes.autopath import search_path
        from clusterdns.plugins.kubernetes.handler import Kubernetes

        found = [p for p in self.block_plugins() if isinstance(p, Kubernetes)]
        if found:
            kubernetes = found[0]

            def func(request: Request) -> list[str] | None:
                return search_path(kubernetes, request.client[0], request.query.name)

            self.search_func = func
        # CoreDNS: autopath @kubernetes without a kubernetes plugin in the block does nothing.

    def search_path(self, request: Request) -> list[str] | None:
        if self.search_func is not None:
            return self.search_func(request)
        return self.search or None if self.via == "" else None

    async def serve(self, request: Request, next: Handler) -> Reply:
        name = request.query.name
        if longest_zone(name, self.zones) is None:
            return await next(request)
        search = self.search_path(request)
        if not search or not _first_in_search_path(name, search[0]) or name == search[0]:
            return _not_memoized_if_nxdomain(await next(request))
        base = name[: -len(search[0]) - 1] if search[0] != "." else name[:-1]
        first = await next(request)
        if first.rcode != NXDOMAIN or first.wire is None:
            return _not_memoized_if_nxdomain(first)
        for domain in search[1:]:
            target = f"{base}.{domain}" if domain and domain != "." else f"{base}."
            sub = _with_name(request, target)
            if sub is None:
                continue
            reply = await next(sub)
            if reply.wire is None or reply.rcode == NXDOMAIN:
                continue  # CoreDNS: an rcode the server writes, or NXDOMAIN: try the next one
            SUCCESS.labels(request.server).inc()
            return Reply(_cnamed(reply.wire, request), reply.rcode, self.name, 0.0)
        return _not_memoized_if_nxdomain(first)


def _first_in_search_path(name: str, first: str) -> bool:
    return name == first or is_subdomain(name, first)


def _not_memoized_if_nxdomain(reply: Reply) -> Reply:
    if reply.rcode == NXDOMAIN and reply.memo_until:
        return Reply(reply.wire, reply.rcode, reply.plugin, 0.0, reply.error)
    return reply


def _with_name(request: Request, name: str) -> Request | None:
    """``request`` asking ``name`` instead: same header, type, class and EDNS."""
    query = request.query
    try:
        data = query.data[:12] + text_to_wire(name) + query.data[query.question_end - 4 :]
        sub = parse_query(data)
    except (WireError, ValueError):
        return None
    return Request(
        sub,
        request.transport,
        request.client,
        request.server,
        request.zone,
        request.received,
        request.local,
    )


def _cnamed(wire: bytes, request: Request) -> bytes:
    """The reply for another name, given back for the asked one (CoreDNS cname.go).

    The question becomes the client's (as sent, case kept); in front of the
    answer goes ``asked CNAME <owner of the first answer record not named asked>``
    with that record's TTL.
    """
    message = dns.message.from_wire(wire)
    asked, _ = dns.name.from_wire(request.query.data, 12)
    for rrset in message.answer:
        if rrset.name == asked:
            continue
        cname = dns.rrset.from_text(asked, rrset.ttl, "IN", "CNAME", rrset.name.to_text())
        message.answer.insert(0, cname)
        break
    question = message.question[0]
    message.question[0] = dns.rrset.RRset(asked, question.rdclass, question.rdtype)
    message.id = request.query.id
    size = request.query.max_udp_payload() if request.udp else 65535
    return message.to_wire(max_size=size)
