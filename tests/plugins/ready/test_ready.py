"""ready: monitor modes, per-block readiness and option checks; CoreDNS's behaviour on loopback."""

from __future__ import annotations

import pytest

from clusterdns.corefile.model import Directive
from clusterdns.errors import ConfigError
from clusterdns.plugins.plugin import SetupContext
from clusterdns.plugins.ready.setup import setup as ready_setup
from clusterdns.plugins.whoami.handler import Whoami
from tests.support.serverutil import http_get, running


@pytest.mark.parametrize(("monitor", "after_flap"), [("until-ready", 200), ("continuously", 503)])
def test_ready_monitor_modes(
    monkeypatch: pytest.MonkeyPatch, monitor: str, after_flap: int
) -> None:
    """CoreDNS plugin/ready/README.md: until-ready stops asking a plugin once it was ready;
    continuously asks every time, so a plugin can go back to not ready."""
    state = {"ready": False}
    monkeypatch.setattr(Whoami, "ready", lambda self: state["ready"])
    text = (
        f".:0 {{\n    bind 127.0.0.1\n    ready 127.0.0.1:0 {{\n        monitor {monitor}\n"
        "    }\n    whoami\n}\n"
    )
    with running(text) as srv:
        port = srv.http_port("/ready")
        assert http_get(port, "/ready") == (503, b"whoami")
        state["ready"] = True
        assert http_get(port, "/ready") == (200, b"OK")
        state["ready"] = False
        assert http_get(port, "/ready")[0] == after_flap


def test_ready_counts_only_the_blocks_that_enable_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """CoreDNS plugin/ready/README.md: each server block that enables ready has the plugins
    *in that block* report readiness."""
    monkeypatch.setattr(Whoami, "ready", lambda self: False)
    text = (
        "a.test:0 {\n    bind 127.0.0.1\n    ready 127.0.0.1:0\n}\n"
        "b.test:0 {\n    bind 127.0.0.1\n    whoami\n}\n"
    )
    with running(text) as srv:
        assert http_get(srv.http_port("/ready"), "/ready") == (200, b"OK")


def test_ready_options_are_checked() -> None:
    ctx = SetupContext((".",), (".",), 53, "Corefile")
    bad = Directive(
        "ready", (), (Directive("monitor", ("sometimes",), (), "Corefile", 3),), "Corefile", 2
    )
    with pytest.raises(
        ConfigError, match="plugin/ready: Corefile:3: monitor type 'sometimes' not supported"
    ):
        ready_setup(bad, ctx)
