"""dnstap messages: built from what a server saw, and read back into plain records.

Building uses the protobuf runtime with the dnstap schema (``dnstap_pb2``,
generated from ``dnstap.proto``).  Reading turns a serialized ``Dnstap`` into
a ``Record``: the message type, addresses, times, and, when the DNS message
is included (``full``), its ID, name, type and rcode.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass
from typing import Any

import dns.exception
import dns.name
import dns.rdatatype
from google.protobuf.message import DecodeError

from clusterdns.dnstap import dnstap_pb2

#: the generated module is untyped (protobuf ships no stubs): use it as Any
pb: Any = dnstap_pb2

CLIENT_QUERY = pb.Message.CLIENT_QUERY
CLIENT_RESPONSE = pb.Message.CLIENT_RESPONSE
FORWARDER_QUERY = pb.Message.FORWARDER_QUERY
FORWARDER_RESPONSE = pb.Message.FORWARDER_RESPONSE

#: the two-letter names of ``dnstap -q`` (golang-dnstap) and ``dnstap-ldns -q``
SHORT = {
    pb.Message.AUTH_QUERY: "AQ",
    pb.Message.AUTH_RESPONSE: "AR",
    pb.Message.RESOLVER_QUERY: "RQ",
    pb.Message.RESOLVER_RESPONSE: "RR",
    CLIENT_QUERY: "CQ",
    CLIENT_RESPONSE: "CR",
    FORWARDER_QUERY: "FQ",
    FORWARDER_RESPONSE: "FR",
    pb.Message.STUB_QUERY: "SQ",
    pb.Message.STUB_RESPONSE: "SR",
    pb.Message.TOOL_QUERY: "TQ",
    pb.Message.TOOL_RESPONSE: "TR",
    pb.Message.UPDATE_QUERY: "UQ",
    pb.Message.UPDATE_RESPONSE: "UR",
}
PROTOCOLS = {"udp": pb.UDP, "tcp": pb.TCP, "tls": pb.DOT}
PROTOCOL_NAMES = {value: name for name, value in pb.SocketProtocol.items()}
RCODE_NAMES = {
    0: "NOERROR",
    1: "FORMERR",
    2: "SERVFAIL",
    3: "NXDOMAIN",
    4: "NOTIMP",
    5: "REFUSED",
}


class MessageError(Exception):
    """A data frame that is not a dnstap message."""


def address_bytes(ip: str) -> tuple[int, bytes]:
    """(socket family, packed address) of a textual IP; IPv4-mapped IPv6 stays IPv6."""
    packed = ipaddress.ip_address(ip.split("%", 1)[0]).packed
    return (pb.INET6 if len(packed) == 16 else pb.INET), packed


def varint(value: int) -> bytes:
    if value < 0x80:
        return _SMALL[value]
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


_SMALL = [bytes((n,)) for n in range(0x80)]
_FIXED32 = struct.Struct("<I").pack

# Tags (field number << 3 | wire type) of dnstap.proto's Message fields: varint 0,
# length-delimited 2, fixed32 5.
_TYPE = b"\x08"
_FAMILY = b"\x10"
_PROTOCOL = b"\x18"
_QUERY_ADDRESS = b"\x22"
_RESPONSE_ADDRESS = b"\x2a"
_QUERY_PORT = b"\x30"
_RESPONSE_PORT = b"\x38"
_QUERY_TIME = b"\x40"  # query_time_sec, then b"\x4d" query_time_nsec
QUERY_MESSAGE = b"\x52"
_RESPONSE_TIME = b"\x60"  # response_time_sec, then b"\x6d" response_time_nsec
RESPONSE_MESSAGE = b"\x72"


class Encoder:
    """Serialized ``Dnstap`` payloads for one sender (identity, version and extra fixed).

    This is the dnstap plugin's hot loop, so it writes the protobuf wire format
    itself: the outer ``Dnstap`` fields never change and are serialized once by
    the protobuf runtime; the ``Message`` fields are written in field-number
    order, byte for byte what the runtime writes (tests/tap/test_encoder.py
    compares the two), at about a fifth of the runtime's cost.  The fields
    that describe the endpoints (type, family, protocol, addresses, ports) are
    the same for every message of one client socket, so they are written once
    per distinct endpoint pair (a bounded cache).
    """

    MAX_HEADS = 4096

    def __init__(self, identity: bytes = b"", version: bytes = b"", extra: bytes = b"") -> None:
        outer = pb.Dnstap()
        if identity:
            outer.identity = identity
        if version:
            outer.version = version
        if extra:
            outer.extra = extra
        #: the outer fields before ``message`` (14) and after it (``type``, 15), so the
        #: payload has the runtime's field order
        self.prefix: bytes = outer.SerializePartialToString() + b"\x72"
        self.suffix: bytes = b"\x78" + varint(pb.Dnstap.MESSAGE)
        self.heads: dict[tuple[Any, ...], bytes] = {}
        self._second = -1
        self._stamps = (b"", b"")

    def head(
        self,
        kind: int,
        protocol: str,
        query_address: tuple[str, int] | None,
        response_address: tuple[str, int] | None,
    ) -> bytes:
        """Fields 1-7 of a Message: type, family, protocol, addresses and ports."""
        key = (kind, protocol, query_address, response_address)
        known = self.heads.get(key)
        if known is None:
            if len(self.heads) >= self.MAX_HEADS:
                self.heads.clear()
            known = self.heads[key] = _head(kind, protocol, query_address, response_address)
        return known

    def time(self, response: int, ns: int) -> bytes:
        """The ``*_time_sec`` and ``*_time_nsec`` fields: query times (``response`` 0) or
        response times (1)."""
        sec, nsec = divmod(ns, 1_000_000_000)
        if sec != self._second:  # the seconds' varint is the same for a second's messages
            self._second = sec
            value = varint(sec)
            self._stamps = (_QUERY_TIME + value + b"\x4d", _RESPONSE_TIME + value + b"\x6d")
        return self._stamps[response] + _FIXED32(nsec)

    def encode(
        self,
        kind: int,
        protocol: str,
        query_address: tuple[str, int] | None,
        response_address: tuple[str, int] | None,
        query_ns: int,
        response_ns: int | None = None,
        query_message: bytes | None = None,
        response_message: bytes | None = None,
    ) -> bytes:
        """One payload.  For CLIENT_* messages the query address is the client and the
        response address the server; for FORWARDER_* the query address is our side and the
        response address the upstream (CoreDNS's plugin/forward/dnstap.go)."""
        parts = [self.head(kind, protocol, query_address, response_address), self.time(0, query_ns)]
        if query_message is not None:
            parts += (QUERY_MESSAGE, varint(len(query_message)), query_message)
        if response_ns is not None:
            parts.append(self.time(1, response_ns))
        if response_message is not None:
            parts += (RESPONSE_MESSAGE, varint(len(response_message)), response_message)
        inner = b"".join(parts)
        return b"".join((self.prefix, varint(len(inner)), inner, self.suffix))


def _head(
    kind: int,
    protocol: str,
    query_address: tuple[str, int] | None,
    response_address: tuple[str, int] | None,
) -> bytes:
    family = 0
    fields = [_TYPE, varint(kind)]
    addresses: list[bytes] = []
    ports: list[bytes] = []
    for tag, port_tag, address in (
        (_QUERY_ADDRESS, _QUERY_PORT, query_address),
        (_RESPONSE_ADDRESS, _RESPONSE_PORT, response_address),
    ):
        if address is not None and address[0]:
            family, packed = address_bytes(address[0])
            addresses += (tag, varint(len(packed)), packed)
            ports += (port_tag, varint(address[1]))
    if family:
        fields += (_FAMILY, varint(family))
    fields += (_PROTOCOL, varint(PROTOCOLS.get(protocol, pb.UDP)))
    return b"".join(fields + addresses + ports)


def build(
    kind: int,
    identity: bytes,
    version: bytes,
    extra: bytes,
    protocol: str,
    query_address: tuple[str, int] | None,
    response_address: tuple[str, int] | None,
    query_ns: int,
    response_ns: int | None = None,
    query_message: bytes | None = None,
    response_message: bytes | None = None,
) -> bytes:
    """One serialized ``Dnstap`` frame payload (an ``Encoder`` for a single message)."""
    return Encoder(identity, version, extra).encode(
        kind=kind,
        protocol=protocol,
        query_address=query_address,
        response_address=response_address,
        query_ns=query_ns,
        response_ns=response_ns,
        query_message=query_message,
        response_message=response_message,
    )


@dataclass(frozen=True, slots=True)
class Record:
    """One dnstap message, decoded."""

    type: str  # CLIENT_QUERY, ...
    identity: str
    version: str
    protocol: str  # UDP, TCP, DOT, ...
    query_address: str
    query_port: int
    response_address: str
    response_port: int
    query_ns: int | None
    response_ns: int | None
    message: bytes  # the DNS message: query_message for queries, response_message for responses
    #: from the DNS message when it is included; None without ``full``
    id: int | None = None
    name: str | None = None
    qtype: int | None = None
    rcode: int | None = None

    @property
    def short(self) -> str:
        return SHORT.get(pb.Message.Type.Value(self.type), "??")

    @property
    def is_query(self) -> bool:
        return self.type.endswith("_QUERY")

    @property
    def time_ns(self) -> int:
        """When this message was seen: the query time of a query, the response time of a response."""
        when = self.query_ns if self.is_query else self.response_ns
        return when if when is not None else (self.query_ns or self.response_ns or 0)

    @property
    def type_text(self) -> str:
        return (
            dns.rdatatype.to_text(dns.rdatatype.RdataType(self.qtype))
            if self.qtype is not None
            else "?"
        )

    @property
    def rcode_text(self) -> str:
        if self.rcode is None:
            return "?"
        return RCODE_NAMES.get(self.rcode, f"RCODE{self.rcode}")

    @property
    def client(self) -> str:
        """The client of a CLIENT_* message, the upstream of a FORWARDER_* one."""
        if self.type.startswith("FORWARDER"):
            return self.response_address
        return self.query_address


def _ip(packed: bytes) -> str:
    if len(packed) in (4, 16):
        return str(ipaddress.ip_address(packed))
    return packed.hex() if packed else ""


def _time(sec: int, nsec: int, present: bool) -> int | None:
    return sec * 1_000_000_000 + nsec if present else None


def parse(payload: bytes) -> Record:
    """A frame payload as a Record; MessageError when it is not a dnstap message."""
    frame = pb.Dnstap()
    try:
        frame.ParseFromString(payload)
    except DecodeError as exc:
        raise MessageError(f"not a dnstap message: {exc}") from None
    if not frame.HasField("message"):
        raise MessageError("dnstap frame without a message")
    m = frame.message
    kind = pb.Message.Type.Name(m.type)
    wire = m.query_message if kind.endswith("_QUERY") else m.response_message
    if not wire:
        wire = m.response_message or m.query_message
    ident, name, qtype, rcode = _dns_fields(wire)
    return Record(
        type=kind,
        identity=frame.identity.decode("utf-8", "replace"),
        version=frame.version.decode("utf-8", "replace"),
        protocol=PROTOCOL_NAMES.get(m.socket_protocol, "?")
        if m.HasField("socket_protocol")
        else "?",
        query_address=_ip(m.query_address),
        query_port=m.query_port,
        response_address=_ip(m.response_address),
        response_port=m.response_port,
        query_ns=_time(m.query_time_sec, m.query_time_nsec, m.HasField("query_time_sec")),
        response_ns=_time(
            m.response_time_sec, m.response_time_nsec, m.HasField("response_time_sec")
        ),
        message=wire,
        id=ident,
        name=name,
        qtype=qtype,
        rcode=rcode,
    )


def _dns_fields(wire: bytes) -> tuple[int | None, str | None, int | None, int | None]:
    """ID, question name (lower-cased), type and rcode of a DNS message; None where unreadable."""
    if len(wire) < 12:
        return None, None, None, None
    ident, flags, qdcount = struct.unpack_from(">HHH", wire)
    rcode = flags & 0xF
    if not qdcount:
        return ident, None, None, rcode
    try:
        name, used = dns.name.from_wire(wire, 12)
    except dns.exception.DNSException:
        return ident, None, None, rcode
    end = 12 + used
    qtype = struct.unpack_from(">H", wire, end)[0] if len(wire) >= end + 2 else None
    return ident, name.to_text().lower(), qtype, rcode
