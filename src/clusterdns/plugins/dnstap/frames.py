"""Queued taps to Frame Streams data frames: the dnstap plugin's hot loop.

Every query a tapped block answers from the memo becomes two dnstap messages,
CLIENT_QUERY and CLIENT_RESPONSE, and at 150 000 queries a second this loop
is what the plugin costs.  Two messages of one exchange differ from the next
exchange's only in the client port, the times and the DNS messages, so for
each (protocol, client address, server address, message sizes) the constant
runs of bytes around those are built once (``_Template``) and an exchange is
fifteen slices joined.  Everything else (forward's messages, a query and its
reply tapped apart, a client port below 16 384, an exchange across a second
boundary) goes through ``tap.message.Encoder``.  tests/tap/test_encoder.py
compares both paths byte for byte with the protobuf runtime.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from clusterdns.dnstap.framestream import length
from clusterdns.dnstap.message import (
    CLIENT_QUERY,
    CLIENT_RESPONSE,
    FORWARDER_QUERY,
    QUERY_MESSAGE,
    RESPONSE_MESSAGE,
    Encoder,
    varint,
)

#: a queued memo hit: CLIENT_QUERY and CLIENT_RESPONSE from one set of facts
EXCHANGE = -1

_NSEC = struct.Struct("<I").pack  # query_time_nsec / response_time_nsec are fixed32
_WIDE_PORT = 1 << 14  # ports from here on are 3-byte varints, the template's width
_PORT_FIELD = b"\x30"  # query_port, field 6
_QUERY_TIME = b"\x40"
_QUERY_NSEC = b"\x4d"
_RESPONSE_TIME = b"\x60"
_RESPONSE_NSEC = b"\x6d"

#: The facts of a CLIENT_* item: (query bytes, reply bytes or None, client address,
#: "udp"/"tcp", local address, received, replied or None), times on perf_counter's clock.
#: Of a FORWARDER_* item: (query bytes, reply bytes or None, upstream address, protocol,
#: sent, answered or None).
Facts = tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class _Template:
    """The constant runs of one exchange's two frames, for one second of query time.

    The frames are: ``a`` PORT ``b`` NSEC ``c`` QUERY ``d`` PORT ``e`` NSEC
    ``f`` NSEC ``g`` REPLY ``h`` (``c`` and ``g`` empty, and QUERY and REPLY
    left out, without ``full``).
    """

    second: int
    a: bytes
    b: bytes
    c: bytes
    d: bytes
    e: bytes
    f: bytes
    g: bytes
    h: bytes


class FrameWriter:
    """One output's encoder: queued items in, one buffer of data frames out."""

    MAX_TEMPLATES = 4096

    def __init__(self, encoder: Encoder, full: bool, server_port: int) -> None:
        self.encoder = encoder
        self.full = full
        self.server_port = server_port
        self.templates: dict[tuple[Any, ...], _Template] = {}
        self.ports = [varint(port) for port in range(1 << 16)]
        wall_ns, perf = time.time_ns(), time.perf_counter()
        self.set_clock(wall_ns // 1_000_000_000, (wall_ns % 1_000_000_000) / 1e9 - perf)

    def set_clock(self, base: int, fraction: float) -> None:
        """perf_counter time ``t`` is ``base + t + fraction`` seconds since the epoch.

        The small float keeps nanoseconds exact where one float of epoch
        seconds would round them to a quarter of a microsecond.
        """
        self.base = base
        self.fraction = fraction

    def wall(self, t: float) -> tuple[int, int]:
        """(seconds, nanoseconds) since the epoch of a perf_counter time."""
        x = t + self.fraction
        second = int(x)
        return self.base + second, int((x - second) * 1e9)

    def frames(self, items: Iterable[tuple[int, Facts]]) -> bytes:
        parts: list[bytes] = []
        add = parts.extend
        templates = self.templates
        ports = self.ports
        full = self.full
        fraction = self.fraction
        for kind, facts in items:
            if kind != EXCHANGE:
                add(self._slow(kind, facts))
                continue
            query, reply, client, transport, local, received, replied = facts
            port = client[1]
            x = received + fraction
            second = int(x)
            y = replied + fraction
            if int(y) != second or port < _WIDE_PORT:
                add(self._slow(CLIENT_QUERY, facts))
                add(self._slow(CLIENT_RESPONSE, facts))
                continue
            key = (transport, client[0], local, len(query), len(reply)) if full else (
                transport, client[0], local)  # fmt: skip
            t = templates.get(key)
            if t is None or t.second != second:
                t = self._template(key, facts, second)
            pv = ports[port]
            nq = _NSEC(int((x - second) * 1e9))
            if full:
                nr = _NSEC(int((y - second) * 1e9))
                add((t.a, pv, t.b, nq, t.c, query, t.d, pv, t.e, nq, t.f, nr, t.g, reply, t.h))
            else:
                add((t.a, pv, t.b, nq, t.d, pv, t.e, nq, t.f, _NSEC(int((y - second) * 1e9)), t.h))
        return b"".join(parts)

    def _template(self, key: tuple[Any, ...], facts: Facts, second: int) -> _Template:
        """The template of ``key`` for query times in ``second`` (since ``base``)."""
        query, reply, client, transport, local = facts[:5]
        encoder = self.encoder
        prefix, suffix = encoder.prefix, encoder.suffix
        sample = (client[0], _WIDE_PORT)
        server = (local, self.server_port)
        head_q = encoder.head(CLIENT_QUERY, transport, sample, server)
        head_r = encoder.head(CLIENT_RESPONSE, transport, sample, server)
        # both heads end with query_port (tag, 3-byte varint), then response_port
        tail = head_q[head_q.rindex(_PORT_FIELD + self.ports[_WIDE_PORT]) + 1 :]
        after_port = tail[3:]
        seconds = varint(self.base + second)
        query_stamp = _QUERY_TIME + seconds + _QUERY_NSEC
        response_stamp = _RESPONSE_TIME + seconds + _RESPONSE_NSEC
        c = g = b""
        if self.full:
            c = QUERY_MESSAGE + varint(len(query))
            g = RESPONSE_MESSAGE + varint(len(reply))
        size_q = len(head_q) + len(query_stamp) + 4 + len(c) + (len(query) if self.full else 0)
        size_r = (
            len(head_r) + len(query_stamp) + 4 + len(response_stamp) + 4 + len(g)
            + (len(reply) if self.full else 0)
        )  # fmt: skip
        inner_q, inner_r = varint(size_q), varint(size_r)
        template = _Template(
            second=second,
            a=length(len(prefix) + len(inner_q) + size_q + len(suffix))
            + prefix
            + inner_q
            + head_q[: len(head_q) - len(tail)],
            b=after_port + query_stamp,
            c=c,
            d=suffix
            + length(len(prefix) + len(inner_r) + size_r + len(suffix))
            + prefix
            + inner_r
            + head_r[: len(head_r) - len(tail)],
            e=after_port + query_stamp,
            f=response_stamp,
            g=g,
            h=suffix,
        )
        if len(self.templates) >= self.MAX_TEMPLATES:
            self.templates.clear()
        self.templates[key] = template
        return template

    def _slow(self, kind: int, facts: Facts) -> tuple[bytes, bytes]:
        """One message through the general encoder, as (frame length, payload)."""
        payload = self.payload(kind, facts)
        return length(len(payload)), payload

    def payload(self, kind: int, facts: Facts) -> bytes:
        full = self.full
        if kind in (CLIENT_QUERY, CLIENT_RESPONSE):
            query, reply, client, transport, local, sent, answered = facts
            query_address: tuple[str, int] | None = client
            response_address = (local, self.server_port)
        else:  # FORWARDER_*: our side is not recorded, the upstream is the response address
            query, reply, response_address, transport, sent, answered = facts
            query_address = None
        sent_ns = _ns(self.wall(sent))
        if kind in (CLIENT_QUERY, FORWARDER_QUERY):
            return self.encoder.encode(
                kind, transport, query_address, response_address, sent_ns, None,
                query if full else None,
            )  # fmt: skip
        return self.encoder.encode(
            kind, transport, query_address, response_address, sent_ns,
            _ns(self.wall(answered)), None, reply if full else None,
        )  # fmt: skip


def _ns(wall: tuple[int, int]) -> int:
    return wall[0] * 1_000_000_000 + wall[1]
