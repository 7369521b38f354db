"""The whoami handler: answers with the client's address and port (CoreDNS's whoami)."""

from __future__ import annotations

import ipaddress

import dns.rrset

from clusterdns.dns.reply import compile_answer, render
from clusterdns.dns.wire import NOERROR
from clusterdns.plugins.plugin import Handler, Plugin, Reply, Request


class Whoami(Plugin):
    """The client's IP as A/AAAA and its port as SRV ``_udp.``/``_tcp.``, both in the additional section."""

    name = "whoami"
    replies_outlive_reload = True
    memo_safe = False  # the answer depends on who asks

    async def serve(self, request: Request, next: Handler) -> Reply:
        query = request.query
        ip = ipaddress.ip_address(request.client[0].split("%")[0])
        rtype = "AAAA" if ip.version == 6 else "A"
        owner = query.name
        address = dns.rrset.from_text(owner, 0, "IN", rtype, str(ip))
        # CoreDNS whoami.go: ``_<proto>.<qname>`` (``_<proto>.`` for the root), target ".".
        srv_owner = f"_{request.transport}.{owner}" if owner != "." else f"_{request.transport}."
        port = dns.rrset.from_text(srv_owner, 0, "IN", "SRV", f"0 0 {request.client[1]} .")
        answer = compile_answer(owner, query.qtype, NOERROR, (), (), (address, port))
        return Reply(render(query, answer, request.udp), NOERROR, self.name)
