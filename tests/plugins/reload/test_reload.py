"""reload: a changed Corefile is swapped in without a restart; a bad one leaves the old serving."""

from __future__ import annotations

from pathlib import Path

import pytest

from clusterdns.corefile.model import Directive
from clusterdns.errors import ConfigError
from clusterdns.plugins.plugin import SetupContext
from clusterdns.plugins.reload.handler import Reload, digest
from clusterdns.plugins.reload.setup import setup
from tests.support.serverutil import answers, running
from tests.support.upstream import metric, wait_for


def corefile(address: str, extra: str = "") -> str:
    return (
        ".:0 {\n    bind 127.0.0.1\n    reload 2s 0\n"
        f"    hosts {{\n        {address} web.example\n    }}\n{extra}}}\n"
    )


def test_good_then_bad_corefile(tmp_path: Path) -> None:
    path = tmp_path / "Corefile"
    path.write_text(corefile("10.0.0.1"))
    with running(path.read_text(), str(path)) as srv:
        assert answers(srv.udp("web.example.")) == ["web.example. 3600 IN A 10.0.0.1"]
        path.write_text(corefile("10.0.0.2"))
        assert wait_for(
            lambda: answers(srv.udp("web.example.")) == ["web.example. 3600 IN A 10.0.0.2"]
        )
        failed = metric("coredns_reload_failed_total")
        value = digest(corefile("10.0.0.2"), str(path))
        assert metric("coredns_reload_version_info", hash="sha512", value=value) == 1
        path.write_text(corefile("10.0.0.3", "    nosuchplugin\n"))
        assert wait_for(lambda: metric("coredns_reload_failed_total") == failed + 1)
        assert answers(srv.udp("web.example.")) == ["web.example. 3600 IN A 10.0.0.2"]


def test_digest_ignores_comments_and_layout() -> None:
    one = ".:53 {\n    whoami\n}\n"
    two = "# comment\n.:53 {\n  whoami   # here too\n}\n"
    assert digest(one, "Corefile") == digest(two, "Corefile")
    assert digest(one, "Corefile") != digest(".:54 {\n    whoami\n}\n", "Corefile")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("1s",), "interval value must be greater or equal to 2s"),
        (("10s", "500ms"), "jitter value must be 0 or greater or equal to 1s"),
        (("10s", "1s", "1s"), "at most INTERVAL and JITTER"),
        (("soon",), "invalid duration"),
    ],
)
def test_parse_errors(args: tuple[str, ...], message: str) -> None:
    ctx = SetupContext(keys=(".",), zones=(".",), port=53, config_file="Corefile")
    with pytest.raises(ConfigError, match=message):
        setup(Directive("reload", args, (), "Corefile", 2), ctx)


def test_jitter_is_capped_at_half_the_interval() -> None:
    ctx = SetupContext(keys=(".",), zones=(".",), port=53, config_file="Corefile")
    plugin = setup(Directive("reload", ("4s", "1m"), (), "Corefile", 2), ctx)
    assert isinstance(plugin, Reload)
    assert 3.0 <= plugin.interval <= 5.0
