"""plugins/plugin.py: the Request a plugin derives for another query keeps every field."""

from __future__ import annotations

import dns.message
import pytest

from clusterdns.dns.wire import parse_query
from clusterdns.plugins.plugin import Request

ORIGINAL = Request(
    parse_query(dns.message.make_query("web.default.svc.cluster.local.", "A").to_wire()),
    "udp",
    ("192.0.2.7", 40053),
    "dns://:53",
    "cluster.local.",
    12.5,
    "10.96.0.10",
)
OTHER = parse_query(dns.message.make_query("example.org.", "AAAA").to_wire())


@pytest.mark.parametrize(
    ("transport", "received"),
    [(None, None), ("tcp", None), (None, 99.0), ("tcp", 1.0)],
)
def test_with_query_keeps_every_field_but_the_query(
    transport: str | None, received: float | None
) -> None:
    """Every slot of Request is checked, so a field added later must be carried too."""
    derived = ORIGINAL.with_query(OTHER, transport=transport, received=received)
    expected: dict[str, object] = {"query": OTHER}
    if transport is not None:
        expected["transport"] = transport
    if received is not None:
        expected["received"] = received
    for slot in Request.__slots__:
        assert getattr(derived, slot) == expected.get(slot, getattr(ORIGINAL, slot)), slot
