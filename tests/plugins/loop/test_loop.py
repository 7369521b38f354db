"""loop: a server that forwards to itself exits with CoreDNS's fatal message."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from clusterdns.corefile.model import Directive
from clusterdns.errors import ConfigError
from clusterdns.plugins.loop.handler import Loop, probe_name
from clusterdns.plugins.loop.setup import setup
from clusterdns.plugins.plugin import SetupContext
from tests.support.serverutil import running
from tests.support.upstream import free_port, wait_for


def test_forwarding_to_itself_exits_with_the_loop_message(tmp_path: Path) -> None:
    port = free_port()
    conf = tmp_path / "Corefile"
    conf.write_text(
        f".:{port} {{\n    bind 127.0.0.1\n    loop\n    forward . 127.0.0.1:{port}\n}}\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "clusterdns", "serve", "-conf", str(conf), "-quiet"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 1
    assert (
        f'-> 127.0.0.1:{port}) detected for zone ".", see https://coredns.io/plugins/loop#troubleshooting. Query: "HINFO '
        in done.stdout + done.stderr
    )
    assert "[FATAL] plugin/loop: Loop (127.0.0.1:" in done.stdout + done.stderr


def test_no_loop_keeps_serving_and_turns_itself_off() -> None:
    # hosts falls through so the probe reaches loop (plugin.cfg puts hosts before loop).
    text = (
        ".:0 {\n    bind 127.0.0.1\n    loop\n"
        "    hosts {\n        10.0.0.1 web.example\n        fallthrough\n    }\n}\n"
    )
    with running(text) as srv:
        loop = next(p for p in srv.server.blocks[0].plugins if isinstance(p, Loop))
        assert srv.udp("web.example.").rcode() == 0
        # CoreDNS plugin/loop/setup.go: the probe is answered, and 2 s later the plugin
        # disables itself.  The probe went through our own chain exactly once.
        assert wait_for(lambda: loop.disabled, timeout=10)
        assert loop.probes == 1
        assert loop.seen == 1


def test_probe_name_is_two_random_labels_under_the_zone() -> None:
    name = probe_name("example.org.")
    first, second, rest = name.split(".", 2)
    assert first.isdigit() and second.isdigit() and rest == "example.org."
    assert probe_name("example.org.") != name


def test_loop_takes_no_arguments() -> None:
    ctx = SetupContext(keys=(".",), zones=(".",), port=53, config_file="Corefile")
    with pytest.raises(ConfigError):
        setup(Directive("loop", ("now",), (), "Corefile", 2), ctx)
