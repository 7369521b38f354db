"""doctor node's checks on fixture trees: /proc files and saved rule listings, old and new
kernels, each kube-proxy mode; and --trace saying what is missing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from clusterdns.doctor.node.diagnose import NodeOptions, diagnose_node
from clusterdns.doctor.node.sources import Sources
from clusterdns.kernellab.kubeproxy import ProxyMode, Service, iptables_restore, nft_ruleset
from clusterdns.nodecache.rules import node_cache_rules

HEADER = "entries  clashres found new invalid ignore delete chainlength insert insert_failed drop early_drop icmp_error  expect_new expect_create expect_delete search_restart\n"
SERVICE = Service("10.96.0.10", 53, ("10.244.2.2", "10.244.3.2"), "10.244.0.0/16")


def stat_rows(*cpus: tuple[int, int, int]) -> str:
    """(clashres, insert_failed, drop) per CPU."""
    rows = [f"00000010  {c:08x} 0 0 0 0 0 0 0 {f:08x} {d:08x} 0 0  0 0 0 0\n" for c, f, d in cpus]
    return HEADER + "".join(rows)


def node_cache_save() -> str:
    rules = node_cache_rules(("169.254.20.10",), 53, 8080)
    lines = ["*raw"] + [
        f"-A {r.chain} " + " ".join(f'"{a}"' if " " in a else a for a in r.args).replace(
            "-p tcp", "-p tcp -m tcp").replace("-p udp", "-p udp -m udp")
        for r in rules if r.table == "raw"
    ]  # fmt: skip
    return "\n".join([*lines, "COMMIT", ""])


def make_tree(tmp: Path, *, release: str, stat: str, save: str = "", nft: str = "",
              conn_reuse: str | None = None, resolv: str | None = None,
              count: int = 100, maximum: int = 262144) -> Sources:  # fmt: skip
    proc, commands, root = tmp / "proc", tmp / "commands", tmp / "root"
    files = {
        "sys/kernel/osrelease": release + "\n",
        "net/stat/nf_conntrack": stat,
        "sys/net/netfilter/nf_conntrack_count": f"{count}\n",
        "sys/net/netfilter/nf_conntrack_max": f"{maximum}\n",
        "sys/net/netfilter/nf_conntrack_udp_timeout": "30\n",
        "sys/net/netfilter/nf_conntrack_udp_timeout_stream": "120\n",
    }
    if conn_reuse is not None:
        files["sys/net/ipv4/vs/conn_reuse_mode"] = conn_reuse + "\n"
    for name, text in files.items():
        (proc / name).parent.mkdir(parents=True, exist_ok=True)
        (proc / name).write_text(text)
    commands.mkdir()
    (commands / "iptables-save").write_text(save)
    (commands / "nft-list-ruleset").write_text(nft)
    if resolv is not None:
        sandbox = root / "var/lib/containerd/io.containerd.grpc.v1.cri/sandboxes/abc"
        sandbox.mkdir(parents=True)
        (sandbox / "resolv.conf").write_text(resolv)
    return Sources(proc=str(proc), root=str(root), commands=str(commands))


IPVS_SAVE = """*nat
:KUBE-SERVICES - [0:0]
-A KUBE-SERVICES -m set --match-set KUBE-CLUSTER-IP dst,dst -j ACCEPT
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully
COMMIT
"""

CASES = [
    # (id, tree kwargs, {check: severity})
    ("old-kernel-4.14", dict(release="4.14.320", stat=stat_rows((0, 7, 7), (0, 0, 0))),
     {"kernel-race-fixes": "error", "conntrack-counters": "warn", "node-cache": "warn",
      "kube-proxy": "info"}),
    ("kernel-5.4-iptables", dict(release="5.4.0-150-generic", stat=stat_rows((3, 0, 0)),
                                 save=iptables_restore(SERVICE, ProxyMode.IPTABLES)),
     {"kernel-race-fixes": "warn", "conntrack-counters": "ok", "kube-proxy": "info"}),
    ("kernel-6.1-random-fully", dict(release="6.1.0-13-amd64", stat=stat_rows((9, 0, 0)),
                                     save=iptables_restore(SERVICE, ProxyMode.IPTABLES_RANDOM_FULLY)),
     {"kernel-race-fixes": "ok", "kube-proxy": "ok"}),
    ("nftables", dict(release="6.6.0", stat=stat_rows((0, 0, 0)), nft=nft_ruleset(SERVICE)),
     {"kube-proxy": "ok"}),
    ("ipvs-old-kernel", dict(release="4.19.0", stat=stat_rows((0, 0, 0)), save=IPVS_SAVE,
                             conn_reuse="1"),
     {"ipvs-conn-reuse": "warn", "kube-proxy": "ok"}),
    ("table-full", dict(release="6.1.0", stat=stat_rows((0, 0, 0)), count=250000, maximum=262144),
     {"conntrack-table": "error"}),
    ("node-cache-bypassed", dict(release="6.1.0", stat=stat_rows((0, 0, 0)), save=node_cache_save(),
                                 resolv="nameserver 10.96.0.10\noptions ndots:5\n"),
     {"node-cache": "ok", "pod-resolv-conf": "warn"}),
    ("node-cache-used", dict(release="6.1.0", stat=stat_rows((0, 0, 0)), save=node_cache_save(),
                             resolv="nameserver 169.254.20.10\noptions ndots:5\n"),
     {"node-cache": "ok", "pod-resolv-conf": "ok"}),
]  # fmt: skip


@pytest.mark.parametrize(("tree", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_fixture_tree(tmp_path: Path, tree: dict[str, object], expected: dict[str, str]) -> None:
    sources = make_tree(tmp_path, **tree)  # type: ignore[arg-type]
    report = diagnose_node(NodeOptions(sources=sources, interval=0, probe_health=False))
    got = {f.check: f.severity.label for f in report.findings}
    assert {check: got[check] for check in expected} == expected


def test_rising_counters_are_told_from_old_ones(tmp_path: Path) -> None:
    """The second sample is taken after the interval: a count that grew in it is 'now'."""
    sources = make_tree(tmp_path, release="5.4.0", stat=stat_rows((0, 5, 5), (0, 0, 0)))
    stat = Path(sources.proc) / "net/stat/nf_conntrack"

    def interval(_: float) -> None:  # what the kernel counted while doctor node waited
        stat.write_text(stat_rows((0, 5, 5), (0, 3, 3)))

    report = diagnose_node(NodeOptions(sources=sources, interval=1, probe_health=False), interval)
    counters = next(f for f in report.findings if f.check == "conntrack-counters")
    assert counters.severity.label == "error"
    assert "insert_failed 8 (+3 in 1 s, per CPU 0/3)" in counters.evidence


def test_trace_says_what_is_missing(tmp_path: Path) -> None:
    """Without bpftrace on PATH the trace finding names it, and the counters still run."""
    sources = make_tree(tmp_path, release="6.1.0", stat=stat_rows((0, 0, 0)))
    env = dict(os.environ, PATH=str(tmp_path / "empty-bin"))
    argv = [sys.executable, "-m", "clusterdns", "doctor", "node", "--proc-root", sources.proc,
            "--root", sources.root, "--commands", str(sources.commands), "--trace", "1",
            "--no-health", "--json"]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60, check=False)
    report = json.loads(done.stdout)
    trace = next(f for f in report["findings"] if f["check"] == "trace")
    assert "bpftrace is not installed" in trace["evidence"]
    assert report["trace"]["tool"] is None
    assert any(f["check"] == "conntrack-counters" for f in report["findings"])
