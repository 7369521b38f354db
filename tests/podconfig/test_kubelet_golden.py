"""Golden resolv.conf files, one per documented kubelet rule (pkg/kubelet/network/dns/dns.go).

Regenerate after an intended change with ``CLUSTERDNS_UPDATE_GOLDEN=1 pytest tests/podconfig``
and review the diff.
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
from clusterdns.podconfig.manifest import pod_from_object

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


@pytest.mark.parametrize(("case", "manifest", "kubelet"), CASES, ids=[c[0] for c in CASES])
def test_kubelet_rule_golden(case: str, manifest: dict[str, object], kubelet: Kubelet) -> None:
    result = pod_dns(pod_from_object(manifest), kubelet)
    text = result.to_text() + "".join(f"# warning: {w}\n" for w in result.warnings)
    golden = GOLDEN / f"{case}.conf"
    if os.environ.get("CLUSTERDNS_UPDATE_GOLDEN"):
        golden.write_text(text)
    assert text == golden.read_text()


def test_every_golden_file_has_a_case() -> None:
    names = {c[0] for c in CASES}
    assert {p.stem for p in GOLDEN.glob("*.conf")} == names


def test_cases_parse_as_yaml_round_trip() -> None:
    # The manifests above are plain data; the CLI reads the same shapes from YAML.
    for _, manifest, _ in CASES:
        assert yaml.safe_load(yaml.safe_dump(manifest)) == manifest
