"""The query-log line: placeholders, the format plan, and reading the reply header.

CoreDNS's ``plugin/pkg/replacer`` splits a format into literals and
placeholders once and fills the placeholders per query; this module does the
same: ``compile_format`` turns the format text into a tuple of small functions
at setup, ``render`` joins their outputs per query.  The reply is read straight
from its wire bytes (header flags, rcode, and for response classes the section
counts and authority types): no dnspython per query.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from decimal import Decimal

from clusterdns.dns.codes import RCODE_NAMES, class_text, type_text
from clusterdns.dns.wire import (
    AA,
    AD,
    CD,
    HEADER,
    OPCODE_MASK,
    QR,
    RA,
    RD,
    TC,
    TYPE_AXFR,
    TYPE_IXFR,
    TYPE_NS,
    TYPE_SOA,
    WireError,
    iter_records,
    skip_name,
)
from clusterdns.plugins.plugin import Reply, Request

EMPTY = "-"  # CoreDNS replacer.EmptyValue

# plugin/log/log.go: CommonLogFormat and CombinedLogFormat.
COMMON_FORMAT = (
    '{remote}:{port} - {>id} "{type} {class} {name} {proto} {size} {>do} {>bufsize}" '
    "{rcode} {>rflags} {rsize} {duration}"
)
COMBINED_FORMAT = COMMON_FORMAT + ' "{>opcode}"'

Z = 0x0040  # the header's reserved Z bit (RFC 1035 4.1.1)
OPCODE_NOTIFY, OPCODE_UPDATE = 4, 5
# Flag names in the order CoreDNS's replacer writes them (appendFlags).
FLAG_ORDER = (
    (QR, "qr"),
    (AA, "aa"),
    (TC, "tc"),
    (RD, "rd"),
    (RA, "ra"),
    (Z, "z"),
    (AD, "ad"),
    (CD, "cd"),
)


TCP_BUFSIZE = 65535  # edns.Size: a TCP query may get the largest message
MIN_BUFSIZE = 512  # edns.Size: smaller (or no) EDNS sizes count as 512


Getter = Callable[[Request, Reply, float], str]
"""A placeholder's value from the request, the reply and the seconds the chain took."""


# -- number and name formatting ------------------------------------------------


def duration_seconds(nanoseconds: int) -> float:
    """Go's ``time.Duration.Seconds()``: whole seconds plus the nanoseconds remainder / 1e9."""
    seconds, rest = divmod(nanoseconds, 1_000_000_000)
    return seconds + rest / 1e9


def go_seconds(seconds: float) -> str:
    """``{duration}``: CoreDNS writes ``strconv.FormatFloat(secs, 'f', -1, 64)`` and ``s``.

    That is the shortest decimal that reads back as the same float, never in
    exponent form: ``0.000051s``, not ``5.1e-05s``; a whole number has no ``.0``.
    """
    text = repr(seconds)
    if "e" in text:
        text = format(Decimal(text), "f")
    if text.endswith(".0"):
        text = text[:-2]
    return text + "s"


def rcode_text(rcode: int) -> str:
    return RCODE_NAMES.get(rcode) or str(rcode)


def flags_text(flags: int) -> str:
    """``qr,aa,rd``: each set header flag, in CoreDNS's order; empty when none is set."""
    return ",".join(name for bit, name in FLAG_ORDER if flags & bit)


def bracketed(address: str) -> str:
    """An IPv6 address in brackets (RFC 3986 host form), as CoreDNS writes {remote} and {local}."""
    return f"[{address}]" if ":" in address else address


# -- the reply as the log sees it ------------------------------------------------


def reply_flags(request: Request, reply: Reply) -> int:
    """The reply's header flags word (with rcode in the low bits).

    A handler that did not answer leaves the reply to the server; CoreDNS's
    log plugin then logs the message ``SetRcode`` would build: QR, the opcode,
    RD and CD copied for a QUERY, and the rcode.
    """
    wire = reply.wire
    if wire is not None and len(wire) >= 4:
        return (wire[2] << 8) | wire[3]
    query_flags = request.query.flags
    flags = QR | (query_flags & OPCODE_MASK) | (reply.rcode & 0xF)
    if not query_flags & OPCODE_MASK:
        flags |= query_flags & (RD | CD)
    return flags


def reply_rcode(request: Request, reply: Reply) -> int:
    if reply.wire is None:
        return reply.rcode
    return reply_flags(request, reply) & 0xF


def reply_size(request: Request, reply: Reply) -> int:
    """``{rsize}``: the reply's length; for an unanswered query, header plus question (SetRcode)."""
    if reply.wire is not None:
        return len(reply.wire)
    return request.query.question_end


# -- response classes (plugin/pkg/response typify.go and classify.go) ------------

NOERROR_T, NAMEERROR_T, SERVERERROR_T, NODATA_T = "NOERROR", "NXDOMAIN", "SERVERERROR", "NODATA"
DELEGATION_T, META_T, UPDATE_T, OTHERERROR_T = "DELEGATION", "META", "UPDATE", "OTHERERROR"

SUCCESS, DENIAL, ERROR, ALL = "success", "denial", "error", "all"
CLASSES = (ALL, SUCCESS, DENIAL, ERROR)
_CLASS_OF = {NOERROR_T: SUCCESS, DELEGATION_T: SUCCESS, NAMEERROR_T: DENIAL, NODATA_T: DENIAL}


def typify(request: Request, reply: Reply) -> str:
    """The response type CoreDNS's ``response.Typify`` gives this reply.

    The expired-RRSIG check (for DO queries) is left out: nothing here serves
    signed data.
    """
    flags = reply_flags(request, reply)
    opcode = (flags & OPCODE_MASK) >> 11
    if opcode == OPCODE_UPDATE:
        return UPDATE_T
    if opcode == OPCODE_NOTIFY or request.query.qtype in (TYPE_AXFR, TYPE_IXFR):
        return META_T
    rcode = flags & 0xF
    ancount, soa, ns = _answer_count_and_authority(request, reply)
    if ancount and rcode == 0:
        return NOERROR_T
    if ancount and rcode == 3:
        return OTHERERROR_T
    if soa and rcode == 0:
        return NODATA_T
    if rcode == 3:
        return NAMEERROR_T
    if rcode in (2, 4):
        return SERVERERROR_T
    if ns and rcode == 0:
        return DELEGATION_T
    if rcode == 0:
        return NOERROR_T
    return OTHERERROR_T


def classify(request: Request, reply: Reply) -> str:
    """``success``, ``denial`` or ``error`` (response.Classify of the type)."""
    return _CLASS_OF.get(typify(request, reply), ERROR)


def _answer_count_and_authority(request: Request, reply: Reply) -> tuple[int, bool, int]:
    """Answer count, whether the authority section has an SOA, and how many NS it has."""
    wire = reply.wire
    if wire is None or len(wire) < 12:
        return 0, False, 0
    _, _, qdcount, ancount, nscount, _ = HEADER.unpack_from(wire)
    soa, ns = False, 0
    try:
        offset = 12
        for _ in range(qdcount):
            offset = skip_name(wire, offset) + 4
        records = iter_records(wire, offset, ancount + nscount)
        for _ in range(ancount):
            next(records)
        for record in records:
            rtype = record[1]
            soa = soa or rtype == TYPE_SOA
            ns += rtype == TYPE_NS
    except (WireError, struct.error):
        pass  # a reply we cannot walk: classify on what was read
    return ancount, soa, ns


# -- placeholders ------------------------------------------------------------------


def _bufsize(request: Request, reply: Reply, elapsed: float) -> str:
    if request.transport == "tcp":
        return str(TCP_BUFSIZE)
    query = request.query
    return str(max(query.udp_size, MIN_BUFSIZE) if query.edns else MIN_BUFSIZE)


def _rflags(request: Request, reply: Reply, elapsed: float) -> str:
    return flags_text(reply_flags(request, reply))


def _rcode(request: Request, reply: Reply, elapsed: float) -> str:
    return rcode_text(reply_rcode(request, reply))


PLACEHOLDERS: dict[str, Getter] = {
    "{type}": lambda r, x, e: type_text(r.query.qtype),
    "{name}": lambda r, x, e: r.query.name,
    "{class}": lambda r, x, e: class_text(r.query.qclass),
    "{proto}": lambda r, x, e: r.transport,
    "{size}": lambda r, x, e: str(len(r.query.data)),
    "{remote}": lambda r, x, e: bracketed(r.client[0]),
    "{port}": lambda r, x, e: str(r.client[1]),
    # CoreDNS writes the ResponseWriter's LocalAddr: the socket the query came in on.
    "{local}": lambda r, x, e: bracketed(r.local) if r.local else EMPTY,
    "{>id}": lambda r, x, e: str(r.query.id),
    "{>opcode}": lambda r, x, e: str(r.query.opcode),
    "{>do}": lambda r, x, e: "true" if r.query.do else "false",
    "{>bufsize}": _bufsize,
    "{rcode}": _rcode,
    "{rsize}": lambda r, x, e: str(reply_size(r, x)),
    "{duration}": lambda r, x, e: go_seconds(e),
    "{>rflags}": _rflags,
}

# The log plugin's own metadata ({/log/class}, {/log/type}); other metadata is "-" here.
METADATA: dict[str, Getter] = {
    "log/class": lambda r, x, e: classify(r, x),
    "log/type": lambda r, x, e: typify(r, x),
}


def expand_shortcuts(text: str) -> str:
    """``{common}`` and ``{combined}`` inside a format, as CoreDNS's log setup replaces them."""
    return text.replace("{common}", COMMON_FORMAT).replace("{combined}", COMBINED_FORMAT)


def compile_format(text: str) -> tuple[Getter, ...]:
    """The format as a plan of getters, split the way CoreDNS's replacer splits it.

    The parser finds each ``}``, backs up to the nearest ``{`` before it, and
    takes ``{...}`` as a placeholder when it is a known label or ``{/metadata}``;
    anything else (``{host}``, a lone ``}``) stays literal text.
    """
    known = PLACEHOLDERS
    plan: list[Getter] = []
    literal = ""
    rest = text
    while True:
        close = rest.find("}")
        if close < 0:
            break
        open_ = rest.rfind("{", 0, close)
        if open_ < 0:
            literal += rest[: close + 1]
            rest = rest[close + 1 :]
            continue
        label = rest[open_ : close + 1]
        getter = known.get(label)
        if getter is None and label.startswith("{/"):
            getter = METADATA.get(label[2:-1], _constant(EMPTY))
        if getter is None:
            literal += rest[: close + 1]
        else:
            literal += rest[:open_]
            if literal:
                plan.append(_constant(literal))
                literal = ""
            plan.append(getter)
        rest = rest[close + 1 :]
    literal += rest
    if literal:
        plan.append(_constant(literal))
    return tuple(plan)


def _constant(text: str) -> Getter:
    return lambda r, x, e: text


def render(plan: tuple[Getter, ...], request: Request, reply: Reply, elapsed: float) -> str:
    """One log line (without the ``[INFO] `` level prefix)."""
    return "".join([getter(request, reply, elapsed) for getter in plan])
