"""An ExternalName's CNAME target, looked up through the rest of the chain (CoreDNS's upstream).

CoreDNS's kubernetes plugin asks its own server for an out-of-zone CNAME
target (plugin/pkg/upstream) and appends what comes back to the CNAME
(backend_lookup.go); when nothing answers the target, the reply is the CNAME
alone, NOERROR.  The upstream here is a local fake server.
"""

from __future__ import annotations

import dns.rcode

from clusterdns.cluster import sample_cluster_path
from tests.support.serverutil import answers, running
from tests.support.upstream import records, started

CNAME = "payments.shop.svc.cluster.local. 5 IN CNAME payments.example.com."


def corefile(after: str = "") -> str:
    return f"""
.:0 {{
    bind 127.0.0.1
    kubernetes cluster.local {{
        manifests {sample_cluster_path()}
    }}
    {after}
}}
"""


def test_the_target_answered_by_forward_is_appended_and_asked_each_time() -> None:
    """Forwarded data is not this server's: the reply is rebuilt for every query, not memoized."""
    upstream_records = records({"payments.example.com. A": ["192.0.2.7"]}, ttl=60)
    with (
        started(upstream_records) as upstream,
        running(corefile(f"forward . {upstream.address}")) as srv,
    ):
        for _ in range(2):
            reply = srv.udp("payments.shop.svc.cluster.local.", "A")
            assert reply.rcode() == dns.rcode.NOERROR
            assert answers(reply) == ["payments.example.com. 60 IN A 192.0.2.7", CNAME]
        assert upstream.count() == 2


def test_a_target_nothing_answers_gives_the_cname_alone() -> None:
    """The upstream's NXDOMAIN for the target leaves the CNAME, NOERROR (backend_lookup.go)."""
    with (
        started(records({})) as upstream,
        running(corefile(f"forward . {upstream.address}")) as srv,
    ):
        reply = srv.udp("payments.shop.svc.cluster.local.", "A")
        assert (reply.rcode(), answers(reply)) == (dns.rcode.NOERROR, [CNAME])


def test_with_no_plugin_after_the_cname_alone_is_memoized() -> None:
    """ "No next plugin" depends on the configuration only, so the reply is kept in the memo."""
    with running(corefile()) as srv:
        for _ in range(2):
            reply = srv.udp("payments.shop.svc.cluster.local.", "A")
            assert (reply.rcode(), answers(reply)) == (dns.rcode.NOERROR, [CNAME])
        (listener,) = srv.server.listeners.values()
        memoized = [key for key in listener.dispatcher.udp_memo.entries if b"\x08payments" in key]
        assert len(memoized) == 1
