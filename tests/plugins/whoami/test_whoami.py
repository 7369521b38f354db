"""whoami: the client's address, port and transport (CoreDNS plugin/whoami/README.md)."""

from __future__ import annotations

import dns.flags
import dns.message
import dns.query
import dns.rdatatype
import pytest

from tests.support.serverutil import running


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_whoami_reports_address_port_and_transport(transport: str) -> None:
    """CoreDNS plugin/whoami/README.md: empty answer; the client's IP as A/AAAA and
    `_<transport>.qname. 0 IN SRV 0 0 <port> .` in the additional section."""
    with running(".:0 {\n    bind 127.0.0.1\n    whoami\n}\n") as srv:
        query = dns.message.make_query("Who.Example.", "A")
        send = dns.query.udp if transport == "udp" else dns.query.tcp
        reply = send(query, srv.host, port=srv.port, timeout=3)
        assert reply.answer == []
        assert reply.flags & dns.flags.AA
        [address] = [rr for rr in reply.additional if rr.rdtype == dns.rdatatype.A]
        [srv_rr] = [rr for rr in reply.additional if rr.rdtype == dns.rdatatype.SRV]
        assert [rd.address for rd in address] == ["127.0.0.1"]
        assert srv_rr.name.to_text().lower() == f"_{transport}.who.example."
        [rd] = list(srv_rr)
        assert rd.target.to_text() == "." and 0 < rd.port < 65536


def test_whoami_for_the_root_name() -> None:
    with running(".:0 {\n    bind 127.0.0.1\n    whoami\n}\n") as srv:
        reply = srv.udp(".", "A")
        [srv_rr] = [rr for rr in reply.additional if rr.rdtype == dns.rdatatype.SRV]
        assert srv_rr.name.to_text() == "_udp."
