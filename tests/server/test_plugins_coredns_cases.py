"""Directive parsing of the small plugins, accepted vs refused, as CoreDNS's setup code reads them.

Facts from coredns/coredns plugin/log/setup_test.go (TestLogParse),
plugin/errors/setup_test.go (TestErrorsParse), plugin/reload/setup_test.go
(TestSetupReload) and setup.go (defaults 30s/15s, minimums 2s/1s, jitter at most
half the interval), plugin/health/setup_test.go, plugin/ready/setup_test.go,
plugin/metrics/setup_test.go, plugin/bind/setup_test.go, plugin/whoami/setup.go
and plugin/loop/loop.go (the fatal message's address, net.JoinHostPort).
Errors must name the plugin, the file and the line.
"""

from __future__ import annotations

import pytest

from clusterdns.corefile import Directive, parse
from clusterdns.errors import ConfigError
from clusterdns.plugins.errors.options import parse as parse_errors
from clusterdns.plugins.log.format import COMBINED_FORMAT, COMMON_FORMAT
from clusterdns.plugins.log.options import parse as parse_log
from clusterdns.plugins.loop.handler import Loop
from clusterdns.plugins.reload.handler import Reload, ReloadOptions
from clusterdns.plugins.reload.handler import parse as parse_reload
from clusterdns.server.server import Server


def directives(text: str) -> tuple[Directive, ...]:
    return parse(". {\n" + text + "\n}\n")[0].directives


def plan(text: str):
    corefile = ".:53 {\n" + text + "\n    whoami\n}\n"
    return Server(corefile, default_port=53).plan(corefile)


def refused(text: str, plugin: str) -> str:
    with pytest.raises(ConfigError) as info:
        plan(text)
    message = str(info.value)
    assert message.startswith(f"plugin/{plugin}: Corefile:")
    return message


ALL, DENIAL, ERROR = frozenset({"all"}), frozenset({"denial"}), frozenset({"error"})

# log/setup_test.go TestLogParse: Corefile lines -> (scope, format, classes) per rule.
LOG = [
    ("log", [(".", COMMON_FORMAT, ALL)]),
    ("log example.org", [("example.org.", COMMON_FORMAT, ALL)]),
    ("log example.org. {common}", [("example.org.", COMMON_FORMAT, ALL)]),
    ("log example.org {combined}", [("example.org.", COMBINED_FORMAT, ALL)]),
    (
        "log example.org.\nlog example.net {combined}",
        [("example.org.", COMMON_FORMAT, ALL), ("example.net.", COMBINED_FORMAT, ALL)],
    ),
    (
        "log example.org {host}\nlog example.org {when}",
        [("example.org.", "{host}", ALL), ("example.org.", "{when}", ALL)],
    ),
    (
        "log example.org example.net",
        [("example.org.", COMMON_FORMAT, ALL), ("example.net.", COMMON_FORMAT, ALL)],
    ),
    (
        "log example.org example.net {host}",
        [("example.org.", "{host}", ALL), ("example.net.", "{host}", ALL)],
    ),
    (
        "log example.org example.net {when} {\n  class denial\n}",
        [("example.org.", "{when}", DENIAL), ("example.net.", "{when}", DENIAL)],
    ),
    ("log example.org {\n  class all\n}", [("example.org.", COMMON_FORMAT, ALL)]),
    ("log example.org {\n  class denial\n}", [("example.org.", COMMON_FORMAT, DENIAL)]),
    ("log {\n  class denial\n}", [(".", COMMON_FORMAT, DENIAL)]),
    ("log {\n  class denial error\n}", [(".", COMMON_FORMAT, DENIAL | ERROR)]),
    ("log {\n  class denial\n  class error\n}", [(".", COMMON_FORMAT, DENIAL | ERROR)]),
    (
        'log example.org "{combined} {/forward/upstream}"',
        [("example.org.", COMBINED_FORMAT + " {/forward/upstream}", ALL)],
    ),
    (
        'log example.org "{when} {common} {/forward/upstream}"',
        [("example.org.", "{when} " + COMMON_FORMAT + " {/forward/upstream}", ALL)],
    ),
]


@pytest.mark.parametrize(("text", "expected"), LOG)
def test_log_parse(text: str, expected: list[tuple[str, str, frozenset[str]]]) -> None:
    rules = [rule for d in directives(text) for rule in parse_log(d)]
    assert [(r.scope, r.format, r.classes) for r in rules] == expected


def test_log_default_format_is_coredns_common_format() -> None:
    # plugin/log/README.md: the default format, byte for byte.
    assert COMMON_FORMAT == (
        '{remote}:{port} - {>id} "{type} {class} {name} {proto} {size} {>do} {>bufsize}" '
        "{rcode} {>rflags} {rsize} {duration}"
    )
    assert COMBINED_FORMAT == COMMON_FORMAT + ' "{>opcode}"'


@pytest.mark.parametrize(
    "text", ["log {\n  class abracadabra\n}", "log {\n  class\n}", "log {\n  unknown\n}"]
)
def test_log_refused(text: str) -> None:
    refused(text, "log")


# errors/setup_test.go TestErrorsParse: text -> (patterns, stacktrace), or None when refused.
ERRORS = [
    ("errors", (0, False)),
    ("errors stdout", (0, False)),
    ("errors errors.txt", None),
    ("errors visible", None),
    ("errors {\n  log visible\n}", None),
    ("errors a b", None),
    ("errors {\n  consolidate\n}", None),
    ("errors {\n  consolidate 1m\n}", None),
    ("errors {\n  consolidate 1m .* extra\n}", None),
    ("errors {\n  consolidate abc .*\n}", None),
    ("errors {\n  consolidate 1 .*\n}", None),
    ("errors {\n  consolidate 1m ())\n}", None),
    ("errors {\n  stacktrace\n}", (0, True)),
    ("errors {\n  stacktrace\n  consolidate 1m ^exact$\n}", (1, True)),
    ("errors {\n  consolidate 1m ^exact$\n}", (1, False)),
    ("errors {\n  consolidate 1m error\n}", (1, False)),
    ('errors {\n  consolidate 1m "format error"\n}', (1, False)),
    ("errors {\n  consolidate 1m error1\n  consolidate 5s error2\n}", (2, False)),
    ("errors {\n  consolidate 1m error show_first\n}", (1, False)),
    ("errors {\n  consolidate 1m error warning show_first\n}", (1, False)),
    ("errors {\n  consolidate 1m error invalid_option\n}", None),
    ("errors {\n  consolidate 1m error warning error\n}", None),
    ("errors {\n  consolidate 1m error info debug\n}", None),
    ("errors {\n  consolidate 1m error show_first warning\n}", None),
    ("errors {\n  consolidate 1m error show_first info\n}", None),
]


@pytest.mark.parametrize(("text", "expected"), ERRORS)
def test_errors_parse(text: str, expected: tuple[int, bool] | None) -> None:
    [directive] = directives(text)
    if expected is None:
        with pytest.raises(ConfigError) as info:
            parse_errors(directive)
        assert "Corefile:" in str(info.value)
    else:
        config = parse_errors(directive)
        assert (len(config.patterns), config.stacktrace) == expected


def test_errors_twice_is_refused() -> None:
    # errors/setup_test.go: "errors\nerrors" is plugin.ErrOnce.
    refused("errors\nerrors", "errors")


@pytest.mark.parametrize(
    ("line", "level"),
    [
        ("warning", "warning"),
        ("error", "error"),
        ("info", "info"),
        ("debug", "debug"),
        ("", "error"),
    ],
)
def test_errors_consolidate_level(line: str, level: str) -> None:
    # errors/setup_test.go TestProperLogCallbackIsSet; the default is error.
    [directive] = directives(f"errors {{\n  consolidate 1m .* {line}\n}}")
    assert parse_errors(directive).patterns[0].level == level


# reload/setup_test.go TestSetupReload: accepted lines, and refused ones.
# (line, interval, jitter): setup.go defaults 30s/15s, the jitter capped at half the interval
RELOAD_OK = [
    ("reload", 30.0, 15.0),
    ("reload 10s", 10.0, 5.0),
    ("reload 10s 2s", 10.0, 2.0),
    ("reload 2s 0s", 2.0, 0.0),
]
RELOAD_BAD = ["reload foo", "reload 10s foo", "reload 10s 5s foo", "reload 1s", "reload 0s"]
RELOAD_BAD += ["reload 3s 0.5s"]


def reload_plugin(text: str) -> Reload:
    [planned] = plan(text)
    return next(p for p in planned.plugins if isinstance(p, Reload))


@pytest.mark.parametrize(("text", "interval", "jitter"), RELOAD_OK)
def test_reload_accepted(text: str, interval: float, jitter: float) -> None:
    [directive] = directives(text)
    assert parse_reload(directive) == ReloadOptions(interval, jitter)
    reload_plugin(text)  # and the server takes it


@pytest.mark.parametrize("text", RELOAD_BAD)
def test_reload_refused(text: str) -> None:
    refused(text, "reload")


@pytest.mark.parametrize(
    ("text", "low", "high"),
    [
        ("reload", 22.5, 37.5),  # 30s +/- 15s/2
        ("reload 10s", 7.5, 12.5),  # jitter 15s capped at 10s/2
        ("reload 2s 0s", 2.0, 2.0),  # no jitter
        ("reload 1m 4s", 58.0, 62.0),
    ],
)
def test_reload_interval_and_jitter(text: str, low: float, high: float) -> None:
    for _ in range(20):
        assert low <= reload_plugin(text).interval <= high


# (line, what the plugin was built with, or None when refused)
HEALTH = [
    ("health", {"address": ":8080", "lameduck_seconds": 0.0}),
    ("health localhost:1234", {"address": "localhost:1234", "lameduck_seconds": 0.0}),
    (
        "health localhost:1234 {\n  lameduck 4s\n}",
        {"address": "localhost:1234", "lameduck_seconds": 4.0},
    ),
    ("health bla:a", {"address": "bla:a", "lameduck_seconds": 0.0}),  # only the listen fails, later
    ("health bla", None),
    ("health bla bla", None),
    ("health localhost:1234 {\n  lameduck a\n}", None),
    ("health localhost:1234 {\n  lamedudk 4\n}", None),
    ("health [::1]:8080", {"address": "[::1]:8080", "lameduck_seconds": 0.0}),
    ("health ::1:8080", None),
]
READY = [
    ("ready", {"address": ":8181", "monitor": "until-ready"}),
    ("ready localhost:1234", {"address": "localhost:1234", "monitor": "until-ready"}),
    ("ready {\n  monitor until-ready\n}", {"address": ":8181", "monitor": "until-ready"}),
    ("ready {\n  monitor continuously\n}", {"address": ":8181", "monitor": "continuously"}),
    ("ready {\n  monitor bogus\n}", None),
    ("ready localhost", None),
    ("ready a b", None),
    ("ready\nready", None),
]
PROMETHEUS = [
    ("prometheus", {"address": "127.0.0.1:9153"}),  # CoreDNS metrics' default localhost:9153
    ("prometheus localhost:53", {"address": "127.0.0.1:53"}),
    ("prometheus /foo", None),
    ("prometheus a b c", None),
]


@pytest.mark.parametrize(
    ("text", "built", "plugin"),
    [(t, built, "health") for t, built in HEALTH]
    + [(t, built, "ready") for t, built in READY]
    + [(t, built, "prometheus") for t, built in PROMETHEUS],
)
def test_http_plugins_parse(text: str, built: dict[str, object] | None, plugin: str) -> None:
    if built is None:
        refused(text, plugin)
        return
    [planned] = plan(text)
    made = next(p for p in planned.plugins if p.name == plugin)
    assert {field: getattr(made, field) for field in built} == built


# bind/setup_test.go: line -> listen hosts, or None when refused.
BIND = [
    ("bind 1.2.3.4", ("1.2.3.4",)),
    ("bind", None),
    ("bind 1.2.3.invalid", None),
    ("bind 1.2.3.4 ::5", ("1.2.3.4", "::5")),
    ("bind ::1 1.2.3.4 ::5 127.9.9.0", ("::1", "1.2.3.4", "::5", "127.9.9.0")),
    ("bind ::1 1.2.3.4 ::5 127.9.9.0 noone", None),
    ("bind 1.2.3.4 lo", ("1.2.3.4", "127.0.0.1", "::1")),
    ("bind lo {\n  except 127.0.0.1\n}", ("::1",)),
    ("bind 1.2.3.4 {\n  except\n}", None),
    ("bind 1.2.3.4 {\n  nope 1.2.3.4\n}", None),
]


@pytest.mark.parametrize(("text", "hosts"), BIND)
def test_bind(text: str, hosts: tuple[str, ...] | None) -> None:
    if hosts is None:
        refused(text, "bind")
    else:
        assert plan(text)[0].hosts == hosts


def test_whoami_takes_no_argument() -> None:
    refused("whoami extra", "whoami")


@pytest.mark.parametrize(("bind", "address"), [("", ":53"), ("::1", "[::1]:53")])
def test_loop_names_its_address_as_go_joins_it(bind: str, address: str) -> None:
    line = f"bind {bind}\nloop" if bind else "loop"
    [planned] = plan(line)
    loop = next(p for p in planned.plugins if isinstance(p, Loop))
    assert loop.address == address
    # loop.go: the probe is HINFO <random>.<random>.<zone>.
    first, second, rest = loop.qname.split(".", 2)
    assert first.isdigit() and second.isdigit() and rest == ""


def test_loop_twice_or_with_arguments_is_refused() -> None:
    refused("loop\nloop", "loop")
    refused("loop now", "loop")
