"""Golden resolv.conf files, one per documented kubelet rule (pkg/kubelet/network/dns/dns.go).

The golden files are the expected outputs, checked by hand against the kubelet source
named in ``SOURCES`` (kubernetes/kubernetes pkg/kubelet/network/dns/dns.go, release 1.30),
not outputs of the code under test taken on trust.  Rewriting them is a deliberate act:
``CLUSTERDNS_UPDATE_GOLDEN=1 pytest tests/podconfig`` writes them and then *fails* every
rewritten case, so the run can never pass with the variable set; review the diff, check it
against the source line named below, commit, and rerun without the variable.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from clusterdns.podconfig.kubelet import (
    SAMPLE_HOST_RESOLV_CONF,
    HostResolv,
    Kubelet,
    parse_host_resolv_conf,
    pod_dns,
)
from clusterdns.podconfig.manifest import load_pods, pod_from_object

GOLDEN = Path(__file__).parent / "golden"
NODE = parse_host_resolv_conf(
    "nameserver 192.168.0.2\nnameserver 192.168.0.3\nsearch corp.example. lab.example\n"
    "options timeout:2 attempts:3\n"
)
SAMPLE = parse_host_resolv_conf(SAMPLE_HOST_RESOLV_CONF)
LONG = tuple(f"d{i:02d}." + "x" * 60 + ".example" for i in range(40))


def pod(spec: dict[str, object], namespace: str = "shop") -> dict[str, object]:
    return {"kind": "Pod", "metadata": {"name": "p", "namespace": namespace}, "spec": spec}


CASES: list[tuple[str, dict[str, object], Kubelet]] = [
    ("cluster_first_is_the_default", pod({}), Kubelet(host=NODE)),
    (
        "cluster_first_search_is_ns_svc_domain_then_host",
        pod({"dnsPolicy": "ClusterFirst"}),
        Kubelet(host=NODE),
    ),
    (
        "cluster_first_replaces_host_options_with_ndots5",
        pod({"dnsPolicy": "ClusterFirst"}),
        Kubelet(host=SAMPLE),
    ),
    (
        "cluster_first_host_network_falls_back_to_default",
        pod({"dnsPolicy": "ClusterFirst", "hostNetwork": True}),
        Kubelet(host=NODE),
    ),
    (
        "cluster_first_with_host_net_uses_cluster_dns",
        pod({"dnsPolicy": "ClusterFirstWithHostNet", "hostNetwork": True}),
        Kubelet(host=NODE),
    ),
    ("default_uses_the_node_resolv_conf", pod({"dnsPolicy": "Default"}), Kubelet(host=NODE)),
    (
        "default_with_empty_resolv_conf_flag_uses_localhost",
        pod({"dnsPolicy": "Default"}),
        Kubelet(host=None),
    ),
    (
        "none_uses_only_dns_config",
        pod(
            {
                "dnsPolicy": "None",
                "dnsConfig": {
                    "nameservers": ["1.2.3.4"],
                    "searches": ["ns1.svc.cluster-domain.example", "my.dns.search.suffix"],
                    "options": [{"name": "ndots", "value": "2"}, {"name": "edns0"}],
                },
            }
        ),
        Kubelet(host=NODE),
    ),
    (
        "dns_config_merged_and_deduplicated_pod_option_wins",
        pod(
            {
                "dnsConfig": {
                    "nameservers": ["10.96.0.10", "1.1.1.1"],
                    "searches": ["svc.cluster.local", "extra.example"],
                    "options": [{"name": "ndots", "value": "2"}, {"name": "single-request-reopen"}],
                }
            }
        ),
        Kubelet(host=NODE),
    ),
    (
        "default_with_dns_config_more_than_three_nameservers_truncated",
        pod({"dnsPolicy": "Default", "dnsConfig": {"nameservers": ["8.8.8.8", "9.9.9.9"]}}),
        Kubelet(host=NODE),
    ),
    (
        "multiple_cluster_dns_ips",
        pod({}),
        Kubelet(cluster_dns=("10.96.0.10", "10.96.0.11"), host=NODE),
    ),
    (
        "empty_cluster_domain_keeps_host_search",
        pod({}),
        Kubelet(cluster_domain="", host=NODE),
    ),
    (
        "no_cluster_dns_falls_back_to_default",
        pod({}),
        Kubelet(cluster_dns=(), host=NODE),
    ),
    (
        "search_line_over_2048_characters_trimmed_from_the_end",
        pod({}),
        Kubelet(host=HostResolv(("192.168.0.2",), LONG[:29], ())),
    ),
    (
        "more_than_32_search_domains_cut",
        pod({}),
        Kubelet(host=HostResolv(("192.168.0.2",), tuple(f"s{i}.example" for i in range(40)), ())),
    ),
]


DNS_GO = "pkg/kubelet/network/dns/dns.go"
#: the kubelet code each golden file was checked against
SOURCES: dict[str, str] = {
    "cluster_first_is_the_default": f"{DNS_GO} getPodDNSType: an empty dnsPolicy is ClusterFirst",
    "cluster_first_search_is_ns_svc_domain_then_host": f"{DNS_GO} generateSearchesForDNSClusterFirst: <ns>.svc.<domain>, svc.<domain>, <domain>, then the host's search",
    "cluster_first_replaces_host_options_with_ndots5": f"{DNS_GO} GetPodDNS podDNSCluster: Options = defaultDNSOptions (ndots:5), host options dropped",
    "cluster_first_host_network_falls_back_to_default": f"{DNS_GO} getPodDNSType: ClusterFirst with hostNetwork is podDNSHost",
    "cluster_first_with_host_net_uses_cluster_dns": f"{DNS_GO} getPodDNSType: ClusterFirstWithHostNet is podDNSCluster",
    "default_uses_the_node_resolv_conf": f"{DNS_GO} GetPodDNS podDNSHost: the node's resolv.conf (getHostDNSConfig)",
    "default_with_empty_resolv_conf_flag_uses_localhost": f"{DNS_GO} getHostDNSConfig: --resolv-conf='' gives no host servers; GetPodDNS then uses 127.0.0.1",
    "none_uses_only_dns_config": f"{DNS_GO} GetPodDNS podDNSNone: only the pod's dnsConfig",
    "dns_config_merged_and_deduplicated_pod_option_wins": f"{DNS_GO} appendDNSConfig: omitDuplicates for servers and searches, mergeDNSOptions (pod's value wins)",
    "default_with_dns_config_more_than_three_nameservers_truncated": f"{DNS_GO} formDNSNameserversFitsLimits: validation.MaxDNSNameservers = 3, warning event",
    "multiple_cluster_dns_ips": f"{DNS_GO} GetPodDNS podDNSCluster: every --cluster-dns IP is a nameserver",
    "empty_cluster_domain_keeps_host_search": f"{DNS_GO} generateSearchesForDNSClusterFirst: ClusterDomain == '' returns the host search",
    "no_cluster_dns_falls_back_to_default": f"{DNS_GO} GetPodDNS: no --cluster-dns, ClusterFirst falls back to podDNSHost (MissingClusterDNS event)",
    "search_line_over_2048_characters_trimmed_from_the_end": f"{DNS_GO} formDNSSearchFitsLimits: validation.MaxDNSSearchListChars = 2048",
    "more_than_32_search_domains_cut": f"{DNS_GO} formDNSSearchFitsLimits: validation.MaxDNSSearchPaths = 32",
}  # fmt: skip


def test_every_case_names_the_kubelet_rule_it_was_checked_against() -> None:
    assert set(SOURCES) == {c[0] for c in CASES}


@pytest.mark.parametrize(("case", "manifest", "kubelet"), CASES, ids=[c[0] for c in CASES])
def test_kubelet_rule_golden(case: str, manifest: dict[str, object], kubelet: Kubelet) -> None:
    result = pod_dns(pod_from_object(manifest), kubelet)
    text = result.to_text() + "".join(f"# warning: {w}\n" for w in result.warnings)
    golden = GOLDEN / f"{case}.conf"
    if os.environ.get("CLUSTERDNS_UPDATE_GOLDEN") and (
        not golden.exists() or text != golden.read_text()
    ):
        golden.write_text(text)
        pytest.fail(f"{golden.name} rewritten: review it against {SOURCES[case]}, then rerun")
    assert text == golden.read_text(), SOURCES[case]


def test_every_golden_file_has_a_case() -> None:
    names = {c[0] for c in CASES}
    assert {p.stem for p in GOLDEN.glob("*.conf")} == names


@pytest.mark.parametrize(("case", "manifest", "kubelet"), CASES, ids=[c[0] for c in CASES])
def test_the_yaml_reader_gives_the_same_pod(
    case: str, manifest: dict[str, object], kubelet: Kubelet
) -> None:
    """What ``clusterdns resolvconf`` reads from a YAML file is the pod the golden case checked."""
    [read] = load_pods(yaml.safe_dump(manifest), f"{case}.yaml")
    assert read == pod_from_object(manifest, f"{case}.yaml (document 1)")
    assert pod_dns(read, kubelet).to_text() == pod_dns(pod_from_object(manifest), kubelet).to_text()
