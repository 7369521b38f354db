"""Server lifecycle and the plugin seam: reload order, errors that name their place."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from clusterdns.errors import ConfigError
from clusterdns.server.server import Server
from tests.support.serverutil import answers, running


def hosts_block(address: str, extra: str = "") -> str:
    return (
        f".:0 {{\n    bind 127.0.0.1\n{extra}    hosts {{\n        {address} web.example\n"
        "    }\n}\n"
    )


def test_a_new_config_whose_plugin_cannot_start_leaves_the_old_one_serving() -> None:
    """Reload sets up and starts the new blocks' plugins before the swap (DESIGN.md: a bad
    reload keeps the old config serving); a start failure stops them and changes nothing."""
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    busy = taken.getsockname()[1]
    try:
        with running(hosts_block("10.0.0.1")) as srv:
            listeners = dict(srv.server.listeners)
            bad = hosts_block("10.0.0.2", f"    health 127.0.0.1:{busy}\n")
            assert srv.call(srv.server.reload(bad)) is False
            assert answers(srv.udp("web.example.")) == ["web.example. 3600 IN A 10.0.0.1"]
            assert srv.server.listeners == listeners
            assert srv.call(srv.server.reload(hosts_block("10.0.0.3"))) is True
            assert answers(srv.udp("web.example.")) == ["web.example. 3600 IN A 10.0.0.3"]
    finally:
        taken.close()


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ("cache {\n        success 0\n    }", "plugin/cache: Corefile:3: capacity must be between"),
        ("cache {\n        denial 10 x\n    }", "plugin/cache: Corefile:3: TTL must be a number"),
        ("forward . 127.0.0.1 {\n        max_fails x\n    }", "plugin/forward: Corefile:3: "),
        ("health {\n        lameduck soon\n    }", "plugin/health: Corefile:3: invalid duration"),
        ("reload 1x", "plugin/reload: Corefile:2: invalid duration"),
        ("errors {\n        consolidate 5s\n    }", "plugin/errors: Corefile:3: "),
        ("log . {\n        class nope\n    }", "plugin/log: Corefile:3: "),
        ("hosts {\n        ttl 0\n    }", "plugin/hosts: Corefile:3: "),
        ("ready {\n        monitor x\n    }", "plugin/ready: Corefile:3: "),
    ],
)
def test_every_option_error_names_plugin_file_and_line(block: str, message: str) -> None:
    """STYLE.md 5: `plugin/<name>: <file>:<line>: ...`, for options inside a block too."""
    with pytest.raises(ConfigError) as caught:
        Server("", "Corefile", default_port=0).plan(f".:0 {{\n    {block}\n}}\n")
    assert str(caught.value).startswith(message), str(caught.value)


def test_reload_digest_reads_imported_files(tmp_path: Path) -> None:
    """CoreDNS's reload hashes the configuration as loaded, imports included."""
    from clusterdns.plugins.reload.handler import digest

    part = tmp_path / "part.conf"
    part.write_text("whoami\n")
    main = f".:53 {{\n    import {part}\n}}\n"
    first = digest(main, str(tmp_path / "Corefile"))
    part.write_text("whoami\nlog\n")
    assert digest(main, str(tmp_path / "Corefile")) != first
