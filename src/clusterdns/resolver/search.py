"""The search-list walk of glibc and musl, as a pure state machine (no I/O, no clock).

Given the effective resolv.conf, the libc and the name an application asked for, the
walk says which name to query next and, from the answers to the A/AAAA questions for
that name, whether the application has its answer, whether to go on, or to give up.

Facts this encodes (read in glibc resolv/res_query.c ``__res_context_search`` and
``__res_context_query``, musl src/network/lookup_name.c ``name_from_dns_search`` and
``name_from_dns``, and musl's "functional differences from glibc" page):

glibc
  * dots >= ndots, or a trailing dot: the name as given is tried first; a trailing dot
    stops there.  Otherwise it is tried last, after the search list (unless ``.`` is
    on the search list, or ``no-tld-query`` and the name has no dot).
  * In the search list NXDOMAIN, NODATA and SERVFAIL go on to the next domain; any
    other failure (REFUSED, FORMERR, NOTIMP, a timeout) ends the search list, but the
    name as given is still tried.  ECONNREFUSED ends the whole lookup.
  * A and AAAA are judged together: any answer wins; otherwise the A rcode decides,
    or the AAAA rcode when A was NOERROR.
musl
  * dots >= ndots, or a trailing dot: only the name as given, never the search list.
    Otherwise the search list, then the name as given; a ``.`` on the search list sends
    no query (the name with two trailing dots is refused before it is sent).
  * Per name, A first then AAAA: no reply or SERVFAIL ends the lookup (EAI_AGAIN),
    NXDOMAIN goes on, any other non-zero rcode ends it (EAI_FAIL).  NOERROR without
    an address (NODATA) also ends it (EAI_NONAME): musl does not go on after NODATA.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from clusterdns.resolver.resolvconf import Effective, Libc

NOERROR = 0
FORMERR = 1
SERVFAIL = 2
NXDOMAIN = 3
NOTIMP = 4
REFUSED = 5

MAX_NAME_TEXT = 253


class Family(enum.StrEnum):
    UNSPEC = "unspec"
    INET = "inet"
    INET6 = "inet6"


@dataclass(frozen=True, slots=True)
class Candidate:
    """One name the walk may query: absolute (trailing dot) and where it came from."""

    name: str
    origin: str  # "as-is" or the search domain appended

    @property
    def from_search(self) -> bool:
        return self.origin != "as-is"


@dataclass(frozen=True, slots=True)
class Answer:
    """What the libc saw for one question: the rcode (None: no usable reply) and if it had data."""

    qtype: str
    rcode: int | None
    has_answer: bool = False
    refused: bool = False  # ICMP port unreachable on a connected socket (ECONNREFUSED)


class Verdict(enum.StrEnum):
    FOUND = "found"  # the application has its addresses
    NEXT = "next"  # go on to the next name
    END_SEARCH = "end-search"  # glibc: leave the search list, still try the name as given
    GIVE_UP = "give-up"  # the lookup fails here


def count_dots(name: str) -> int:
    # Both libcs count every dot, a trailing one included (a trailing dot short-cuts anyway).
    return name.count(".")


def _join(name: str, domain: str) -> str:
    base = name.rstrip(".")
    if domain in ("", "."):
        return base + "."
    return f"{base}.{domain.rstrip('.')}."


def questions(eff: Effective, family: Family = Family.UNSPEC) -> tuple[str, ...]:
    """The record types asked for each name: A and AAAA for AF_UNSPEC (glibc's no-aaaa drops AAAA)."""
    if family is Family.INET:
        return ("A",)
    if family is Family.INET6:
        return ("AAAA",)
    if eff.no_aaaa:
        return ("A",)
    return ("A", "AAAA")


def candidates(name: str, eff: Effective) -> tuple[Candidate, ...]:
    """Every name the walk would query, in order, if no answer stopped it early."""
    if not name or name.strip(".") == "" or ".." in name:
        raise ValueError(f"not a valid name to look up: {name!r}")
    if eff.libc is Libc.MUSL:
        return _musl_candidates(name, eff)
    return _glibc_candidates(name, eff)


def _fits(candidate: Candidate) -> bool:
    return len(candidate.name.rstrip(".")) <= MAX_NAME_TEXT


def _glibc_candidates(name: str, eff: Effective) -> tuple[Candidate, ...]:
    dots = count_dots(name)
    trailing = name.endswith(".")
    as_is = Candidate(_join(name, ""), "as-is")
    plan: list[Candidate] = []
    tried_as_is = dots >= eff.ndots or trailing
    if tried_as_is:
        plan.append(as_is)
        if trailing:
            return tuple(plan)
    root_on_list = False
    for domain in eff.search:
        if domain in ("", "."):
            root_on_list = True
        plan.append(Candidate(_join(name, domain), domain))
    searched = bool(eff.search)
    if not (tried_as_is or root_on_list) and (dots or not searched or not eff.no_tld_query):
        plan.append(as_is)
    return tuple(c for c in plan if _fits(c))


def _musl_candidates(name: str, eff: Effective) -> tuple[Candidate, ...]:
    dots = count_dots(name)
    as_is = Candidate(_join(name, ""), "as-is")
    if dots >= eff.ndots or name.endswith("."):
        return (as_is,)
    # The root as a search domain makes "name.." there, which __res_mkquery refuses: musl
    # sends nothing for it and goes on (glibc asks "name." instead).
    plan = [Candidate(_join(name, d), d) for d in eff.search if d.strip(".")]
    plan.append(as_is)
    return tuple(c for c in plan if _fits(c))


def judge_glibc(answers: Sequence[Answer]) -> tuple[Verdict, str]:
    """glibc's verdict on one name's answers, with the h_errno it stands for."""
    if any(a.has_answer for a in answers):
        return Verdict.FOUND, "found"
    if any(a.refused for a in answers):
        return Verdict.GIVE_UP, "TRY_AGAIN (ECONNREFUSED)"
    if any(a.rcode is None for a in answers):
        return Verdict.END_SEARCH, "TRY_AGAIN (timeout)"
    first = answers[0].rcode
    rcode = answers[1].rcode if first == NOERROR and len(answers) > 1 else first
    if rcode == NXDOMAIN:
        return Verdict.NEXT, "HOST_NOT_FOUND"
    if rcode == SERVFAIL:
        return Verdict.NEXT, "TRY_AGAIN (SERVFAIL)"
    if rcode == NOERROR:
        return Verdict.NEXT, "NO_DATA"
    return Verdict.END_SEARCH, "NO_RECOVERY"


def judge_musl(answers: Sequence[Answer]) -> tuple[Verdict, str]:
    """musl's verdict on one name's answers (checked in query order, A first)."""
    for answer in answers:
        if answer.rcode is None or answer.rcode == SERVFAIL:
            return Verdict.GIVE_UP, "EAI_AGAIN"
        if answer.rcode == NXDOMAIN:
            return Verdict.NEXT, "NXDOMAIN"
        if answer.rcode != NOERROR:
            return Verdict.GIVE_UP, "EAI_FAIL"
    if any(a.has_answer for a in answers):
        return Verdict.FOUND, "found"
    return Verdict.GIVE_UP, "EAI_NONAME (NODATA)"


@dataclass(frozen=True, slots=True)
class Step:
    """One name of the walk and what became of it."""

    candidate: Candidate
    verdict: Verdict
    reason: str


class SearchWalk:
    """Drive a lookup one name at a time: ``current`` to query, ``feed`` the answers."""

    def __init__(self, name: str, eff: Effective, family: Family = Family.UNSPEC) -> None:
        self.name = name
        self.eff = eff
        self.plan = candidates(name, eff)
        self.types = questions(eff, family)
        self.steps: list[Step] = []
        self._index = 0
        self._done = not self.plan
        self.found: Candidate | None = None

    @property
    def done(self) -> bool:
        return self._done

    def current(self) -> Candidate | None:
        return None if self._done else self.plan[self._index]

    def feed(self, answers: Sequence[Answer]) -> Step:
        candidate = self.current()
        if candidate is None:
            raise RuntimeError("the walk is over; nothing to feed")
        judge = judge_musl if self.eff.libc is Libc.MUSL else judge_glibc
        verdict, reason = judge(answers)
        step = Step(candidate, verdict, reason)
        self.steps.append(step)
        self._advance(candidate, verdict)
        return step

    def _advance(self, candidate: Candidate, verdict: Verdict) -> None:
        if verdict is Verdict.FOUND:
            self.found = candidate
            self._done = True
        elif verdict is Verdict.GIVE_UP:
            self._done = True
        elif verdict is Verdict.END_SEARCH and candidate.from_search:
            self._skip_rest_of_search()
        else:
            self._index += 1
        if self._index >= len(self.plan):
            self._done = True

    def _skip_rest_of_search(self) -> None:
        # glibc: "anything else implies that we're done" with the search list; the name
        # as given is still tried afterwards if it was not tried first.
        self._index += 1
        while self._index < len(self.plan) and self.plan[self._index].from_search:
            self._index += 1
