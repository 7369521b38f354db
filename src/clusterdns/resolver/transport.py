"""How each libc puts one name's questions on the wire: servers, tries, timeouts, sockets.

glibc (resolv/res_send.c): tries ``attempts`` rounds over the nameservers in order
(``rotate``: starting at a random one); the wait on nameserver ``i`` is
``timeout << i``, divided by the number of nameservers when i > 0, at least 1 s.
A reply of SERVFAIL, NOTIMP or REFUSED moves on to the next nameserver.  A and AAAA go
out together on one UDP socket unless ``single-request`` (one after the other) or
``use-vc`` (TCP).  ``single-request-reopen`` keeps the shared socket but, when only one
of the two replies comes back, closes it and asks the missing one from a new socket.
A truncated (TC) UDP reply is asked again over TCP.

musl (src/network/res_msend.c): sends every question to every nameserver at once and
resends every ``timeout / attempts`` seconds until ``timeout`` is spent; it accepts only
NOERROR and NXDOMAIN replies (SERVFAIL is resent, other rcodes are ignored and waited
out).  TCP is used only for a truncated reply, and only since musl 1.2.4.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from clusterdns.resolver.resolvconf import Effective, Libc
from clusterdns.resolver.search import NOERROR, NOTIMP, NXDOMAIN, REFUSED, SERVFAIL


class Mode(enum.StrEnum):
    PARALLEL = "parallel"  # both questions at once from one UDP socket (one source port)
    REOPEN = "reopen"  # as parallel; a missing reply is asked again from a new socket
    SEQUENTIAL = "sequential"  # one question, wait for its reply, then the next
    TCP = "tcp"  # use-vc: every question over TCP


@dataclass(frozen=True, slots=True)
class Try:
    """One round of sending: to which nameservers (indexes) and how long to wait."""

    servers: tuple[int, ...]
    timeout: float


def send_mode(eff: Effective) -> Mode:
    if eff.libc is Libc.MUSL:
        return Mode.PARALLEL
    if eff.use_vc:
        return Mode.TCP
    if eff.single_request:
        return Mode.SEQUENTIAL
    if eff.single_request_reopen:
        return Mode.REOPEN
    return Mode.PARALLEL


def glibc_wait(timeout: int, ns_index: int, nscount: int) -> int:
    seconds = timeout << ns_index
    if ns_index > 0:
        seconds //= nscount
    return max(seconds, 1)


def schedule(eff: Effective, rotate_start: int = 0) -> tuple[Try, ...]:
    """The rounds of sending one name's questions, before any reply is accepted."""
    count = len(eff.nameservers)
    if count == 0:
        return ()
    if eff.libc is Libc.MUSL:
        interval = eff.timeout / eff.attempts
        return tuple(Try(tuple(range(count)), interval) for _ in range(eff.attempts))
    start = rotate_start % count if eff.rotate else 0
    order = [(start + i) % count for i in range(count)]
    return tuple(
        Try((ns,), float(glibc_wait(eff.timeout, ns, count)))
        for _ in range(eff.attempts)
        for ns in order
    )


def accepts(libc: Libc, rcode: int) -> bool:
    """Does this libc take a reply with this rcode as the answer (else: try on)?"""
    if libc is Libc.MUSL:
        return rcode in (NOERROR, NXDOMAIN)
    return rcode not in (SERVFAIL, NOTIMP, REFUSED)
