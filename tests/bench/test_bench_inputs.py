"""Query files, server addresses, resolv.conf and the plan the CLI flags make."""

from __future__ import annotations

from pathlib import Path

import pytest

from clusterdns.bench.plan import BenchOptions, make_plan
from clusterdns.bench.queries import (
    BenchInputError,
    QuerySpec,
    build_template,
    parse_query_lines,
    parse_server,
    read_resolv_conf,
    search_candidates,
)


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (["www.example.com A"], [QuerySpec("www.example.com", 1)]),
        (["a.test AAAA", "b.test"], [QuerySpec("a.test", 28), QuerySpec("b.test", 1)]),
        (
            ["; comment", "", "  # also", "_dns._udp.x.test srv"],
            [QuerySpec("_dns._udp.x.test", 33)],
        ),
        (
            ["web.default.svc.cluster.local.   A  "],
            [QuerySpec("web.default.svc.cluster.local.", 1)],
        ),
    ],
)
def test_query_lines(lines: list[str], expected: list[QuerySpec]) -> None:
    assert parse_query_lines(lines) == expected


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (["a.test A", "b.test BOGUS"], "q.txt:2: unknown record type 'BOGUS'"),
        (["a.test A extra"], "q.txt:1: expected 'name TYPE', got 3 fields"),
        (["; only comments"], "q.txt: no queries"),
    ],
)
def test_bad_query_lines_name_file_and_line(lines: list[str], message: str) -> None:
    with pytest.raises(BenchInputError, match="^" + message.replace("(", r"\(")):
        parse_query_lines(lines, source="q.txt")


def test_template_has_id_zero_and_question_after_header() -> None:
    template = build_template(QuerySpec("Host1.Bench.Test", 28))
    assert template.wire[:2] == b"\x00\x00"
    assert template.wire[12:] == template.question
    assert template.question.endswith(b"\x00\x00\x1c\x00\x01")  # root label, AAAA, IN
    assert b"Host1" in template.question  # case kept as written


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:5353", ("127.0.0.1", 5353)),
        ("127.0.0.1", ("127.0.0.1", 53)),
        ("[::1]:5300", ("::1", 5300)),
        ("::1", ("::1", 53)),
    ],
)
def test_parse_server(text: str, expected: tuple[str, int]) -> None:
    assert parse_server(text) == expected


@pytest.mark.parametrize("text", ["localhost:53", "127.0.0.1:0", "127.0.0.1:x", "[::1]:70000"])
def test_parse_server_rejects(text: str) -> None:
    with pytest.raises(BenchInputError, match="--server"):
        parse_server(text)


def test_resolv_conf_first_nameserver_search_ndots(tmp_path: Path) -> None:
    conf = tmp_path / "resolv.conf"
    conf.write_text(
        "# pod\nnameserver 127.0.0.9\nnameserver 127.0.0.10\n"
        "search default.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5 timeout:1\n"
    )
    parsed = read_resolv_conf(conf)
    assert parsed.nameserver == "127.0.0.9"
    assert parsed.search == ("default.svc.cluster.local", "svc.cluster.local", "cluster.local")
    assert parsed.ndots == 5


def test_resolv_conf_without_nameserver_says_what_to_do(tmp_path: Path) -> None:
    conf = tmp_path / "resolv.conf"
    conf.write_text("search cluster.local\n")
    with pytest.raises(BenchInputError, match="no 'nameserver' line; give --server"):
        read_resolv_conf(conf)


@pytest.mark.parametrize(
    ("name", "search", "ndots", "expected"),
    [
        (
            "web",
            ("ns.svc.cluster.local", "cluster.local"),
            5,
            ["web.ns.svc.cluster.local.", "web.cluster.local.", "web."],
        ),
        (
            "www.example.com",
            ("cluster.local",),
            1,
            ["www.example.com.", "www.example.com.cluster.local."],
        ),
        (
            "www.example.com",
            ("cluster.local",),
            5,
            ["www.example.com.cluster.local.", "www.example.com."],
        ),
        ("host1.", ("cluster.local",), 5, ["host1."]),
    ],
)
def test_search_candidates(
    name: str, search: tuple[str, ...], ndots: int, expected: list[str]
) -> None:
    assert search_candidates(name, search, ndots) == expected


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (BenchOptions(host="a.test"), "no server: give --server HOST:PORT"),
        (BenchOptions(server="127.0.0.1:5353"), "nothing to ask"),
        (
            BenchOptions(server="127.0.0.1:5353", host="a.test", concurrency=0),
            "concurrency must be 1-65535",
        ),
        (
            BenchOptions(server="127.0.0.1:5353", host="a.test", duration=0),
            "give -d SECONDS or -n COUNT",
        ),
        (
            BenchOptions(
                server="127.0.0.1:5353",
                host="a.test",
                resolver=True,
                reopen=True,
                single_request=True,
            ),
            "exclude each other",
        ),
    ],
)
def test_plan_refuses(options: BenchOptions, message: str) -> None:
    with pytest.raises(BenchInputError, match=message):
        make_plan(options)


def test_plan_defaults_to_ten_seconds_or_count() -> None:
    assert make_plan(BenchOptions(server="127.0.0.1:1", host="a.test")).duration == 10.0
    assert make_plan(BenchOptions(server="127.0.0.1:1", host="a.test", count=5)).duration == 0.0
