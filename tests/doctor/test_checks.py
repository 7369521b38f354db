"""Every doctor check, from evidence values: one scenario that triggers it, one that stays quiet."""

from __future__ import annotations

from pathlib import Path

import pytest

from clusterdns.corefile import parse as parse_corefile
from clusterdns.doctor import checks
from clusterdns.doctor.checks import BenchRun, Conntrack, Probe
from clusterdns.doctor.findings import Severity
from clusterdns.resolver.resolvconf import Libc, effective, parse

CLUSTER_FIRST = (
    "search shop.svc.cluster.local svc.cluster.local cluster.local\n"
    "nameserver 10.96.0.10\noptions ndots:5\n"
)
DEFAULT = "search corp.example\nnameserver 192.0.2.53\n"
CUSTOM = "search cluster.local\nnameserver 10.96.0.10\noptions ndots:2\n"


@pytest.mark.parametrize(
    ("text", "severity", "title"),
    [
        (CLUSTER_FIRST, Severity.INFO, "ClusterFirst-like: namespace shop"),
        (DEFAULT, Severity.INFO, "Default-like"),
        (CUSTOM, Severity.INFO, "None/custom"),
        ("search a.b\n", Severity.ERROR, "no nameserver"),
    ],
)
def test_policy(text: str, severity: Severity, title: str) -> None:
    finding = checks.check_policy(parse(text), "cluster.local")
    assert (finding.severity, title in finding.title) == (severity, True)


def test_cluster_domain_comes_from_the_search_list() -> None:
    conf = parse("search a.svc.k8s.example svc.k8s.example k8s.example\n")
    assert checks.cluster_domain(conf) == "k8s.example"
    assert checks.cluster_domain(parse(DEFAULT)) == "cluster.local"


@pytest.mark.parametrize(
    ("text", "libc", "severity", "queries"),
    [
        (CLUSTER_FIRST, Libc.GLIBC, Severity.WARN, 8),
        (CLUSTER_FIRST, Libc.MUSL, Severity.WARN, 8),
        (CLUSTER_FIRST + "options ndots:2\n", Libc.GLIBC, Severity.OK, 2),
        (CLUSTER_FIRST + "options no-aaaa\n", Libc.GLIBC, Severity.WARN, 4),
        (DEFAULT, Libc.GLIBC, Severity.OK, 2),
        ("search a.b c.d\nnameserver 10.0.0.1\noptions ndots:3\n", Libc.GLIBC, Severity.WARN, 6),
        ("search a.b\nnameserver 10.0.0.1\noptions ndots:3\n", Libc.GLIBC, Severity.OK, 4),
    ],
)
def test_amplification(text: str, libc: Libc, severity: Severity, queries: int) -> None:
    eff = effective(parse(text), libc)
    assert checks.queries_per_lookup(eff) == queries
    finding = checks.check_amplification(eff)
    assert finding.severity is severity
    assert ("trailing dot" in finding.fix) is (severity is Severity.WARN)


@pytest.mark.parametrize(
    ("options", "libc", "severity", "word"),
    [
        ("", Libc.GLIBC, Severity.INFO, "single-request-reopen"),
        ("options single-request-reopen\n", Libc.GLIBC, Severity.OK, ""),
        ("options use-vc\n", Libc.GLIBC, Severity.OK, ""),
        ("", Libc.MUSL, Severity.INFO, "node-local"),
        ("options single-request-reopen\n", Libc.MUSL, Severity.WARN, "node-local"),
    ],
)
def test_send_options(options: str, libc: Libc, severity: Severity, word: str) -> None:
    finding = checks.check_send_options(effective(parse(CLUSTER_FIRST + options), libc), "test")
    assert finding.severity is severity
    assert word in finding.fix


@pytest.mark.parametrize(
    ("probe", "severity"),
    [
        (
            Probe("nameserver 127.0.0.1", "127.0.0.1:53", "k.", "NOERROR", ("10.96.0.1",)),
            Severity.OK,
        ),
        (Probe("nameserver 127.0.0.1", "127.0.0.1:53", "k.", "NXDOMAIN"), Severity.ERROR),
        (Probe("nameserver 127.0.0.1", "127.0.0.1:53", "k.", "NOERROR"), Severity.ERROR),
        (
            Probe("nameserver 127.0.0.1", "127.0.0.1:53", "k.", None, error="timeout"),
            Severity.ERROR,
        ),
        (Probe("replica 10.0.0.1", "10.0.0.1:53", "k.", None, probed=False), Severity.INFO),
    ],
)
def test_probe(probe: Probe, severity: Severity) -> None:
    finding = checks.check_probe(probe)
    assert finding.severity is severity
    if not probe.probed:
        assert "not probed (--probe-remote to allow)" in finding.title


def _run(mode: str, tries: int = 0, failed: int = 0) -> BenchRun:
    return BenchRun(mode, 20, failed, tries, tries)


GLIBC = effective(parse(CLUSTER_FIRST), Libc.GLIBC)
MUSL = effective(parse(CLUSTER_FIRST), Libc.MUSL)


@pytest.mark.parametrize(
    ("runs", "eff", "severity", "words"),
    [
        ([_run("parallel"), _run("reopen"), _run("tcp")], GLIBC, Severity.OK, []),
        (
            [_run("parallel", 20), _run("reopen"), _run("tcp")],
            GLIBC,
            Severity.ERROR,
            ["conntrack insert race", "stall 5 s", "single-request-reopen", "none with reopen/TCP"],
        ),
        (
            # a rare loss with reopen (a reused source port) does not hide the race
            [_run("parallel", 20), _run("reopen", 1), _run("tcp")],
            GLIBC,
            Severity.ERROR,
            ["conntrack insert race"],
        ),
        (
            [_run("parallel", 20), _run("reopen"), _run("tcp")],
            MUSL,
            Severity.ERROR,
            ["conntrack insert race", "stall 2.5 s", "node-local DNS cache"],
        ),
        (
            [_run("parallel", 5), _run("reopen", 4), _run("tcp", 0, 3)],
            GLIBC,
            Severity.ERROR,
            ["every mode", "more replicas"],
        ),
        ([], GLIBC, Severity.INFO, ["no bench"]),
    ],
)
def test_bench(runs: list[BenchRun], eff: object, severity: Severity, words: list[str]) -> None:
    finding = checks.check_bench(runs, eff, 0.3)  # type: ignore[arg-type]
    assert finding.severity is severity
    text = f"{finding.title} {finding.evidence} {finding.fix}"
    assert [w for w in words if w not in text] == []


STAT = """entries  clashres found new invalid ignore delete chainlength insert insert_failed drop early_drop
000000aa  00000000 00000000 00000000 00000003 00000000 00000000 00000000 00000000 0000000a 00000002 00000000
000000aa  00000000 00000000 00000000 00000003 00000000 00000000 00000000 00000000 00000006 00000001 00000000
"""


def test_parse_conntrack_stat_sums_hex_per_cpu() -> None:
    totals = checks.parse_conntrack_stat(STAT)
    assert (totals["insert_failed"], totals["drop"], totals["invalid"]) == (16, 3, 6)


@pytest.mark.parametrize(
    ("ct", "race", "table"),
    [
        (Conntrack(), Severity.INFO, Severity.INFO),
        (Conntrack(0, 0, 100, 1000), Severity.OK, Severity.OK),
        (Conntrack(16, 3, 800, 1000), Severity.WARN, Severity.WARN),
        (Conntrack(1, 0, 990, 1000), Severity.WARN, Severity.ERROR),
    ],
)
def test_conntrack(ct: Conntrack, race: Severity, table: Severity) -> None:
    assert checks.check_conntrack_race(ct).severity is race
    assert checks.check_conntrack_table(ct).severity is table


@pytest.mark.parametrize(
    ("paths", "libc"),
    [
        (["/r/lib/ld-musl-x86_64.so.1"], Libc.MUSL),
        (["/r/lib/x86_64-linux-gnu/libc.so.6"], Libc.GLIBC),
        (["/r/lib/ld-musl-aarch64.so.1", "/r/usr/lib/libc.so.6"], Libc.MUSL),
        (["/r/lib/libm.so.6"], None),
    ],
)
def test_libc_from_paths(paths: list[str], libc: Libc | None) -> None:
    assert checks.libc_from_paths(paths) is libc


GOOD_COREFILE = """
.:53 {
    errors
    health
    ready
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        ttl 30
    }
    forward . /etc/resolv.conf
    cache 30
    loop
}
"""
BARE_COREFILE = """
.:53 {
    kubernetes cluster.local {
        ttl 1
    }
    forward . /etc/resolv.conf
    cache 30
}
"""


def _findings(text: str, host: str | None) -> dict[str, Severity]:
    blocks = parse_corefile(text, "Corefile")
    found = checks.check_corefile(blocks, parse(host) if host is not None else None)
    return {f.check: f.severity for f in found}


def test_corefile_quiet_when_all_is_well() -> None:
    found = _findings(GOOD_COREFILE, "nameserver 192.0.2.1\n")
    assert set(found.values()) == {Severity.OK}
    assert set(found) == {
        "corefile-forward-loop", "corefile-cache-ttl", "corefile-ready", "corefile-loop",
        "corefile-errors", "corefile-health",
    }  # fmt: skip


def test_corefile_traps() -> None:
    found = _findings(BARE_COREFILE, "nameserver 127.0.0.53\n")
    assert found == {
        "corefile-forward-loop": Severity.ERROR,
        "corefile-cache-ttl": Severity.WARN,  # ttl 1 held 5 s by the cache floor
        "corefile-ready": Severity.WARN,
        "corefile-loop": Severity.WARN,
        "corefile-errors": Severity.INFO,
        "corefile-health": Severity.INFO,
    }


def test_forward_loop_without_host_resolv_conf_is_a_note() -> None:
    assert _findings(BARE_COREFILE, None)["corefile-forward-loop"] is Severity.INFO


def test_loop_is_not_needed_without_forward() -> None:
    text = ".:53 {\n    kubernetes cluster.local\n}\n"
    assert _findings(text, None)["corefile-loop"] is Severity.OK


def test_cache_floor_below_ttl_is_quiet() -> None:
    text = ".:53 {\n    kubernetes cluster.local {\n        ttl 1\n    }\n    cache {\n        success 100 30 1\n    }\n}\n"
    assert _findings(text, None)["corefile-cache-ttl"] is Severity.OK


def test_seed_003_node_cache_forwarding_to_the_ip_it_binds_is_an_error() -> None:
    """Seed 003's rendered Corefile binds 10.96.0.10 and forwards to 10.96.0.10: a loop."""
    text = (Path(__file__).parent.parent / "nodecache" / "seed003.Corefile").read_text()
    found = checks.check_forward_to_self(parse_corefile(text, "Corefile"))
    assert found and all(f.severity is Severity.ERROR for f in found)
    assert "forward to 10.96.0.10 sends queries back" in found[0].title


@pytest.mark.parametrize(
    ("text", "severity"),
    [
        (".:53 {\n bind 169.254.20.10 10.96.0.10\n forward . 10.96.0.11\n}\n", Severity.OK),
        (".:53 {\n bind 169.254.20.10\n forward . 10.96.0.10:53\n}\n", Severity.OK),
        (".:1053 {\n forward . 127.0.0.1:1053\n}\n", Severity.ERROR),  # no bind: every address
        (".:1053 {\n forward . 127.0.0.1\n}\n", Severity.OK),  # port 53, not 1053
        (".:53 {\n bind 10.0.0.1\n forward . dns://10.0.0.1\n}\n", Severity.ERROR),
        (".:53 {\n bind 10.0.0.1\n forward . tls://10.0.0.1\n}\n", None),  # not plain DNS
        ("a.:53 {\n bind 10.0.0.1\n}\nb.:53 {\n forward . 10.0.0.1\n}\n", Severity.ERROR),
    ],
)
def test_forward_to_self(text: str, severity: Severity | None) -> None:
    found = checks.check_forward_to_self(parse_corefile(text, "Corefile"))
    assert [f.severity for f in found] == ([] if severity is None else [severity])
