"""The dnstap plugin's hand-written Message writer against the protobuf runtime.

``Encoder`` writes the wire format itself for speed; every payload must be
byte for byte what the protobuf runtime serializes from the same fields with
the published dnstap schema, and must read back to the same values.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from clusterdns.dnstap import dnstap_pb2
from clusterdns.dnstap.framestream import Decoder
from clusterdns.dnstap.message import (
    CLIENT_QUERY,
    CLIENT_RESPONSE,
    FORWARDER_QUERY,
    FORWARDER_RESPONSE,
    PROTOCOLS,
    Encoder,
    address_bytes,
    parse,
)
from clusterdns.plugins.dnstap.frames import EXCHANGE, FrameWriter

pb: Any = dnstap_pb2


def runtime_payload(
    identity: bytes,
    version: bytes,
    extra: bytes,
    kind: int,
    protocol: str,
    query_address: tuple[str, int] | None,
    response_address: tuple[str, int] | None,
    query_ns: int,
    response_ns: int | None,
    query_message: bytes | None,
    response_message: bytes | None,
) -> bytes:
    """The same message built field by field with the protobuf runtime."""
    frame = pb.Dnstap()
    if identity:
        frame.identity = identity
    if version:
        frame.version = version
    if extra:
        frame.extra = extra
    frame.type = pb.Dnstap.MESSAGE
    m = frame.message
    m.type = kind
    m.socket_protocol = PROTOCOLS[protocol]
    if query_address is not None:
        m.socket_family, m.query_address = address_bytes(query_address[0])
        m.query_port = query_address[1]
    if response_address is not None:
        m.socket_family, m.response_address = address_bytes(response_address[0])
        m.response_port = response_address[1]
    m.query_time_sec, m.query_time_nsec = divmod(query_ns, 1_000_000_000)
    if response_ns is not None:
        m.response_time_sec, m.response_time_nsec = divmod(response_ns, 1_000_000_000)
    if query_message is not None:
        m.query_message = query_message
    if response_message is not None:
        m.response_message = response_message
    return bytes(frame.SerializeToString())


ADDRESSES = ["127.0.0.1", "10.244.1.7", "0.0.0.0", "::1", "fd00:10:96::a", "2001:db8::1"]


def random_case(rng: random.Random) -> tuple[Any, ...]:
    kind = rng.choice([CLIENT_QUERY, CLIENT_RESPONSE, FORWARDER_QUERY, FORWARDER_RESPONSE])
    client = kind in (CLIENT_QUERY, CLIENT_RESPONSE)
    v6 = rng.random() < 0.3
    pool = [a for a in ADDRESSES if (":" in a) == v6]
    query_address = (
        (rng.choice(pool), rng.choice([0, 53, 127, 128, 40000, 65535])) if client else None
    )
    response_address = (rng.choice(pool), rng.choice([53, 1053, 5353]))
    query_ns = rng.choice([0, 999_999_999, 1_000_000_000, rng.randrange(1 << 62)])
    response = kind in (CLIENT_RESPONSE, FORWARDER_RESPONSE)
    response_ns = query_ns + rng.randrange(10**10) if response else None
    size = rng.choice([0, 1, 127, 128, 300, 16384])
    wire = rng.randbytes(size) if rng.random() < 0.7 else None
    return (
        kind,
        rng.choice(sorted(PROTOCOLS)),
        query_address,
        response_address,
        query_ns,
        response_ns,
        None if response else wire,
        wire if response else None,
    )


@pytest.mark.parametrize(
    ("identity", "version", "extra"),
    [(b"", b"", b""), (b"node-1", b"clusterdns 0.1", b""), (b"x" * 200, b"", b"extra")],
)
def test_payloads_are_the_runtimes_bytes(identity: bytes, version: bytes, extra: bytes) -> None:
    rng = random.Random(11)
    encoder = Encoder(identity, version, extra)
    for _ in range(400):
        case = random_case(rng)
        assert encoder.encode(*case) == runtime_payload(identity, version, extra, *case), case


def test_a_payload_reads_back_to_its_fields() -> None:
    encoder = Encoder(b"id", b"v", b"")
    payload = encoder.encode(
        CLIENT_RESPONSE, "tcp", ("10.244.1.7", 41000), ("10.96.0.10", 53), 5_000_000_001,
        5_000_300_002, None, b"\x12\x34\x81\x83" + b"\x00" * 8,
    )  # fmt: skip
    record = parse(payload)
    assert (record.type, record.protocol) == ("CLIENT_RESPONSE", "TCP")
    assert (record.query_address, record.query_port) == ("10.244.1.7", 41000)
    assert (record.response_address, record.response_port) == ("10.96.0.10", 53)
    assert (record.query_ns, record.response_ns) == (5_000_000_001, 5_000_300_002)
    assert (record.id, record.rcode) == (0x1234, 3)


def test_the_endpoint_cache_is_bounded() -> None:
    encoder = Encoder()
    for port in range(Encoder.MAX_HEADS * 2 + 5):
        encoder.encode(CLIENT_QUERY, "udp", ("10.0.0.1", port), ("10.96.0.10", 53), 1)
    assert len(encoder.heads) <= Encoder.MAX_HEADS


def test_the_plugins_frame_writer_matches_the_runtime() -> None:
    """dnstap's FrameWriter (templates for memo-hit exchanges, the encoder for the rest)
    against the runtime: every kind, full or not, IPv4 and IPv6, short and long messages,
    low and high ports, an exchange across a second boundary, templates reused."""
    rng = random.Random(7)
    for full in (True, False):
        writer = FrameWriter(Encoder(b"", b"v1", b""), full, 53)
        writer.set_clock(1_700_000_000, 0.25)
        items: list[tuple[int, Any]] = []
        expected: list[tuple[Any, ...]] = []
        for n in range(600):
            client = (
                rng.choice(ADDRESSES[:2] + ADDRESSES[3:5]),
                rng.choice([9, 300, 16384, 40000, 65535]),
            )
            local = "::1" if ":" in client[0] else "10.96.0.10"
            query = rng.randbytes(rng.choice([17, 40, 200]))
            reply = rng.randbytes(rng.choice([17, 60, 130, 900]))
            # times in binary fractions of a second, exact as floats; some replies cross a second
            sent = 100 + n / 64 + rng.choice([0.0, 0.75 - 1 / 512])
            answered = sent + rng.choice([0.0, 1 / 512, 0.25])
            at = 1_700_000_000 * 10**9 + round((sent + 0.25) * 1e9)
            done = 1_700_000_000 * 10**9 + round((answered + 0.25) * 1e9)
            kind = rng.choice([EXCHANGE, EXCHANGE, EXCHANGE, CLIENT_QUERY, CLIENT_RESPONSE])
            facts = (query, reply, client, rng.choice(["udp", "tcp"]), local, sent, answered)
            items.append((kind, facts))
            if kind in (EXCHANGE, CLIENT_QUERY):
                expected.append(
                    (CLIENT_QUERY, facts[3], client, (local, 53), at, None, query, None)
                )
            if kind in (EXCHANGE, CLIENT_RESPONSE):
                expected.append(
                    (CLIENT_RESPONSE, facts[3], client, (local, 53), at, done, None, reply)
                )
        forward = (b"q" * 20, b"r" * 30, ("127.0.0.1", 1053), "tcp", 13.0, 13.125)
        items += [(FORWARDER_QUERY, forward), (FORWARDER_RESPONSE, forward)]
        start = 1_700_000_000 * 10**9 + 13_250_000_000
        expected += [
            (FORWARDER_QUERY, "tcp", None, ("127.0.0.1", 1053), start, None, b"q" * 20, None),
            (FORWARDER_RESPONSE, "tcp", None, ("127.0.0.1", 1053), start, start + 125_000_000, None, b"r" * 30),
        ]  # fmt: skip
        got = [frame.payload for frame in Decoder().feed(writer.frames(items))]  # type: ignore[union-attr]
        assert len(got) == len(expected)
        for case, payload in zip(expected, got, strict=True):
            if not full:
                case = (*case[:6], None, None)
            assert payload == runtime_payload(b"", b"v1", b"", *case), case
        assert writer.templates, "memo-hit exchanges went through templates"
