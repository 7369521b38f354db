"""The question parser, with bytes alone (no sockets)."""

from __future__ import annotations

import dns.message
import dns.rrset
import pytest
from hypothesis import given
from hypothesis import strategies as st

from clusterdns.dns.wire import FORMERR, NOTIMP, WireError, iter_records, name_to_text, parse_query


def wire(name: str = "Web.Example.Test", rdtype: str = "A", **kwargs) -> bytes:
    return dns.message.make_query(name, rdtype, **kwargs).to_wire()


def test_question_fields():
    query = parse_query(wire(use_edns=0, payload=4096, want_dnssec=True))
    assert query.name == "web.example.test."
    assert query.qname == b"\x03Web\x07Example\x04Test\x00"
    assert (query.qtype, query.qclass) == (1, 1)
    assert query.edns and query.udp_size == 4096 and query.do
    assert query.max_udp_payload() == 4096


def test_without_edns_the_limit_is_512():
    query = parse_query(wire())
    assert not query.edns and query.max_udp_payload() == 512


@pytest.mark.parametrize(
    "label, expected",
    [(b"a.b", "a\\.b"), (b"sp ace", "sp\\032ace"), (b"\xff", "\\255"), (b"UP", "up")],
)
def test_names_are_escaped_as_zone_file_text(label, expected):
    """RFC 1035 5.1: a dot inside a label must not read as a label boundary."""
    assert name_to_text(bytes([len(label)]) + label + b"\x00") == expected + "."


def test_root_name():
    assert parse_query(wire(".", "NS")).name == "."


def test_two_opt_records_are_formerr():
    """RFC 6891 6.1.1: more than one OPT is a format error."""
    data = wire(use_edns=0)
    opt = data[-11:]
    data = data[:10] + b"\x00\x02" + data[12:] + opt
    with pytest.raises(WireError) as info:
        parse_query(data)
    assert info.value.rcode == FORMERR


def test_opcode_notify_is_accepted_update_is_notimp_before_the_question():
    """miekg/dns DefaultMsgAcceptFunc (CoreDNS's server): QUERY and NOTIFY only."""
    data = bytearray(wire())
    data[2] |= 4 << 3
    assert parse_query(bytes(data)).opcode == 4
    data = bytearray(wire())
    data[2] |= 5 << 3
    with pytest.raises(WireError) as info:
        parse_query(bytes(data))
    assert info.value.rcode == NOTIMP and info.value.query is not None
    assert info.value.query.question == b""


@given(st.binary(max_size=300))
def test_parser_raises_only_wire_errors(data):
    try:
        query = parse_query(data)
    except WireError as exc:
        assert exc.rcode in (None, 1, 4)
    else:
        assert query.question_end <= len(data)


@given(st.from_regex(r"[a-zA-Z0-9-]{1,20}(\.[a-zA-Z0-9-]{1,20}){0,4}", fullmatch=True))
def test_parsed_name_matches_dnspython(name):
    data = wire(name)
    assert parse_query(data).name == dns.message.from_wire(data).question[0].name.to_text().lower()


def test_iter_records_finds_every_field_of_every_record() -> None:
    """Owner offset, type, class, TTL and its offset, rdata span: checked against dnspython's view."""
    query = dns.message.make_query("web.example.", "A", use_edns=0, payload=1232)
    reply = dns.message.make_response(query)
    reply.answer.append(dns.rrset.from_text("web.example.", 30, "IN", "A", "10.0.0.1", "10.0.0.2"))
    reply.authority.append(dns.rrset.from_text("example.", 60, "IN", "NS", "ns.example."))
    wire = reply.to_wire()
    start = 12 + len(b"\x03web\x07example\x00") + 4
    records = list(iter_records(wire, start, 4))
    assert [(r[1], r[2], r[3]) for r in records] == [
        (1, 1, 30),
        (1, 1, 30),
        (2, 1, 60),
        (41, reply.payload, 0),
    ]
    assert records[0][0] == start
    for (_, _, _, ttl, ttl_at, rdata, end), after in zip(
        records, [*records[1:], None], strict=True
    ):
        assert int.from_bytes(wire[ttl_at : ttl_at + 4], "big") == ttl
        assert int.from_bytes(wire[rdata - 2 : rdata], "big") == end - rdata
        assert end == (after[0] if after else len(wire))


def test_iter_records_stops_at_a_record_that_overruns() -> None:
    query = dns.message.make_query("web.example.", "A")
    reply = dns.message.make_response(query)
    reply.answer.append(dns.rrset.from_text("web.example.", 30, "IN", "A", "10.0.0.1"))
    wire = reply.to_wire()
    start = 12 + len(b"\x03web\x07example\x00") + 4
    with pytest.raises(WireError):
        list(iter_records(wire[:-1], start, 1))
    with pytest.raises(WireError):
        list(iter_records(wire, start, 2))
