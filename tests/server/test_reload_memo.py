"""What a reload does to the server's memo of replies.

A block written exactly as before, whose plugins' replies outlive a reload
(``Plugin.replies_outlive_reload``), keeps its memoized replies; any other
block's go, so the new configuration answers from its own data.
"""

from __future__ import annotations

from pathlib import Path

from clusterdns.cluster import sample_cluster_path
from clusterdns.server.dispatch import Dispatcher
from tests.support.serverutil import RunningServer, answers, running

WEB = "web.shop.svc.cluster.local."


def kubernetes_block(extra: str = "") -> str:
    return f"""
.:0 {{
    bind 127.0.0.1
    {extra}
    kubernetes cluster.local {{
        manifests {sample_cluster_path()}
    }}
}}
"""


def dispatcher(srv: RunningServer) -> Dispatcher:
    (listener,) = srv.server.listeners.values()
    return listener.dispatcher


def memoized(srv: RunningServer, name: str) -> list[object]:
    label = name.split(".")[0].encode()
    memo = dispatcher(srv).udp_memo.entries
    return [entry for key, entry in memo.items() if bytes([len(label)]) + label in key]


def test_an_unchanged_kubernetes_block_keeps_its_memoized_replies() -> None:
    with running(kubernetes_block()) as srv:
        assert answers(srv.udp(WEB)) == [f"{WEB} 5 IN A 10.96.10.10"]
        before = memoized(srv, WEB)
        assert len(before) == 1
        assert srv.call(srv.server.reload(srv.server.text)) is True
        assert memoized(srv, WEB) == before
        assert answers(srv.udp(WEB)) == [f"{WEB} 5 IN A 10.96.10.10"]


def test_a_changed_block_starts_with_an_empty_memo() -> None:
    with running(kubernetes_block()) as srv:
        srv.udp(WEB)
        assert memoized(srv, WEB)
        assert srv.call(srv.server.reload(kubernetes_block("errors"))) is True
        assert memoized(srv, WEB) == []
        assert answers(srv.udp(WEB)) == [f"{WEB} 5 IN A 10.96.10.10"]


def test_a_hosts_file_changed_before_an_unchanged_reload_is_served(tmp_path: Path) -> None:
    """hosts reads its file again into a new table: its memoized replies cannot be kept."""
    hosts = tmp_path / "hosts"
    hosts.write_text("192.0.2.1 app.example.\n")
    corefile = f".:0 {{\n    bind 127.0.0.1\n    hosts {hosts} {{\n        reload 0\n    }}\n}}\n"
    with running(corefile) as srv:
        assert answers(srv.udp("app.example.")) == ["app.example. 3600 IN A 192.0.2.1"]
        hosts.write_text("192.0.2.2 app.example.\n")
        assert srv.call(srv.server.reload(corefile)) is True
        assert answers(srv.udp("app.example.")) == ["app.example. 3600 IN A 192.0.2.2"]
