"""kube-proxy's rules as the lab writes them, read back by the parser doctor node uses."""

from __future__ import annotations

import pytest

from clusterdns.kernellab.conntrack import diff, parse_conntrack_s, parse_proc_stat
from clusterdns.kernellab.kubeproxy import ProxyMode, Service, iptables_restore, nft_ruleset
from clusterdns.kernellab.ruleset import parse_iptables_save, parse_nft_ruleset

SERVICE = Service("10.96.0.10", 53, ("10.244.2.2", "10.244.3.2", "10.244.4.2"), "10.244.0.0/16")


def test_svc_chain_is_kube_proxys_well_known_hash() -> None:
    """kube-proxy's portProtoHash of kube-system/kube-dns:dns over udp (seen on every cluster)."""
    assert "KUBE-SVC-TCOU7JCQXEZGVUNU" in iptables_restore(SERVICE, ProxyMode.IPTABLES)


@pytest.mark.parametrize(
    ("mode", "random_fully"),
    [
        (ProxyMode.IPTABLES, False),
        (ProxyMode.IPTABLES_MASQ, False),
        (ProxyMode.IPTABLES_RANDOM_FULLY, True),
    ],
)
def test_iptables_round_trip(mode: ProxyMode, random_fully: bool) -> None:
    """Probabilities are kube-proxy's 1/(n-i): 1/3, 1/2, then the rest."""
    rules = parse_iptables_save(iptables_restore(SERVICE, mode))
    assert rules.mode == "iptables"
    assert rules.random_fully is random_fully
    (dns,) = rules.services
    assert [(e.address, e.probability) for e in dns.endpoints] == [
        ("10.244.2.2:53", pytest.approx(1 / 3)),
        ("10.244.3.2:53", 0.5),
        ("10.244.4.2:53", None),
    ]


def test_nft_round_trip() -> None:
    rules = parse_nft_ruleset(nft_ruleset(SERVICE))
    assert rules.mode == "nftables"
    assert rules.random_fully is True
    assert {e.address for e in rules.services[0].endpoints} == {
        f"{ip}:53" for ip in SERVICE.endpoints
    }


PROC = """\
entries  clashres found new invalid ignore delete chainlength insert insert_failed drop early_drop icmp_error  expect_new expect_create expect_delete search_restart
00000003  00000002 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000001 00000001 00000000 00000000  00000000 00000000 00000000 00000000
00000003  0000000a 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000  00000000 00000000 00000000 00000000
"""
CONNTRACK_S = """\
cpu=0   \tfound=0 invalid=0 insert=0 insert_failed=1 drop=1 early_drop=0 error=0 search_restart=0 clash_resolve=2 chaintoolong=0
cpu=1   \tfound=0 invalid=0 insert=0 insert_failed=0 drop=0 early_drop=0 error=0 search_restart=0 clash_resolve=10 chaintoolong=0
"""


@pytest.mark.parametrize("stat", [parse_proc_stat(PROC), parse_conntrack_s(CONNTRACK_S)])
def test_both_counter_sources_agree(stat: object) -> None:
    assert stat.total("clashres") == 12  # type: ignore[attr-defined]
    assert stat.total("insert_failed") == 1  # type: ignore[attr-defined]
    assert [c.get("clashres") for c in stat.cpus] == [2, 10]  # type: ignore[attr-defined]


def test_old_kernel_without_clashres_reports_it_missing() -> None:
    old = (
        "entries searched found new invalid ignore delete delete_list insert insert_failed drop\n"
        + ("00000001 0 0 0 0 0 0 0 0 00000004 00000004\n")
    )
    stat = parse_proc_stat(old)
    assert stat.total("clashres") is None
    assert stat.total("insert_failed") == 4
    assert {d.name for d in diff(stat, stat)} >= {"insert_failed", "drop"}
