"""``explain``: every query an application's resolver sends for one name, and what to do about it.

The hook is :func:`explain` (name, resolv.conf, libc, send): ``send`` is any function
that takes a :class:`~clusterdns.resolver.client.Transmission` and returns the
:class:`~clusterdns.resolver.client.Exchange` list, so a test server, an in-process
server or a real CoreDNS can answer.  :func:`plan` is the dry run: no packet at all.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from clusterdns.resolver.client import Exchange, Question, Send, Transmission
from clusterdns.resolver.resolvconf import Effective, Libc, ResolvConf, effective
from clusterdns.resolver.search import (
    Answer,
    Candidate,
    Family,
    SearchWalk,
    Verdict,
    count_dots,
)
from clusterdns.resolver.transport import Mode, accepts, schedule, send_mode


@dataclass(frozen=True, slots=True)
class NameStep:
    candidate: Candidate
    verdict: Verdict | None  # None in a dry run
    reason: str
    exchanges: tuple[Exchange, ...] = ()


@dataclass(frozen=True, slots=True)
class Advice:
    kind: str  # "trailing-dot", "ndots", "autopath", "node-cache", "musl"
    text: str
    snippet: str = ""


@dataclass(frozen=True, slots=True)
class Explanation:
    name: str
    libc: Libc
    eff: Effective
    mode: Mode
    steps: tuple[NameStep, ...]
    found: Candidate | None
    dry_run: bool
    elapsed: float = 0.0
    advice: tuple[Advice, ...] = field(default=())

    @property
    def exchanges(self) -> tuple[Exchange, ...]:
        return tuple(e for s in self.steps for e in s.exchanges)

    @property
    def sent(self) -> int:
        if self.dry_run:
            return sum(len(_types(self)) for _ in self.steps)
        return len(self.exchanges)

    @property
    def wasted(self) -> int:
        """Queries for any name but the one that answered (all of them if none did)."""
        if self.dry_run:
            return self.sent - len(_types(self))
        useful = sum(1 for e in self.exchanges if self.found and e.name == self.found.name)
        return self.sent - useful

    @property
    def addresses(self) -> tuple[str, ...]:
        if self.found is None:
            return ()
        return tuple(a for e in self.exchanges if e.name == self.found.name for a in e.answers)


def _types(explanation: Explanation) -> tuple[str, ...]:
    return ("A",) if explanation.eff.no_aaaa else ("A", "AAAA")


def plan(name: str, conf: ResolvConf, libc: Libc, family: Family = Family.UNSPEC) -> Explanation:
    """The dry run: the names in the order they would be tried if each one were NXDOMAIN."""
    eff = effective(conf, libc)
    walk = SearchWalk(name, eff, family)
    steps = tuple(NameStep(c, None, "") for c in walk.plan)
    explanation = Explanation(
        name=name,
        libc=libc,
        eff=eff,
        mode=send_mode(eff),
        steps=steps,
        found=walk.plan[-1],
        dry_run=True,
    )
    return _with_advice(explanation)


def explain(
    name: str,
    conf: ResolvConf,
    libc: Libc,
    send: Send,
    *,
    family: Family = Family.UNSPEC,
    clock: Callable[[], float] = time.monotonic,
    rotate_start: int = 0,
) -> Explanation:
    """Run the libc's lookup of ``name`` through ``send`` and explain every query it made."""
    eff = effective(conf, libc)
    walk = SearchWalk(name, eff, family)
    mode = send_mode(eff)
    steps: list[NameStep] = []
    started = clock()
    while (candidate := walk.current()) is not None:
        exchanges, answers = _ask(
            candidate=candidate,
            types=walk.types,
            eff=eff,
            mode=mode,
            send=send,
            rotate_start=rotate_start,
        )
        step = walk.feed(answers)
        steps.append(NameStep(candidate, step.verdict, step.reason, tuple(exchanges)))
    explanation = Explanation(
        name=name,
        libc=libc,
        eff=eff,
        mode=mode,
        steps=tuple(steps),
        found=walk.found,
        dry_run=False,
        elapsed=clock() - started,
    )
    return _with_advice(explanation)


def _ask(
    candidate: Candidate,
    types: tuple[str, ...],
    eff: Effective,
    mode: Mode,
    send: Send,
    rotate_start: int,
) -> tuple[list[Exchange], list[Answer]]:
    record: list[Exchange] = []
    accepted: dict[str, Exchange] = {}
    last: dict[str, Exchange] = {}
    refused = False
    pending = [Question(candidate.name, t) for t in types]
    for attempt in schedule(eff, rotate_start):
        for index in attempt.servers:
            transmission = Transmission(
                questions=tuple(pending),
                nameserver=eff.nameservers[index],
                timeout=attempt.timeout,
                mode=mode,
                edns=eff.edns0,
            )
            for exchange in send(transmission):
                record.append(exchange)
                refused = refused or exchange.error == "refused"
                if exchange.rcode is None or exchange.truncated:
                    continue
                last[exchange.qtype] = exchange
                if accepts(eff.libc, exchange.rcode):
                    accepted[exchange.qtype] = exchange
        pending = [q for q in pending if q.qtype not in accepted]
        if not pending or refused:
            break
    return record, [
        _answer(qtype=t, accepted=accepted, last=last, refused=refused, libc=eff.libc)
        for t in types
    ]


def _answer(
    qtype: str, accepted: dict[str, Exchange], last: dict[str, Exchange], refused: bool, libc: Libc
) -> Answer:
    chosen = accepted.get(qtype)
    if chosen is None and libc is Libc.GLIBC:
        # glibc hands the last reply it got (e.g. SERVFAIL) to the search loop.
        chosen = last.get(qtype)
    if chosen is None:
        return Answer(qtype, None, refused=refused)
    return Answer(qtype, chosen.rcode, chosen.has_answer)


def _with_advice(explanation: Explanation) -> Explanation:
    advice = tuple(_advise(explanation))
    return Explanation(
        name=explanation.name,
        libc=explanation.libc,
        eff=explanation.eff,
        mode=explanation.mode,
        steps=explanation.steps,
        found=explanation.found,
        dry_run=explanation.dry_run,
        elapsed=explanation.elapsed,
        advice=advice,
    )


def ndots_snippet(value: int) -> str:
    """A pod-spec fragment, ready to paste under ``spec:`` (or a template's ``spec:``)."""
    return f'dnsConfig:\n  options:\n    - name: ndots\n      value: "{value}"\n'


def _advise(x: Explanation) -> list[Advice]:
    found = x.found
    if found is None or x.wasted == 0:
        return _musl_note(x)
    per_name = len(_types(x))
    out: list[Advice] = []
    fqdn = found.name
    out.append(
        Advice(
            "trailing-dot",
            f"Ask for {fqdn!r} (fully qualified, trailing dot): {per_name} queries "
            f"instead of {x.sent}.",
        )
    )
    dots = count_dots(x.name)
    if found.origin == "as-is" and 0 < dots < x.eff.ndots:
        text = (
            f"Lower ndots to {dots} for this pod: names with {dots} or more dots are then "
            f"tried as given first; shorter names (svc, svc.namespace) still use the search list."
        )
        if x.libc is Libc.MUSL:
            text += (
                f" With musl, names with {dots} or more dots then never use the search list, "
                "so cluster names of that length must be fully qualified."
            )
        out.append(Advice("ndots", text, ndots_snippet(dots)))
    if any(".svc." in d for d in x.eff.search):
        out.append(
            Advice(
                "autopath",
                "CoreDNS `autopath @kubernetes` (with `pods verified`) answers the first "
                "search-list query with a CNAME to the name that exists, so the walk stops "
                f"after {per_name} queries; the cost moves to the server.",
            )
        )
    out.append(
        Advice(
            "node-cache",
            f"NodeLocal DNSCache answers the {x.wasted} wasted queries from the node: no DNAT, "
            "no conntrack race between the A and AAAA packets sent from one socket.",
        )
    )
    return out + _musl_note(x)


def _musl_note(x: Explanation) -> list[Advice]:
    if x.libc is not Libc.MUSL or x.dry_run or x.found is not None or not x.steps:
        return []
    last = x.steps[-1]
    replied = any(e.rcode is not None for e in last.exchanges)
    if last.verdict is Verdict.GIVE_UP and last.candidate.from_search and replied:
        return [
            Advice(
                "musl",
                f"musl stopped at {last.candidate.name} ({last.reason}); glibc would have gone on "
                "to the next name.  Use the fully qualified name.",
            )
        ]
    return []
