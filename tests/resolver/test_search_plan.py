"""Planner tables: which names glibc and musl try, in which order, and when they stop."""

from __future__ import annotations

import pytest

from clusterdns.podconfig.kubelet import render_resolv_conf
from clusterdns.resolver.resolvconf import Libc, effective, parse
from clusterdns.resolver.search import (
    NOERROR,
    NXDOMAIN,
    REFUSED,
    SERVFAIL,
    Answer,
    SearchWalk,
    Verdict,
    candidates,
    judge_glibc,
    judge_musl,
)
from clusterdns.resolver.transport import Mode, schedule, send_mode

POD = "search default.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.96.0.10\n"
S3 = ["www.example.com.default.svc.cluster.local.", "www.example.com.svc.cluster.local.",
      "www.example.com.cluster.local."]  # fmt: skip

PLANS = [
    ("glibc_fewer_dots_than_ndots_search_first", Libc.GLIBC, "ndots:5", "www.example.com", [*S3, "www.example.com."]),
    ("musl_fewer_dots_than_ndots_search_first", Libc.MUSL, "ndots:5", "www.example.com", [*S3, "www.example.com."]),
    ("glibc_enough_dots_as_is_first_then_search", Libc.GLIBC, "ndots:2", "www.example.com", ["www.example.com.", *S3]),
    ("musl_enough_dots_as_is_only", Libc.MUSL, "ndots:2", "www.example.com", ["www.example.com."]),
    ("glibc_trailing_dot_as_is_only", Libc.GLIBC, "ndots:5", "www.example.com.", ["www.example.com."]),
    ("musl_trailing_dot_as_is_only", Libc.MUSL, "ndots:5", "www.example.com.", ["www.example.com."]),
    ("glibc_no_tld_query_skips_bare_name", Libc.GLIBC, "ndots:5 no-tld-query", "web",
     ["web.default.svc.cluster.local.", "web.svc.cluster.local.", "web.cluster.local."]),
    ("musl_ignores_no_tld_query", Libc.MUSL, "ndots:5 no-tld-query", "web",
     ["web.default.svc.cluster.local.", "web.svc.cluster.local.", "web.cluster.local.", "web."]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "libc", "options", "name", "expected"), PLANS, ids=[p[0] for p in PLANS]
)
def test_candidate_order(
    case: str, libc: Libc, options: str, name: str, expected: list[str]
) -> None:
    eff = effective(parse(POD + f"options {options}\n"), libc)
    assert [c.name for c in candidates(name, eff)] == expected


def _a(rcode: int | None, data: bool = False) -> Answer:
    return Answer("A", rcode, data)


def _aaaa(rcode: int | None, data: bool = False) -> Answer:
    return Answer("AAAA", rcode, data)


JUDGE = [
    ("nxdomain_continues", [_a(NXDOMAIN), _aaaa(NXDOMAIN)], Verdict.NEXT, Verdict.NEXT),
    ("nodata_glibc_continues_musl_stops", [_a(NOERROR), _aaaa(NOERROR)], Verdict.NEXT, Verdict.GIVE_UP),
    ("servfail_glibc_continues_musl_stops", [_a(SERVFAIL), _aaaa(SERVFAIL)], Verdict.NEXT, Verdict.GIVE_UP),
    ("refused_glibc_leaves_search_musl_fails", [_a(REFUSED), _aaaa(REFUSED)], Verdict.END_SEARCH, Verdict.GIVE_UP),
    ("timeout_glibc_leaves_search_musl_fails", [_a(None), _aaaa(None)], Verdict.END_SEARCH, Verdict.GIVE_UP),
    ("a_answer_wins", [_a(NOERROR, True), _aaaa(NOERROR)], Verdict.FOUND, Verdict.FOUND),
    ("a_nxdomain_aaaa_data_musl_goes_on", [_a(NXDOMAIN), _aaaa(NOERROR, True)], Verdict.FOUND, Verdict.NEXT),
]  # fmt: skip


@pytest.mark.parametrize(("case", "answers", "glibc", "musl"), JUDGE, ids=[j[0] for j in JUDGE])
def test_which_answers_continue_the_walk(
    case: str, answers: list[Answer], glibc: Verdict, musl: Verdict
) -> None:
    assert judge_glibc(answers)[0] is glibc
    assert judge_musl(answers)[0] is musl


def test_glibc_end_search_still_tries_name_as_given() -> None:
    walk = SearchWalk("www.example.com", effective(parse(POD + "options ndots:5\n"), Libc.GLIBC))
    walk.feed([_a(REFUSED), _aaaa(REFUSED)])
    current = walk.current()
    assert current is not None and current.name == "www.example.com."


@pytest.mark.parametrize(
    ("libc", "options", "mode"),
    [
        (Libc.GLIBC, "", Mode.PARALLEL),
        (Libc.GLIBC, "single-request", Mode.SEQUENTIAL),
        (Libc.GLIBC, "single-request-reopen", Mode.REOPEN),
        (Libc.GLIBC, "use-vc", Mode.TCP),
        (Libc.MUSL, "single-request use-vc", Mode.PARALLEL),  # musl ignores both
    ],
)
def test_send_mode(libc: Libc, options: str, mode: Mode) -> None:
    assert send_mode(effective(parse(POD + f"options {options}\n"), libc)) is mode


def test_glibc_schedule_waits_longer_on_later_nameservers() -> None:
    conf = parse(
        "nameserver 10.0.0.1\nnameserver 10.0.0.2\nnameserver 10.0.0.3\noptions timeout:5 attempts:2\n"
    )
    tries = schedule(effective(conf, Libc.GLIBC))
    assert [(t.servers, t.timeout) for t in tries] == [((0,), 5), ((1,), 3), ((2,), 6)] * 2


def test_musl_schedule_all_servers_every_timeout_over_attempts() -> None:
    conf = parse("nameserver 10.0.0.1\nnameserver 10.0.0.2\noptions timeout:6 attempts:3\n")
    assert [(t.servers, t.timeout) for t in schedule(effective(conf, Libc.MUSL))] == [
        ((0, 1), 2.0)
    ] * 3


@pytest.mark.parametrize(
    ("libc", "ndots", "timeout", "attempts"),
    [(Libc.GLIBC, 15, 30, 5), (Libc.MUSL, 15, 60, 10)],
)
def test_option_caps(libc: Libc, ndots: int, timeout: int, attempts: int) -> None:
    eff = effective(parse("options ndots:99 timeout:99 attempts:99\n"), libc)
    assert (eff.ndots, eff.timeout, eff.attempts) == (ndots, timeout, attempts)


def test_musl_skips_a_search_line_too_long_for_its_buffer() -> None:
    conf = parse(
        "search "
        + " ".join(f"d{i}.example.internal" for i in range(20))
        + "\noptions ndots:5 rotate\n"
    )
    assert effective(conf, Libc.MUSL).search == ()
    assert effective(conf, Libc.MUSL).ignored == ("rotate",)
    assert len(effective(conf, Libc.GLIBC).search) == 20


def test_parse_render_round_trip() -> None:
    text = "search a.example b.example\nnameserver 10.0.0.1\nnameserver 10.0.0.2\noptions ndots:2 edns0\n"
    conf = parse(text)
    assert render_resolv_conf(conf.search, conf.nameservers, conf.options) == text
