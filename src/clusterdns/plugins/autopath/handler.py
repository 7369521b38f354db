"""The autopath handler: walk the client's search path on the server, answer with a CNAME.

As CoreDNS's plugin/autopath/autopath.go: a query whose name lies under the
first element of the client's search path (``name.<ns>.svc.<zone>`` for a pod
in ``<ns>``) is tried as asked; when that is NXDOMAIN the base name is tried
with each further search domain in turn, ending with the name itself (``""``);
the first reply that is not NXDOMAIN is returned with a CNAME from the asked
name to the name that answered in front (cname.go), so the client's resolver
takes it and stops its walk, and counts in ``coredns_autopath_success_total``
(the name as asked too).  When every try is NXDOMAIN the first reply goes
back and the client walks on.  An error from the chain (a reply the server
must write, with a reason) ends the walk with it; the first search domain
itself has no base name and gets SERVFAIL, as CoreDNS's ``dnsutil.TrimZone``.

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

from clusterdns.corefile.model import Directive
from clusterdns.dns.names import is_subdomain, longest_zone
from clusterdns.dns.wire import NXDOMAIN, SERVFAIL, WireError, parse_query, text_to_wire
from clusterdns.errors import ConfigError
from clusterdns.plugins.args import fail
from clusterdns.plugins.autopath.metrics import SUCCESS
from clusterdns.plugins.autopath.options import AutoPathOptions
from clusterdns.plugins.kubernetes.autopath import search_path
from clusterdns.plugins.kubernetes.handler import Kubernetes
from clusterdns.plugins.plugin import Handler, Host, Plugin, Reply, Request

SearchFunc = Callable[[Request], list[str] | None]


class AutoPath(Plugin):
    name = "autopath"

    def __init__(
        self,
        opts: AutoPathOptions,
        search: tuple[str, ...],
        block_plugins: Callable[[], tuple[Plugin, ...]],
        host: Host,
        directive: Directive | None = None,
    ) -> None:
        self.zones = opts.zones
        self.via = opts.via
        self.search = list(search)
        self.block_plugins = block_plugins
        self.directive = directive
        self.search_func: SearchFunc | None = None

    async def start(self) -> None:
        """Find the ``@PLUGIN`` of this block (CoreDNS setup.go, OnStartup).

        A plugin of that name that cannot give a search path is an error; no plugin of
        that name in the block means no autopath, as in CoreDNS.
        """
        if not self.via:
            return
        found = [p for p in self.block_plugins() if p.name == self.via]
        if not found:
            return
        kubernetes = found[0]
        if not isinstance(kubernetes, Kubernetes):
            message = f"{self.via} does not implement the AutoPather interface"
            if self.directive is not None:
                fail(self.directive, message)
            raise ConfigError(message, plugin=self.name)

        def func(request: Request) -> list[str] | None:
            return search_path(kubernetes, request.client[0], request.query.name)

        self.search_func = func

    def search_path(self, request: Request) -> list[str] | None:
        if self.search_func is not None:
            return self.search_func(request)
        return None if self.via else self.search

    async def serve(self, request: Request, next: Handler) -> Reply:
        name = request.query.name
        if longest_zone(name, self.zones) is None:
            return await next(request)
        search = self.search_path(request)
        if not search or not _first_in_search_path(name, search[0]):
            return _not_memoized_if_nxdomain(await next(request))
        base = _trim_zone(request.query.qname, search[0])
        if base is None:
            # CoreDNS dnsutil.TrimZone: the first search domain itself has no base name
            return Reply.unanswered(SERVFAIL, self.name, f"trimzone: overshot qname: {name}")
        # CoreDNS autopath.go: every element is tried, the first (the name as asked) too;
        # the first reply that the client gets and that is not NXDOMAIN goes back, cnamer'd.
        first: Reply | None = None
        for i, domain in enumerate(search):
            sub = request if i == 0 else _with_name(request, base + text_to_wire(domain))
            if sub is None:
                continue
            reply = await next(sub)
            if reply.wire is None and reply.error is not None:
                return reply  # CoreDNS: an error from the chain ends the walk
            if i == 0:
                first = reply
            if reply.wire is None or reply.rcode == NXDOMAIN:
                continue  # an rcode for the server to write, or NXDOMAIN: try the next one
            SUCCESS.labels(request.server).inc()
            if i == 0 and _only_asked_owns(reply.wire, request):
                return reply
            wire = _cnamed(reply.wire, request, i == 0)
            if wire is None:
                return reply  # the name as asked, answered for itself: the same for every client
            return Reply(wire, reply.rcode, self.name, 0.0)
        assert first is not None
        return _not_memoized_if_nxdomain(first)


def _first_in_search_path(name: str, first: str) -> bool:
    return name == first or is_subdomain(name, first)


def _only_asked_owns(wire: bytes, request: Request) -> bool:
    """Cheap check of a reply to the asked name: no answer, or one record owned by the question."""
    ancount = int.from_bytes(wire[6:8], "big")
    at = request.query.question_end
    return ancount == 0 or (ancount == 1 and wire[at : at + 2] == b"\xc0\x0c")


def _trim_zone(qname: bytes, zone: str) -> bytes | None:
    """The labels of wire name ``qname`` (case as sent) above ``zone``, without the root.

    None when nothing is left (``qname`` is the zone), as CoreDNS's ``dnsutil.TrimZone``.
    """
    labels: list[bytes] = []
    offset = 0
    while qname[offset]:
        end = offset + 1 + qname[offset]
        labels.append(qname[offset:end])
        offset = end
    keep = len(labels) - (0 if zone == "." else zone.count("."))
    if keep <= 0:
        return None
    return b"".join(labels[:keep])


def _not_memoized_if_nxdomain(reply: Reply) -> Reply:
    if reply.rcode == NXDOMAIN and reply.memo_until:
        return Reply(reply.wire, reply.rcode, reply.plugin, 0.0, reply.error)
    return reply


def _with_name(request: Request, name: bytes) -> Request | None:
    """``request`` asking wire name ``name`` instead: same header, type, class and EDNS."""
    query = request.query
    try:
        data = query.data[:12] + name + query.data[query.question_end - 4 :]
        sub = parse_query(data)
    except (WireError, ValueError):
        return None
    return request.with_query(sub)


def _cnamed(wire: bytes, request: Request, asked_itself: bool) -> bytes | None:
    """The reply for another name, given back for the asked one (CoreDNS cname.go).

    The question becomes the client's (as sent, case kept); in front of the
    answer goes ``asked CNAME <owner of the first answer record not named asked>``
    with that record's TTL.  None when the reply was for the asked name itself
    (``asked_itself``) and needs no CNAME: it goes back as it is.
    """
    message = dns.message.from_wire(wire)
    asked, _ = dns.name.from_wire(request.query.data, 12)
    for rrset in message.answer:
        if rrset.name == asked:
            continue
        cname = dns.rrset.from_text(asked, rrset.ttl, "IN", "CNAME", rrset.name.to_text())
        message.answer.insert(0, cname)
        break
    else:
        if asked_itself:
            return None
    question = message.question[0]
    message.question[0] = dns.rrset.RRset(asked, question.rdclass, question.rdtype)
    message.id = request.query.id
    size = request.query.max_udp_payload() if request.udp else 65535
    return message.to_wire(max_size=size)
