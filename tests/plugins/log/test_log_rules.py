"""log: several log lines in a block are rules of one plugin (CoreDNS plugin/log/setup.go)."""

from __future__ import annotations

import logging

import pytest

from tests.support.serverutil import running


def test_several_log_lines_are_rules_of_one_plugin(caplog: pytest.LogCaptureFixture) -> None:
    """CoreDNS plugin/log/setup.go collects every log line of a block into one plugin's
    rules; log.go logs a query with the first rule whose name scope holds it."""
    caplog.set_level(logging.INFO, logger="clusterdns.plugins.log")
    text = (
        ".:0 {\n    bind 127.0.0.1\n"
        '    log a.test "A {name}"\n'
        '    log b.test "B {name} {local}"\n'
        "    whoami\n}\n"
    )
    with running(text) as srv:
        for name in ("x.a.test.", "y.b.test.", "z.c.test."):
            srv.udp(name)
        messages = [r.getMessage() for r in caplog.records if r.name == "clusterdns.plugins.log"]
    assert messages == ["[INFO] A x.a.test.", "[INFO] B y.b.test. 127.0.0.1"]
