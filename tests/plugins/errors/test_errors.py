"""The errors plugin: CoreDNS's error lines, consolidate windows on a scripted clock, parsing."""

from __future__ import annotations

import logging
import re
import time

import dns.rcode
import pytest

from clusterdns.corefile import parse as parse_corefile
from clusterdns.errors import ConfigError
from clusterdns.plugins.errors.consolidate import Consolidator, Pattern, Summary, go_duration
from clusterdns.plugins.errors.handler import error_line
from clusterdns.plugins.errors.options import ErrorsConfig, parse
from clusterdns.plugins.whoami.handler import Whoami
from tests.support.serverutil import running

LOGGER = "clusterdns.plugins.errors"
SECOND = 1_000_000_000


def directive_of(text: str):  # type: ignore[no-untyped-def]
    [block] = parse_corefile(f". {{\n{text}\n}}\n", "Corefile")
    return block.directives[0]


def pattern(
    period_s: float, regexp: str, level: str = "error", show_first: bool = False
) -> Pattern:
    return Pattern(round(period_s * SECOND), re.compile(regexp), level, show_first)


def lines(caplog: pytest.LogCaptureFixture, thread: int | None) -> list[tuple[int, str]]:
    """What errors logged from ``thread`` (the test server's loop thread) only."""
    return [
        (r.levelno, r.getMessage())
        for r in caplog.records
        if r.name == LOGGER and r.thread == thread
    ]


# -- Go's time.Duration.String(), used for the consolidate period ---------------------

GO_DURATIONS = [
    (0, "0s"),
    (1, "1ns"),
    (999, "999ns"),
    (1_500, "1.5µs"),
    (250_000_000, "250ms"),
    (1_000_000, "1ms"),
    (30 * SECOND, "30s"),
    (1_500_000_000, "1.5s"),
    (90 * SECOND, "1m30s"),
    (300 * SECOND, "5m0s"),
    (3600 * SECOND, "1h0m0s"),
    (3723 * SECOND + SECOND // 2, "1h2m3.5s"),
    (-2 * SECOND, "-2s"),
    (SECOND + 1, "1.000000001s"),
]


@pytest.mark.parametrize(("nanoseconds", "text"), GO_DURATIONS)
def test_go_duration_string(nanoseconds: int, text: str) -> None:
    assert go_duration(nanoseconds) == text


def test_error_line_is_rcode_name_type_error() -> None:
    assert error_line(2, "example.org.", 1, "plugin/forward: no healthy upstream") == (
        "2 example.org. A: plugin/forward: no healthy upstream"
    )
    assert error_line(5, "x.", 65280, "boom") == "5 x. TYPE65280: boom"


# -- consolidate on a scripted clock ------------------------------------------------


def test_window_counts_and_reports_once_when_it_closes() -> None:
    timeouts = pattern(30, r"i/o timeout$", "warning")
    c = Consolidator((timeouts,))
    assert c.record("read udp 10.0.0.1:53->10.0.0.2:53: i/o timeout", now=100.0) == (0, False)
    assert c.record("read udp 10.0.0.1:53->10.0.0.3:53: i/o timeout", now=110.0) == (0, False)
    assert c.record("something else", now=111.0) == (None, True)
    assert c.due(129.9) == []  # the window opened at 100 and lasts 30 s
    assert c.record("x i/o timeout", now=129.95) == (0, False)
    assert c.due(130.0) == [Summary("warning", "3 errors like 'i/o timeout$' occurred in last 30s")]
    assert c.due(500.0) == []  # nothing is reported twice
    # the next matching error opens a fresh window
    assert c.record("y i/o timeout", now=500.0) == (0, False)
    assert c.due(529.0) == []
    assert c.due(530.0) == [Summary("warning", "1 errors like 'i/o timeout$' occurred in last 30s")]


def test_first_matching_pattern_takes_the_error() -> None:
    c = Consolidator((pattern(60, "^Failed to "), pattern(300, "upstream")))
    assert c.record("Failed to reach upstream", now=0.0) == (0, False)
    assert c.record("no healthy upstream", now=0.0) == (1, False)
    assert c.record("no healthy upstream", now=1.0) == (1, False)
    assert c.due(60.0) == [Summary("error", "1 errors like '^Failed to ' occurred in last 1m0s")]
    assert c.due(300.0) == [Summary("error", "2 errors like 'upstream' occurred in last 5m0s")]


def test_show_first_logs_the_first_and_summarises_only_more() -> None:
    c = Consolidator((pattern(5, "timeout", "info", show_first=True),))
    assert c.record("timeout 1", now=0.0) == (0, True)
    assert c.due(5.0) == []  # a lone error was already printed
    assert c.record("timeout 2", now=10.0) == (0, True)
    assert c.record("timeout 3", now=11.0) == (0, False)
    assert c.record("timeout 4", now=12.0) == (0, False)
    assert c.due(15.0) == [Summary("info", "3 errors like 'timeout' occurred in last 5s")]


def test_close_all_reports_open_windows_at_shutdown() -> None:
    c = Consolidator((pattern(3600, "a"), pattern(60, "b")))
    c.record("a", now=0.0)
    c.record("a", now=1.0)
    assert c.close_all() == [Summary("error", "2 errors like 'a' occurred in last 1h0m0s")]
    assert c.close_all() == []


# -- parsing ------------------------------------------------------------------------


def test_parse_defaults_and_options() -> None:
    assert parse(directive_of("errors")) == ErrorsConfig()
    assert parse(directive_of("errors stdout")) == ErrorsConfig()
    config = parse(
        directive_of(
            "errors {\n stacktrace\n"
            ' consolidate 5m ".* i/o timeout$" warning\n'
            ' consolidate 30s "^Failed to .+"\n'
            " consolidate 1m30s x error show_first\n}"
        )
    )
    assert config.stacktrace
    assert [(p.period, p.regexp.pattern, p.level, p.show_first) for p in config.patterns] == [
        (300 * SECOND, ".* i/o timeout$", "warning", False),
        (30 * SECOND, "^Failed to .+", "error", False),
        (90 * SECOND, "x", "error", True),
    ]


PARSE_BAD = [
    ("errors /var/log/errors.log", "plugin/errors: Corefile:2: invalid log file: /var/log/errors.log"),
    ("errors stdout more", "plugin/errors: Corefile:2: unexpected argument 'more'"),
    ("errors {\n consolidate 5m\n}", "plugin/errors: Corefile:3: consolidate needs DURATION REGEXP"),
    ("errors {\n consolidate 5m a b c d\n}", "plugin/errors: Corefile:3: consolidate needs"),
    ("errors {\n consolidate soon x\n}", "plugin/errors: Corefile:3: invalid duration 'soon'"),
    ("errors {\n consolidate 5m (\n}", "plugin/errors: Corefile:3: invalid regular expression '('"),
    ("errors {\n consolidate 5m x loud\n}", "plugin/errors: Corefile:3: unknown option in consolidate: loud"),
    ("errors {\n consolidate 5m x info error\n}", "plugin/errors: Corefile:3: multiple log levels"),
    ("errors {\n consolidate 5m x show_first info\n}",
     "plugin/errors: Corefile:3: log level must come before show_first"),
    ("errors {\n verbose\n}", "plugin/errors: Corefile:3: unknown field 'verbose'"),
    ("errors {\n consolidate 5m " + "a" * 10_001 + "\n}",
     "plugin/errors: Corefile:3: regex pattern too long: 10001 > 10000"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "message"), PARSE_BAD)
def test_parse_errors_name_file_and_line(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse(directive_of(text))
    assert str(info.value).startswith(message)


# -- through a real server ---------------------------------------------------------
# A block with nothing after errors: the server's "no next plugin" handler returns
# SERVFAIL with an error, which is what errors reports.


def test_error_line_through_the_server(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    with running(".:0 {\n    bind 127.0.0.1\n    errors\n}\n") as srv:
        reply = srv.udp("Web.Example.Test.", "AAAA")
    assert reply.rcode() == 2
    [(level, line)] = lines(caplog, srv.thread.ident)
    assert level == logging.ERROR
    assert line.startswith("[ERROR] plugin/errors: 2 web.example.test. AAAA: "), line
    assert "no next plugin" in line


def wait_for(
    caplog: pytest.LogCaptureFixture, thread: int | None, count: int, deadline_s: float = 5.0
) -> None:
    """Wait until ``count`` lines were logged; fail the test when they do not come in time."""
    deadline = time.monotonic() + deadline_s
    while len(lines(caplog, thread)) < count:
        if time.monotonic() >= deadline:
            pytest.fail(
                f"expected {count} log lines within {deadline_s}s, got {lines(caplog, thread)}"
            )
        time.sleep(0.02)


def test_consolidated_errors_through_the_server(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    corefile = (
        ".:0 {\n    bind 127.0.0.1\n    errors {\n"
        '        consolidate 300ms "no next plugin" warning\n    }\n}\n'
    )
    with running(corefile) as srv:
        for name in ("a.test.", "b.test.", "c.test."):
            srv.udp(name, "A")
        assert lines(caplog, srv.thread.ident) == []  # consolidated: no line per error
        # The window's own timer reports it while the server still runs: stopping the
        # server would print the same line (close_all), so it must come before the stop.
        wait_for(caplog, srv.thread.ident, 1)
        assert lines(caplog, srv.thread.ident) == [
            (logging.WARNING,
             "[WARNING] plugin/errors: 3 errors like 'no next plugin' occurred in last 300ms"),
        ]  # fmt: skip
    assert len(lines(caplog, srv.thread.ident)) == 1  # nothing left open for the stop to report


@pytest.mark.parametrize(("option", "traceback"), [("", False), ("stacktrace", True)])
def test_stacktrace_logs_the_traceback_of_a_recovered_panic(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch, option: str, traceback: bool
) -> None:
    """CoreDNS core/dnsserver/server.go logs "Recovered from panic in server" with the stack
    only when the block's errors plugin sets ``stacktrace`` (plugin/errors/setup.go)."""

    async def bug(self: Whoami, request: object, next: object) -> object:
        raise RuntimeError("boom")

    monkeypatch.setattr(Whoami, "serve", bug)
    caplog.set_level(logging.DEBUG, logger="clusterdns.server")
    corefile = f".:0 {{\n    bind 127.0.0.1\n    errors {{\n{option}\n    }}\n    whoami\n}}\n"
    with running(corefile) as srv:
        assert srv.udp("x.test.").rcode() == dns.rcode.SERVFAIL
    [record] = [r for r in caplog.records if "Recovered from panic" in r.getMessage()]
    assert record.getMessage().startswith(
        '[ERROR] Recovered from panic in server: "dns://127.0.0.1:'
    )
    assert "RuntimeError('boom')" in record.getMessage()
    assert bool(record.exc_info and record.exc_info[0]) == traceback


def test_open_windows_are_reported_on_stop(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    corefile = (
        ".:0 {\n    bind 127.0.0.1\n    errors {\n"
        "        consolidate 1h next info show_first\n    }\n}\n"
    )
    with running(corefile) as srv:
        srv.udp("a.test.", "A")
        srv.tcp("b.test.", "MX")
        [(level, first)] = lines(caplog, srv.thread.ident)
        assert level == logging.INFO
        assert first.startswith("[INFO] plugin/errors: 2 a.test. A: ")
    assert lines(caplog, srv.thread.ident)[1:] == [
        (logging.INFO, "[INFO] plugin/errors: 2 errors like 'next' occurred in last 1h0m0s")
    ]
