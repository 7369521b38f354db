"""The lab on this machine's kernel: real namespaces, kube-proxy's rules, clusterdns replicas.

Whatever this kernel does about the race, the report must agree with itself and with the
counters it read: stalls are the lookups in the >= timeout bucket, the verdict follows
the clashres/insert_failed deltas, and every namespace is gone afterwards.
"""

from __future__ import annotations

import subprocess

import pytest

from clusterdns.kernellab.kubeproxy import ProxyMode
from clusterdns.kernellab.lab import LabOptions, run_lab
from clusterdns.kernellab.lookups import Resolver
from clusterdns.kernellab.report import LabReport

TIMEOUT = 0.5
ROUNDS = 25


def lab_namespaces() -> list[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True)
    return [line.split()[0] for line in out.stdout.splitlines() if line.startswith("cdk")]


@pytest.fixture(scope="module")
def report() -> LabReport:
    before = lab_namespaces()
    result = run_lab(
        LabOptions(
            rounds=ROUNDS,
            timeout=TIMEOUT,
            proxies=(
                ProxyMode.IPTABLES,
                ProxyMode.IPTABLES_RANDOM_FULLY,
                ProxyMode.NFTABLES,
                ProxyMode.IPVS,
                ProxyMode.NODECACHE,
            ),  # fmt: skip
            resolvers=tuple(Resolver),
        )
    )
    assert lab_namespaces() == before, "the lab left namespaces behind"
    return result


def test_every_setting_ran_and_was_answered(report: LabReport) -> None:
    proxies = {s.proxy for s in report.settings}
    assert proxies == {"iptables", "iptables-random-fully", "nftables", "nodecache"}
    for s in report.settings:
        assert s.lookups == ROUNDS
        assert s.answered <= s.lookups
        assert sum(b.count for b in s.histogram) == s.lookups


def test_stalls_are_the_lookups_over_the_timeout(report: LabReport) -> None:
    for s in report.settings:
        assert s.histogram[-1].stall
        assert s.stalls == s.histogram[-1].count, s


def test_rules_were_read_back(report: LabReport) -> None:
    rules = {s.proxy: s.rules for s in report.settings}
    assert "KUBE-SVC-TCOU7JCQXEZGVUNU" in rules["iptables"]
    assert "fully random" in rules["iptables-random-fully"]
    assert rules["nftables"].startswith("nftables:")
    assert "NOTRACK" in rules["nodecache"]


def test_ipvs_is_reported_missing_or_run(report: LabReport) -> None:
    missing = {m.setting: m.reason for m in report.missing}
    assert "ipvs" in missing and missing["ipvs"]


def test_verdict_follows_the_counters(report: LabReport) -> None:
    """A clash resolved shows in clashres; the node cache's NOTRACK keeps DNS out of conntrack."""
    assert report.kernel in report.verdict
    racy = [s for s in report.settings if s.proxy != "nodecache" and s.resolver == "parallel"]
    clashes = sum(s.delta("clashres") or 0 for s in racy)
    failed = sum(s.delta("insert_failed") or 0 for s in racy)
    stalls = sum(s.stalls for s in racy)
    if clashes and not failed and not stalls:
        assert "resolves the clashes" in report.verdict
    if failed and stalls:
        assert "drops the losing packet" in report.verdict
    for s in report.settings:
        if s.proxy == "nodecache":
            assert (s.delta("clashres") or 0) == 0
            assert (s.delta("insert_failed") or 0) == 0
        for counter in s.counters:
            assert counter.delta == sum(counter.per_cpu)
