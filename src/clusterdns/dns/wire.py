"""Reading a DNS query straight from its wire bytes (RFC 1035 section 4, RFC 6891).

The server parses every query it does not already know with ``parse_query``;
nothing here allocates a dnspython object.  A malformed query becomes a
``WireError`` saying whether the header could be read (then the server answers
``rcode``) or not (then it drops the packet silently).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

# Header flag bits (RFC 1035 4.1.1, RFC 4035 3.2).
QR = 0x8000
OPCODE_MASK = 0x7800
AA = 0x0400
TC = 0x0200
RD = 0x0100
RA = 0x0080
AD = 0x0020
CD = 0x0010

NOERROR, FORMERR, SERVFAIL, NXDOMAIN, NOTIMP, REFUSED = 0, 1, 2, 3, 4, 5
BADVERS = 16  # extended rcode, carried in the OPT record (RFC 6891 6.1.3)

TYPE_A, TYPE_NS, TYPE_CNAME, TYPE_SOA, TYPE_PTR = 1, 2, 5, 6, 12
TYPE_TXT, TYPE_AAAA, TYPE_SRV, TYPE_OPT, TYPE_ANY = 16, 28, 33, 41, 255
TYPE_AXFR, TYPE_IXFR = 252, 251
CLASS_IN, CLASS_CH = 1, 3

OPCODE_QUERY, OPCODE_NOTIFY = 0, 4
Z = 0x0040  # the reserved header bit (RFC 1035 4.1.1)

# EDNS options a reply carries back as the query sent them, as CoreDNS's request
# SizeAndDo does (request/edns0.go): NSID, EXPIRE, COOKIE, TCP-KEEPALIVE, PADDING.
ECHOED_OPTIONS = frozenset((3, 9, 10, 11, 12))

MIN_UDP_SIZE = 512  # RFC 1035 4.2.1; also the floor for a smaller EDNS size (RFC 6891 6.2.5)
MAX_NAME_LENGTH = 255
MAX_LABEL_LENGTH = 63

#: ID, flags, QDCOUNT, ANCOUNT, NSCOUNT, ARCOUNT (RFC 1035 4.1.1)
HEADER = struct.Struct(">HHHHHH")
#: TYPE, CLASS, TTL, RDLENGTH: what follows a record's owner name (RFC 1035 4.1.3)
RR_FIXED = struct.Struct(">HHIH")
_TYPE_CLASS = struct.Struct(">HH")
_OPTION = struct.Struct(">HH")


class WireError(Exception):
    """The peer sent bytes we will not serve.

    ``rcode`` is the answer to send, or ``None`` when the packet must be
    dropped (the header itself is unreadable, or it is a response).
    ``reason`` is the metric label: what was wrong.
    """

    def __init__(self, reason: str, rcode: int | None, query: Query | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.rcode = rcode
        self.query = query


class Query:
    """One query as read off the wire.

    ``qname`` is the question name's wire bytes exactly as sent (0x20 case
    kept); ``name`` is its lower-cased text form, absolute (``web.default.svc.cluster.local.``).
    """

    __slots__ = (
        "data",
        "id",
        "flags",
        "qname",
        "name",
        "qtype",
        "qclass",
        "question_end",
        "edns",
        "edns_version",
        "udp_size",
        "do",
        "opt_options",
    )

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.id = 0
        self.flags = 0
        self.qname = b""
        self.name = "."
        self.qtype = 0
        self.qclass = 0
        self.question_end = 12
        self.edns = False
        self.edns_version = 0
        self.udp_size = MIN_UDP_SIZE
        self.do = False
        #: the query's EDNS options that a reply echoes (``ECHOED_OPTIONS``), as wire bytes
        self.opt_options = b""

    @property
    def opcode(self) -> int:
        return (self.flags & OPCODE_MASK) >> 11

    @property
    def question(self) -> bytes:
        """The question section exactly as the client sent it."""
        return self.data[12 : self.question_end]

    def max_udp_payload(self) -> int:
        """The largest UDP reply this client accepts (RFC 6891 6.2.3/6.2.5)."""
        if not self.edns:
            return MIN_UDP_SIZE
        return max(MIN_UDP_SIZE, self.udp_size)


def read_name(data: bytes, offset: int) -> tuple[bytes, int]:
    """Read an uncompressed name at ``offset``: its wire bytes and the offset after it.

    Questions never need compression (a pointer there can only point back into
    the header or into the same name), so one is a format error.
    """
    start = offset
    end = len(data)
    while True:
        if offset >= end:
            raise WireError("truncated name", FORMERR)
        length = data[offset]
        if length == 0:
            offset += 1
            break
        if length > MAX_LABEL_LENGTH:
            raise WireError("compression or extended label in question", FORMERR)
        offset += 1 + length
        if offset - start > MAX_NAME_LENGTH:
            raise WireError("name too long", FORMERR)
    return data[start:offset], offset


def skip_name(data: bytes, offset: int) -> int:
    """Skip a possibly compressed name in a record; return the offset after it."""
    end = len(data)
    labels = 0
    while True:
        if offset >= end:
            raise WireError("truncated name", FORMERR)
        length = data[offset]
        if length == 0:
            return offset + 1
        if length & 0xC0 == 0xC0:
            if offset + 2 > end:
                raise WireError("truncated pointer", FORMERR)
            return offset + 2  # the pointer ends the name where it stands
        if length & 0xC0:
            raise WireError("unknown label type", FORMERR)
        offset += 1 + length
        labels += 1
        if labels > 127:
            raise WireError("too many labels", FORMERR)


RR = tuple[int, int, int, int, int, int, int]
"""One resource record as ``iter_records`` finds it (RFC 1035 4.1.3), in this order:
owner (offset of the owner name, possibly a compression pointer), type, class, TTL,
ttl_at (offset of the four TTL bytes), rdata (offset of the rdata), end (offset after
the rdata: the next record's owner).  A plain tuple: the hot paths unpack it, and a
NamedTuple costs twice the walk."""


def iter_records(wire: bytes, offset: int, count: int, query: Query | None = None) -> Iterator[RR]:
    """The ``count`` records from ``offset`` on, in order: the one walker of record sections.

    Raises ``WireError`` (FORMERR) at the first record that runs past the end of
    ``wire``, carrying ``query`` (the query being parsed, if any); the records
    before it have been yielded.
    """
    end = len(wire)
    unpack = RR_FIXED.unpack_from
    for _ in range(count):
        owner = offset
        if offset < end and wire[offset] >= 0xC0:
            offset += 2  # a lone compression pointer, the usual owner in a reply
        else:
            offset = skip_name(wire, offset)
        if offset + 10 > end:
            raise WireError("truncated record", FORMERR, query)
        rtype, rclass, ttl, rdlength = unpack(wire, offset)
        rdata = offset + 10
        offset = rdata + rdlength
        if offset > end:
            raise WireError("truncated rdata", FORMERR, query)
        yield owner, rtype, rclass, ttl, rdata - 6, rdata, offset


def name_to_text(wire: bytes) -> str:
    """Lower-cased absolute text form of an uncompressed wire name.

    Bytes outside printable ASCII and the characters ``.`` and ``\\`` are
    escaped as RFC 1035 5.1 zone-file text does, so a name with a dot inside a
    label cannot be confused with two labels.
    """
    labels = []
    offset = 0
    while True:
        length = wire[offset]
        if length == 0:
            break
        label = wire[offset + 1 : offset + 1 + length]
        offset += 1 + length
        if label.isalnum() or _plain(label):
            labels.append(label.decode("ascii").lower())
        else:
            labels.append(_escape_label(label.lower()))
    return ".".join(labels) + "." if labels else "."


def _plain(label: bytes) -> bool:
    for byte in label:
        if byte <= 0x20 or byte >= 0x7F or byte in (0x2E, 0x5C, 0x22, 0x28, 0x29, 0x3B, 0x40, 0x24):
            return False
    return True


def _escape_label(label: bytes) -> str:
    out = []
    for byte in label:
        if 0x20 < byte < 0x7F and byte not in (0x2E, 0x5C, 0x22, 0x28, 0x29, 0x3B, 0x40, 0x24):
            out.append(chr(byte))
        elif byte in (0x2E, 0x5C, 0x22, 0x28, 0x29, 0x3B, 0x40, 0x24):
            out.append("\\" + chr(byte))
        else:
            out.append(f"\\{byte:03d}")
    return "".join(out)


def text_to_wire(name: str) -> bytes:
    """Wire form of a plain absolute or relative text name (no escapes)."""
    name = name.rstrip(".")
    if not name:
        return b"\x00"
    return b"".join(bytes([len(p)]) + p.encode("ascii") for p in name.split(".")) + b"\x00"


def parse_header(data: bytes) -> tuple[int, int, int, int, int, int]:
    """id, flags, qdcount, ancount, nscount, arcount; WireError(drop) when short."""
    if len(data) < 12:
        raise WireError("short header", None)
    return HEADER.unpack_from(data)


def parse_query(data: bytes) -> Query:
    """Parse a query; raise ``WireError`` carrying the rcode to answer, or None to drop.

    The header is judged first, as miekg/dns's DefaultMsgAcceptFunc does for
    CoreDNS: a response is dropped; an opcode other than QUERY or NOTIFY gets
    NOTIMP; a question count other than 1, more than one answer or authority
    record, or more than two additional records get FORMERR.  Those replies
    carry the header alone.
    """
    qid, flags, qdcount, ancount, nscount, arcount = parse_header(data)
    if flags & QR:
        raise WireError("response received as query", None)
    query = Query(data)
    query.id = qid
    query.flags = flags
    if query.opcode not in (OPCODE_QUERY, OPCODE_NOTIFY):
        raise WireError("opcode not query", NOTIMP, query)
    if qdcount != 1:
        raise WireError("qdcount not 1", FORMERR, query)
    if ancount > 1 or nscount > 1 or arcount > 2:
        raise WireError("too many records", FORMERR, query)
    query.qname, offset = read_name(data, 12)
    if offset + 4 > len(data):
        raise WireError("truncated question", FORMERR, query)
    query.qtype, query.qclass = _TYPE_CLASS.unpack_from(data, offset)
    offset += 4
    query.question_end = offset
    query.name = name_to_text(query.qname)
    if ancount or nscount or arcount:
        _read_records(data, offset, ancount + nscount, arcount, query)
    return query


def _read_records(data: bytes, offset: int, skipped: int, additional: int, query: Query) -> None:
    """Walk the records after the question; the OPT record (RFC 6891 6.1.1) fills EDNS fields."""
    # The walk of iter_records, written out: this runs for every query the memo does not know,
    # and the generator costs this path a tenth of its time.
    end = len(data)
    for index in range(skipped + additional):
        owner = offset
        offset = skip_name(data, offset)
        if offset + 10 > end:
            raise WireError("truncated record", FORMERR, query)
        rtype, rclass, ttl, rdlength = RR_FIXED.unpack_from(data, offset)
        rdata = offset + 10
        offset = rdata + rdlength
        if offset > end:
            raise WireError("truncated rdata", FORMERR, query)
        if rtype != TYPE_OPT:
            continue
        if index < skipped or query.edns or data[owner] != 0:
            # RFC 6891 6.1.1: one OPT, owned by the root, in the additional section.
            raise WireError("misplaced or repeated OPT", FORMERR, query)
        query.edns = True
        query.udp_size = rclass
        query.edns_version = (ttl >> 16) & 0xFF
        query.do = bool(ttl & 0x8000)
        if rdlength:
            query.opt_options = _echoed_options(data, rdata, offset)


def _echoed_options(data: bytes, start: int, end: int) -> bytes:
    """The options of an OPT rdata (RFC 6891 6.1.2) that a reply echoes, as wire bytes."""
    kept = []
    while start + 4 <= end:
        code, length = _OPTION.unpack_from(data, start)
        stop = start + 4 + length
        if stop > end:
            break  # a malformed option: echo nothing more
        if code in ECHOED_OPTIONS:
            kept.append(data[start:stop])
        start = stop
    return b"".join(kept)
